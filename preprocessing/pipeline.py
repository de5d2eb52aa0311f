"""The one preprocessing function shared by training and serving, and its saved settings.

Train/serve skew (a model served with other preprocessing than it was trained with) is the
classic silent bug of text classification. Here both sides call :func:`preprocess` with a
:class:`PreprocessSettings` that is written into the model bundle at training time and read
back from it at serving time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from preprocessing.cleaning import DEFAULT_RULES, PLACEHOLDER_RE, CleaningRule, _cleaner
from preprocessing.tokenizer import TOKEN_FORMS, _wakati_parser, tokenize


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


def clean_text(text: str, settings: PreprocessSettings) -> str:
    """Return ``text`` cleaned as :func:`preprocess` cleans it (NFKC, rules, lower-case).

    That is ``preprocessing.cleaning.clean(text, settings.rules, settings.nfkc)``, then, with
    ``settings.lowercase``, ``str.lower()`` on everything but the placeholders.

    Example:
        >>> clean_text("ＷｉＦｉにつながりません yamada@example.com", PreprocessSettings())
        'wifiにつながりません <EMAIL>'
    """
    return _cleaner(settings.rules, settings.nfkc, settings.lowercase)(text)


def has_content(cleaned: str) -> bool:
    """True if a cleaned question carries words: a letter outside the placeholders.

    The one rule, for the loader, the form, the API and the command line, for telling a question
    from noise: after removing placeholders (``<URL>``, ``<EMAIL>``, ``<TEL>``, ``<ORDER>`` or any
    ``<UPPERCASE>`` token of a custom rule), the text must have at least one character of Unicode
    general category L* (Lu, Ll, Lt, Lm, Lo: kana, kanji, Latin, the prolonged sound mark ー...),
    which is what ``str.isalpha`` tests (Python docs, ``str.isalpha``). Digits, symbols,
    punctuation, emoji and whitespace are not words: ``"0120-000-000"`` or ``"！！！？？？"`` says
    nothing a router can use, and a question of only symbols often comes from text lost to ``?``
    in a lossy encoding conversion.

    Args:
        cleaned: a question after :func:`clean_text` (on raw text the placeholders would not be
            there yet, and e.g. a bare URL would count as words).

    Returns:
        ``True`` if the question has content.

    Example:
        >>> [has_content(q) for q in ["ログイン", "a", "！！！？？？", "😢😢", "0120-000-000", "<URL> <TEL>"]]
        [True, True, False, False, False, False]
    """
    if "<" in cleaned:
        cleaned = PLACEHOLDER_RE.sub(" ", cleaned)
    return any(char.isalpha() for char in cleaned)


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
    entry = _compiled.get(id(settings))
    if entry is None or entry[0] is not settings:
        entry = _compile(settings)
    return entry[1](text)


def preprocess(text: str, settings: PreprocessSettings) -> list[str]:
    """The tokens of :func:`prepare` (``[]`` when nothing but noise remains after cleaning).

    Example:
        >>> preprocess("ﾊﾟｽﾜｰﾄﾞを忘れました。 yamada@example.com", PreprocessSettings())
        ['パスワード', 'を', '忘れ', 'まし', 'た', '。', '<EMAIL>']
    """
    return prepare(text, settings).tokens


# Per settings object: (settings, text -> Document), found by identity (a bundle keeps one object).
_compiled: dict[int, tuple[PreprocessSettings, Callable[[str], Document]]] = {}


def _compile(settings: PreprocessSettings) -> tuple[PreprocessSettings, Callable[[str], Document]]:
    run = _cleaner(settings.rules, settings.nfkc, settings.lowercase)
    form = settings.token_form

    def clean_and_tokenize(text: str) -> Document:
        text = run(text)
        if text and "<" not in text and form == "surface":
            return Document(text, _wakati_parser()(text).split())  # tokenize()'s own fast path, one call less
        return Document(text, tokenize(text, form))

    if len(_compiled) >= 256:
        _compiled.clear()
    entry = _compiled[id(settings)] = (settings, clean_and_tokenize)  # keeps settings alive: its id stays unique
    return entry


def preprocess_batch(texts: Sequence[str], settings: PreprocessSettings) -> list[list[str]]:
    """``[preprocess(text, settings) for text in texts]``, faster for many questions.

    All questions are cleaned first, then all are tokenized, so that MeCab's dictionary stays in
    the processor caches between questions instead of competing with the cleaning code.

    Args:
        texts: raw questions.
        settings: as for :func:`preprocess`.

    Returns:
        One token list per question, in order.

    Example:
        >>> preprocess_batch(["返品したい", "-----"], PreprocessSettings())
        [['返品', 'し', 'たい'], []]
    """
    run = _cleaner(settings.rules, settings.nfkc, settings.lowercase)
    cleaned = [run(text) for text in texts]
    if settings.token_form != "surface":
        return [tokenize(text, settings.token_form) for text in cleaned]
    parse = _wakati_parser()
    return [parse(text).split() if text and "<" not in text else tokenize(text) for text in cleaned]
