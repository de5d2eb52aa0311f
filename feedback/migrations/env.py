"""Alembic environment of the feedback store (Alembic docs, "The Migration Environment").

Two ways in:

* programmatic (what :meth:`feedback.FeedbackStore.open` does): the caller puts an open
  SQLAlchemy ``Connection``, already inside a transaction, in ``config.attributes["connection"]``
  (Alembic cookbook, "Sharing a Connection across one or more programmatic migration
  commands"); the migrations run on it and the caller commits.
* the ``alembic`` command (developers): ``alembic -c feedback/alembic.ini upgrade head``; the URL
  is ``-x url=...``, else ``$TOIAWASE_DB``, else ``sqlalchemy.url`` of the ini file. The engine is
  built by :func:`feedback.engine.create_store_engine`, so SQLite gets the same pragmas (WAL,
  foreign keys, busy timeout) as the application.

``render_as_batch`` is on so that future ALTERs work on SQLite (Alembic docs, "Running 'Batch'
Migrations for SQLite and Other Databases").
"""

from __future__ import annotations

import logging.config
import os

from alembic import context
from sqlalchemy.engine import Connection

from feedback.config import ENV_VAR, StoreConfig
from feedback.engine import create_store_engine, write_engine
from feedback.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(ENV_VAR, "").strip()
    url = url or config.get_main_option("sqlalchemy.url") or ""
    if not url:
        raise SystemExit(f"no database URL: pass -x url=... or set {ENV_VAR}")
    return url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit the SQL to stdout (``alembic upgrade head --sql``) instead of running it."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the shared connection, or on a new engine for the command line."""
    shared = config.attributes.get("connection")
    if shared is not None:
        _run(shared)
        return
    if config.config_file_name is not None:
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
    engine = create_store_engine(_url(), StoreConfig())
    try:
        with write_engine(engine).begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
