"""Building the SQLAlchemy engine of the store, with SQLite set up for concurrent writers.

SQLite (every new DBAPI connection, via SQLAlchemy's ``connect`` pool event):

* ``PRAGMA busy_timeout`` first, so that the statements below and every later lock wait for
  another connection instead of failing at once with "database is locked" (SQLite docs,
  "PRAGMA busy_timeout", ``sqlite3_busy_timeout``);
* ``PRAGMA journal_mode=WAL`` (SQLite docs, "Write-Ahead Logging"): readers never block the
  writer and the writer never blocks readers, which is what two gunicorn workers and the
  monitoring page need; the mode is persistent in the file;
* ``PRAGMA synchronous`` from :class:`~feedback.config.StoreConfig` (FULL by default: durable
  across power loss; see that class);
* ``PRAGMA foreign_keys=ON`` (SQLite docs, "SQLite Foreign Key Support": off by default, per
  connection).

Transactions on SQLite: the ``sqlite3`` module's legacy transaction control is turned off
(``isolation_level = None``) and SQLAlchemy emits BEGIN itself from the ``begin`` event, as the
SQLAlchemy docs describe (SQLite dialect, "Enabling Non-Legacy SQLite Transactional Modes").
Read transactions use a plain (deferred) ``BEGIN``; write transactions, on an engine from
:func:`write_engine`, use ``BEGIN IMMEDIATE``, which takes the write lock at the start, where the
busy timeout applies. A deferred transaction that reads and then writes can instead fail with
SQLITE_BUSY without waiting when another connection wrote in between (SQLite docs, "Transaction"
→ "Read transactions versus write transactions" and WAL "Sometimes Queries Return SQLITE_BUSY").

Other dialects get SQLAlchemy's defaults plus ``pool_pre_ping`` (SQLAlchemy docs, "Dealing
with Disconnects") and, for PostgreSQL, a 10 s ``connect_timeout`` (libpq docs).
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from feedback.config import StoreConfig
from feedback.errors import StoreURLError

#: Execution option set on :func:`write_engine`'s engine; SQLite's ``begin`` hook reads it.
WRITE_OPTION = "toiawase_feedback_write"

_URL_HINT = "expected a SQLAlchemy URL such as sqlite:////abs/path/feedback.sqlite3 or postgresql+psycopg://user@host/db"


def parse_url(url: str) -> URL:
    """Parse ``url`` into a SQLAlchemy :class:`~sqlalchemy.engine.URL`.

    Raises:
        StoreURLError: the string is not a URL (SQLAlchemy's ``ArgumentError``).
    """
    if not isinstance(url, str) or not url.strip():
        raise StoreURLError(f"empty database URL: {_URL_HINT}")
    try:
        return make_url(url.strip())
    except ArgumentError as error:
        raise StoreURLError(f"invalid database URL {url!r}: {_URL_HINT}") from error


def safe_url(url: URL | str) -> str:
    """Return the URL as text with its password replaced by ``***`` (for messages and logs)."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "<unparsable URL>"
    return parsed.render_as_string(hide_password=True)


def is_sqlite_memory(url: URL) -> bool:
    """True for an in-memory SQLite URL (``sqlite://``, ``:memory:``, ``mode=memory``)."""
    database = url.database or ""
    return url.get_backend_name() == "sqlite" and (
        database in ("", ":memory:") or url.query.get("mode") == "memory" or "mode=memory" in database
    )


def sqlite_path(url: URL) -> Path | None:
    """The file of a file-based SQLite URL (``None`` for other dialects and in-memory SQLite)."""
    if url.get_backend_name() != "sqlite" or is_sqlite_memory(url):
        return None
    database = url.database or ""
    if database.startswith("file:"):  # URI filename (SQLite docs, "URI Filenames")
        database = database[len("file:"):].split("?", 1)[0]
    return Path(database)


def create_store_engine(url: str, config: StoreConfig) -> Engine:
    """Create the engine for ``url`` (nothing is connected yet).

    Args:
        url: a SQLAlchemy URL string.
        config: pool and SQLite settings.

    Returns:
        An :class:`~sqlalchemy.Engine` for reads; wrap it with :func:`write_engine` for writes.

    Raises:
        StoreURLError: the URL cannot be parsed, or its dialect or driver is not installed
            (e.g. ``postgresql+psycopg2://`` without psycopg2).
    """
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": config.echo}
    if backend in ("sqlite", "postgresql", "mysql", "mariadb"):
        # Japanese stays readable in the JSON column (the default escapes it as \uXXXX).
        kwargs["json_serializer"] = lambda obj: json.dumps(obj, ensure_ascii=False)
    if not is_sqlite_memory(parsed):
        kwargs.update(pool_size=config.pool_size, max_overflow=config.max_overflow, pool_timeout=config.pool_timeout)
    if backend != "sqlite":
        kwargs["pool_pre_ping"] = True
    if backend == "postgresql" and parsed.get_driver_name() in ("psycopg", "psycopg2"):
        kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError as error:
        raise StoreURLError(f"unknown database dialect in {safe_url(parsed)!r}: {_URL_HINT}") from error
    except ImportError as error:
        raise StoreURLError(
            f"the database driver for {safe_url(parsed)!r} is not installed ({error}); "
            "toiawase installs sqlite3 (built in) and psycopg (postgresql+psycopg://)"
        ) from error
    if backend == "sqlite":
        _configure_sqlite(engine, config, memory=is_sqlite_memory(parsed))
    return engine


def write_engine(engine: Engine) -> Engine:
    """Return a view of ``engine`` (same pool) whose transactions are write transactions.

    On SQLite they start with ``BEGIN IMMEDIATE`` (see the module docstring); elsewhere this
    only tags the connection. Built with ``Engine.execution_options`` (SQLAlchemy docs,
    "Engine.execution_options": the copy shares the pool and the event listeners).
    """
    return engine.execution_options(**{WRITE_OPTION: True})


def _enable_wal(cursor: Any, busy_ms: int) -> None:
    """``PRAGMA journal_mode = WAL``, retried for up to ``busy_ms`` milliseconds while the file is locked.

    Converting a new rollback-journal file to WAL needs an exclusive lock, and SQLite answers
    ``database is locked`` at once instead of calling the busy handler when another connection
    holds a lock then: two gunicorn workers opening the same new store failed this way in CI
    (tests/feedback/test_store.py, two processes on a new database). Once the file is in WAL mode
    (the mode persists), the pragma takes no such lock.

    Raises:
        sqlite3.OperationalError: another error, or still locked after ``busy_ms``.
    """
    deadline = time.monotonic() + busy_ms / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.1)


def _configure_sqlite(engine: Engine, config: StoreConfig, memory: bool) -> None:
    busy_ms = int(config.sqlite_busy_timeout_ms)
    synchronous = config.sqlite_synchronous.upper()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # No implicit BEGIN from the driver: SQLAlchemy's begin hook below emits it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if not memory:
                _enable_wal(cursor, busy_ms)
            cursor.execute(f"PRAGMA synchronous = {synchronous}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
