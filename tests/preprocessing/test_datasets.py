"""Loading ticket files: every input format and every kind of bad input."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from preprocessing.datasets import detect_format, load_tickets, read_questions
from preprocessing.errors import TicketFileError
from tests.paths import SAMPLE_TICKETS

SAMPLE = SAMPLE_TICKETS


def write(path: Path, text: str) -> str:
    path.write_bytes(text.encode("utf-8"))
    return str(path)


def error_of(path: str, **kwargs) -> TicketFileError:
    with pytest.raises(TicketFileError) as info:
        load_tickets(path, **kwargs)
    return info.value


# --- formats ---------------------------------------------------------------------------------


def test_sample_file_is_read_completely_in_the_classic_layout():
    loaded = load_tickets(str(SAMPLE))
    assert loaded.format == "tsv" and loaded.skipped == []
    assert len(loaded.tickets) == 668
    assert loaded.tickets[0].id == "T0001" and loaded.tickets[-1].id == "T0668"
    assert loaded.tickets[0].question == "コンビニ払いの期限っていつまでですか"
    assert [t.line for t in loaded.tickets] == list(range(1, 669))
    # The counts data/sample/README.md states.
    assert Counter(t.category for t in loaded.tickets) == {
        "アカウント": 116, "支払い": 112, "配送": 108, "返品・返金": 112, "技術的なトラブル": 110, "その他": 110,
    }


def test_classic_four_column_tsv(tmp_path):
    path = write(
        tmp_path / "t.tsv",
        "T1\t返品したいです\t承知しました\t返品・返金\n"
        "T2\t\"引用符\"入りの質問です\tお答えします\tその他\n",
    )
    tickets = load_tickets(path).tickets
    assert [(t.id, t.question, t.category, t.line) for t in tickets] == [
        ("T1", "返品したいです", "返品・返金", 1),
        ("T2", '"引用符"入りの質問です', "その他", 2),  # TSV has no quoting: " is a character
    ]


def test_three_column_tsv_is_id_question_category(tmp_path):
    path = write(tmp_path / "t.tsv", "A-1\t配送状況を知りたい\t配送\nA-2\t請求書が欲しい\t支払い\n")
    assert [(t.id, t.question, t.category) for t in load_tickets(path).tickets] == [
        ("A-1", "配送状況を知りたい", "配送"),
        ("A-2", "請求書が欲しい", "支払い"),
    ]


def test_two_column_tsv_is_question_category_with_line_ids(tmp_path):
    path = write(tmp_path / "t.tsv", "配送状況を知りたい\t配送\n請求書が欲しい\t支払い\n")
    tickets = load_tickets(path).tickets
    assert [(t.id, t.question, t.category) for t in tickets] == [("1", "配送状況を知りたい", "配送"), ("2", "請求書が欲しい", "支払い")]


def test_tsv_with_header_picks_columns_by_name(tmp_path):
    path = write(
        tmp_path / "t.tsv",
        "queue\tcreated\tbody\tid\n"
        "配送\t2024-01-05\t荷物が届きません\tX9\n"
        "アカウント\t2024-01-06\tログインできません\tX10\n",
    )
    tickets = load_tickets(path, text_column="body", label_column="queue").tickets
    assert [(t.id, t.question, t.category, t.line) for t in tickets] == [
        ("X9", "荷物が届きません", "配送", 2),
        ("X10", "ログインできません", "アカウント", 3),
    ]


def test_tsv_with_default_header_names(tmp_path):
    path = write(tmp_path / "t.tsv", "category\tquestion\n支払い\tカードが使えません\n")
    (ticket,) = load_tickets(path).tickets
    assert (ticket.question, ticket.category, ticket.id, ticket.line) == ("カードが使えません", "支払い", "2", 2)


def test_csv_with_quoted_fields_containing_commas_and_newlines(tmp_path):
    path = write(
        tmp_path / "t.csv",
        "id,question,category\n"
        '1,"返品したいのですが、送料はかかりますか",返品・返金\n'
        '2,"一行目です。\n二行目に続きます、はい",その他\n'
        '3,"""至急""と書いてあります",配送\n',
    )
    loaded = load_tickets(path)
    assert loaded.format == "csv"
    assert [(t.id, t.question, t.category, t.line) for t in loaded.tickets] == [
        ("1", "返品したいのですが、送料はかかりますか", "返品・返金", 2),
        ("2", "一行目です。\n二行目に続きます、はい", "その他", 3),
        ("3", '"至急"と書いてあります', "配送", 5),  # the row after the two-line field starts on line 5
    ]


