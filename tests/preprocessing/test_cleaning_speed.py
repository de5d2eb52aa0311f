"""The optimised cleaning (guards, generated code, NFKC shortcut) equals the plain definition.

The reference below is the definition of cleaning, written the straightforward way: NFKC, one
``re.sub`` per rule, strip, lower-case around placeholders, MeCab per placeholder-free segment.
Hypothesis generates strings mixing the characters the rules and guards care about; every
optimised entry point must give the reference's output. bench/check_cleaning_equivalence.py
checks the same on all real questions against the code before the optimisation.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from preprocessing import cleaning
from preprocessing.cleaning import DEFAULT_RULES, PLACEHOLDER_RE, RULES_V1, CleaningRule, clean, normalize
from preprocessing.pipeline import PreprocessSettings, clean_text, preprocess, preprocess_batch
from preprocessing.tokenizer import _tokenize_segment


def reference_clean(text: str, rules: tuple[CleaningRule, ...], nfkc: bool = True) -> str:
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    for rule in rules:
        text = re.sub(rule.pattern, rule.replacement, text)
    return text.strip()


def reference_lower(text: str) -> str:
    parts = PLACEHOLDER_RE.split(text)
    out = [parts[0].lower()]
    for placeholder, part in zip(PLACEHOLDER_RE.findall(text), parts[1:]):
        out += [placeholder, part.lower()]
    return "".join(out)


def reference_tokenize(text: str, form: str) -> list[str]:
    tokens: list[str] = []
    start = 0
    for match in PLACEHOLDER_RE.finditer(text):
        if match.start() > start:
            tokens += _tokenize_segment(text[start : match.start()], form)
        tokens.append(match.group())
        start = match.end()
    if start < len(text) and text[start:].strip():
        tokens += _tokenize_segment(text[start:], form)
    return tokens


# Pieces that trigger (or nearly trigger) each rule and guard: kana, kanji, ASCII and full-width
# letters and digits, other Unicode digits, case-folding oddities (ſ, K, İ), separators,
# whitespace of several kinds, control characters, placeholders, e-mail conventions.
PIECES = [
    "返品", "したい", "です", "ログイン", "注文", "番号", "注文番号", "お問い合わせ番号", "受付", "ｱﾌﾟﾘ", "ﾊﾟ", "ﾞ",
    "a", "Z", "o", "O", "t", "T", "order", "Ticket", "No.", "ver", "Ver.", "version", "バージョン", "www.", "https://", "://",
    "ftp://", "ＡＢ", "ｙａｍａｄａ", "＠", "１２３", "0", "1", "09", "090", "0120", "12345678", "+81", "٣", "①", "〇", "Σ",
    "ſ", "K", "İ", "@", "example.com", ".", "/", ":", "：", "#", "-", "－", "--", "---", "=", "＝＝＝", "*", "＊", "_", "~",
    "・", "･", "...", "―", "─", "━", "ー", "ーーー", "＿", "<", ">", "＞", "<URL>", "<EMAIL>", "<X>", "\n", "\r\n", "\t",
    " ", "  ", "\u3000", "\xa0", "\u2028", "\x00", "\x07", "\x1f", "\x7f", "。", "？", "?", "！", "（", "）", "😢",
    "お世話になっております", "いつもお世話になります", "はじめまして", "お疲れ様です", "突然のご連絡失礼いたします",
    "よろしくお願いいたします", "以上、よろしくお願いします", "宜しくお願い致します", "ご担当者様", "ご担当さま", "-- ", "山田 太郎", "株式会社サンプル",
    "TEL", "Mail:", "Sent from my iPhone", "On Mon, 1 Jan 2024, Taro wrote:", "2024年1月5日 山田 書きました：", "> ",
    # Whole matches of each rule, so that a wrong guard shows up quickly.
    "yamada@example.com", "ｓａｔｏ＠ｅｘａｍｐｌｅ．ｊｐ", "http://user@host.example.com/path", "https://example.jp/a?b=1",
    "www.example.co.jp", "version: 1.2.3", "ver2.1.0", "バージョン：３．４．１", "注文番号：AB-12345678", "Order No. 2024-000123",
    "ticket#4567", "order 12345", "Ticket 98765", "#123456", "CD-03479597", "03-1234-5678", "０１２０－１２３－４５６", "09019758601", "0312345678",
    "+81-90-1234-5678", "-----", "＝＝＝＝＝", "ーーーーー", "***", "・・・", "━━━",
]

mixed_text = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)
any_text = st.one_of(mixed_text, st.text(max_size=40))

# Rule lists: the old bundles' list, today's default, and custom ones whose replacements are
# empty (joining neighbours into a separator run), hold a group reference or digits (so that the
# per-text flags must be computed again), placed before rules that have guards.
CUSTOM_RULES = (
    CleaningRule("join", r"x", ""),
    CleaningRule("copy", r"(?i)no(\d)", r"\1\1"),
    CleaningRule("number", r"[A-Z]{3}", "7-7"),
    *RULES_V1,
)
RULE_LISTS = {"v1": RULES_V1, "default": DEFAULT_RULES, "custom": CUSTOM_RULES}


@settings(max_examples=400, deadline=None)
@given(text=any_text, rules=st.sampled_from(sorted(RULE_LISTS)), nfkc=st.booleans())
@example(text="-x-x-返品", rules="custom", nfkc=True)  # "---" only appears after the "join" rule
@example(text="NO1 ABC 返品", rules="custom", nfkc=False)  # digits only appear after custom rules
@example(text="電話 090１２３４５６７８", rules="v1", nfkc=False)  # full-width digits without NFKC
@example(text="ＴＥＬ：０１２０－１２３－４５６", rules="default", nfkc=True)
@example(text="返品\n>前回の回答\n追記", rules="default", nfkc=True)  # quoted line, no space anywhere
@example(text="返品です。\n--\n山田です。", rules="default", nfkc=True)  # signature line, no space anywhere
def test_clean_equals_the_plain_definition(text, rules, nfkc):
    rule_list = RULE_LISTS[rules]
    assert clean(text, rule_list, nfkc=nfkc) == reference_clean(text, rule_list, nfkc)


@settings(max_examples=250, deadline=None)
@given(text=any_text, rules=st.sampled_from(sorted(RULE_LISTS)), nfkc=st.booleans(), lowercase=st.booleans(),
       form=st.sampled_from(["surface", "base"]))
@example(text="ΑΣ <URL>Σ Wi-Fi", rules="v1", nfkc=True, lowercase=True, form="surface")
def test_clean_text_and_preprocess_equal_the_plain_definition(text, rules, nfkc, lowercase, form):
    prep = PreprocessSettings(nfkc=nfkc, rules=RULE_LISTS[rules], lowercase=lowercase, token_form=form)
    expected = reference_clean(text, prep.rules, nfkc)
    if lowercase:
        expected = reference_lower(expected)
    assert clean_text(text, prep) == expected
    tokens = reference_tokenize(expected, form)
    assert preprocess(text, prep) == tokens
    assert preprocess_batch([text, "返品したい", text], prep) == [tokens, preprocess("返品したい", prep), tokens]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ａＡ１？！（）　ｱﾊﾟﾟﾞ゙ｰＫK①㈱℃é\u0301A\u0300あ漢 ?"), max_size=20))
def test_nfkc_shortcut_equals_unicodedata(text):
    assert normalize(text) == unicodedata.normalize("NFKC", text)


def test_full_width_shortcut_maps_to_the_nfkd_of_each_character():
    # The shortcut is sound because each replaced character becomes its whole compatibility
    # decomposition (UAX #15), a single character that is itself in NFKC.
    assert len(cleaning._FULL_WIDTH) == 95
    for char, ascii_char in cleaning._FULL_WIDTH.items():
        assert unicodedata.normalize("NFKD", char) == ascii_char
        assert len(ascii_char) == 1 and unicodedata.is_normalized("NFKC", ascii_char)


def test_ignorecase_o_and_t_match_only_ascii_letters():
    # The order guard looks for o/O/t/T; re.IGNORECASE maps a few non-ASCII letters onto ASCII
    # ones (ſ -> s, K -> k, İ/ı -> i), none onto o or t.
    pattern = re.compile("(?i)[ot]")
    assert [c for c in map(chr, range(0x110000)) if pattern.fullmatch(c)] == ["O", "T", "o", "t"]


def test_every_guard_belongs_to_a_known_rule():
    known = {rule.pattern for rule in (*RULES_V1, *DEFAULT_RULES)}
    assert set(cleaning._GUARDS) <= known
    # Every rule of the default list has a guard, so a question with nothing to clean runs no regex
    # but the flag searches.
    assert [rule.name for rule in DEFAULT_RULES if rule.pattern not in cleaning._GUARDS] == []


@pytest.mark.parametrize("flag, replacement, expected", [
    ("digit", " <TEL> ", False), ("digit", "0", True), ("digit", r"\1", True),
    ("sep", " ", False), ("sep", "", True), ("sep", " - ", True), ("sep", r"\g<0>", True), ("sep", "0", False),
])
def test_flags_are_searched_again_when_a_replacement_could_set_them(flag, replacement, expected):
    assert cleaning._may_set(flag, replacement) is expected


def test_settings_with_equal_rules_share_one_compiled_cleaner():
    a = PreprocessSettings(rules=tuple(CleaningRule.from_dict(r.to_dict()) for r in DEFAULT_RULES))
    assert a.rules is not DEFAULT_RULES
    assert cleaning._cleaner(a.rules, True, True) is cleaning._cleaner(DEFAULT_RULES, True, True)
    # A list (not a tuple) of rules works too.
    assert clean("返品 -----", list(DEFAULT_RULES)) == "返品"


def test_every_guarded_rule_has_a_trigger():
    # A rule with a guard but no trigger would break a run of guarded rules into two checks;
    # one with a trigger but no guard would run its regex whenever the run's check passes.
    assert set(cleaning._TRIGGERS) == set(cleaning._GUARDS)


def test_other_whitespace_class_is_every_space_but_the_ascii_one():
    pattern = re.compile(f"[{cleaning._OTHER_WHITESPACE}]")
    assert [c for c in map(chr, range(0x110000)) if bool(pattern.fullmatch(c)) != (c.isspace() and c != " ")] == []


def test_a_question_with_nothing_to_clean_skips_every_rule():
    # The default rules sit behind one trigger check, so a plain question runs no rule's regex.
    lines = cleaning._build(DEFAULT_RULES, True, True).source.splitlines()
    assert lines[3] == "    found = _chars0(text)"
    assert lines[4] == "    if found is not None or _literals0(text) is not None:"
    assert all(line.startswith("        ") for line in lines[5:-2])  # every rule inside that check
    assert lines[-2:] == ["    text = text.strip()", '    return text.lower() if "<" not in text else _lower(text)']
