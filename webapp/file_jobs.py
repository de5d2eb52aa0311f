"""Uploaded files and their routed results, kept in a temporary directory with an expiry.

Design (issue 11, part 3): a whole file is too large to travel back and forth in the page (a
100,000-row result is about 30 MB), and the app keeps no state in memory besides the model. So
each upload gets a *job*: a directory ``<FILES_DIR>/<token>/`` named by a random token
(``secrets.token_urlsafe(24)``: 32 characters, 192 bits, so the URL is the capability, as for a
shared link) holding

* ``upload.<ext>``: the uploaded file as received;
* ``job.json``: what the pages need (original file name, format, encoding, the first row's cells
  and the recognised question column; after routing the row counts);
* ``results.csv``: the routed rows, UTF-8 with a byte order mark (what Japanese Excel needs to
  open UTF-8 CSV without mojibake), columns :data:`RESULT_COLUMNS`;
* ``results.xlsx``: made from ``results.csv`` on the first download of the workbook;
* ``results_download.csv``: the CSV download, made from ``results.csv`` on its first download,
  with texts that a spreadsheet would run as a formula defused (:func:`spreadsheet_text`).

Any gunicorn worker of the machine can serve any step (the directory is shared). Jobs older than
``FILES_TTL`` seconds (by the directory's modification time) are removed whenever a new file is
uploaded (:func:`prune`) and are not served any more after it (:func:`open_job`). ``FILES_DIR``
defaults to ``toiawase-files`` in the system's temporary directory (``tempfile.gettempdir()``).
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

#: Columns of the results (CSV header and first .xlsx row), as ``toiawase predict`` names them.
RESULT_COLUMNS = ("line", "question", "category", "probability", "needs_review", "reason")
#: What a job token looks like (``secrets.token_urlsafe(24)``); anything else is never a path.
TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")

UPLOAD_STEM = "upload"
META = "job.json"
RESULTS_CSV = "results.csv"
RESULTS_XLSX = "results.xlsx"
RESULTS_DOWNLOAD_CSV = "results_download.csv"
#: First characters that make Excel or LibreOffice read a CSV cell as a formula (OWASP, "CSV
#: Injection": ``=``, ``+``, ``-``, ``@``, tab, carriage return).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def files_root(configured: str | os.PathLike | None) -> Path:
    """The jobs' directory: ``configured`` (``FILES_DIR``) or ``<tmp>/toiawase-files``; created if missing (mode 0700)."""
    root = Path(configured) if configured else Path(tempfile.gettempdir()) / "toiawase-files"
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def new_job(root: Path) -> tuple[str, Path]:
    """Create an empty job directory under ``root``; return (token, directory)."""
    token = secrets.token_urlsafe(24)
    directory = root / token
    directory.mkdir(mode=0o700)
    return token, directory


def open_job(root: Path, token: str, ttl: float, now: float | None = None) -> Path | None:
    """The directory of job ``token``, or ``None`` if the token is malformed, unknown or expired."""
    if not TOKEN.fullmatch(token):
        return None
    directory = root / token
    try:
        age = (time.time() if now is None else now) - directory.stat().st_mtime
    except OSError:
        return None
    return directory if age <= ttl and (directory / META).is_file() else None


def prune(root: Path, ttl: float, now: float | None = None) -> int:
    """Remove the jobs under ``root`` older than ``ttl`` seconds; return how many were removed."""
    now = time.time() if now is None else now
    removed = 0
    for entry in root.iterdir():
        if not TOKEN.fullmatch(entry.name):
            continue
        try:
            if now - entry.stat().st_mtime > ttl:
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except OSError:
            continue  # removed by another worker meanwhile
    return removed


def read_meta(directory: Path) -> dict:
    """The job's ``job.json``."""
    return json.loads((directory / META).read_text(encoding="utf-8"))


def write_meta(directory: Path, meta: dict) -> None:
    """Replace the job's ``job.json`` atomically (write, then rename)."""
    partial = _partial(directory / META)
    partial.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, directory / META)


def write_results_csv(path: Path, rows: Iterable[tuple]) -> int:
    """Write ``rows`` (one tuple per :data:`RESULT_COLUMNS`) as UTF-8 CSV with a byte order mark; return the row count.

    Values: ``probability`` with 4 decimals (empty without one), ``needs_review`` ``true``/``false``,
    ``None`` as an empty cell; CRLF line ends and RFC 4180 quoting (Python's ``csv`` defaults).
    """
    count = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESULT_COLUMNS)
        for line, question, category, probability, needs_review, reason in rows:
            writer.writerow([line, question, category or "", "" if probability is None else f"{probability:.4f}",
                             "true" if needs_review else "false", reason or ""])
            count += 1
    return count


def read_results(path: Path, limit: int | None = None) -> Iterator[list[str]]:
    """The rows of a results CSV (without its header), at most ``limit`` of them."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for index, row in enumerate(reader):
            if limit is not None and index >= limit:
                return
            yield row


def _partial(target: Path) -> Path:
    """A file name beside ``target`` of this writer alone: two workers making the same download at
    once each write their own and rename it over ``target`` (atomic on POSIX, same content)."""
    return target.with_name(f"{target.name}.{secrets.token_hex(4)}.partial")


def spreadsheet_text(text: str) -> str:
    """``text`` with a ``'`` in front when it starts with one of :data:`FORMULA_STARTS`, else unchanged.

    A customer's question such as ``=HYPERLINK("http://evil.example", "詳細")`` in a CSV opened
    in Excel would be run as a formula on the agent's machine; with the leading quote it is text
    (OWASP, "CSV Injection", the mitigation it recommends). The quote stays visible in the cell:
    the ``.xlsx`` download keeps such texts exact instead (cells typed as text).
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def results_download_csv(directory: Path) -> Path:
    """The CSV a user downloads: ``results.csv`` with its question and category cells through
    :func:`spreadsheet_text`, made on first use (the other cells are numbers and flags we wrote).

    ``results.csv`` itself keeps the texts exact: the preview and the ``.xlsx`` download read it.
    """
    target = directory / RESULTS_DOWNLOAD_CSV
    if target.is_file():
        return target
    partial = _partial(target)
    with open(partial, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESULT_COLUMNS)
        for line, question, category, *rest in read_results(directory / RESULTS_CSV):
            writer.writerow([line, spreadsheet_text(question), spreadsheet_text(category), *rest])
    os.replace(partial, target)
    return target


def results_xlsx(directory: Path) -> Path:
    """The job's results as an Excel workbook, made from ``results.csv`` on first use (openpyxl, write-only mode).

    Cells are typed: ``line`` an integer, ``probability`` a number (or empty), ``needs_review`` a
    boolean, the texts strings; a text starting with ``=`` stays text (never a formula).
    """
    target = directory / RESULTS_XLSX
    if target.is_file():
        return target
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("results")
    sheet.append(list(RESULT_COLUMNS))
    for line, question, category, probability, needs_review, reason in read_results(directory / RESULTS_CSV):
        text = WriteOnlyCell(sheet, value=question)
        text.data_type = "s"  # openpyxl would store "=..." as a formula
        sheet.append([int(line), text, category or None, float(probability) if probability else None,
                      needs_review == "true", reason or None])
    partial = _partial(target)
    workbook.save(partial)
    os.replace(partial, target)
    return target
