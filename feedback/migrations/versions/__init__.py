"""Revision scripts, applied in order by Alembic; Alembic skips this ``__init__`` module."""
