"""training.data: from loaded tickets to examples, with every dropped row counted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from preprocessing.datasets import load_tickets
from preprocessing.errors import TicketFileError
from preprocessing.pipeline import PreprocessSettings
from training.config import TrainConfig
from training.data import drop_rare_categories, prepare_examples
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
