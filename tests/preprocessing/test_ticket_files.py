"""Ticket files as Japanese teams have them: Shift_JIS from Excel, BOMs, Japanese headers, blank
lines, .xlsx workbooks; and read_questions' options for `toiawase predict`."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import openpyxl
import pytest

from preprocessing.datasets import FORMATS, detect_format, load_tickets, normalize_column_name, read_questions
from preprocessing.errors import TicketFileError
from preprocessing.pipeline import PreprocessSettings
from training.data import drop_rare_categories, prepare_examples

ROWS = [("返品したいのですが、送料はかかりますか", "返品・返金"), ("荷物が届きません", "配送"),
        ("カードが使えません", "支払い"), ("配達日を変更したい", "配送"), ("返金はいつですか", "返品・返金"),
        ("請求書が欲しい", "支払い")]


def csv_text(header: str, rows=ROWS, newline: str = "\r\n") -> str:
    return header + newline + "".join(f"{q},{c}{newline}" for q, c in rows)


def error_of(path, **kwargs) -> TicketFileError:
    with pytest.raises(TicketFileError) as info:
        load_tickets(str(path), **kwargs)
    return info.value


# --- encodings ---------------------------------------------------------------------------------


def test_cp932_csv_with_japanese_header_trains(tmp_path):
    # As Excel on Japanese Windows saves "CSV (コンマ区切り)": Shift_JIS (cp932), CRLF, a header.
    path = tmp_path / "問い合わせ.csv"
    path.write_bytes(csv_text("質問,カテゴリ").encode("cp932"))
    loaded = load_tickets(str(path))
    assert (loaded.encoding, loaded.format, loaded.columns) == ("cp932", "csv", {"question": "質問", "label": "カテゴリ"})
    assert [(t.question, t.category, t.line) for t in loaded.tickets][:2] == [
        ("返品したいのですが、送料はかかりますか", "返品・返金", 2), ("荷物が届きません", "配送", 3),
    ]
    # The header is no ticket: no category "カテゴリ" with one example stops training.
    drops: Counter = Counter()
    examples = drop_rare_categories(prepare_examples(loaded, PreprocessSettings(), drops), str(path), drops)
    assert Counter(examples.labels) == {"返品・返金": 2, "配送": 2, "支払い": 2}


def test_cp932_characters_outside_shift_jis(tmp_path):
    # cp932 (Microsoft's Shift_JIS) has NEC and IBM extensions Excel uses: ① and ㈱ and 髙.
    path = tmp_path / "t.csv"
    path.write_bytes("質問,カテゴリ\r\n①の件、㈱髙橋商事です,その他\r\n".encode("cp932"))
    (ticket,) = load_tickets(str(path)).tickets
    assert ticket.question == "①の件、㈱髙橋商事です"


def test_utf8_with_bom_csv(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes("\ufeffお問い合わせ内容,担当部署,回答,チケットID\r\n荷物が届きません,配送,確認します,A-1\r\n".encode("utf-8"))
    loaded = load_tickets(str(path))
    assert loaded.encoding == "utf-8-sig"
    assert loaded.columns == {"question": "お問い合わせ内容", "label": "担当部署", "id": "チケットID"}
    (ticket,) = loaded.tickets
    assert (ticket.id, ticket.question, ticket.category) == ("A-1", "荷物が届きません", "配送")


def test_utf8_without_bom_is_utf8(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes("T1\t返品したい\t回答\t返品・返金\n".encode("utf-8"))
    assert load_tickets(str(path)).encoding == "utf-8"


def test_forced_encoding(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(csv_text("質問,カテゴリ").encode("cp932"))
    assert load_tickets(str(path), encoding="shift_jis").tickets[1].question == "荷物が届きません"
    error = error_of(path, encoding="utf-8")
    assert error.line == 1 and error.reason.startswith("bytes that are not utf-8 at column 1 (byte 0x8e")


def test_unknown_encoding_name():
    with pytest.raises(LookupError):
        load_tickets("t.csv", encoding="sjis-2004-x")


def test_byte_invalid_in_both_encodings_names_line_and_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(
        "質問,カテゴリ\r\n荷物が届きません,配送\r\n".encode("cp932")
        + b"\x83J\x81[\x83h\x85@,\x8ex\x95\xa5\r\n"  # "カード" then 0x85 0x40: a character in neither encoding
        + "返金はいつですか,返品・返金\r\n".encode("cp932")
    )
    error = error_of(path)
    assert (error.path, error.line) == (str(path), 3)
    assert str(error) == f"{path}:3: bytes that are neither UTF-8 nor cp932 (Shift_JIS) at column 7 (byte 0x85: illegal multibyte sequence)"
    loaded = load_tickets(str(path), skip_bad_rows=True, require_label=False)
    assert [t.line for t in loaded.tickets] == [2, 4] and [e.line for e in loaded.skipped] == [3]


def test_utf8_file_with_one_shift_jis_line_reports_that_line(tmp_path):
    # Mostly UTF-8: the file is UTF-8 and the odd line is the error, never read as mojibake.
    path = tmp_path / "t.tsv"
    path.write_bytes("T1\t返品したい\t回答\t返品・返金\n".encode("utf-8") + "T2\t届かない\t回答\t配送\n".encode("cp932"))
    error = error_of(path)
    assert error.line == 2 and error.reason.startswith("bytes that are not UTF-8 at column 4")


# --- headers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, question, label",
    [
        ("質問内容,カテゴリー", "質問内容", "カテゴリー"),
        ("問い合わせ,分類", "問い合わせ", "分類"),
        ("問合せ,種別", "問合せ", "種別"),
        ("本文,担当", "本文", "担当"),
        ("内容,部署", "内容", "部署"),
        ("問い合わせ内容,ラベル", "問い合わせ内容", "ラベル"),
        ("Question,Category", "Question", "Category"),
        ("body,queue", "body", "queue"),
        ("message,class", "message", "class"),
        ("ＩＤ,Text,Label", "Text", "Label"),
    ],
)
def test_usual_header_names(tmp_path, header, question, label):
    path = tmp_path / "t.csv"
    path.write_text(header + "\n" + ("1," if header.startswith("ＩＤ") else "") + "荷物が届きません,配送\n", encoding="utf-8")
    loaded = load_tickets(str(path))
    assert (loaded.columns["question"], loaded.columns["label"]) == (question, label)
    assert [(t.question, t.category) for t in loaded.tickets] == [("荷物が届きません", "配送")]


def test_more_specific_name_wins_and_answer_is_not_the_question(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("番号,内容,質問内容,回答,担当部署\n7,配送の件,荷物が届きません,確認します,配送\n", encoding="utf-8")
    loaded = load_tickets(str(path))
    assert loaded.columns == {"question": "質問内容", "label": "担当部署", "id": "番号"}
    (ticket,) = loaded.tickets
    assert (ticket.id, ticket.question, ticket.category) == ("7", "荷物が届きません", "配送")


def test_explicit_columns_keep_priority(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("本文,質問,カテゴリ,担当\n本文です,質問です,配送,山田\n", encoding="utf-8")
    (ticket,) = load_tickets(str(path), text_column="本文", label_column="担当").tickets
    assert (ticket.question, ticket.category) == ("本文です", "山田")
    (ticket,) = load_tickets(str(path)).tickets
    assert (ticket.question, ticket.category) == ("質問です", "配送")


def test_explicit_unusual_column_that_is_missing_is_an_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("質問,カテゴリ\n荷物が届きません,配送\n", encoding="utf-8")
    error = error_of(path, label_column="queue_name")
    assert str(error) == (
        f"{path}:1: no column named 'queue_name' in the header (columns: 質問, カテゴリ); "
        "pass --label-column (label_column) naming the category column"
    )


def test_header_without_a_question_column_lists_the_columns(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("ID\t件名\t対応者\t分類\n1\t返品\t山田\t返品・返金\n", encoding="utf-8")
    error = error_of(path, text_column=None)
    assert str(error) == (
        f"{path}:1: no question column in the header (columns: ID, 件名, 対応者, 分類); "
        "pass --text-column (text_column) naming the question column"
    )


def test_an_answer_cell_saying_kaitou_does_not_make_a_header(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("T1\t返品したい\t回答\t返品・返金\nT2\t届かない\t回答\t配送\n", encoding="utf-8")
    assert [t.id for t in load_tickets(str(path)).tickets] == ["T1", "T2"]


def test_normalize_column_name():
    assert normalize_column_name("Ticket_ID") == normalize_column_name("ticket id") == "ticketid"
    assert normalize_column_name("ｶﾃｺﾞﾘ") == "カテゴリ"


# --- blank lines -------------------------------------------------------------------------------


def test_excel_empty_rows_are_blank_lines(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(("質問,カテゴリ\r\n荷物が届きません,配送\r\n,\r\n\r\nカードが使えません,支払い\r\n,\r\n").encode("cp932"))
    loaded = load_tickets(str(path))
    assert [t.line for t in loaded.tickets] == [2, 5]
    assert (loaded.blank_lines, loaded.skipped) == (3, [])


def test_blank_lines_in_json_lines_are_counted(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"question": "届かない", "category": "配送"}\n\n{"question": "返品", "category": "返品・返金"}\n', encoding="utf-8")
    loaded = load_tickets(str(path))
    assert (len(loaded.tickets), loaded.blank_lines) == (2, 1)


def test_keep_blank_needs_require_label_false(tmp_path):
    with pytest.raises(ValueError, match="keep_blank"):
        load_tickets(str(tmp_path / "t.csv"), keep_blank=True)


# --- read_questions ----------------------------------------------------------------------------


def test_read_questions_skips_a_japanese_header(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(csv_text("質問,カテゴリ").encode("cp932"))
    questions = [t.question for t in read_questions(str(path)).tickets]
    assert questions[0] == "返品したいのですが、送料はかかりますか" and "質問" not in questions


def test_read_questions_plain_lines_header_and_encoding(tmp_path):
    path = tmp_path / "q.txt"
    path.write_bytes("質問\r\n荷物が届きません\r\nカードが使えません\r\n".encode("cp932"))
    loaded = read_questions(str(path))
    assert [(t.question, t.line) for t in loaded.tickets] == [("荷物が届きません", 2), ("カードが使えません", 3)]
    assert (loaded.encoding, loaded.columns) == ("cp932", {"header": "質問"})
    # A first line that is a question stays a question.
    path.write_text("質問があります\n届きません\n", encoding="utf-8")
    assert [t.question for t in read_questions(str(path)).tickets] == ["質問があります", "届きません"]


def test_read_questions_keep_blank_gives_one_entry_per_line(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text("荷物が届きません\n\n  \nカードが使えません\n", encoding="utf-8")
    kept = read_questions(str(path), keep_blank=True)
    assert [(t.question, t.line) for t in kept.tickets] == [("荷物が届きません", 1), ("", 2), ("  ", 3), ("カードが使えません", 4)]
    assert (kept.blank_lines, kept.skipped) == (2, [])
    # The default is unchanged: blank lines skipped and reported.
    default = read_questions(str(path))
    assert [t.line for t in default.tickets] == [1, 4]
    assert [(e.line, e.reason) for e in default.skipped] == [(2, "blank line"), (3, "blank line")]


def test_read_questions_keep_blank_in_a_ticket_file(tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("question\n荷物が届きません\n\nカードが使えません\n", encoding="utf-8")
    loaded = read_questions(str(path), keep_blank=True)
    assert [(t.question, t.line) for t in loaded.tickets] == [("荷物が届きません", 2), ("", 3), ("カードが使えません", 4)]


def test_read_questions_only_blank_lines_is_still_an_error():
    with pytest.raises(TicketFileError, match="no questions"):
        read_questions(None, stream=io.StringIO("\n \n"), keep_blank=True)


# --- Excel .xlsx -------------------------------------------------------------------------------


def xlsx(path: Path, rows: list[list[object]]) -> str:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.create_sheet("メモ").append(["この", "シートは", "読まない"])
    workbook.save(path)
    return str(path)


def test_xlsx_training_file(tmp_path):
    path = xlsx(tmp_path / "tickets.xlsx", [
        ["問い合わせ番号", "お問い合わせ内容", "担当部署", None],
        [1001, "荷物が届きません", "配送", None],
        [None, None, None, None],
        [1002, "カードが使えません\n別のカードも駄目でした", "支払い"],
        [1003.0, "返品したい", "返品・返金", ""],
    ])
    assert "xlsx" in FORMATS and detect_format(path) == "xlsx"
    loaded = load_tickets(path)
    assert (loaded.format, loaded.encoding, loaded.blank_lines) == ("xlsx", None, 1)
    assert loaded.columns == {"question": "お問い合わせ内容", "label": "担当部署", "id": "問い合わせ番号"}
    assert [(t.id, t.question, t.category, t.line) for t in loaded.tickets] == [
        ("1001", "荷物が届きません", "配送", 2),
        ("1002", "カードが使えません\n別のカードも駄目でした", "支払い", 4),  # line = the sheet's row number
        ("1003", "返品したい", "返品・返金", 5),
    ]


def test_xlsx_classic_layout_without_header_and_bad_rows(tmp_path):
    path = xlsx(tmp_path / "t.xlsx", [
        ["T1", "荷物が届きません", "回答", "配送"],
        ["T2", "カードが使えません", "回答", None],
        ["T3", "返品したい", "回答", "返品・返金", "余分"],
    ])
    error = error_of(path)
    assert str(error) == f"{path}:2: empty label (category)"
    loaded = load_tickets(path, skip_bad_rows=True)
    assert [t.id for t in loaded.tickets] == ["T1"]
    assert [(e.line, e.reason) for e in loaded.skipped] == [(2, "empty label (category)"), (3, "5 field(s), expected 4")]


def test_xlsx_for_prediction(tmp_path):
    path = xlsx(tmp_path / "q.xlsx", [["質問"], ["荷物が届きません"], [None], ["カードが使えません"]])
    assert [(t.question, t.line) for t in read_questions(path).tickets] == [("荷物が届きません", 2), ("カードが使えません", 4)]
    assert [(t.question, t.line) for t in read_questions(path, keep_blank=True).tickets] == [
        ("荷物が届きません", 2), ("", 3), ("カードが使えません", 4),
    ]


def test_xlsx_header_without_question_column(tmp_path):
    path = xlsx(tmp_path / "t.xlsx", [["件名", "カテゴリ"], ["返品", "返品・返金"]])
    assert str(error_of(path)).startswith(f"{path}:1: no column named 'question' in the header (columns: 件名, カテゴリ); pass --text-column")


def test_not_an_xlsx_workbook(tmp_path):
    path = tmp_path / "renamed.xlsx"
    path.write_text("質問,カテゴリ\n返品したい,返品・返金\n", encoding="utf-8")
    error = error_of(path)
    assert error.line is None and str(error).startswith(f"{path}: not a readable Excel .xlsx workbook (")
    missing = error_of(tmp_path / "missing.xlsx")
    assert str(missing).startswith(f"{tmp_path / 'missing.xlsx'}: cannot read the file")
