"""Statistics for a monitoring page: plain SQL aggregations that run on SQLite and PostgreSQL.

Every function takes an open SQLAlchemy ``Connection`` and a half-open time window
``[since, until)`` of aware datetimes (either bound may be ``None``: unbounded); the
:class:`~feedback.store.FeedbackStore` methods of the same names open the connection.
Predictions are counted by their ``created_at``, feedback by its own ``created_at``.

Feedback statistics count feedback *rows* (one per idempotency key), not labels: two agents
confirming the same prediction count twice. Accuracy measured from feedback is biased towards
the questions agents chose to look at (typically the ``needs_review`` ones), so it is a
monitoring signal, not the held-out accuracy of the model's ``metrics.json``.

The only dialect-specific SQL is the day of a timestamp, :class:`utc_day`, a custom construct
compiled per dialect (SQLAlchemy docs, "Custom SQL Constructs and Compilation Extension").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, case, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from feedback.models import Feedback, Prediction

_P = Prediction.__table__.c
_F = Feedback.__table__.c


@dataclass(frozen=True)
class DayCount:
    """Questions logged on one day: ``day`` (a calendar date in the requested offset), ``questions``."""

    day: date
    questions: int


@dataclass(frozen=True)
class ReviewRate:
    """Share of logged predictions the router flagged for review.

    Attributes:
        predictions: predictions in the window.
        needs_review: those with ``needs_review`` true.
        rate: ``needs_review / predictions`` in [0, 1]; ``None`` when there are no predictions.
        by_reason: flagged predictions per ``reason`` (``None`` for flagged without a reason).
    """

    predictions: int
    needs_review: int
    rate: float | None
    by_reason: dict[str | None, int]


@dataclass(frozen=True)
class CategoryFeedback:
    """Feedback about predictions of one predicted category.

    Attributes:
        predicted_category: the category the model predicted (``None``: no category).
        feedback: feedback rows; ``confirmations + corrections``.
        confirmations: agents said the prediction was right.
        corrections: agents chose another category.
        correction_rate: ``corrections / feedback`` in [0, 1].
    """

    predicted_category: str | None
    feedback: int
    confirmations: int
    corrections: int
    correction_rate: float


@dataclass(frozen=True)
class Accuracy:
    """Accuracy measured from feedback: ``confirmations / feedback`` (``None`` with no feedback)."""

    feedback: int
    confirmations: int
    accuracy: float | None


class utc_day(FunctionElement[date]):
    """SQL expression: the calendar day of a UTC timestamp column, shifted by ``offset`` first.

    ``utc_day(column, timedelta(hours=9))`` is the day in Japan Standard Time. Compiled as
    ``date(col, '+540 minutes')`` on SQLite (SQLite docs, "Date And Time Functions") and
    ``CAST((col AT TIME ZONE 'UTC') + INTERVAL '540 minutes' AS DATE)`` on PostgreSQL (PostgreSQL
    docs, "AT TIME ZONE"); other dialects get ``CAST(col AS DATE)`` and only offset 0.
    The offset is part of the SQL text, so the statement is not cached (``inherit_cache``).
    """

    type = Date()
    name = "utc_day"
    inherit_cache = False

    def __init__(self, column: ColumnElement[Any], offset: timedelta = timedelta(0)) -> None:
        self.minutes = int(offset.total_seconds() // 60)
        if self.minutes * 60 != offset.total_seconds():
            raise ValueError(f"the day offset must be whole minutes, not {offset!r}")
        super().__init__(column)


@compiles(utc_day)
def _utc_day_default(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    if element.minutes:
        raise NotImplementedError(f"utc_day with an offset is not implemented for {compiler.dialect.name}")
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)}, '{element.minutes:+d} minutes')"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"CAST(({column} AT TIME ZONE 'UTC') + INTERVAL '{element.minutes} minutes' AS DATE)"


def _window(column: Any, since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions


def questions_per_day(
    conn: Connection, since: datetime | None, until: datetime | None, offset: timedelta = timedelta(0)
) -> list[DayCount]:
    """Logged questions per calendar day, oldest first, with zero-count days between filled in.

    Args:
        offset: the time zone's offset from UTC for the day boundaries (``timedelta(hours=9)``
            for JST); UTC by default.

    Returns:
        One :class:`DayCount` per day from the first day with a question to the last.
    """
    day = utc_day(_P.created_at, offset)
    rows = conn.execute(
        select(day.label("day"), func.count().label("n")).where(*_window(_P.created_at, since, until)).group_by(day).order_by(day)
    ).all()
    counts = {_as_date(row.day): int(row.n) for row in rows}
    if not counts:
        return []
    first, last = min(counts), max(counts)
    return [
        DayCount(first + timedelta(days=i), counts.get(first + timedelta(days=i), 0))
        for i in range((last - first).days + 1)
    ]


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def category_counts(conn: Connection, since: datetime | None, until: datetime | None) -> dict[str | None, int]:
    """Predicted category → number of predictions, most frequent first (ties by name).

    The key ``None`` counts questions with no category (no content).
    """
    rows = conn.execute(
        select(_P.category, func.count().label("n")).where(*_window(_P.created_at, since, until)).group_by(_P.category)
    ).all()
    ordered = sorted(rows, key=lambda row: (-row.n, row.category is None, row.category or ""))
    return {row.category: int(row.n) for row in ordered}


def needs_review_rate(conn: Connection, since: datetime | None, until: datetime | None) -> ReviewRate:
    """How many predictions were flagged for review, overall and per reason."""
    window = _window(_P.created_at, since, until)
    total, flagged = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((_P.needs_review, 1), else_=0)), 0)).where(*window)
    ).one()
    reasons = conn.execute(
        select(_P.reason, func.count().label("n")).where(_P.needs_review, *window).group_by(_P.reason)
    ).all()
    by_reason = {row.reason: int(row.n) for row in sorted(reasons, key=lambda r: (-r.n, r.reason is None, r.reason or ""))}
    total, flagged = int(total), int(flagged)
    return ReviewRate(total, flagged, flagged / total if total else None, by_reason)


def feedback_by_category(conn: Connection, since: datetime | None, until: datetime | None) -> list[CategoryFeedback]:
    """Feedback counts and correction rate per predicted category, most feedback first."""
    corrections = func.coalesce(func.sum(case((_F.action == "correct", 1), else_=0)), 0)
    rows = conn.execute(
        select(_F.predicted_category, func.count().label("n"), corrections.label("corrections"))
        .where(*_window(_F.created_at, since, until))
        .group_by(_F.predicted_category)
    ).all()
    result = [
        CategoryFeedback(row.predicted_category, int(row.n), int(row.n) - int(row.corrections), int(row.corrections), int(row.corrections) / int(row.n))
        for row in rows
    ]
    return sorted(result, key=lambda c: (-c.feedback, c.predicted_category is None, c.predicted_category or ""))


def accuracy(
    conn: Connection, since: datetime | None, until: datetime | None, model_version: str | None = None
) -> Accuracy:
    """Confirmations / all feedback in the window, optionally for one ``model_version`` only."""
    conditions = _window(_F.created_at, since, until)
    if model_version is not None:
        conditions.append(_F.model_version == model_version)
    total, confirmations = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((_F.action == "confirm", 1), else_=0)), 0)).where(*conditions)
    ).one()
    total, confirmations = int(total), int(confirmations)
    return Accuracy(total, confirmations, confirmations / total if total else None)
