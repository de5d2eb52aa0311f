"""training.data: from loaded tickets to examples, with every dropped row counted."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from preprocessing.datasets import Ticket, load_tickets
from preprocessing.errors import TicketFileError
from preprocessing.pipeline import PreprocessSettings
from training.config import TrainConfig
from training.data import Examples, drop_rare_categories, prepare_examples, split_holdout
from training.run import train

SETTINGS = PreprocessSettings()


def tsv(path: Path, rows: list[tuple[str, str]]) -> str:
    """Write classic 4-column rows (question, category); ids T1, T2, ... on lines 1, 2, ..."""
    path.write_text("".join(f"T{i}\t{q}\t回答\t{c}\n" for i, (q, c) in enumerate(rows, start=1)), encoding="utf-8")
    return str(path)


BASE_ROWS = [
    ("パスワードを忘れました", "アカウント"),
    ("ログインできません", "アカウント"),
    ("カードが使えません", "支払い"),
    ("請求書が欲しいです", "支払い"),
]


def test_prepare_examples_cleans_and_tokenizes_in_file_order(tmp_path):
    path = tsv(tmp_path / "t.tsv", [("ﾊﾟｽﾜｰﾄﾞを忘れました yamada@example.com", "アカウント"), ("カードが使えません", "支払い")])
    drops: Counter = Counter()
    examples = prepare_examples(load_tickets(path), SETTINGS, drops)
    assert examples.cleaned == ["パスワードを忘れました <EMAIL>", "カードが使えません"]
    assert examples.tokens[0] == ["パスワード", "を", "忘れ", "まし", "た", "<EMAIL>"]
    assert examples.labels == ["アカウント", "支払い"]
    assert [t.line for t in examples.tickets] == [1, 2]
    assert sum(drops.values()) == 0


def test_questions_empty_after_cleaning_are_dropped_and_counted(tmp_path):
    rows = BASE_ROWS[:2] + [("-----", "支払い"), ("version: 1.2.3", "アカウント"), ("ＵＲＬだけ https://example.com/a", "支払い")] + BASE_ROWS[2:]
    path = tsv(tmp_path / "t.tsv", rows)
    drops: Counter = Counter()
    examples = prepare_examples(load_tickets(path), SETTINGS, drops)
    assert drops["empty after cleaning"] == 2 and sum(drops.values()) == 2
    # Lines 3 and 4 are gone; line 5 still has words ("url だけ") next to its placeholder.
    assert [t.line for t in examples.tickets] == [1, 2, 5, 6, 7]
    assert examples.cleaned[2] == "urlだけ <URL>"


def test_only_symbols_question_is_an_error_naming_the_line(tmp_path):
    path = tsv(tmp_path / "t.tsv", BASE_ROWS[:2] + [("？？？！！", "支払い")] + BASE_ROWS[2:])
    with pytest.raises(TicketFileError) as info:
        prepare_examples(load_tickets(path), SETTINGS, Counter())
    assert info.value.line == 3
    assert str(info.value).startswith(f"{path}:3: question has no words")


def test_only_symbols_question_is_counted_with_skip_bad_rows(tmp_path):
    path = tsv(tmp_path / "t.tsv", BASE_ROWS[:2] + [("？？？！！", "支払い"), ("////", "支払い")] + BASE_ROWS[2:])
    drops: Counter = Counter()
    examples = prepare_examples(load_tickets(path), SETTINGS, drops, skip_bad_rows=True)
    assert drops["no words"] == 2
    assert len(examples) == 4


def test_unreadable_rows_skipped_by_the_loader_are_counted(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes(
        "T1\tパスワードを忘れました\t回答\tアカウント\n".encode("utf-8")
        + "T2\t文字化け\t回答\t支払い\n".encode("shift_jis")
        + "T3\t項目が足りない\tアカウント\n".encode("utf-8")
        + "T4\tカードが使えません\t回答\t支払い\n".encode("utf-8")
    )
    drops: Counter = Counter()
    examples = prepare_examples(load_tickets(str(path), skip_bad_rows=True), SETTINGS, drops)
    assert drops["unreadable rows skipped"] == 2
    assert [t.id for t in examples.tickets] == ["T1", "T4"]


def test_category_with_one_example_is_an_error_naming_its_line(tmp_path):
    path = tsv(tmp_path / "t.tsv", BASE_ROWS[:3] + [("荷物が届きません", "配送")] + BASE_ROWS[3:])
    examples = prepare_examples(load_tickets(path), SETTINGS, Counter())
    with pytest.raises(TicketFileError) as info:
        drop_rare_categories(examples, path, Counter())
    assert info.value.line == 4
    assert str(info.value).startswith(f"{path}:4: category '配送' has only 1 example(s)")


def test_category_with_one_example_is_dropped_and_counted_with_skip(tmp_path):
    path = tsv(tmp_path / "t.tsv", BASE_ROWS[:3] + [("荷物が届きません", "配送")] + BASE_ROWS[3:])
    drops: Counter = Counter()
    examples = drop_rare_categories(prepare_examples(load_tickets(path), SETTINGS, drops), path, drops, skip_bad_rows=True)
    assert drops["category with too few examples"] == 1
    assert sorted(set(examples.labels)) == ["アカウント", "支払い"] and len(examples) == 4


# train() checks its input before TensorFlow is imported, so these fail fast.


def test_train_refuses_a_category_with_one_example(tmp_path):
    path = tsv(tmp_path / "t.tsv", BASE_ROWS + [("荷物が届きません", "配送")])
    with pytest.raises(TicketFileError, match=r":5: category '配送' has only 1 example"):
        train(path, tmp_path / "models", TrainConfig(epochs=1), log=lambda line: None, verbose=0)
    assert not (tmp_path / "models").exists()


def test_train_refuses_a_symbols_only_question(tmp_path):
    path = tsv(tmp_path / "t.tsv", BASE_ROWS + [("？？？！！", "支払い")])
    with pytest.raises(TicketFileError, match=r":5: question has no words"):
        train(path, tmp_path / "models", TrainConfig(epochs=1), log=lambda line: None, verbose=0)


def test_train_needs_two_categories(tmp_path):
    path = tsv(tmp_path / "t.tsv", BASE_ROWS[:2])
    with pytest.raises(ValueError, match="need at least 2 categories"):
        train(path, tmp_path / "models", TrainConfig(epochs=1), log=lambda line: None, verbose=0)


def test_train_keep_categories_must_exist(tmp_path):
    path = tsv(tmp_path / "t.tsv", BASE_ROWS)
    with pytest.raises(ValueError, match="not in the data: 配送"):
        train(path, tmp_path / "models", TrainConfig(keep_categories=("配送",)), log=lambda line: None, verbose=0)


# --- the holdout, question by question or conversation by conversation ------------------------

CONVERSATION = r"^(.+)_turn_\d+$"


def conversations(n: int) -> Examples:
    """``n`` conversations of three turns (ids ``d{k}_turn_{t}``), each turn in the category of
    its conversation (k mod 3: アカウント, 支払い, 配送), so whole conversations are one category."""
    names = ["アカウント", "支払い", "配送"]
    tickets, labels = [], []
    for k in range(n):
        for t in range(3):
            tickets.append(Ticket(id=f"d{k}_turn_{t}", question=f"質問{k}の{t}", category=names[k % 3], line=len(tickets) + 1))
            labels.append(names[k % 3])
    return Examples(tickets, [t.question for t in tickets], [[t.question] for t in tickets], labels)


def conversation_of(ticket_id: str) -> str:
    return ticket_id.split("_turn_")[0]


def test_holdout_by_conversation_keeps_every_conversation_on_one_side():
    examples = conversations(60)
    fit, held = split_holdout(examples, 0.1, seed=5, groups=CONVERSATION)
    fit_ids, held_ids = {conversation_of(t.id) for t in fit.tickets}, {conversation_of(t.id) for t in held.tickets}
    assert not fit_ids & held_ids and len(fit) + len(held) == 180
    assert len(held_ids) == 6 and len(held) == 18  # a tenth of the 60 conversations, all three turns of each
    assert set(held.labels) == {"アカウント", "支払い", "配送"}
    # The same seed gives the same split; question by question, conversations are cut in pieces.
    assert [t.id for t in split_holdout(examples, 0.1, seed=5, groups=CONVERSATION)[1].tickets] == [t.id for t in held.tickets]
    rest, by_question = split_holdout(examples, 0.1, seed=5)
    assert len(by_question) == 18
    assert {conversation_of(t.id) for t in by_question.tickets} & {conversation_of(t.id) for t in rest.tickets}


def test_ids_the_pattern_does_not_match_are_their_own_conversation():
    examples = conversations(30)
    examples.tickets = [replace(t, id=f"T{i}") for i, t in enumerate(examples.tickets)]  # no conversation in the ids
    fit, held = split_holdout(examples, 0.1, seed=1, groups=CONVERSATION)
    assert len(held) == 9 and len(fit) == 81 and set(held.labels) == {"アカウント", "支払い", "配送"}


def test_too_few_conversations_fall_back_on_questions_one_by_one():
    examples = conversations(6)  # 6 conversations cannot make 10 folds
    assert [t.id for t in split_holdout(examples, 0.1, seed=2, groups=CONVERSATION)[1].tickets] == [
        t.id for t in split_holdout(examples, 0.1, seed=2)[1].tickets
    ]


@pytest.mark.parametrize("pattern, message", [("(", "not a regular expression"), ("_turn_", "needs a group")])
def test_holdout_groups_must_be_a_pattern_with_a_group(pattern, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(holdout_groups=pattern)


def test_holdout_groups_travel_with_the_configuration():
    config = TrainConfig(holdout_groups=CONVERSATION)
    assert TrainConfig.from_dict(config.to_dict()) == config and config.to_dict()["holdout_groups"] == CONVERSATION
