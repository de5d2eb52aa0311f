"""Loading ticket files: TSV (classic headerless export or with a header), CSV, Excel, JSON Lines, JSON.

Formats, chosen by ``fmt`` or else by the file name's extension:

* ``tsv`` (``.tsv``, ``.txt``): tab-separated, no quoting (a ``"`` is an ordinary character, as
  in the help desk exports this project was built on). With a header line the columns are picked by name (see
  *Headers*); without one, the classic support-desk export is assumed:
  4 fields ``id, question, answer, category``; 3 fields ``id, question, category``;
  2 fields ``question, category``. Every row must have as many fields as the first.
* ``csv`` (``.csv``): RFC 4180 via Python's ``csv`` module; header or classic layout as for TSV.
* ``xlsx`` (``.xlsx``): the first sheet of an Excel workbook (Office Open XML, read with
  ``openpyxl`` in read-only mode); header or classic layout as for TSV; line numbers are the
  sheet's row numbers. Empty cells at the end of a row are ignored.
* ``jsonl`` (``.jsonl``, ``.ndjson``): one JSON object per line with ``text_column`` and
  ``label_column`` keys (and optionally ``id``).
* ``json`` (``.json``): one object ``{"category": ["question", ...], ...}``.

Encodings (text formats): UTF-8, with or without the byte order mark Excel writes, or Shift_JIS
as Japanese Windows and Excel write it (Python's ``cp932``, Microsoft's superset of Shift_JIS).
Detected: UTF-8 if every line with non-ASCII bytes is valid UTF-8, or if some are (a UTF-8 file
with a few broken lines, reported line by line); otherwise ``cp932`` if the text decodes as
such. ``encoding=`` forces one. The encoding used is reported in ``LoadResult.encoding``.

Headers: a first row is a header if it names ``text_column`` or ``label_column``, or if it has
a usual question or category name, or two usual names of any role (Japanese or English, see
:data:`COLUMN_NAMES`: ``質問``, ``問い合わせ内容``, ``本文``, ``カテゴリ``, ``担当部署``,
``回答``, ``ID``, ``question``, ``category``...). The question column is ``text_column`` if the header has it, else the one
with a usual question name; likewise for the label (``label_column``) and the id. Names are
compared after NFKC, case folding and removing spaces, ``_``, ``-`` and ``.`` (``Ticket ID`` =
``ticket_id``, ``ＩＤ`` = ``id``).

Blank lines (and rows whose cells are all empty) are skipped and counted in
``LoadResult.blank_lines``. A row that cannot be read (wrong number of fields, empty question,
empty label, undecodable bytes, invalid JSON) raises :class:`~preprocessing.errors.TicketFileError`
naming the file and line; with ``skip_bad_rows=True`` it is skipped instead and reported in
``LoadResult.skipped``. Nothing is dropped silently.
"""

from __future__ import annotations

import codecs
import csv
import datetime
import io
import json
import os
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from preprocessing.errors import TicketFileError

FORMATS: tuple[str, ...] = ("tsv", "csv", "xlsx", "jsonl", "json")

_EXTENSIONS = {
    ".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json",
}

#: Usual column names by role, most specific first (when a header has two names of one role, the
#: earlier one wins: ``質問内容`` over ``内容``). Compared after :func:`normalize_column_name`.
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "question": (
        "question", "質問", "質問内容", "質問文", "お問い合わせ内容", "問い合わせ内容", "問合せ内容", "お問合せ内容",
        "問い合わせ", "お問い合わせ", "問合せ", "問い合せ", "問合わせ", "お問合せ", "相談内容", "text", "body",
        "message", "query", "inquiry", "内容", "本文", "content",
    ),
    "label": (
        "category", "label", "カテゴリ", "カテゴリー", "分類", "種別", "問い合わせ種別", "お問い合わせ種別", "担当部署",
        "担当", "部署", "振り分け先", "ラベル", "区分", "class", "queue", "team", "department", "intent",
    ),
    "answer": ("answer", "reply", "response", "回答", "返答", "返信", "回答内容", "対応内容"),
    "id": (
        "id", "ticketid", "no", "number", "番号", "チケットid", "チケット番号", "問い合わせ番号", "お問い合わせ番号",
        "問合せ番号", "受付番号", "管理番号",
    ),
}

