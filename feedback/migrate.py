"""Running the shipped Alembic migrations from code (no ``alembic.ini`` needed at run time).

Alembic docs, "API Details" (``alembic.command``, ``alembic.config.Config``) and the cookbook
recipe "Sharing a Connection across one or more programmatic migration commands": a
:class:`~alembic.config.Config` whose ``script_location`` is ``feedback/migrations`` and whose
``attributes["connection"]`` is the caller's connection, used by ``migrations/env.py``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

from feedback.engine import write_engine

#: The migrations shipped in the package.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Key of the PostgreSQL advisory lock that serialises concurrent upgrades ("toiawase" in hex-ish).
PG_MIGRATION_LOCK = 0x70_1A_3A_5E


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the shipped migrations; ``connection`` is shared with env.py."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision id shipped (e.g. ``"0001"``). Raises if the scripts have several heads."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """The revision ids recorded in the database's ``alembic_version`` table (empty if none)."""
    return tuple(MigrationContext.configure(connection).get_current_heads())


def upgrade_to_head(engine: Engine) -> None:
    """Create or upgrade the schema to head, in one transaction, safe against concurrent callers.

    On SQLite the transaction is ``BEGIN IMMEDIATE`` (one writer at a time, so a second process
    opening the same new file waits, then finds the schema at head). On PostgreSQL a
    transaction-level advisory lock (PostgreSQL docs, "Advisory Locks",
    ``pg_advisory_xact_lock``) does the same; its DDL is transactional too.

    Raises:
        sqlalchemy.exc.SQLAlchemyError, alembic.util.CommandError: the caller wraps them.
    """
    with write_engine(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        if current_revisions(connection) == (head_revision(),):
            return
        command.upgrade(alembic_config(connection), "head")
