"""Text cleaning: Unicode NFKC, then an ordered list of regular-expression rules.

The rules mask what identifies a customer or a single ticket (e-mail addresses, URLs, phone
numbers, order and ticket numbers) with placeholder tokens such as ``<EMAIL>``, remove what
carries no meaning for routing (separator runs, version lines), map digits to ``0`` and collapse
whitespace. Masking keeps the *fact* that a question mentions an order number (a useful signal
for routing) while dropping the number itself (noise, and personal data).

The order matters: URLs before e-mail addresses (a URL may contain ``user@host``), phone and
order numbers before the digit rule. Rules are plain data (:class:`CleaningRule`) so that the
exact list used to train a model is saved in its bundle and replayed at serving time.

Japanese text has no spaces, so a URL or an order number is often glued to kana or kanji
(``詳しくはhttps://...``, ``注文AB-12345678です``). The rules therefore mark the edges of
Latin-script tokens with ASCII lookarounds such as ``(?<![A-Za-z0-9])``, never with ``\\b``:
Python's ``\\b`` counts kana and kanji as word characters and finds no boundary there.

NFKC is Unicode normalisation form KC (Unicode Standard Annex #15): it maps full-width ASCII
(``ＡＢＣ１２３``) to half-width, half-width katakana (``ｱﾌﾟﾘ``) to full-width (``アプリ``)
and full-width spaces to ordinary spaces.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import asdict, dataclass

#: Placeholder tokens produced by the default rules; the tokenizer keeps each as one token.
PLACEHOLDERS: tuple[str, ...] = ("<URL>", "<EMAIL>", "<TEL>", "<ORDER>")

#: Matches any placeholder of the form ``<UPPERCASE>``, used to keep them whole when tokenizing.
PLACEHOLDER_RE = re.compile(r"<[A-Z]+>")


@dataclass(frozen=True)
class CleaningRule:
    """One substitution applied to a question after NFKC.

    Attributes:
        name: a short identifier, shown in reports and tests (e.g. ``"email"``).
        pattern: a Python ``re`` pattern (searched, not anchored, with ``re.IGNORECASE`` off
            unless the pattern sets ``(?i)`` itself).
        replacement: the replacement string, as for ``re.sub`` (placeholders are padded with
            spaces so that they never glue onto neighbouring words).
    """

    name: str
    pattern: str
    replacement: str

    def to_dict(self) -> dict[str, str]:
        """Return the rule as a JSON-serialisable dict with keys name, pattern, replacement."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> "CleaningRule":
        """Build a rule from :meth:`to_dict` output. Raises ``re.error`` if the pattern is invalid."""
        rule = cls(name=str(data["name"]), pattern=str(data["pattern"]), replacement=str(data["replacement"]))
        re.compile(rule.pattern)
        return rule


# Separator runs: three or more of the same dash, equals, asterisk, underscore, tilde, hash,
# dot-like or box-drawing character, as used to fence signatures and quoted mail. After NFKC,
# "＊" is "*", "＝" is "=" and "－" is "-"; "ー" (the katakana prolonged sound mark) stays as is
# and is only a separator as a run of three or more, which ordinary words never contain.
_SEPARATOR = r"([-=*_~#・･.―─━ー＿])\1{2,}"

# URL characters: RFC 3986's unreserved and reserved ASCII characters and "%", except the
# parentheses and quotes that usually enclose a URL in running text. Japanese text glued to a
# URL ("https://example.com/faqをご覧ください") is therefore not swallowed by it.
_URL_CHARS = r"[A-Za-z0-9\-._~:/?#\[\]@!$&*+,;=%]"

DEFAULT_RULES: tuple[CleaningRule, ...] = (
    # Control characters (C0 except tab/newline/carriage return, and DEL): exports contain
    # stray ones, and MeCab reads a C string, so a NUL would silently end the question there.
    CleaningRule("control", r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", " "),
    CleaningRule("url", r"(?i)(?<![A-Za-z0-9])(?:(?:https?|ftp)://|www\.)" + _URL_CHARS + "+", " <URL> "),
    CleaningRule("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", " <EMAIL> "),
    CleaningRule(
        "version",
        r"(?i)(?:(?<![A-Za-z])(?:version|ver\.?)|バージョン)\s*[:：]?\s*v?\d+(?:\.\d+)+[A-Za-z0-9.-]*",
        " ",
    ),
    CleaningRule(
        "order",
        r"(?i)(?:注文番号|注文no\.?|受注番号|伝票番号|追跡番号|問い?合わ?せ番号|チケット番号|"
        r"お問い合わせ番号|(?<![A-Za-z])(?:order|ticket)\s*(?:no\.?|number|#|id)?)"
        r"\s*[:：]?\s*#?\s*(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{3,}"
        r"|#\d{4,}"
        r"|(?<![A-Za-z0-9])[A-Z]{1,4}-\d{5,}(?![A-Za-z0-9])",
        " <ORDER> ",
    ),
    CleaningRule(
        "phone",
        r"(?:\+81[- ]?|(?<![\d-])0)\d{1,4}-\d{1,4}-\d{3,4}(?![\d-])|(?<!\d)0[5789]0\d{8}(?!\d)|(?<!\d)0\d{9}(?!\d)",
        " <TEL> ",
    ),
    CleaningRule("separator", _SEPARATOR, " "),
    CleaningRule("digits", r"\d", "0"),
    CleaningRule("whitespace", r"\s+", " "),
)


@functools.lru_cache(maxsize=64)
def _compile(rules: tuple[CleaningRule, ...]) -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(rule.pattern), rule.replacement) for rule in rules)


def normalize(text: str) -> str:
    """Return ``text`` in Unicode NFKC (UAX #15), e.g. ``"ＩＤ１２３ ｱﾌﾟﾘ"`` → ``"ID123 アプリ"``."""
    return unicodedata.normalize("NFKC", text)


def clean(text: str, rules: tuple[CleaningRule, ...] = DEFAULT_RULES, nfkc: bool = True) -> str:
    """Clean one question: NFKC (if ``nfkc``), then each rule in order, then strip.

    Args:
        text: the raw question, any length (characters).
        rules: the ordered rules; a tuple so the compiled patterns can be cached.
        nfkc: apply Unicode NFKC first (the default, and what the bundle records).

    Returns:
        The cleaned text; ``""`` when nothing but noise was there (the caller decides whether
        that is an error, a dropped row, or a form message).

    Example:
        >>> clean("ＩＤ：ｙａｍａｄａ＠ｅｘａｍｐｌｅ．ｃｏｍ　注文番号：AB-12345678 ーーーーー")
        'ID: <EMAIL> <ORDER>'
    """
    if nfkc:
        text = normalize(text)
    for pattern, replacement in _compile(tuple(rules)):
        text = pattern.sub(replacement, text)
    return text.strip()
