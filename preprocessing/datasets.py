"""Loading ticket files: TSV (classic headerless export or with a header), CSV, JSON Lines, JSON.

Formats, chosen by ``fmt`` or else by the file name's extension:

* ``tsv`` (``.tsv``, ``.txt``): tab-separated, no quoting (a ``"`` is an ordinary character, as
  in ../shared/data/README.md). With a header line (one naming ``text_column`` or
  ``label_column``, or with a field such as ``id``, ``text`` or ``label``) the columns are
  picked by name; without one, the classic support-desk export is assumed:
  4 fields ``id, question, answer, category``; 3 fields ``id, question, category``;
  2 fields ``question, category``. Every row must have as many fields as the first.
* ``csv`` (``.csv``): RFC 4180 via Python's ``csv`` module; header or classic layout as for TSV.
* ``jsonl`` (``.jsonl``, ``.ndjson``): one JSON object per line with ``text_column`` and
  ``label_column`` keys (and optionally ``id``).
* ``json`` (``.json``): one object ``{"category": ["question", ...], ...}``.

A row that cannot be read (wrong number of fields, empty question, empty label, bytes that are
not UTF-8, invalid JSON) raises :class:`~preprocessing.errors.TicketFileError` naming the file and
line; with ``skip_bad_rows=True`` it is skipped instead and reported in ``LoadResult.skipped``.
Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field

from preprocessing.errors import TicketFileError

FORMATS: tuple[str, ...] = ("tsv", "csv", "jsonl", "json")

_EXTENSIONS = {".tsv": "tsv", ".txt": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}

# A first line with one of these as a field is a header (``id, text, label`` is as common as
# ``id, question, category``); it must then name the text and label columns.
_HEADER_WORDS = frozenset({"id", "question", "answer", "category", "text", "label"})

_CLASSIC_LAYOUTS = {4: (0, 1, 3), 3: (0, 1, 2), 2: (None, 0, 1)}  # n fields -> (id, question, label)


@dataclass(frozen=True)
class Ticket:
    """One past ticket.

    Attributes:
        id: the ticket id from the file, or ``"<line>"`` when the file has none.
        question: the customer's question, raw (not cleaned).
        category: the label; ``None`` only when loaded with ``require_label=False``.
        line: 1-based line number where the row starts (0 for JSON objects' entries).
    """

    id: str
    question: str
    category: str | None
    line: int


@dataclass
class LoadResult:
    """What :func:`load_tickets` read.

    Attributes:
        path: the file read.
        tickets: the rows that were read, in file order.
        skipped: one error per row skipped under ``skip_bad_rows`` (empty otherwise).
        format: the format used (one of :data:`FORMATS`).
    """

    path: str
    tickets: list[Ticket]
    skipped: list[TicketFileError] = field(default_factory=list)
    format: str = "tsv"


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


def _decode_lines(path: str, raw: bytes, skip: bool, skipped: list[TicketFileError]) -> list[tuple[int, str]]:
    """Split ``raw`` into (line number, text) pairs, each line decoded as UTF-8 on its own."""
    if raw.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte order mark, as Excel writes it
        raw = raw[3:]
    lines: list[tuple[int, str]] = []
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            error = TicketFileError(path, number, f"bytes that are not UTF-8 at column {exc.start + 1} ({exc.reason})")
            if not skip:
                raise error from None
            skipped.append(error)
            continue
        lines.append((number, text.rstrip("\r")))
    while lines and not lines[-1][1].strip():
        lines.pop()
    return lines


class _Rows:
    """Collects tickets, raising or recording bad rows."""

    def __init__(self, path: str, skip: bool, require_label: bool) -> None:
        self.path, self.skip, self.require_label = path, skip, require_label
        self.tickets: list[Ticket] = []
        self.skipped: list[TicketFileError] = []

    def bad(self, line: int | None, reason: str) -> None:
        error = TicketFileError(self.path, line, reason)
        if not self.skip:
            raise error
        self.skipped.append(error)

    def add(self, line: int, ticket_id: object, question: object, label: object) -> None:
        if not isinstance(question, str) or not question.strip():
            return self.bad(line, "empty question" if not question else f"question is not text: {question!r}")
        if label is not None and not isinstance(label, str):
            label = str(label) if isinstance(label, (int, float)) and not isinstance(label, bool) else None
        label = label.strip() if isinstance(label, str) else None
        if self.require_label and not label:
            return self.bad(line, "empty label (category)")
        self.tickets.append(Ticket(str(ticket_id) if ticket_id not in (None, "") else str(line), question, label or None, line))


def _columns(path: str, header: list[str], text_column: str, label_column: str, require_label: bool) -> tuple:
    names = [name.strip() for name in header]
    if text_column not in names:
        raise TicketFileError(path, 1, f"no column named {text_column!r} in the header (columns: {', '.join(names)}); use --text-column")
    if label_column not in names:
        if require_label:
            raise TicketFileError(path, 1, f"no column named {label_column!r} in the header (columns: {', '.join(names)}); use --label-column")
        label_index = None
    else:
        label_index = names.index(label_column)
    return (names.index("id") if "id" in names else None), names.index(text_column), label_index


def _load_table(path, rows_iter, rows: _Rows, text_column, label_column) -> None:
    """Shared logic of TSV and CSV: ``rows_iter`` yields (line number, list of fields)."""
    first = next(rows_iter, None)
    if first is None:
        raise TicketFileError(path, 1, "the file is empty: no tickets")
    line, fields = first
    stripped = [f.strip() for f in fields]
    if text_column in stripped or label_column in stripped or _HEADER_WORDS & {f.lower() for f in stripped}:
        id_i, text_i, label_i = _columns(path, fields, text_column, label_column, rows.require_label)
        width = len(fields)
    else:
        width = len(fields)
        if width not in _CLASSIC_LAYOUTS:
            if width == 1 and not rows.require_label:
                id_i, text_i, label_i = None, 0, None
            else:
                raise TicketFileError(
                    path, line,
                    f"{width} field(s) and no header line: expected the classic layout "
                    "id, question, answer, category (or a header naming "
                    f"{text_column!r} and {label_column!r})",
                )
        else:
            id_i, text_i, label_i = _CLASSIC_LAYOUTS[width]
        rows_iter = _chain_first(first, rows_iter)
    for line, fields in rows_iter:
        if len(fields) == 1 and not fields[0].strip():
            rows.bad(line, "blank line")
            continue
        if len(fields) != width:
            rows.bad(line, f"{len(fields)} field(s), expected {width}")
            continue
        rows.add(line, fields[id_i] if id_i is not None else None, fields[text_i], fields[label_i] if label_i is not None else None)


def _chain_first(first, rest):
    yield first
    yield from rest


def _csv_rows(lines: list[tuple[int, str]]):
    """Parse CSV from already-decoded lines, yielding (starting line number, fields)."""
    numbers = [n for n, _ in lines]
    reader = csv.reader(io.StringIO("\n".join(text for _, text in lines)))
    start = 0
    for fields in reader:
        yield numbers[min(start, len(numbers) - 1)], fields
        start = reader.line_num


def load_tickets(
    path: str,
    *,
    fmt: str | None = None,
    text_column: str = "question",
    label_column: str = "category",
    skip_bad_rows: bool = False,
    require_label: bool = True,
) -> LoadResult:
    """Read a ticket file into :class:`Ticket` rows.

    Args:
        path: the file (see the module docstring for formats).
        fmt: force a format instead of guessing from the extension.
        text_column, label_column: column (or key) names when the file has a header or is JSON
            Lines; the classic headerless layout ignores them.
        skip_bad_rows: skip unreadable rows (recording each in ``skipped``) instead of raising.
        require_label: ``False`` to read question-only files (for prediction).

    Returns:
        A :class:`LoadResult`.

    Raises:
        TicketFileError: the file is missing, empty, has no usable columns, or (without
            ``skip_bad_rows``) a row is bad. The message names file and line.
    """
    fmt = detect_format(path, fmt)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise TicketFileError(path, None, f"cannot read the file: {exc.strerror or exc}") from None
    rows = _Rows(path, skip_bad_rows, require_label)
    lines = _decode_lines(path, raw, skip_bad_rows, rows.skipped)
    if not any(text.strip() for _, text in lines):
        raise TicketFileError(path, 1, "the file is empty: no tickets")
    if fmt == "tsv":
        _load_table(path, ((n, text.split("\t")) for n, text in lines), rows, text_column, label_column)
    elif fmt == "csv":
        _load_table(path, _csv_rows(lines), rows, text_column, label_column)
    elif fmt == "jsonl":
        for number, text in lines:
            if not text.strip():
                rows.bad(number, "blank line")
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
            rows.add(number, obj.get("id"), obj[text_column], obj.get(label_column))
    else:
        _load_json_object(path, "\n".join(text for _, text in lines), rows)
    if not rows.tickets:
        raise TicketFileError(path, None, "no readable tickets in the file")
    return LoadResult(path=path, tickets=rows.tickets, skipped=rows.skipped, format=fmt)


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


def read_questions(path: str | None, stream=None, **kwargs) -> LoadResult:
    """Read questions to route: a ticket file (labels optional) or plain text, one question a line.

    Files named ``*.tsv``, ``*.csv``, ``*.jsonl`` or ``*.json`` are read as ticket files with
    :func:`load_tickets` (``require_label=False``); anything else (and ``stream``, e.g. stdin)
    as one question per line, blank lines skipped and counted.

    Raises:
        TicketFileError: as for :func:`load_tickets`; also for input with no question at all.
    """
    if path is not None and os.path.splitext(path)[1].lower() in (".tsv", ".csv", ".jsonl", ".ndjson", ".json"):
        return load_tickets(path, require_label=False, **kwargs)
    name = path or "<stdin>"
    if path is not None:
        try:
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError as exc:
            raise TicketFileError(path, None, f"cannot read the file: {exc.strerror or exc}") from None
    else:
        raw = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode("utf-8")
    skipped: list[TicketFileError] = []
    lines = _decode_lines(name, raw, kwargs.get("skip_bad_rows", False), skipped)
    tickets = []
    for number, text in lines:
        if text.strip():
            tickets.append(Ticket(str(number), text, None, number))
        else:
            skipped.append(TicketFileError(name, number, "blank line"))
    if not tickets:
        raise TicketFileError(name, None, "no questions in the input")
    return LoadResult(path=name, tickets=tickets, skipped=skipped, format="lines")
