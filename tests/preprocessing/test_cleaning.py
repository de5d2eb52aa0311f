"""Cleaning: NFKC, every rule of DEFAULT_RULES on Japanese tickets, rule order, custom rules."""

from __future__ import annotations

import json
import re

import pytest

from preprocessing.cleaning import DEFAULT_RULES, PLACEHOLDERS, RULES_V1, CleaningRule, clean, normalize
from preprocessing.pipeline import PreprocessSettings, clean_text, preprocess
from preprocessing.tokenizer import tokenize

RULES = {rule.name: rule for rule in DEFAULT_RULES}


def test_default_rules_are_the_documented_ones_in_order():
    # The order is part of the behaviour (URL before e-mail, numbers before digits), so a
    # reordering must show up here and in the order tests below.
    assert [rule.name for rule in DEFAULT_RULES] == [
        "control", "quote_header", "quoted_line", "url", "email", "version", "order", "phone",
        "greeting", "closing", "signature", "signature_block", "separator", "digits", "whitespace",
    ]


def test_the_first_bundles_rule_list_is_kept_unchanged():
    # Old bundles carry this list; the default only gained rules, none of these changed.
    assert [rule.name for rule in RULES_V1] == [
        "control", "url", "email", "version", "order", "phone", "separator", "digits", "whitespace",
    ]
    assert [rule for rule in DEFAULT_RULES if rule.name in {r.name for r in RULES_V1}] == list(RULES_V1)
    assert RULES["phone"].pattern == (
        r"(?:\+81[- ]?|(?<![\d-])0)\d{1,4}-\d{1,4}-\d{3,4}(?![\d-])|(?<!\d)0[5789]0\d{8}(?!\d)|(?<!\d)0\d{9}(?!\d)"
    )


def test_control_rule_removes_nul_and_other_control_characters():
    # MeCab reads a C string: without this rule everything after a NUL would be lost.
    assert clean("返品\x00したい\x07です\x7f") == "返品 したい です"
    assert tokenize(clean("パスワード\x00を忘れました")) == ["パスワード", "を", "忘れ", "まし", "た"]


# --- NFKC ---------------------------------------------------------------------------------


def test_nfkc_full_width_digits_and_letters_become_half_width():
    assert normalize("ＩＤ１２３") == "ID123"
    assert normalize("Ｅｄｇｅで開くと文字化けします") == "Edgeで開くと文字化けします"


def test_nfkc_half_width_katakana_becomes_full_width_with_voiced_marks_composed():
    # ﾊﾟ (two half-width code points) must become the single full-width パ.
    assert normalize("ﾊﾟｽﾜｰﾄﾞ") == "パスワード"
    assert normalize("ｷｬﾝｾﾙ料ってかかりますか") == "キャンセル料ってかかりますか"


def test_nfkc_full_width_space_and_symbols():
    assert normalize("返品\u3000したい？！") == "返品 したい?!"


def test_clean_applies_nfkc_before_the_rules():
    # Full-width address: only after NFKC is it an e-mail the rule can see.
    assert clean("連絡先：ｙａｍａｄａ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "連絡先: <EMAIL>"
    # Half-width katakana and a full-width space, then the digits rule on full-width digits.
    assert clean("ｱﾌﾟﾘが\u3000３回落ちた") == "アプリが 0回落ちた"


def test_clean_without_nfkc_keeps_full_width_letters():
    assert clean("ＡＢＣカード", nfkc=False) == "ＡＢＣカード"
    assert clean("ＡＢＣカード") == "ABCカード"


# --- one test per rule, Japanese examples ---------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("詳しくは https://shop.example.jp/faq?id=12 をご覧ください", "詳しくは <URL> をご覧ください"),
        ("このページです→http://shop.example.jp/cart", "このページです→ <URL>"),
        # Glued to Japanese on both sides (no spaces in Japanese): the URL stops at the kana.
        ("詳しくはhttps://example.com/faqをご覧ください", "詳しくは <URL> をご覧ください"),
        ("こちらwww.example.co.jp/campaign を見ました", "こちら <URL> を見ました"),
        # Full-width parentheses around a URL stay outside the placeholder.
        ("返品不可の商品って何ですか（https://example.com/help）", "返品不可の商品って何ですか( <URL> )"),
    ],
)
def test_url_rule(raw, expected):
    assert clean(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("連絡先は yamada.taro@example.co.jp です", "連絡先は <EMAIL> です"),
        ("返信はsho.watanabe@example.comまでお願いします。", "返信は <EMAIL> までお願いします。"),
        ("中村 さくら（sakura-n@example.com）", "中村 さくら( <EMAIL> )"),
    ],
)
def test_email_rule(raw, expected):
    assert clean(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("アプリが落ちます version: 1.2.3", "アプリが落ちます"),
        ("アプリが落ちます バージョン：３．４．１", "アプリが落ちます"),
        ("Ver.2.0.1 で起動しません", "で起動しません"),
        ("アプリver2.1.0で落ちる", "アプリ で落ちる"),
    ],
)
def test_version_rule_removes_version_lines(raw, expected):
    assert clean(raw) == expected


