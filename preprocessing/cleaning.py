"""Text cleaning: Unicode NFKC, then an ordered list of regular-expression rules.

The rules mask what identifies a customer or a single ticket (e-mail addresses, URLs, phone
numbers, order and ticket numbers) with placeholder tokens such as ``<EMAIL>``, remove what
carries no meaning for routing (quoted earlier mails, greetings, closing formulas, signatures,
separator runs, version lines), map digits to ``0`` and collapse whitespace. Masking keeps the *fact* that a question mentions an order number (a useful signal
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

Bundles keep the rule list they were trained with: :data:`RULES_V1` is the first list, and a
rule's meaning never changes (new behaviour is a new rule in :data:`DEFAULT_RULES`).

Speed: :func:`clean` is defined as ``re.sub`` of each rule in turn, but does not run a regex
that cannot change the text: each known rule has a guard (a cheap necessary condition such as
``"@" in text``) and a trigger, and one check of all triggers skips every rule for the many
questions with nothing to clean. The rules are compiled into one generated function per rule
list. tests/test_cleaning_speed.py and bench/check_cleaning_equivalence.py check that the
output is exactly that of the plain definition.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Callable
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

#: The rule list of the first bundles, before the e-mail convention rules. Bundles carry their
#: own list, so this constant is not needed to load them; it names the list for tests and for
#: bench/check_cleaning_equivalence.py, which check that old bundles still clean as they did.
#: Never change a rule in it: make a new rule (and a new default) instead.
RULES_V1: tuple[CleaningRule, ...] = (
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


# --- Japanese e-mail conventions -------------------------------------------------------------
# Customers write to a support desk as they write any business e-mail: a greeting (挨拶), the
# question, a closing formula (結び), a signature, and often the quoted earlier mail. None of it
# says which team should answer, and it is most of the text of a short question, so it is
# removed. Every pattern is conservative: it matches only fixed formulas or a block the
# conventions mark off, and never text that could be the question (tests/test_email_rules.py).
# The patterns see NFKC text: "＞" is ">", "：" is ":", "－" is "-", "！" is "!".

# A header line introducing a quoted mail: "On Mon, 5 Feb 2024, Taro <taro@example.com> wrote:"
# (English clients), "2024年2月5日 10:00 山田 太郎 書きました:" (Japanese ones), or Gmail's
# Japanese "2024年2月5日(月) 10:00 山田 太郎 <taro@example.com>:". Only the line goes.
_QUOTE_HEADER = (
    r"(?m)^[ \t]*(?:On\s[^\n]{1,200}?\swrote:"
    r"|\d{4}[年/.-]\d{1,2}[月/.-]\d{1,2}日?[^\n]{0,200}?(?:書きました|wrote):?"
    r"|\d{4}年\d{1,2}月\d{1,2}日\([月火水木金土日]\)[ \t]*\d{1,2}:\d{2}[^\n]{0,200}?>:)[ \t]*$"
)
# Quoted lines: a line starting with ">" (RFC 3676 section 4.5, the quote indicator; "＞" after
# NFKC). Only in multi-line text: the line must end with a newline or follow one, so that a
# one-line question starting with ">" is kept. The line break is kept (replacement "\n").
_QUOTED_LINE = r"(?m)^[ \t]*>.*\n|(?<=\n)[ \t]*>.*"
# Greetings (customer side only: the shop's own "いつもご利用ありがとうございます" is not here).
_GREETING = (
    r"(?:(?:いつも|平素より|平素は)(?:大変)?)?お世話に(?:なっております|なっています|なります)"
    r"|はじめまして|初めまして|お疲れ(?:様|さま)です|突然の(?:ご連絡|メール|お問い合わせ)(?:を|で)?失礼(?:いた|致)?します"
    r"|ご担当(?:者)?(?:様|さま)(?=[\s、,。!]|\Z)"  # as an address line, not "ご担当者様をご紹介ください"
)
_GREETING = f"(?:{_GREETING})[。.!、,]?"
# Closings: "よろしくお願いします" and its politer and kanji forms, with "以上、" or "どうぞ"
# before them. A bare "お願いします" ("返品をお願いします") is a request and stays.
_CLOSING = (
    r"(?:以上(?:です)?[、,。]?[ \t]*)?(?:どうぞ|何卒|なにとぞ)?(?:よろしく|宜しく)(?:お|御)願い(?:いた|致)?(?:します|申し上げます)"
    r"[。.!]*"
)
# Signature after a "-- " line (RFC 3676 section 4.3, the signature separator line "-- "; also
# "--"): the line and everything after it, provided some text comes before it.
_SIGNATURE = r"(?<=\S)\s*\n[ \t]*--[ \t]*(?=\r?\n|\Z)[\s\S]*"
# A signature block at the end, as exports flatten it onto the question's line:
# "... 注文No.6710167856 ---------- 伊藤 由美", "... ＝＝＝＝＝ 株式会社サンプル 佐藤 Mail: <EMAIL>",
# "... ---- Sent from my iPhone". It is: a separator ("--", a run of three or more -, =, *, _, #,
# box-drawing lines, or of four or more ー) right after text (a character that is not a space or
# a separator, or a masked e-mail/phone/URL/order number with text before it); then, to the end
# and within 120 characters, only short words (names, company, department, TEL, Mail, masked
# contacts, more separators) with no sentence punctuation (。、?!「」), no predicate (ます, です,
# たい, ない, した...), and no four hiragana in a row (について, ください): a question after a
# separator has those. A separator at the very start ("-- http://... 質問") is never one.
_SIGNATURE_WORD_CHAR = (
    r"(?!ます|ません|です|でした|ください|下さい|たい|ない|した|って|けど|ので|[ぁ-ゖ]{4})"
    r"[^\s。、,?!「」『』]"
)
# Python's look-behind needs a fixed width: one per placeholder and number of spaces before it.
_AFTER_PLACEHOLDER = "|".join(
    rf"(?<=\S{chr(92) + 's'}{{{spaces}}}{placeholder})" for placeholder in PLACEHOLDERS for spaces in (1, 2, 3)
)
_SIGNATURE_BLOCK = (
    r"(?:(?<=[^\s<>\-=*_#―─━ー＿])|" + _AFTER_PLACEHOLDER + ")"
    r"\s*(?:--|([=*_#―─━＿\-])\1{2,}|ー{4,})(?=\s|\Z)(?=[\s\S]{0,120}\Z)"
    r"(?:\s+(?:" + _SIGNATURE_WORD_CHAR + r")+)*\s*\Z"
)

#: The default rules: :data:`RULES_V1` with the e-mail convention rules. Quoted mail goes first
#: (its URLs and numbers are not the customer's question); greetings and closings before the
#: signatures (a closing between a separator and a name would hide the signature); signatures
#: after the masking (a masked contact is part of a signature) and before the separator rule
#: (which would remove the separator that marks them).
DEFAULT_RULES: tuple[CleaningRule, ...] = (
    RULES_V1[0],  # control
    CleaningRule("quote_header", _QUOTE_HEADER, " "),
    CleaningRule("quoted_line", _QUOTED_LINE, "\n"),
    *RULES_V1[1:6],  # url, email, version, order, phone
    CleaningRule("greeting", _GREETING, " "),
    CleaningRule("closing", _CLOSING, " "),
    CleaningRule("signature", _SIGNATURE, " "),
    CleaningRule("signature_block", _SIGNATURE_BLOCK, " "),
    *RULES_V1[6:],  # separator, digits, whitespace
)

_V1 = {rule.name: rule.pattern for rule in RULES_V1}

# Guards: for a rule pattern, a Python expression that is true whenever the pattern can match
# ``text`` (a necessary condition, made of C-level ``in``, ``str.isprintable`` or one simple
# search). Two flags are computed once per text (see ``_FLAGS``): ``digit`` is false only when the
# text has no decimal digit, ``sep`` only when it has neither "--" nor three equal separator
# characters in a row. A flag is computed again after any rule whose replacement could make it
# true (see ``_may_set``); a stale true flag only costs a regex run. When the guard is false,
# the rule cannot change the text and its regex is not run; the output is therefore exactly that
# of running every rule (tests/test_cleaning_speed.py checks this on generated strings,
# bench/check_cleaning_equivalence.py on all real questions). Guards are keyed by the exact
# pattern, so that rule lists loaded from old bundles get them too; a pattern not listed here (a
# custom rule) always runs. They are an optimisation, not part of a rule's meaning, and are never
# written into a bundle.
_GUARDS: dict[str, str] = {
    # Control characters are Unicode category Cc, which str.isprintable() rejects.
    _V1["control"]: "not text.isprintable()",
    # "://" or the "." of "www.".
    _V1["url"]: '"://" in text or "." in text',
    _V1["email"]: '"@" in text',
    # "(?:\.\d+)+" needs a "." and a digit.
    _V1["version"]: 'digit and "." in text',
    # Every alternative needs a digit (the first one through its look-ahead) and one of: a
    # Japanese keyword (all contain 番号 or 注文), "#", "-", or the first letter of order/ticket.
    # Under re.IGNORECASE "o" and "t" match only o, O, t, T (checked over all code points in
    # tests/test_cleaning_speed.py).
    _V1["order"]: (
        'digit and ("番号" in text or "注文" in text or "#" in text or "-" in text or "o" in text '
        'or "O" in text or "t" in text or "T" in text)'
    ),
    # The first alternative has a digit then "-", the two others ten digits in a row starting
    # with a literal "0" (two simple searches are faster than one with an alternation).
    _V1["phone"]: 'digit and ("-" in text and _digit_dash(text) is not None or "0" in text and _ten_digits(text) is not None)',
    # "([-=*_~#・･.―─━ー＿])\1{2,}": three equal separator characters, which "sep" looks for.
    _V1["separator"]: "sep",
    _V1["digits"]: "digit",
    # "\s+" -> " " changes the text only if it has a whitespace character other than " " (all
    # of them are categories Cc or Z*, which str.isprintable() rejects) or two spaces in a row.
    _V1["whitespace"]: '"  " in text or not text.isprintable()',
    _QUOTE_HEADER: '"wrote" in text or "書きました" in text or ">:" in text',
    # Both alternatives need a ">" and a line break.
    _QUOTED_LINE: '">" in text and "\\n" in text',
    _GREETING: '"世話" in text or "めまして" in text or "疲れ" in text or "失礼" in text or "担当" in text',
    # (よろしく|宜しく)(お|御)願い: "しくお願い" or "しく御願い" (a bare "お願い" is common).
    _CLOSING: '"しくお願い" in text or "しく御願い" in text',
    _SIGNATURE: '"--" in text and "\\n" in text',
    # Its separators: "--", runs of three of the characters "sep" looks for, or ーーーー.
    _SIGNATURE_BLOCK: "sep",
}

# Whitespace other than " " (str.isspace, which is what \s matches in a str pattern).
_OTHER_WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

# Triggers: for a rule pattern, characters (the body of a regex character class) and literal
# strings, one of which a text must contain for the rule to change it: a weaker necessary
# condition than its guard, but one that merges with the other rules' into two searches. A run
# of consecutive rules that all have triggers is skipped as a whole when a text has none of
# their triggers (no rule can change the text, so it stays without triggers until the run ends):
# the common case, as most questions have nothing to mask or remove.
_TRIGGERS: dict[str, tuple[str, tuple[str, ...]]] = {
    _V1["control"]: (r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f", ()),
    _V1["url"]: (".:", ()),
    _V1["email"]: ("@", ()),
    _V1["version"]: (".", ()),
    _V1["order"]: (r"\d", ()),
    _V1["phone"]: (r"\d", ()),
    # Separator characters that are common alone ("Wi-Fi", "ホテル・旅館") are triggers only as
    # a pair or run.
    _V1["separator"]: (r"=*_~#―─━＿", ("--", "ーーー", "・・・", "･･･", "...")),
    _V1["digits"]: (r"\d", ()),
    _V1["whitespace"]: (_OTHER_WHITESPACE, ("  ",)),
    _QUOTE_HEADER: (">", ("wrote", "書きました")),
    _QUOTED_LINE: (">", ()),
    _GREETING: ("", ("世話", "めまして", "疲れ", "失礼", "担当")),
    _CLOSING: ("", ("くお願い", "く御願い")),
    _SIGNATURE: ("", ("--",)),
    _SIGNATURE_BLOCK: (r"=*_#―─━＿", ("--", "ーーーー")),
}

_DIGIT = re.compile(r"\d").search
_DIGIT_DASH = re.compile(r"\d-").search
_TEN_DIGITS = re.compile(r"\d{10}").search
_SEPARATOR_CHARS = "-=*_~#・･.―─━ー＿"

#: Per text flags used by the guards: name -> the pattern searched (once per text, and again
#: after a rule whose replacement could make the flag true, see ``_may_set``).
#: "sep" is tested as '"--" in text or <search>' (an alternation would be searched more slowly).
_FLAGS: dict[str, str] = {"digit": r"\d", "sep": r"([=*_~#・･.―─━ー＿])\1\1"}


def _may_set(flag: str, replacement: str) -> bool:
    """True if substituting ``replacement`` could make ``flag`` true on a text where it was false.

    A group reference (backslash) can copy anything; a digit brings a digit; for ``sep``, an
    empty replacement joins its neighbours and a separator character can extend a run.
    """
    if "\\" in replacement:
        return True
    if flag == "digit":
        return any(ch.isdecimal() for ch in replacement)
    return replacement == "" or any(ch in _SEPARATOR_CHARS for ch in replacement)


# NFKC maps each full-width ASCII form (U+FF01..U+FF5E) and the ideographic space (U+3000) to one
# ASCII character, its compatibility decomposition (UAX #15). Replacing them first changes
# nothing in the NFKD of the text, hence nothing in its NFKC (which is the canonical composition
# of the NFKD); if the result is already in NFKC it is the answer, without the costlier full
# normalisation. Japanese text often has a few such characters (？, ！, （, １...) and nothing else
# to normalise.
_FULL_WIDTH = {chr(c): unicodedata.normalize("NFKD", chr(c)) for c in [*range(0xFF01, 0xFF5F), 0x3000]}
_FIND_FULL_WIDTH = re.compile("[\uff01-\uff5e\u3000]").findall


def _nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, faster when only full-width ASCII needs mapping."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    for char in set(_FIND_FULL_WIDTH(text)):
        text = text.replace(char, _FULL_WIDTH[char])
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", text)


def _lower_keep_placeholders(text: str) -> str:
    """Lower-case ``text`` except the placeholders (``<EMAIL>`` stays ``<EMAIL>``)."""
    if "<" not in text:  # no placeholder: the split below would give [text]
        return text.lower()
    parts = PLACEHOLDER_RE.split(text)
    placeholders = PLACEHOLDER_RE.findall(text)
    out = [parts[0].lower()]
    for placeholder, part in zip(placeholders, parts[1:]):
        out.append(placeholder)
        out.append(part.lower())
    return "".join(out)


def _flag_test(flag: str) -> str:
    test = f"_{flag}(text) is not None"
    return f'"--" in text or {test}' if flag == "sep" else test


def _build(rules: tuple[CleaningRule, ...], nfkc: bool, lowercase: bool) -> Callable[[str], str]:
    """Compile ``rules`` into one function ``text -> cleaned text`` (see :func:`clean`).

    The function is generated Python (one ``if guard: text = sub(replacement, text)`` per rule,
    see ``_GUARDS``), which spares a loop step and a call per rule. Only the guard expressions
    and flag names above, fixed in this module, are written into its source; patterns and
    replacements (which come from bundles) are passed in as objects, never as code.
    """
    namespace: dict = {
        "_nfkc": _nfkc, "_lower": _lower_keep_placeholders, "_is_normalized": unicodedata.is_normalized,
        "_digit_dash": _DIGIT_DASH, "_ten_digits": _TEN_DIGITS,
    }
    for flag, pattern in _FLAGS.items():
        namespace[f"_{flag}"] = re.compile(pattern).search
    source = ["def run(text):"]
    if nfkc:
        source.append('    if not _is_normalized("NFKC", text):\n        text = _nfkc(text)')
    # Runs of consecutive rules with triggers (see _TRIGGERS), each behind one check.
    triggered = lambda i: rules[i].pattern in _TRIGGERS  # noqa: E731
    for run_number, (has_triggers, group) in enumerate(itertools.groupby(range(len(rules)), key=triggered)):
        run = list(group)
        indent = "    "
        if has_triggers:
            chars = "".join(sorted({_TRIGGERS[rules[i].pattern][0] for i in run}))
            literals = sorted({lit for i in run for lit in _TRIGGERS[rules[i].pattern][1]})
            tests = []
            if chars:
                namespace[f"_chars{run_number}"] = re.compile(f"[{chars}]").search
                source.append(f"    found = _chars{run_number}(text)")
                tests.append("found is not None")
            if literals:
                namespace[f"_literals{run_number}"] = re.compile("|".join(map(re.escape, literals))).search
                tests.append(f"_literals{run_number}(text) is not None")
            source.append(f"    if {' or '.join(tests)}:")
            indent = "        "
            # The flags, for this run's guards. When the trigger found first is a digit (\d is
            # exactly str.isdecimal), the digit flag needs no search of its own.
            for flag in _FLAGS:
                test = _flag_test(flag)
                if flag == "digit" and chars:
                    test = f"found is not None and found.group().isdecimal() or {test}"
                source.append(f"{indent}{flag} = {test}")
        for i in run:
            rule = rules[i]
            namespace[f"sub{i}"] = re.compile(rule.pattern).sub
            namespace[f"rep{i}"] = rule.replacement
            guard = _GUARDS.get(rule.pattern) if has_triggers else None
            inner = indent
            if guard is not None:
                source.append(f"{indent}if {guard}:")
                inner = indent + "    "
            source.append(f"{inner}text = sub{i}(rep{i}, text)")
            if guard is not None:
                for flag in _FLAGS:
                    if _may_set(flag, rule.replacement):
                        source.append(f"{inner}{flag} = {_flag_test(flag)}")
    source.append("    text = text.strip()")
    if lowercase:
        source.append('    return text.lower() if "<" not in text else _lower(text)')
    else:
        source.append("    return text")
    code = "\n".join(source)
    # bandit B102 (exec): the source is built from this module's constant rules, never from input.
    exec(code, namespace)  # noqa: S102  # nosec B102
    run = namespace["run"]
    run.source = code  # for tests and for reading what runs
    return run


_compiled: dict[tuple[int, bool, bool], tuple[tuple[CleaningRule, ...], Callable[[str], str]]] = {}


@functools.lru_cache(maxsize=64)
def _build_cached(rules: tuple[CleaningRule, ...], nfkc: bool, lowercase: bool) -> Callable[[str], str]:
    return _build(rules, nfkc, lowercase)


def _cleaner(rules: tuple[CleaningRule, ...], nfkc: bool = True, lowercase: bool = False) -> Callable[[str], str]:
    """The compiled form of ``rules``: cached by the tuple's identity (cheap), then by value."""
    key = (id(rules), nfkc, lowercase)
    entry = _compiled.get(key)
    if entry is not None and entry[0] is rules:
        return entry[1]
    rules = tuple(rules)
    run = _build_cached(rules, nfkc, lowercase)
    if len(_compiled) >= 256:
        _compiled.clear()
    _compiled[(id(rules), nfkc, lowercase)] = (rules, run)  # keeps ``rules`` alive: its id stays unique
    return run


def normalize(text: str) -> str:
    """Return ``text`` in Unicode NFKC (UAX #15), e.g. ``"ＩＤ１２３ ｱﾌﾟﾘ"`` → ``"ID123 アプリ"``."""
    return _nfkc(text)


def clean(text: str, rules: tuple[CleaningRule, ...] = DEFAULT_RULES, nfkc: bool = True) -> str:
    """Clean one question: NFKC (if ``nfkc``), then each rule in order, then strip.

    The result is exactly ``re.sub(rule.pattern, rule.replacement, text)`` for each rule in
    turn; rules that cannot match (see ``_GUARDS``) are skipped without running their regex.

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
    return _cleaner(rules, nfkc)(text)
