"""feedback.privacy: the question as the prediction log keeps it (masked, still readable) and the store's check.

The sample tickets (data/sample/tickets.tsv) carry made-up e-mail addresses, phone numbers
(some in full-width digits), URLs and order numbers: every one of them must be masked, and the
store's own check must accept every masked question.
"""

from __future__ import annotations

import re

import pytest

from feedback import UnmaskedQuestionError
from feedback.privacy import check_masked, mask_question, masking_rules
from preprocessing.cleaning import DEFAULT_RULES, CleaningRule
from preprocessing.datasets import load_tickets
from tests.paths import SAMPLE_TICKETS

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def questions() -> dict[str, str]:
    """Ticket id → question of the sample tickets."""
    return {ticket.id: ticket.question for ticket in load_tickets(str(SAMPLE_TICKETS)).tickets}


def test_only_the_masking_rules_are_applied_in_the_bundles_order() -> None:
    assert [rule.name for rule in masking_rules(DEFAULT_RULES)] == ["url", "email", "order", "phone"]
    custom = (CleaningRule("digits", r"\d", "0"), CleaningRule("staff", r"担当[：:]\S+", " <STAFF> "))
    assert [rule.name for rule in masking_rules(custom)] == ["staff"]
    assert mask_question("担当：山田 注文12件", custom) == "<STAFF> 注文12件"


def test_masked_questions_keep_case_digits_and_words() -> None:
    question = "ＴＥＬ：０３－１２３４－５６７８（平日）　Yamada.Taro@Example.co.jp　注文番号：AB-12345678　Version 2 の件"
    assert mask_question(question) == "TEL: <TEL> (平日) <EMAIL> <ORDER> Version 2 の件"
    assert mask_question("詳しくはhttps://shop.example.jp/faq?id=12をご覧ください") == "詳しくは <URL> をご覧ください"
    assert mask_question("在庫は3個、合計12,800円です") == "在庫は3個、合計12,800円です"  # amounts stay readable
    assert mask_question("　\u3000 ") == ""


def test_every_sample_question_is_accepted_by_the_store_once_masked(questions: dict[str, str]) -> None:
    refused_raw = []
    for ticket_id, question in questions.items():
        masked = mask_question(question)
        check_masked(masked)  # raises if an e-mail address or a phone number is left
        assert not EMAIL.search(masked), ticket_id
        try:
            check_masked(question)
        except UnmaskedQuestionError:
            refused_raw.append(ticket_id)
    masked = {ticket_id: mask_question(q) for ticket_id, q in questions.items()}
    # data/sample/README.md: 51 questions with an e-mail address, each masked. Every raw question
    # the store refuses lost its match to a mask: <EMAIL>, <TEL>, or <ORDER> for an order number
    # shaped like a phone number ("ご注文番号:0480-9359-1673", T0395 and T0445).
    assert sum("<EMAIL>" in m for m in masked.values()) == 51
    assert sum("<TEL>" in m for m in masked.values()) == 38
    assert len(refused_raw) == 84
    assert all(any(mask in masked[i] for mask in ("<EMAIL>", "<TEL>", "<ORDER>")) for i in refused_raw)
    assert masked["T0445"] == "配送状況が3日間「輸送中」のまま止まっています。 ご <ORDER>"


def test_sample_tickets_masked_exactly(questions: dict[str, str]) -> None:
    assert mask_question(questions["T0005"]) == "ご <ORDER> アメックスは対応してますか TEL: <TEL>"
    assert mask_question(questions["T0003"]) == "-- <URL> マンション名と部屋番号を書き忘れました。届きますか?--"
    assert mask_question(questions["T0006"]) == "2024年1月9日に注文しました。 受け取りサインをした覚えがないのに「受領済み」になっています"