def test_version_rule_needs_a_dotted_number():
    # "バージョンアップ" is a word, not a version line; the rule must leave it alone.
    assert clean("バージョンアップしたら起動しません") == "バージョンアップしたら起動しません"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("注文番号：AB-12345678 が届きません", "<ORDER> が届きません"),
        ("【注文番号】ＡＢ－１０３７１６７８ 料金はいつから安くなりますか", "【注文番号】 <ORDER> 料金はいつから安くなりますか"),
        ("お問い合わせ番号: #123456 の件", "<ORDER> の件"),
        ("Order No. 2024-000123 について", "<ORDER> について"),
        ("注文AB-12345678です", "注文 <ORDER> です"),
        ("受付番号 #488018 このページです", "受付番号 <ORDER> このページです"),
    ],
)
def test_order_rule(raw, expected):
    assert clean(raw) == expected


def test_order_rule_does_not_eat_english_words_after_order_or_ticket():
    # "order"/"ticket" followed by a word without digits is no order number.
    assert clean("order status が見れません") == "order status が見れません"
    assert clean("My ticket history") == "My ticket history"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("電話は 03-1234-5678 までお願いします", "電話は <TEL> までお願いします"),
        ("折り返しは０１２０－１２３－４５６までお願いします", "折り返しは <TEL> までお願いします"),
        ("電話番号 09019758601", "電話番号 <TEL>"),
        ("携帯090-1234-5678です", "携帯 <TEL> です"),
        # International form: +81 replaces the leading 0.
        ("海外から +81-90-1234-5678 にかけています", "海外から <TEL> にかけています"),
    ],
)
def test_phone_rule(raw, expected):
    assert clean(raw) == expected


@pytest.mark.parametrize("separator", ["-----", "=====", "ーーー", "＊＊＊", "***", "＝＝＝＝＝", "ーーーーー", "----------"])
def test_separator_rule_removes_runs(separator):
    # The first bundles' rules: only the run goes. (The default rules also take the closing
    # formula and the signature after the run, see tests/test_email_rules.py.)
    assert clean(f"よろしくお願いします {separator} 山田", RULES_V1) == "よろしくお願いします 山田"
    assert clean(f"{separator}返品したいです{separator}") == "返品したいです"
    # A signature needs four ー or more (three may be an exclamation: "届かないーーー"), so the
    # name stays after ーーー.
    expected = "返品したいです 山田" if separator == "ーーー" else "返品したいです"
    assert clean(f"返品したいです {separator} 山田") == expected


@pytest.mark.parametrize("word", ["ラーメン", "サーバー", "コーヒー", "スーパーマーケット", "ユーザー"])
def test_single_prolonged_sound_marks_in_words_are_not_separators(word):
    assert clean(f"{word}について質問です") == f"{word}について質問です"
    tokens = preprocess(f"{word}について質問です", PreprocessSettings())
    assert "".join(tokens).startswith(word)


def test_two_dashes_are_not_a_separator_run():
    # The separator rule needs three or more: "--" stays with the first bundles' rules. With
    # the default rules, "--" followed by a name at the end is a signature.
    assert clean("再送 -- 山田", RULES_V1) == "再送 -- 山田"
    assert clean("再送 -- 山田") == "再送"
    assert clean("A--B 型番です") == "A--B 型番です"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("3個注文して12個届いた", "0個注文して00個届いた"),
        ("２０２４年１１月５日に注文しました", "0000年00月0日に注文しました"),
        ("残高は3,000ptあるのに", "残高は0,000ptあるのに"),
    ],
)
def test_digits_rule_maps_every_digit_to_zero(raw, expected):
    assert clean(raw) == expected


def test_whitespace_rule_collapses_and_strips():
    assert clean("  パスワード\u3000を   忘れ\tました\n") == "パスワード を 忘れ ました"


def test_only_noise_cleans_to_empty():
    assert clean("-----") == ""
    assert clean("version: 1.2.3") == ""
    assert clean(" ＝＝＝＝＝\u3000") == ""


# --- order of the rules ----------------------------------------------------------------------


def test_url_containing_user_at_host_becomes_url_not_email():
    assert clean("詳細は http://user@host.example.com/path を参照") == "詳細は <URL> を参照"
    assert clean("詳細はhttp://user@host.example.com/pathを参照") == "詳細は <URL> を参照"


