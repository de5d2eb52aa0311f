"""The one preprocessing function shared by training and serving, and its saved settings.

Train/serve skew (a model served with other preprocessing than it was trained with) is the
classic silent bug of text classification. Here both sides call :func:`preprocess` with a
:class:`PreprocessSettings` that is written into the model bundle at training time and read
back from it at serving time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from preprocessing.cleaning import DEFAULT_RULES, PLACEHOLDER_RE, CleaningRule, clean
from preprocessing.tokenizer import TOKEN_FORMS, tokenize


@dataclass(frozen=True)
class PreprocessSettings:
    """How a question becomes tokens; saved as JSON in ``bundle.json``.

    Attributes:
        nfkc: apply Unicode NFKC before the rules.
        rules: ordered cleaning rules (see ``preprocessing.cleaning``).
        token_form: ``"surface"`` (MeCab wakati) or ``"base"`` (UniDic orthBase).
        lowercase: lower-case Latin letters after cleaning (placeholders are kept upper-case).
    """

    nfkc: bool = True
    rules: tuple[CleaningRule, ...] = field(default=DEFAULT_RULES)
    token_form: str = "surface"
    lowercase: bool = True

    def __post_init__(self) -> None:
        if self.token_form not in TOKEN_FORMS:
            raise ValueError(f"token_form must be one of {TOKEN_FORMS}, not {self.token_form!r}")

    def to_dict(self) -> dict:
        """Return a JSON-serialisable dict (rules as a list of {name, pattern, replacement})."""
        return {
            "nfkc": self.nfkc,
            "rules": [rule.to_dict() for rule in self.rules],
            "token_form": self.token_form,
            "lowercase": self.lowercase,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "PreprocessSettings":
        """Inverse of :meth:`to_dict`. Raises ``KeyError``/``ValueError`` on a malformed dict."""
        return cls(
            nfkc=bool(data["nfkc"]),
            rules=tuple(CleaningRule.from_dict(rule) for rule in data["rules"]),
            token_form=str(data["token_form"]),
            lowercase=bool(data.get("lowercase", False)),
        )


def _lower_keep_placeholders(text: str) -> str:
    """Lower-case ``text`` except the placeholders (``<EMAIL>`` stays ``<EMAIL>``)."""
    parts = PLACEHOLDER_RE.split(text)
    placeholders = PLACEHOLDER_RE.findall(text)
    out = [parts[0].lower()]
    for placeholder, part in zip(placeholders, parts[1:]):
        out.append(placeholder)
        out.append(part.lower())
    return "".join(out)


def clean_text(text: str, settings: PreprocessSettings) -> str:
    """Return ``text`` cleaned as :func:`preprocess` cleans it (NFKC, rules, lower-case)."""
    cleaned = clean(text, settings.rules, nfkc=settings.nfkc)
    return _lower_keep_placeholders(cleaned) if settings.lowercase else cleaned


def has_content(cleaned: str) -> bool:
    """Whether a cleaned question carries words: the one no-content rule of every entry point.

    A question has content iff, once the placeholders (``<URL>``, ``<EMAIL>``, ``<TEL>``,
    ``<ORDER>``) are removed, it has at least one letter: a character of Unicode general category
    L* (``str.isalpha``: kana, kanji, Latin, the prolonged sound mark ``ー``...). Symbols, emoji,
    digits and whitespace are not words: such a question says nothing a category can be read
    from, so it goes to a person (reason ``no_content``) and is left out of training.

    Example:
        >>> [has_content(t) for t in ("！！！？？？", "😢😢", "0000-000-000", "<URL>", "ログイン", "a")]
        [False, False, False, False, True, True]
    """
    if "<" in cleaned:
        cleaned = PLACEHOLDER_RE.sub(" ", cleaned)
    return any(ch.isalpha() for ch in cleaned)


@dataclass(frozen=True)
class Document:
    """One question as a model sees it, produced by :func:`prepare`.

    Attributes:
        cleaned: the text after NFKC, the cleaning rules and lower-casing (``""`` if only noise).
        tokens: its MeCab tokens, in order (``[]`` when nothing is left).
    """

    cleaned: str
    tokens: list[str]

    @property
    def has_content(self) -> bool:
        """:func:`has_content` of the cleaned text."""
        return has_content(self.cleaned)


def prepare(text: str, settings: PreprocessSettings) -> Document:
    """Clean and tokenize one question: the single path used by training and serving.

    Args:
        text: the raw question as a customer wrote it.
        settings: the predictor's settings when serving (saved in the bundle at training time).

    Returns:
        The :class:`Document`: cleaned text and tokens.

    Example:
        >>> prepare("ﾊﾟｽﾜｰﾄﾞを忘れました。 yamada@example.com", PreprocessSettings())
        Document(cleaned='パスワードを忘れました。 <EMAIL>', tokens=['パスワード', 'を', '忘れ', 'まし', 'た', '。', '<EMAIL>'])
    """
    cleaned = clean_text(text, settings)
    return Document(cleaned, tokenize(cleaned, settings.token_form))


def preprocess(text: str, settings: PreprocessSettings) -> list[str]:
    """The tokens of :func:`prepare` (``[]`` when nothing but noise remains after cleaning).

    Example:
        >>> preprocess("ﾊﾟｽﾜｰﾄﾞを忘れました。 yamada@example.com", PreprocessSettings())
        ['パスワード', 'を', '忘れ', 'まし', 'た', '。', '<EMAIL>']
    """
    return prepare(text, settings).tokens