_CLASSIC_LAYOUTS = {4: (0, 1, 3), 3: (0, 1, 2), 2: (None, 0, 1)}  # n fields -> (id, question, label)
_CLASSIC_ANSWER = {4: 2}  # n fields -> answer column of the classic layout


def normalize_column_name(name: str) -> str:
    """A header cell as compared with :data:`COLUMN_NAMES`: NFKC, case-folded, without spaces, ``_-.``.

    Example:
        >>> [normalize_column_name(n) for n in ["Ticket ID", "ＩＤ", " 質問 ", "No."]]
        ['ticketid', 'id', '質問', 'no']
    """
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and ch not in "_-.")


_ROLE_OF = {name: role for role, names in COLUMN_NAMES.items() for name in names}


@dataclass(frozen=True)
class Ticket:
    """One past ticket.

    Attributes:
        id: the ticket id from the file, or ``"<line>"`` when the file has none.
        question: the customer's question, raw (not cleaned); ``""`` only for a blank line kept
            with ``keep_blank=True``.
        category: the label; ``None`` only when loaded with ``require_label=False``.
        line: 1-based line number where the row starts (the row number for .xlsx, 0 for JSON
            objects' entries).
        answer: the team's reply, raw, from an answer column (the classic 4-field layout's third
            field, a header's usual answer name, a JSON line's ``"answer"``); ``None`` when the
            file has none or the cell is empty.
    """

    id: str
    question: str
    category: str | None
    line: int
    answer: str | None = None


@dataclass
class LoadResult:
    """What :func:`load_tickets` read.

    Attributes:
        path: the file read.
        tickets: the rows that were read, in file order.
        skipped: one error per row skipped under ``skip_bad_rows`` (empty otherwise).
        format: the format used (one of :data:`FORMATS`, or ``"lines"`` for :func:`read_questions`).
        encoding: the text encoding used (``"utf-8"``, ``"utf-8-sig"`` with a byte order mark,
            ``"cp932"``, or the forced one); ``None`` for .xlsx.
        blank_lines: blank lines (rows with only empty cells) skipped, not counted as bad rows.
        columns: for a file with a header, the header name used per role (``"question"``,
            ``"label"``, ``"id"``), e.g. ``{"question": "質問", "label": "カテゴリ"}``.
    """

    path: str
    tickets: list[Ticket]
    skipped: list[TicketFileError] = field(default_factory=list)
    format: str = "tsv"
    encoding: str | None = "utf-8"
    blank_lines: int = 0
    columns: dict[str, str] = field(default_factory=dict)


