"""Where the feedback store lives (database URL resolution) and how it connects (:class:`StoreConfig`).

Resolution order of the database URL (:func:`resolve_url`):

1. an explicit value (a CLI option such as ``--db``), when given and non-empty;
2. the environment variable ``TOIAWASE_DB`` (:data:`ENV_VAR`), when set and non-empty;
3. the embedded default (:func:`default_url`): a SQLite file ``feedback.sqlite3`` in the models
   directory, beside the versioned bundles and the ``current`` symlink, so that it survives a
   model switch and is backed up with the models.

Any SQLAlchemy URL works (SQLAlchemy 2 docs, "Engine Configuration → Database URLs"), e.g.
``sqlite:////srv/toiawase/models/feedback.sqlite3`` or
``postgresql+psycopg://toiawase@db.internal/toiawase``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

#: Environment variable naming the feedback database URL; overrides :func:`default_url`.
ENV_VAR = "TOIAWASE_DB"

#: File name of the embedded SQLite database inside the models directory.
DEFAULT_FILENAME = "feedback.sqlite3"

#: Values accepted for :attr:`StoreConfig.sqlite_synchronous` (SQLite docs, "PRAGMA synchronous").
SYNCHRONOUS_MODES: tuple[str, ...] = ("FULL", "NORMAL", "EXTRA")


@dataclass(frozen=True)
class StoreConfig:
    """How :meth:`feedback.FeedbackStore.open` connects; the defaults suit the web app and the CLI.

    Attributes:
        sqlite_busy_timeout_ms: how long (milliseconds) a SQLite connection waits for another
            writer's lock before failing with "database is locked" (SQLite docs, "PRAGMA
            busy_timeout"). Writes take the lock up front (``BEGIN IMMEDIATE``) and hold it for
            about a millisecond plus one fsync, so 30 s is only reached by a stuck writer.
        sqlite_synchronous: ``"FULL"`` (default) or ``"NORMAL"``. SQLite docs, "PRAGMA
            synchronous" and "Write-Ahead Logging": in WAL mode both are safe from corruption
            and durable across an *application* crash, but "a transaction committed in WAL mode
            with synchronous=NORMAL might roll back following a power loss or system crash";
            with FULL "the WAL file is synced after each transaction commit", so an agent's
            acknowledged correction survives a power cut. Feedback arrives at human speed, so
            one fsync per commit costs nothing that matters (see ``python -m feedback.loadtest``
            for measured figures); ``EXTRA`` additionally syncs the directory.
        pool_size, max_overflow, pool_timeout: SQLAlchemy's ``QueuePool`` settings (SQLAlchemy
            2 docs, "Connection Pooling"): persistent connections, extra ones under load, and
            seconds a thread waits for a free connection before ``TimeoutError``.
        echo: log every SQL statement (SQLAlchemy's ``echo``), for debugging.
    """

    sqlite_busy_timeout_ms: int = 30_000
    sqlite_synchronous: str = "FULL"
    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout: float = 30.0
    echo: bool = False

    def __post_init__(self) -> None:
        if self.sqlite_synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"sqlite_synchronous must be one of {SYNCHRONOUS_MODES}, not {self.sqlite_synchronous!r}")
        if self.sqlite_busy_timeout_ms < 0 or self.pool_size < 1 or self.max_overflow < 0 or self.pool_timeout <= 0:
            raise ValueError("timeouts must be positive and pool_size at least 1")


def default_url(models_dir: str | os.PathLike[str]) -> str:
    """Return the embedded default: ``sqlite:///<models_dir>/feedback.sqlite3`` (absolute path).

    Args:
        models_dir: the models directory (the one holding ``current``); it need not exist yet,
            :meth:`FeedbackStore.open` creates it.

    Returns:
        A SQLAlchemy URL string, e.g. ``"sqlite:////srv/toiawase/models/feedback.sqlite3"``.
    """
    path = Path(models_dir).expanduser().resolve() / DEFAULT_FILENAME
    return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


def resolve_url(
    cli_value: str | None,
    models_dir: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
) -> str:
    """Pick the database URL: ``cli_value``, else ``$TOIAWASE_DB``, else :func:`default_url`.

    Args:
        cli_value: the value of a command-line option (``None`` or ``""`` when not given).
        models_dir: the models directory, for the default.
        environ: the environment to read (``os.environ`` when ``None``; tests pass a dict).

    Returns:
        The URL string, stripped of surrounding whitespace. It is not validated here:
        :meth:`FeedbackStore.open` raises :class:`feedback.errors.StoreURLError` for a bad one.
    """
    if cli_value and cli_value.strip():
        return cli_value.strip()
    env = os.environ if environ is None else environ
    value = env.get(ENV_VAR, "").strip()
    return value or default_url(models_dir)
