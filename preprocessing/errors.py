"""Errors raised for bad input data, each naming the file and, where known, the line."""

from __future__ import annotations


class TicketFileError(ValueError):
    """A ticket file (or one row of it) could not be used.

    Attributes:
        path: the file, as given by the caller.
        line: 1-based line number in the file (for JSON objects: the line where the value
            starts is not known, so ``None``), or ``None`` when the problem is the whole file.
        reason: a one-line explanation, in English, without the location.

    ``str(error)`` is ``"<path>:<line>: <reason>"`` (or ``"<path>: <reason>"``), the format
    compilers use, so that editors and terminals can jump to the location.
    """

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"