def test_rule_order_matters_email_before_url_would_break_the_url():
    # The same rules with e-mail first: the address inside the URL is masked and the URL torn.
    swapped = (RULES["email"], RULES["url"], *DEFAULT_RULES[2:])
    assert "<EMAIL>" in clean("詳細は http://user@host.example.com/path を参照", swapped)


def test_phone_and_order_numbers_are_masked_before_digits_become_zero():
    assert clean("注文番号：AB-12345678 電話 03-1234-5678 で3回") == "<ORDER> 電話 <TEL> で0回"
    only_digits = (RULES["digits"], RULES["phone"], RULES["whitespace"])
    # With digits first, the mobile number 090... becomes 000... and the phone rule (which
    # needs 050/070/080/090 for an 11-digit number) no longer sees it.
    assert clean("電話 09012345678", only_digits) == "電話 00000000000"
    assert clean("電話 09012345678") == "電話 <TEL>"


# --- settings, lowercasing, custom rules ----------------------------------------------------


def test_lowercasing_keeps_placeholders_upper_case():
    settings = PreprocessSettings()
    assert settings.lowercase is True
    cleaned = clean_text("Wi-Fi接続でERRORが出ます yamada@example.com https://Example.com/Help", settings)
    assert cleaned == "wi-fi接続でerrorが出ます <EMAIL> <URL>"
    assert all(p in PLACEHOLDERS for p in re.findall(r"<[^>]+>", cleaned))


def test_lowercase_off_keeps_latin_case():
    settings = PreprocessSettings(lowercase=False)
    assert clean_text("ERRORが出ます", settings) == "ERRORが出ます"


def test_custom_rule_list_is_used_instead_of_the_defaults():
    rules = (
        CleaningRule("sku", r"(?i)(?<![A-Za-z0-9])SKU-\d+", " <SKU> "),
        CleaningRule("whitespace", r"\s+", " "),
    )
    raw = "商品 SKU-1234 が届かない yamada@example.com 3個"
    # Only these two rules: the SKU is masked, the e-mail and digits are left as they are.
    assert clean(raw, rules) == "商品 <SKU> が届かない yamada@example.com 3個"
    settings = PreprocessSettings(rules=rules, lowercase=True)
    tokens = preprocess(raw, settings)
    assert "<SKU>" in tokens  # kept whole and upper-case
    assert "yamada@example.com" in "".join(tokens)


def test_cleaning_rule_dict_round_trip_through_json():
    for rule in DEFAULT_RULES:
        data = json.loads(json.dumps(rule.to_dict(), ensure_ascii=False))
        assert set(data) == {"name", "pattern", "replacement"}
        assert CleaningRule.from_dict(data) == rule


def test_cleaning_rule_from_dict_rejects_an_invalid_pattern():
    with pytest.raises(re.error):
        CleaningRule.from_dict({"name": "broken", "pattern": "(注文", "replacement": " "})


def test_preprocess_settings_round_trip_through_json_replays_the_same_cleaning():
    rules = (
        CleaningRule("sku", r"(?i)SKU-\d+", " <SKU> "),
        RULES["separator"],
        RULES["whitespace"],
    )
    settings = PreprocessSettings(nfkc=False, rules=rules, token_form="base", lowercase=False)
    restored = PreprocessSettings.from_dict(json.loads(json.dumps(settings.to_dict(), ensure_ascii=False)))
    assert restored == settings
    raw = "ＳＫＵ-1 SKU-99 を返品したい -----"
    # nfkc=False: the full-width "ＳＫＵ" is not matched; lowercase=False keeps "SKU" case.
    assert clean_text(raw, restored) == "ＳＫＵ-1 <SKU> を返品したい"
    assert preprocess(raw, restored) == preprocess(raw, settings)


def test_default_settings_round_trip_through_json():
    settings = PreprocessSettings()
    data = json.loads(json.dumps(settings.to_dict(), ensure_ascii=False))
    assert [rule["name"] for rule in data["rules"]][:4] == ["control", "quote_header", "quoted_line", "url"]
    # The control-character pattern survives JSON (escapes, not raw control bytes).
    assert PreprocessSettings.from_dict(data) == settings
    assert clean_text("返品\x00したい", PreprocessSettings.from_dict(data)) == "返品 したい"


def test_preprocess_settings_rejects_unknown_token_form():
    with pytest.raises(ValueError, match="token_form"):
        PreprocessSettings(token_form="lemma")


def test_preprocess_is_clean_then_tokenize():
    raw = "ﾊﾟｽﾜｰﾄﾞを忘れました。 yamada@example.com"
    settings = PreprocessSettings()
    assert clean_text(raw, settings) == "パスワードを忘れました。 <EMAIL>"
    assert preprocess(raw, settings) == tokenize("パスワードを忘れました。 <EMAIL>")
    assert preprocess(raw, settings)[-1] == "<EMAIL>"
