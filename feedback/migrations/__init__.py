"""Alembic migrations of the feedback store (env.py, script.py.mako, versions/).

Run programmatically by :meth:`feedback.FeedbackStore.open`; developers can use the ``alembic``
command with ``feedback/alembic.ini`` (see that file).
"""