def detect_format(path: str, fmt: str | None = None) -> str:
    """Return ``fmt`` if given, else the format implied by ``path``'s extension (``tsv`` by default).

    Raises:
        ValueError: if ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
        return fmt
    return _EXTENSIONS.get(os.path.splitext(path)[1].lower(), "tsv")


# --- bytes to lines ----------------------------------------------------------------------------


def _detect_encoding(chunks: list[bytes]) -> str:
    """``"utf-8"`` or ``"cp932"`` for a file's lines (see the module docstring).

    UTF-8 is tried first (the WHATWG Encoding Standard's advice: a valid UTF-8 text is UTF-8);
    cp932 is chosen only when no line with non-ASCII bytes is valid UTF-8 and some line is valid
    cp932. Shift_JIS bytes are almost never valid UTF-8, while UTF-8 bytes often decode as
    (wrong) cp932, hence the order.
    """
    utf8_lines = cp932_lines = 0
    for chunk in chunks:
        if chunk.isascii():
            continue
        try:
            chunk.decode("utf-8")
            utf8_lines += 1
        except UnicodeDecodeError:
            try:
                chunk.decode("cp932")
                cp932_lines += 1
            except UnicodeDecodeError:
                pass
    return "cp932" if cp932_lines and not utf8_lines else "utf-8"


def _decode_lines(
    path: str, raw: bytes, skip: bool, skipped: list[TicketFileError], encoding: str | None = None
) -> tuple[list[tuple[int, str]], str]:
    """Split ``raw`` into (line number, text) pairs, each line decoded on its own.

    Returns the lines (the empty piece after a final newline dropped) and the encoding used.
    Raises :class:`TicketFileError` naming the line and column (1-based byte offset within the
    line) of undecodable bytes, unless ``skip`` (then the line is recorded in ``skipped``).
    """
    bom = raw.startswith(codecs.BOM_UTF8)
    if bom and encoding in (None, "utf-8", "utf-8-sig"):
        raw = raw[len(codecs.BOM_UTF8):]
    chunks = raw.split(b"\n")  # safe for cp932 too: its second bytes are never 0x0A
    if chunks and chunks[-1] == b"":
        chunks.pop()
    forced = encoding is not None
    if encoding is None:
        encoding = "utf-8" if bom else _detect_encoding(chunks)
    codec = codecs.lookup(encoding).name  # raises LookupError for an unknown name
    if forced:
        what = f"not {encoding}"
    elif codec == "cp932":
        what = "neither UTF-8 nor cp932 (Shift_JIS)"
    else:
        what = "not UTF-8"
    lines: list[tuple[int, str]] = []
    for number, chunk in enumerate(chunks, start=1):
        try:
            text = chunk.decode(codec)
        except UnicodeDecodeError as exc:
            reason = f"bytes that are {what} at column {exc.start + 1} (byte 0x{chunk[exc.start]:02x}: {exc.reason})"
            error = TicketFileError(path, number, reason)
            if not skip:
                raise error from None
            skipped.append(error)
            continue
        lines.append((number, text.rstrip("\r")))
    used = "utf-8-sig" if bom and codec == "utf-8" else codec
    return lines, used


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise TicketFileError(path, None, f"cannot read the file: {exc.strerror or exc}") from None


# --- rows to tickets ---------------------------------------------------------------------------


class _Rows:
    """Collects tickets, raising or recording bad rows, counting blank ones."""

    def __init__(self, path: str, skip: bool, require_label: bool, keep_blank: bool = False) -> None:
        self.path, self.skip, self.require_label, self.keep_blank = path, skip, require_label, keep_blank
        self.tickets: list[Ticket] = []
        self.skipped: list[TicketFileError] = []
        self.blank_lines = 0

    def bad(self, line: int | None, reason: str) -> None:
        error = TicketFileError(self.path, line, reason)
        if not self.skip:
            raise error
        self.skipped.append(error)

    def blank(self, line: int, text: str = "") -> None:
        self.blank_lines += 1
        if self.keep_blank:
            self.tickets.append(Ticket(str(line), text, None, line))

    def add(self, line: int, ticket_id: object, question: object, label: object, answer: object = None) -> None:
        if self.keep_blank and (question is None or (isinstance(question, str) and not question.strip())):
            return self.blank(line, question or "")  # a row without a question: one output row all the same
        if not isinstance(question, str) or not question.strip():
            return self.bad(line, "empty question" if not question else f"question is not text: {question!r}")
        if label is not None and not isinstance(label, str):
            label = str(label) if isinstance(label, (int, float)) and not isinstance(label, bool) else None
        label = label.strip() if isinstance(label, str) else None
        if self.require_label and not label:
            return self.bad(line, "empty label (category)")
        answer = answer.strip() if isinstance(answer, str) else None
        self.tickets.append(Ticket(str(ticket_id) if ticket_id not in (None, "") else str(line), question, label or None, line, answer or None))


def _pick(names: list[str], role: str, given: str | None) -> int | None:
    """Index of the column for ``role``: the ``given`` name if present, else the usual name ranked first."""
    stripped = [name.strip() for name in names]
    if given is not None and given in stripped:
        return stripped.index(given)
    if given is not None and _ROLE_OF.get(normalize_column_name(given)) != role:
        return None  # an explicit, unusual name that is not there: no guessing
    ranked = []
    for index, name in enumerate(names):
        usual = normalize_column_name(name)
        if _ROLE_OF.get(usual) == role:
            ranked.append((COLUMN_NAMES[role].index(usual), index))
    return min(ranked)[1] if ranked else None


def _is_header(fields: list[str], text_column: str | None, label_column: str | None) -> bool:
    stripped = {f.strip() for f in fields}
    if (text_column and text_column in stripped) or (label_column and label_column in stripped):
        return True
    # Two usual names, or one usual question or category name: an answer cell that says "回答"
    # or an id cell "No" alone does not make a row a header.
    roles = [_ROLE_OF.get(normalize_column_name(f)) for f in fields]
    return sum(role is not None for role in roles) >= 2 or "question" in roles or "label" in roles


def _columns(path: str, line: int, header: list[str], text_column: str | None, label_column: str | None,
             require_label: bool) -> tuple[int | None, int, int | None, dict[str, str]]:
    """(id, question, label) column indices of a header row, and the names used."""
    names = [name.strip() for name in header]
    listing = ", ".join(names)
    text_i = _pick(names, "question", text_column)
    if text_i is None:
        wanted = f"no column named {text_column!r}" if text_column else "no question column"
        raise TicketFileError(
            path, line, f"{wanted} in the header (columns: {listing}); pass --text-column (text_column) naming the question column"
        )
    label_i = _pick(names, "label", label_column)
    if label_i == text_i:
        label_i = None
    if label_i is None and require_label:
        wanted = f"no column named {label_column!r}" if label_column else "no category column"
        raise TicketFileError(
            path, line, f"{wanted} in the header (columns: {listing}); pass --label-column (label_column) naming the category column"
        )
    id_i = _pick(names, "id", None)
    if id_i in (text_i, label_i):
        id_i = None
    used = {"question": names[text_i]}
    if label_i is not None:
        used["label"] = names[label_i]
    if id_i is not None:
        used["id"] = names[id_i]
    return id_i, text_i, label_i, used


def _is_blank(fields: list[str]) -> bool:
    return all(not f.strip() for f in fields)


def _load_table(path: str, rows_iter: Iterator[tuple[int, list[str]]], rows: _Rows, text_column: str | None,
                label_column: str | None, ragged: bool = False) -> dict[str, str]:
    """Shared logic of TSV, CSV and XLSX: ``rows_iter`` yields (line number, list of fields).

    ``ragged``: rows may be shorter or longer than the first as long as the extra cells are
    empty (a spreadsheet's trailing empty cells). Returns the header names used (or ``{}``).
    """
    first = None
    for line, fields in rows_iter:
        if _is_blank(fields):
            rows.blank(line)
            continue
        first = (line, fields)
        break
    if first is None:
        raise TicketFileError(path, 1, "the file is empty: no tickets")
    line, fields = first
    if ragged:
        fields = _trim(fields)
    width = len(fields)
    used: dict[str, str] = {}
    answer_i: int | None = None
    if _is_header(fields, text_column, label_column):
        id_i, text_i, label_i, used = _columns(path, line, fields, text_column, label_column, rows.require_label)
        answer_i = _pick([name.strip() for name in fields], "answer", None)
        if answer_i in (id_i, text_i, label_i):
            answer_i = None
    else:
        if width not in _CLASSIC_LAYOUTS:
            if width == 1 and not rows.require_label:
                id_i, text_i, label_i = None, 0, None
            else:
                raise TicketFileError(
                    path, line,
                    f"{width} field(s) and no header line: expected the classic layout "
                    "id, question, answer, category (or a header naming the question and category columns, "
                    "e.g. 質問,カテゴリ or question,category)",
                )
        else:
            id_i, text_i, label_i = _CLASSIC_LAYOUTS[width]
            answer_i = _CLASSIC_ANSWER.get(width)
        rows_iter = _chain_first(first, rows_iter)
    for line, fields in rows_iter:
        if _is_blank(fields):
            rows.blank(line, fields[0] if len(fields) == 1 else "")
            continue
        if ragged:
            fields = _trim(fields)
            if len(fields) < width:
                fields = fields + [""] * (width - len(fields))
        if len(fields) != width:
            rows.bad(line, f"{len(fields)} field(s), expected {width}")
            continue
        rows.add(
            line,
            fields[id_i] if id_i is not None else None,
            fields[text_i],
            fields[label_i] if label_i is not None else None,
            fields[answer_i] if answer_i is not None else None,
        )
    return used


def _trim(fields: list[str]) -> list[str]:
    """``fields`` without the empty cells at its end."""
    end = len(fields)
    while end and not fields[end - 1].strip():
        end -= 1
    return fields[:end]


def _chain_first(first, rest):
    yield first
    yield from rest


def _csv_rows(lines: list[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    """Parse CSV from already-decoded lines, yielding (starting line number, fields)."""
    numbers = [n for n, _ in lines]
    reader = csv.reader(io.StringIO("\n".join(text for _, text in lines)))
    start = 0
    for fields in reader:
        yield numbers[min(start, len(numbers) - 1)], fields
        start = reader.line_num


def _cell_text(value: object) -> str:
    """A spreadsheet cell as text: ``None`` → ``""``, ``3.0`` → ``"3"``, dates in ISO 8601."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    return str(value)


def _xlsx_rows(path: str) -> Iterator[tuple[int, list[str]]]:
    """The first sheet's rows as (row number, cell texts), read with openpyxl in read-only mode.

    Raises:
        TicketFileError: the file is not a readable .xlsx workbook (an old .xls, a CSV renamed...).
    """
    import zipfile

    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError as exc:
        raise TicketFileError(path, None, f"cannot read the file: {exc.strerror or exc}") from None
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise TicketFileError(
            path, None, f"not a readable Excel .xlsx workbook ({type(exc).__name__}: {exc}); save it as .xlsx or CSV"
        ) from None
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
            yield number, [_cell_text(value) for value in values]
    finally:
        workbook.close()


def load_tickets(
    path: str,
    *,
    fmt: str | None = None,
    text_column: str | None = "question",
    label_column: str | None = "category",
    skip_bad_rows: bool = False,
    require_label: bool = True,
    encoding: str | None = None,
    keep_blank: bool = False,
) -> LoadResult:
    """Read a ticket file into :class:`Ticket` rows.

    Args:
        path: the file (see the module docstring for formats, encodings and headers).
        fmt: force a format instead of guessing from the extension.
        text_column, label_column: column (or key) names when the file has a header or is JSON
            Lines. For a header, a name that is not there but is a usual name of its role (the
            defaults ``question`` and ``category`` are) lets the usual names be looked for;
            ``None`` means the same. The classic headerless layout ignores them.
        skip_bad_rows: skip unreadable rows (recording each in ``skipped``) instead of raising.
        require_label: ``False`` to read question-only files (for prediction).
        encoding: force a text encoding (a Python codec name: ``"utf-8"``, ``"cp932"``,
            ``"shift_jis"``...) instead of detecting UTF-8 or cp932.
        keep_blank: keep each blank line, and each row whose question cell is empty, as a
            ticket with an empty question (and no label), so that a prediction file can have
            one output row per input line; only with ``require_label=False``.

    Returns:
        A :class:`LoadResult`.

    Raises:
        TicketFileError: the file is missing, empty, undecodable, has no usable columns, or
            (without ``skip_bad_rows``) a row is bad. The message names file and line.
        ValueError: unknown ``fmt``, or ``keep_blank`` with ``require_label``.
        LookupError: unknown ``encoding``.
    """
    fmt = detect_format(path, fmt)
    if keep_blank and require_label:
        raise ValueError("keep_blank needs require_label=False: a blank line has no category")
    if encoding is not None:
        codecs.lookup(encoding)
    rows = _Rows(path, skip_bad_rows, require_label, keep_blank)
    used: dict[str, str] = {}
    if fmt == "xlsx":
        used = _load_table(path, _xlsx_rows(path), rows, text_column, label_column, ragged=True)
        used_encoding = None
    else:
        raw = _read_bytes(path)
        lines, used_encoding = _decode_lines(path, raw, skip_bad_rows, rows.skipped, encoding)
        if not any(text.strip() for _, text in lines):
            raise TicketFileError(path, 1, "the file is empty: no tickets")
        if fmt == "tsv":
            used = _load_table(path, ((n, text.split("\t")) for n, text in lines), rows, text_column, label_column)
        elif fmt == "csv":
            used = _load_table(path, _csv_rows(lines), rows, text_column, label_column)
        elif fmt == "jsonl":
            _load_json_lines(lines, rows, text_column or "question", label_column or "category")
        else:
            _load_json_object(path, "\n".join(text for _, text in lines), rows)
    if not any(t.question for t in rows.tickets):
        raise TicketFileError(path, None, "no readable tickets in the file")
    return LoadResult(path=path, tickets=rows.tickets, skipped=rows.skipped, format=fmt, encoding=used_encoding,
                      blank_lines=rows.blank_lines, columns=used)


def _load_json_lines(lines: list[tuple[int, str]], rows: _Rows, text_column: str, label_column: str) -> None:
    for number, text in lines:
        if not text.strip():
            rows.blank(number, text)
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            rows.bad(number, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            rows.bad(number, "expected a JSON object per line")
            continue
        if text_column not in obj:
            rows.bad(number, f"no key {text_column!r}; use --text-column")
            continue
        rows.add(number, obj.get("id"), obj[text_column], obj.get(label_column), obj.get("answer"))


def _load_json_object(path: str, text: str, rows: _Rows) -> None:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TicketFileError(path, exc.lineno, f"invalid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise TicketFileError(path, 1, 'expected a JSON object {"category": ["question", ...]}')
    for category, questions in obj.items():
        if not isinstance(questions, list):
            rows.bad(None, f"category {category!r}: expected a list of questions")
            continue
        if not category.strip():
            rows.bad(None, "empty category name")
            continue
        for index, question in enumerate(questions):
            rows.add(0, f"{category}/{index}", question, category)


_TICKET_FILE_EXTENSIONS = (".tsv", ".csv", ".xlsx", ".jsonl", ".ndjson", ".json")


def read_questions(path: str | None, stream=None, *, keep_blank: bool = False, **kwargs) -> LoadResult:
    """Read questions to route: a ticket file (labels optional) or plain text, one question a line.

    Files named ``*.tsv``, ``*.csv``, ``*.xlsx``, ``*.jsonl`` or ``*.json`` are read as ticket
    files with :func:`load_tickets` (``require_label=False``; a header such as ``質問,カテゴリ``
    is a header, not a question). Anything else (and ``stream``, e.g. stdin) is one question per
    line, decoded as :func:`load_tickets` decodes (UTF-8 or cp932, or ``encoding=``); a first
    line made only of usual column names (``質問``, ``question``, ``質問<TAB>カテゴリ``) is
    taken as a header and skipped (``LoadResult.columns`` names it).

    Args:
        path: the file, or ``None`` to read ``stream``.
        stream: a text or binary stream (its ``.buffer`` is read when there is one).
        keep_blank: keep blank lines as questions (``""`` or the line's spaces) with their line
            numbers, so that the output can have one row per input line. By default they are
            skipped and counted in ``blank_lines`` (for plain lines also reported in ``skipped``
            as ``"blank line"``, as before).
        **kwargs: passed to :func:`load_tickets` (``text_column``, ``encoding``, ``skip_bad_rows``...).

    Raises:
        TicketFileError: as for :func:`load_tickets`; also for input with no question at all.
    """
    if path is not None and os.path.splitext(path)[1].lower() in _TICKET_FILE_EXTENSIONS:
        return load_tickets(path, require_label=False, keep_blank=keep_blank, **kwargs)
    name = path or "<stdin>"
    if path is not None:
        raw = _read_bytes(path)
    else:
        raw = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode("utf-8")
    skipped: list[TicketFileError] = []
    lines, used_encoding = _decode_lines(name, raw, kwargs.get("skip_bad_rows", False), skipped, kwargs.get("encoding"))
    tickets = []
    blank_lines = 0
    columns: dict[str, str] = {}
    seen_text = False
    for number, text in lines:
        if not text.strip():
            blank_lines += 1
            if keep_blank:
                tickets.append(Ticket(str(number), text, None, number))
            else:
                skipped.append(TicketFileError(name, number, "blank line"))
            continue
        if not seen_text and _is_line_header(text):
            columns = {"header": text.strip()}
            seen_text = True
            continue
        seen_text = True
        tickets.append(Ticket(str(number), text, None, number))
    if not any(t.question.strip() for t in tickets):
        raise TicketFileError(name, None, "no questions in the input")
    return LoadResult(path=name, tickets=tickets, skipped=skipped, format="lines", encoding=used_encoding,
                      blank_lines=blank_lines, columns=columns)


def _is_line_header(text: str) -> bool:
    """True if every cell of ``text`` (split on tabs, else commas) is a usual column name."""
    cells = text.split("\t") if "\t" in text else text.split(",")
    return all(normalize_column_name(cell) in _ROLE_OF for cell in cells if cell.strip())


@dataclass(frozen=True)
class Header:
    """The first non-blank row of a table file, as offered for choosing the question column.

    Attributes:
        cells: the row's cells (stripped; trailing empty cells of a spreadsheet removed).
        is_header: whether :func:`load_tickets` takes the row as a header (usual column names,
            see :data:`COLUMN_NAMES`) rather than as a first ticket.
        question: index in ``cells`` of the recognised question column, or ``None``.
        line: the row's line number (1-based; the sheet's row number for .xlsx).
        encoding: as :attr:`LoadResult.encoding` (``None`` for .xlsx).
    """

    cells: tuple[str, ...]
    is_header: bool
    question: int | None
    line: int
    encoding: str | None


def read_header(path: str, *, fmt: str | None = None, encoding: str | None = None) -> Header:
    """The first non-blank row of a TSV, CSV or .xlsx file, with the question column recognised.

    The file is decoded as :func:`load_tickets` decodes it (so an undecodable line is reported
    here already), and the row is judged by the same rules (:data:`COLUMN_NAMES`).

    Raises:
        TicketFileError: unreadable, undecodable or empty file (names the file and line).
        ValueError: a format other than ``tsv``, ``csv`` or ``xlsx``.
    """
    fmt = detect_format(path, fmt)
    if fmt not in ("tsv", "csv", "xlsx"):
        raise ValueError(f"read_header reads tsv, csv or xlsx files, not {fmt}")
    if fmt == "xlsx":
        rows: Iterator[tuple[int, list[str]]] = _xlsx_rows(path)
        used_encoding = None
    else:
        lines, used_encoding = _decode_lines(path, _read_bytes(path), False, [], encoding)
        rows = ((n, text.split("\t")) for n, text in lines) if fmt == "tsv" else _csv_rows(lines)
    for line, fields in rows:
        if _is_blank(fields):
            continue
        cells = tuple(cell.strip() for cell in _trim(fields))
        is_header = _is_header(list(cells), None, None)
        question = _pick(list(cells), "question", None) if is_header else None
        return Header(cells, is_header, question, line, used_encoding)
    raise TicketFileError(path, 1, "the file is empty: no tickets")
