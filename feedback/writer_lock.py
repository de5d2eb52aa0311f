"""One SQLite writer at a time across the processes sharing a database file, without polling.

SQLite allows one writer per database (SQLite docs, "Write-Ahead Logging", "Concurrency"). A
connection that finds the write lock taken waits in its busy handler, which sleeps and retries
(1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms, then 100 ms steps: ``sqliteDefaultBusyCallback``
in SQLite's ``main.c``), so a writer of one gunicorn worker waited up to the next retry after the
other worker's commit: under the Locust mix (issue 12), single questions spent p90 108 ms, up to
300 ms, in ``log_predictions`` for 1–2 ms of CPU. :class:`WriterLock` queues the writers instead:
this process's threads on a ``threading.Lock``, the processes on a blocking ``flock(2)`` of
``<database>-writelock`` (beside SQLite's own ``-wal`` and ``-shm`` files), which wakes the next
writer as soon as the lock is released. (py-filelock polls too, every 50 ms by default.) The
kernel releases the ``flock`` of a process that dies, and the busy timeout still bounds a writer
that does not use this lock (another program, ``sqlite3`` by hand).
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path
from types import TracebackType


class WriterLock:
    """A context manager: this thread holds the database's write turn, across threads and processes.

    Args:
        database: the SQLite database file. The lock file is ``<database>-writelock``; if it
            cannot be created (read-only directory), only this process's threads are queued.
    """

    def __init__(self, database: Path) -> None:
        self.path = f"{os.fspath(database)}-writelock"
        self._threads = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> WriterLock:
        self._threads.acquire()
        try:
            # A descriptor per holder: flock locks belong to the open file description.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return self
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # releases the interpreter lock while it waits
        except OSError:
            os.close(fd)
            return self
        self._fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                os.close(fd)  # unlocks
        finally:
            self._threads.release()