def test_csv_without_header_uses_the_classic_layout(tmp_path):
    path = write(tmp_path / "t.csv", 'T1,"はい、ログインできません",回答,アカウント\n')
    (ticket,) = load_tickets(path).tickets
    assert (ticket.id, ticket.question, ticket.category) == ("T1", "はい、ログインできません", "アカウント")


def test_json_lines(tmp_path):
    rows = [
        {"id": "J1", "question": "パスワードを忘れました", "category": "アカウント"},
        {"question": "返金はいつですか", "category": "返品・返金", "extra": 1},
    ]
    path = write(tmp_path / "t.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    loaded = load_tickets(path)
    assert loaded.format == "jsonl"
    assert [(t.id, t.question, t.category, t.line) for t in loaded.tickets] == [
        ("J1", "パスワードを忘れました", "アカウント", 1),
        ("2", "返金はいつですか", "返品・返金", 2),
    ]


def test_json_lines_with_custom_keys(tmp_path):
    path = write(tmp_path / "t.ndjson", '{"text": "届きません", "label": "配送"}\n')
    (ticket,) = load_tickets(path, text_column="text", label_column="label").tickets
    assert (ticket.question, ticket.category) == ("届きません", "配送")


def test_json_object_of_category_lists(tmp_path):
    data = {"配送": ["荷物が届きません", "配送日を変えたい"], "支払い": ["カードが使えません"]}
    path = write(tmp_path / "t.json", json.dumps(data, ensure_ascii=False, indent=2))
    loaded = load_tickets(path)
    assert loaded.format == "json"
    assert [(t.id, t.question, t.category) for t in loaded.tickets] == [
        ("配送/0", "荷物が届きません", "配送"),
        ("配送/1", "配送日を変えたい", "配送"),
        ("支払い/0", "カードが使えません", "支払い"),
    ]


def test_format_option_overrides_the_extension(tmp_path):
    path = write(tmp_path / "export.dat", '{"question": "届きません", "category": "配送"}\n')
    assert load_tickets(path, fmt="jsonl").tickets[0].category == "配送"
    assert detect_format("a.CSV") == "csv" and detect_format("a.unknown") == "tsv"
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        detect_format("a.tsv", "xml")


def test_utf8_bom_and_crlf_line_endings(tmp_path):
    path = tmp_path / "excel.tsv"
    path.write_bytes(b"\xef\xbb\xbf" + "T1\t返品したい\t回答\t返品・返金\r\nT2\t届かない\t回答\t配送\r\n".encode("utf-8"))
    tickets = load_tickets(str(path)).tickets
    assert [(t.id, t.category) for t in tickets] == [("T1", "返品・返金"), ("T2", "配送")]


# --- bad input: the error names file and line ---------------------------------------------


def test_empty_file(tmp_path):
    path = write(tmp_path / "empty.tsv", "")
    error = error_of(path)
    assert (error.path, error.line) == (path, 1)
    assert str(error) == f"{path}:1: the file is empty: no tickets"


def test_whitespace_only_file_is_empty(tmp_path):
    path = write(tmp_path / "blank.csv", "\n \n\n")
    assert str(error_of(path)).startswith(f"{path}:1: the file is empty")


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.tsv")
    error = error_of(path)
    assert error.line is None and str(error).startswith(f"{path}: cannot read the file")


def test_missing_label_column_in_header(tmp_path):
    path = write(tmp_path / "t.tsv", "id\tquestion\tanswer\nT1\t返品したい\t承知しました\n")
    error = error_of(path)
    assert error.line == 1
    assert str(error).startswith(f"{path}:1: no column named 'category' in the header")
    assert "id, question, answer" in str(error) and "--label-column" in str(error)


def test_missing_text_column_in_header(tmp_path):
    # A header (it has a category column) without any question column.
    path = write(tmp_path / "t.csv", "id,件名,カテゴリ\n1,返品について,返品・返金\n")
    assert str(error_of(path)) == (
        f"{path}:1: no column named 'question' in the header (columns: id, 件名, カテゴリ); "
        "pass --text-column (text_column) naming the question column"
    )
    loaded = load_tickets(path, text_column="件名")
    assert [(t.id, t.question, t.category) for t in loaded.tickets] == [("1", "返品について", "返品・返金")]


def test_header_with_other_column_names_is_not_read_as_a_ticket(tmp_path):
    # "id, text, label" is a header, not a first ticket labeled "label"; its names are usual ones.
    path = write(tmp_path / "t.tsv", "id\ttext\tlabel\n1\t返品したい\t返品・返金\n2\t届かない\t配送\n")
    for loaded in (load_tickets(path), load_tickets(path, text_column="text", label_column="label")):
        assert [(t.id, t.question, t.category, t.line) for t in loaded.tickets] == [
            ("1", "返品したい", "返品・返金", 2), ("2", "届かない", "配送", 3),
        ]
        assert loaded.columns == {"question": "text", "label": "label", "id": "id"}


def test_wrong_number_of_fields(tmp_path):
    path = write(
        tmp_path / "t.tsv",
        "T1\t返品したい\t回答\t返品・返金\n"
        "T2\t届かない\t回答\t配送\n"
        "T3\tタブが足りない\t配送\n",
    )
    error = error_of(path)
    assert str(error) == f"{path}:3: 3 field(s), expected 4"


def test_unknown_layout_without_header(tmp_path):
    path = write(tmp_path / "t.tsv", "a\tb\tc\td\te\n")
    error = error_of(path)
    assert error.line == 1 and "5 field(s) and no header line" in error.reason


def test_empty_label(tmp_path):
    path = write(tmp_path / "t.tsv", "T1\t返品したい\t回答\t返品・返金\nT2\t届かない\t回答\t  \n")
    assert str(error_of(path)) == f"{path}:2: empty label (category)"


def test_empty_question(tmp_path):
    path = write(tmp_path / "t.tsv", "T1\t返品したい\t回答\t返品・返金\nT2\t\t回答\t配送\n")
    assert str(error_of(path)) == f"{path}:2: empty question"


def test_blank_line_in_the_middle_is_skipped_and_counted(tmp_path):
    path = write(tmp_path / "t.tsv", "T1\t返品したい\t回答\t返品・返金\n\n  \nT2\t届かない\t回答\t配送\n\n")
    loaded = load_tickets(path)
    assert [(t.id, t.line) for t in loaded.tickets] == [("T1", 1), ("T2", 4)]
    assert (loaded.blank_lines, loaded.skipped) == (3, [])


def test_non_utf8_bytes_name_the_line(tmp_path):
    path = tmp_path / "sjis.tsv"
    path.write_bytes(
        "T1\t返品したい\t回答\t返品・返金\n".encode("utf-8")
        + "T2\t届かない\t回答\t配送\n".encode("utf-8")
        + "T3\t文字化け\t回答\t配送\n".encode("shift_jis")
        + "T4\tもう一件\t回答\t配送\n".encode("utf-8")
    )
    error = error_of(str(path))
    assert error.line == 3
    assert str(error).startswith(f"{path}:3: bytes that are not UTF-8 at column 4")  # after "T3\t"


def test_non_utf8_line_number_in_csv(tmp_path):
    path = tmp_path / "cp932.csv"
    path.write_bytes("id,question,category\n1,返品,返品・返金\n".encode("utf-8") + "2,配送,配送\n".encode("cp932"))
    assert error_of(str(path)).line == 3


def test_invalid_json_line(tmp_path):
    path = write(
        tmp_path / "t.jsonl",
        '{"question": "返品したい", "category": "返品・返金"}\n'
        '{"question": "届かない", "category": "配送"\n',
    )
    error = error_of(path)
    assert error.line == 2 and str(error).startswith(f"{path}:2: invalid JSON")


def test_json_line_that_is_not_an_object(tmp_path):
    path = write(tmp_path / "t.jsonl", '["返品したい", "返品・返金"]\n')
    assert str(error_of(path)) == f"{path}:1: expected a JSON object per line"


def test_json_line_missing_text_key(tmp_path):
    path = write(tmp_path / "t.jsonl", '{"body": "返品したい", "category": "返品・返金"}\n')
    assert str(error_of(path)) == f"{path}:1: no key 'question'; use --text-column"


def test_invalid_json_object_file_names_the_line(tmp_path):
    path = write(tmp_path / "t.json", '{\n  "配送": ["届かない",]\n}\n')
    error = error_of(path)
    assert error.line == 2 and "invalid JSON" in error.reason


def test_json_object_with_a_non_list_value(tmp_path):
    path = write(tmp_path / "t.json", '{"配送": "届かない"}')
    error = error_of(path)
    assert error.line is None and str(error) == f"{path}: category '配送': expected a list of questions"


def test_skip_bad_rows_counts_every_skipped_row(tmp_path):
    path = tmp_path / "mixed.tsv"
    path.write_bytes(
        "T1\t返品したい\t回答\t返品・返金\n".encode("utf-8")
        + "T2\tフィールド不足\t配送\n".encode("utf-8")  # line 2: 3 fields
        + "T3\tラベルなし\t回答\t\n".encode("utf-8")  # line 3: empty label
        + "T4\t文字化け\t回答\t配送\n".encode("shift_jis")  # line 4: not UTF-8
        + "T5\t届かない\t回答\t配送\n".encode("utf-8")
        + "\n".encode("utf-8")  # line 6: blank line in the middle
        + "T6\tログインできない\t回答\tアカウント\n".encode("utf-8")
    )
    loaded = load_tickets(str(path), skip_bad_rows=True)
    assert [t.id for t in loaded.tickets] == ["T1", "T5", "T6"]
    assert sorted(e.line for e in loaded.skipped) == [2, 3, 4]
    assert loaded.blank_lines == 1  # line 6: skipped and counted, not a bad row
    assert all(str(e).startswith(f"{path}:{e.line}: ") for e in loaded.skipped)


def test_skip_bad_rows_in_json_lines(tmp_path):
    path = write(
        tmp_path / "t.jsonl",
        '{"question": "返品したい", "category": "返品・返金"}\n'
        "not json\n"
        '{"question": "届かない"}\n'
        '{"question": "ログインできない", "category": "アカウント"}\n',
    )
    loaded = load_tickets(path, skip_bad_rows=True)
    assert [t.question for t in loaded.tickets] == ["返品したい", "ログインできない"]
    assert [e.line for e in loaded.skipped] == [2, 3]
    assert loaded.skipped[0].reason.startswith("invalid JSON")
    assert loaded.skipped[1].reason == "empty label (category)"


def test_all_rows_bad_is_still_an_error_with_skip(tmp_path):
    path = write(tmp_path / "t.tsv", "T1\t返品したい\t回答\t\n")
    error = error_of(path, skip_bad_rows=True)
    assert "no readable tickets" in str(error)


def test_require_label_false_reads_question_only_files(tmp_path):
    path = write(tmp_path / "q.tsv", "question\n返品したい\n届かない\n")
    tickets = load_tickets(path, require_label=False).tickets
    assert [(t.question, t.category) for t in tickets] == [("返品したい", None), ("届かない", None)]


# --- read_questions ----------------------------------------------------------------------------


def test_read_questions_plain_text_lines(tmp_path):
    path = write(tmp_path / "questions.txt", "返品したいです\n\n荷物が届きません\t至急\n")
    loaded = read_questions(path)
    assert loaded.format == "lines"
    assert [(t.question, t.line, t.category) for t in loaded.tickets] == [
        ("返品したいです", 1, None),
        ("荷物が届きません\t至急", 3, None),  # a plain line is the question, tabs and all
    ]
    assert [(e.line, e.reason) for e in loaded.skipped] == [(2, "blank line")]


def test_read_questions_from_stdin_bytes():
    stdin = io.TextIOWrapper(io.BytesIO("パスワードを忘れました\nカードが使えません\n".encode("utf-8")), encoding="utf-8")
    loaded = read_questions(None, stream=stdin)
    assert loaded.path == "<stdin>"
    assert [t.question for t in loaded.tickets] == ["パスワードを忘れました", "カードが使えません"]


def test_read_questions_from_a_text_stream_without_buffer():
    loaded = read_questions(None, stream=io.StringIO("配送日を変えたい\n"))
    assert [t.question for t in loaded.tickets] == ["配送日を変えたい"]


def test_read_questions_non_utf8_stdin_names_the_line():
    stdin = io.TextIOWrapper(io.BytesIO("一行目\n".encode("utf-8") + "二行目\n".encode("euc_jp")), encoding="utf-8")
    with pytest.raises(TicketFileError) as info:
        read_questions(None, stream=stdin)
    assert str(info.value).startswith("<stdin>:2: bytes that are not UTF-8")


def test_read_questions_empty_input():
    with pytest.raises(TicketFileError, match="no questions"):
        read_questions(None, stream=io.StringIO("\n\n"))


def test_read_questions_ticket_file_uses_its_question_column(tmp_path):
    path = write(tmp_path / "t.tsv", "T1\t返品したい\t回答\t返品・返金\n")
    (ticket,) = read_questions(path).tickets
    assert (ticket.question, ticket.category) == ("返品したい", "返品・返金")
