"""Keeping TensorFlow's start-up log lines off the terminal unless ``--verbose``.

TensorFlow's C++ runtime and absl write to file descriptor 2 directly, some lines before
``TF_CPP_MIN_LOG_LEVEL`` applies (e.g. ``WARNING: All log messages before absl::InitializeLog()
is called are written to STDERR`` and ``I0000 ... cudart_stub.cc:31] Could not find cuda drivers``,
then at the first model ``E0000 ... failed call to cuInit``). Python's ``sys.stderr`` cannot
catch them, so :func:`hide_library_logs` points descriptor 2 at a temporary file while a
command runs, and afterwards writes back to the real stderr every line that is not such a log
line (the command's own warnings and errors, in order). The same technique as
:func:`toiawase.retrain_cli.quiet_output`, for commands whose stdout stays the terminal.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

#: A log line of absl / TensorFlow's C++ logging (glog format, "I0000 00:00:1795.. 21781
#: cudart_stub.cc:31] ...") or absl's pre-initialisation warning.
LIBRARY_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [\w./-]+:\d+\] |WARNING: All log messages before absl::InitializeLog\(\))"
)


def is_library_log_line(line: str) -> bool:
    """Whether ``line`` is a TensorFlow / absl log line that :func:`hide_library_logs` hides.

    Example:
        >>> is_library_log_line("I0000 00:00:1795434972.324397   21781 cudart_stub.cc:31] Could not find cuda drivers")
        True
        >>> is_library_log_line("error: tickets.tsv:3: empty question")
        False
    """
    return bool(LIBRARY_LOG_LINE.match(line))


@contextlib.contextmanager
def hide_library_logs(enabled: bool = True) -> Iterator[None]:
    """While the block runs, collect descriptor 2; then write back the lines that are not library logs.

    Args:
        enabled: ``False`` (``--verbose``) leaves stderr alone.

    The kept lines are written when the block ends, also when it raises or calls
    ``sys.exit`` (so an ``error:`` line is never lost).
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    sink = tempfile.TemporaryFile()
    try:
        os.dup2(sink.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sink.seek(0)
        kept = [line for line in sink.read().decode("utf-8", errors="replace").splitlines(keepends=True)
                if not is_library_log_line(line)]
        sink.close()
        sys.stderr.write("".join(kept))
        sys.stderr.flush()
