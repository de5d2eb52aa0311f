"""has_content: the one rule deciding that a cleaned question carries no words."""

from __future__ import annotations


import pytest

from preprocessing.datasets import load_tickets
from preprocessing.pipeline import PreprocessSettings, clean_text, has_content
from tests.paths import SAMPLE_TICKETS



@pytest.mark.parametrize(
    "cleaned",
    ["ログイン", "a", "返品したい", "ﾛｸﾞｲﾝ", "<URL> について", "ok?", "ー", "々", "Ω", "<EMAIL>は"],
)
def test_letters_are_content(cleaned):
    assert has_content(cleaned) is True


@pytest.mark.parametrize(
    "cleaned",
    ["", " ", "！！！？？？", "!!!???", "😢😢", "0120-000-000", "0000", "<URL>", "<EMAIL> <TEL> <ORDER>", "<SKU>", "①②", "(>_<)",
     "・・・", "¥000", "<><>"],
)
def test_symbols_digits_emoji_and_placeholders_are_not_content(cleaned):
    assert has_content(cleaned) is False


def test_cleaned_raw_questions():
    settings = PreprocessSettings()
    assert has_content(clean_text("ＵＲＬだけ https://example.com/a", settings)) is True  # "url だけ"
    assert has_content(clean_text("https://example.com/a yamada@example.com 03-1234-5678", settings)) is False
    assert has_content(clean_text("？？？ １２３ ーーーーー", settings)) is False


def test_every_sample_question_has_content_after_cleaning():
    settings = PreprocessSettings()
    questions = [t.question for t in load_tickets(str(SAMPLE_TICKETS)).tickets]
    assert [q for q in questions if not has_content(clean_text(q, settings))] == []
