"""The feedback store: the prediction log, the agents' confirmations and corrections, the labels
a re-training reads, and the statistics a monitoring page shows.

One :class:`FeedbackStore` per process (per gunicorn worker): it owns a SQLAlchemy engine and its
connection pool and is safe to share between threads. Open it *after* forking (SQLAlchemy docs,
"Using Connection Pools with Multiprocessing or os.fork()": pooled connections must not cross a
fork). Every method is one short transaction; no ORM object escapes: results are frozen
dataclasses.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from alembic.util import CommandError
from sqlalchemy import Engine, case, func, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from feedback import monitor as monitoring
from feedback import stats
from feedback.config import StoreConfig
from feedback.engine import create_store_engine, parse_url, safe_url, sqlite_path, write_engine
from feedback.errors import StoreOpenError, UnknownPredictionError
from feedback.migrate import current_revisions, head_revision, upgrade_to_head
from feedback.models import (
    ACTIONS,
    AGENT_LENGTH,
    CATEGORY_LENGTH,
    KEY_LENGTH,
    MODEL_VERSION_LENGTH,
    REASONS,
    SOURCE_LENGTH,
    Feedback,
    Prediction,
)
from feedback.privacy import check_masked
from feedback.writer_lock import WriterLock

#: Header of :meth:`FeedbackStore.export_tsv`: the classic ticket export's four columns.
TSV_HEADER = ("id", "question", "answer", "category")

#: How many offending ids :meth:`FeedbackStore.integrity_check` names per kind of problem.
MAX_IDS_REPORTED = 5


@dataclass(frozen=True)
class PredictionRecord:
    """A row of ``predictions`` (see :class:`feedback.models.Prediction` for the columns).

    ``top_k`` is a tuple of ``{"category": str, "probability": float}`` dicts, best first.
    """

    id: str
    created_at: datetime
    model_version: str
    question: str
    category: str | None
    probability: float | None
    top_k: tuple[dict[str, Any], ...]
    needs_review: bool
    reason: str | None
    source: str


@dataclass(frozen=True)
class FeedbackRecord:
    """A row of ``feedback`` (see :class:`feedback.models.Feedback` for the columns)."""

    id: str
    prediction_id: str | None
    created_at: datetime
    model_version: str | None
    question: str
    predicted_category: str | None
    predicted_probability: float | None
    agent_category: str
    action: str
    idempotency_key: str
    agent: str | None


@dataclass(frozen=True)
class FeedbackResult:
    """What :meth:`FeedbackStore.record_feedback` stored.

    Attributes:
        feedback: the stored row; for a repeated idempotency key, the row stored first.
        created: ``True`` if this call stored it, ``False`` if the key had been seen before.
    """

    feedback: FeedbackRecord
    created: bool


@dataclass(frozen=True)
class LabeledTicket:
    """One question with the agents' final category, as a re-training reads it.

    Attributes:
        id: the id of the feedback row that decided the label.
        prediction_id: the prediction it was about (``None`` for an unlogged question).
        question: the masked question.
        category: the agents' category.
        action: ``confirm`` or ``correct`` (of the deciding feedback).
        created_at: when that feedback was given, UTC.
    """

    id: str
    prediction_id: str | None
    question: str
    category: str
    action: str
    created_at: datetime


def new_id() -> str:
    """A random, URL-safe id: ``uuid.uuid4().hex`` (32 lowercase hex characters, 122 random bits)."""
    return uuid.uuid4().hex


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (microsecond resolution)."""
    return datetime.now(timezone.utc)


class FeedbackStore:
    """Prediction log and agent feedback in one SQL database (SQLite by default, or PostgreSQL).

    Create with :meth:`open`; use as a context manager or call :meth:`close`. Thread-safe.
    Times passed in (``created_at``, ``since``, ``until``) must be timezone-aware; windows are
    half-open ``[since, until)``; times returned are UTC.
    """

    def __init__(self, engine: Engine, url: str, config: StoreConfig) -> None:
        """Wrap an engine whose schema is at head; use :meth:`open` instead."""
        self._engine = engine
        self._url = url
        self.config = config
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._writer = sessionmaker(write_engine(engine), expire_on_commit=False)
        # SQLite has one writer at a time per database (SQLite docs, "Write-Ahead Logging",
        # "Concurrency"): writers queue on a lock, threads and processes alike, instead of polling
        # the file lock through the busy handler (feedback.writer_lock).
        database = sqlite_path(engine.url)
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            WriterLock(database) if database is not None
            else threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str, config: StoreConfig | None = None) -> FeedbackStore:
        """Connect to ``url``, creating the database's schema or upgrading it to head.

        A SQLite file and its directory are created when missing; SQLite connections run in WAL
        mode with foreign keys on and a busy timeout (see :mod:`feedback.engine`). The schema is
        managed by the Alembic migrations shipped in ``feedback/migrations`` (upgrade to head
        on every open; a no-op when already there). Safe to call from several processes at
        once on the same database. ``sqlite://`` (in memory) works for one thread only: each
        thread of SQLAlchemy's ``SingletonThreadPool`` gets its own empty database.

        Args:
            url: any SQLAlchemy URL, e.g. ``sqlite:////srv/models/feedback.sqlite3`` or
                ``postgresql+psycopg://user@host:5432/db`` (see :func:`feedback.resolve_url`).
            config: connection settings (defaults: :class:`StoreConfig`).

        Raises:
            StoreURLError: the URL cannot be parsed or names a driver that is not installed.
            StoreOpenError: the database cannot be reached, created or migrated (the message
                names the URL with its password hidden, and the reason).
        """
        config = config or StoreConfig()
        parsed = parse_url(url)
        path = sqlite_path(parsed)
        if path is not None:
            try:
                path.expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreOpenError(f"cannot create the directory of the feedback database {safe_url(parsed)}: {error}") from error
        engine = create_store_engine(url, config)
        try:
            upgrade_to_head(engine)
        except (SQLAlchemyError, CommandError, OSError) as error:
            engine.dispose()
            reason = getattr(error, "orig", None) or error
            raise StoreOpenError(f"cannot open the feedback store at {safe_url(parsed)}: {reason}".strip()) from error
        return cls(engine, safe_url(parsed), config)

    def close(self) -> None:
        """Close every pooled connection (``Engine.dispose``). The store is unusable afterwards."""
        self._engine.dispose()

    def __enter__(self) -> FeedbackStore:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._url

    @property
    def dialect(self) -> str:
        """The SQLAlchemy dialect name: ``"sqlite"``, ``"postgresql"`` ..."""
        return self._engine.dialect.name

    @property
    def engine(self) -> Engine:
        """The underlying SQLAlchemy engine (for tests and maintenance; prefer the methods)."""
        return self._engine

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """A session whose transaction is a write transaction (serialised per process on SQLite)."""
        with self._write_lock, self._writer() as session:
            yield session

    def __repr__(self) -> str:
        return f"FeedbackStore({self._url!r})"

    # -- writes ------------------------------------------------------------------------------

    def log_prediction(
        self,
        *,
        question: str,
        model_version: str,
        category: str | None,
        probability: float | None,
        top_k: Iterable[Mapping[str, Any] | tuple[str, float]] = (),
        needs_review: bool = False,
        reason: str | None = None,
        source: str = "api",
        created_at: datetime | None = None,
    ) -> str:
        """Log one answered question; return its new id (``uuid4().hex``).

        Args:
            question: the question, already masked (may be empty for a question with no
                content, logged with ``category=None``).
            model_version: the bundle that answered, non-empty, at most 64 characters.
            category: the top category, or ``None`` when the question had no content.
            probability: the top category's probability in [0, 1] (``None`` iff no category).
                NumPy floats are accepted and stored as Python floats (IEEE double).
            top_k: the ranked categories, as ``{"category", "probability"}`` mappings or
                ``(category, probability)`` pairs; stored as a JSON list of dicts.
            needs_review: the router flagged the question for a human.
            reason: ``None`` or one of :data:`feedback.models.REASONS`.
            source: where the question came from (``form``, ``api``, ``cli``, ``twilio``, ``webhook``...),
                non-empty, at most 32 characters.
            created_at: when it was answered (aware datetime; default: now, UTC).

        Raises:
            ValueError: an argument is out of its range (names which).
            UnmaskedQuestionError: the question holds an e-mail address or a phone number.
        """
        return self.log_predictions([
            {
                "question": question, "model_version": model_version, "category": category,
                "probability": probability, "top_k": top_k, "needs_review": needs_review,
                "reason": reason, "source": source, "created_at": created_at,
            }
        ])[0]

    def log_predictions(self, predictions: Sequence[Mapping[str, Any]]) -> list[str]:
        """Log many answered questions in one transaction; return their new ids, in order.

        What a request routing a list of questions does: one commit (so one fsync on SQLite)
        for the whole list instead of one per question. All or nothing: if one entry is
        invalid, none is stored.

        Args:
            predictions: one mapping per question, with the keyword arguments of
                :meth:`log_prediction` (``question``, ``model_version``, ``category`` and
                ``probability`` required; the others optional, with the same defaults).

        Returns:
            The ids (``uuid4().hex``), one per entry; ``[]`` for no entry (nothing is written).

        Raises:
            ValueError: an entry is out of range (the message names its position and field).
            UnmaskedQuestionError: an entry's question holds an e-mail address or a phone number.
        """
        rows = []
        for index, entry in enumerate(predictions):
            try:
                rows.append(_prediction_row(**entry))
            except TypeError as error:  # a missing or unknown keyword
                raise ValueError(f"prediction {index}: {error}") from None
            except ValueError as error:
                if len(predictions) == 1:
                    raise
                raise type(error)(f"prediction {index}: {error}") from None
        if rows:
            # A Core INSERT of the table, executed with the whole list (DBAPI executemany): the
            # ORM's bulk INSERT leaves out None values and so splits rows with and without a
            # review reason into separate statements (about 700 for 1,000 mixed rows).
            with self._write() as session, session.begin():
                session.connection().execute(insert(Prediction.__table__), rows)
        return [row["id"] for row in rows]

    def record_feedback(
        self,
        *,
        idempotency_key: str,
        action: str,
        agent_category: str,
        prediction_id: str | None = None,
        question: str | None = None,
        model_version: str | None = None,
        predicted_category: str | None = None,
        predicted_probability: float | None = None,
        agent: str | None = None,
        created_at: datetime | None = None,
    ) -> FeedbackResult:
        """Store an agent's confirmation or correction, at most once per ``idempotency_key``.

        With a ``prediction_id``, the question, model version, predicted category and
        probability are copied from the logged prediction (arguments given anyway must equal
        them). Without one (a question that was not logged), ``question`` is required.

        A second call with a key already stored returns the first row with ``created=False``
        whatever its other arguments (a double submit of a form, a retried request); it never
        stores a second row nor raises. Concurrent calls with the same key store one row: the
        unique constraint decides, and the loser reads the winner's row.

        Args:
            idempotency_key: client-chosen unique key (e.g. a form token), at most 128 chars.
            action: ``"confirm"`` (the predicted category is right) or ``"correct"``.
            agent_category: the agent's category, non-empty, no tab or newline, at most 64
                chars; for ``confirm`` equal to the predicted category, for ``correct``
                different from it.
            prediction_id: the logged prediction this is about, or ``None``.
            question, model_version, predicted_category, predicted_probability: what the agent
                saw, for feedback without a ``prediction_id`` (question masked, non-empty).
            agent: free text naming the agent (at most 128 chars), or ``None``.
            created_at: when the agent decided (aware; default: now, UTC).

        Returns:
            A :class:`FeedbackResult`.

        Raises:
            ValueError: unknown action, empty or over-long category, a confirm whose category
                differs from the predicted one, a correction to the predicted category, a
                missing question, arguments contradicting the logged prediction.
            UnknownPredictionError: ``prediction_id`` is not in the prediction log.
            UnmaskedQuestionError: the question holds an e-mail address or a phone number.
        """
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
        category = _required_category("agent_category", agent_category)
        key = _str("idempotency_key", idempotency_key, KEY_LENGTH)
        agent = None if agent is None else _str("agent", agent, AGENT_LENGTH)
        stamp = _timestamp("created_at", created_at)
        given = {
            "question": question,
            "model_version": None if model_version is None else _str("model_version", model_version, MODEL_VERSION_LENGTH),
            "predicted_category": _category("predicted_category", predicted_category, optional=True),
            "predicted_probability": _probability("predicted_probability", predicted_probability),
        }
        try:
            with self._write() as session, session.begin():
                existing = _by_key(session, key)
                if existing is not None:
                    return FeedbackResult(_feedback_record(existing), created=False)
                seen = self._what_the_agent_saw(session, prediction_id, given)
                _check_action(action, category, seen["predicted_category"])
                row = Feedback(
                    id=new_id(), prediction_id=prediction_id, created_at=stamp, agent_category=category,
                    action=action, idempotency_key=key, agent=agent, **seen,
                )
                session.add(row)
            return FeedbackResult(_feedback_record(row), created=True)
        except IntegrityError:
            # Another transaction stored the same key between our check and our insert
            # (possible on PostgreSQL under READ COMMITTED; SQLite's BEGIN IMMEDIATE excludes it).
            with self._read() as session:
                existing = _by_key(session, key)
            if existing is None:
                raise
            return FeedbackResult(_feedback_record(existing), created=False)

    @staticmethod
    def _what_the_agent_saw(session: Session, prediction_id: str | None, given: dict[str, Any]) -> dict[str, Any]:
        if prediction_id is None:
            if given["question"] is None or not str(given["question"]).strip():
                raise ValueError("question is required (non-empty) for feedback without a prediction_id")
            check_masked(_str("question", given["question"], None))
            return given
        prediction = session.get(Prediction, _str("prediction_id", prediction_id, None))
        if prediction is None:
            raise UnknownPredictionError(prediction_id)
        logged: dict[str, Any] = {
            "question": prediction.question,
            "model_version": prediction.model_version,
            "predicted_category": prediction.category,
            "predicted_probability": prediction.probability,
        }
        for name, value in given.items():
            if value is None:
                continue
            same = math.isclose(value, logged[name], abs_tol=1e-9) if name == "predicted_probability" and logged[name] is not None else value == logged[name]
            if not same:
                raise ValueError(f"{name}={value!r} contradicts prediction {prediction_id}'s {logged[name]!r}")
        if not prediction.question.strip():
            raise ValueError(f"prediction {prediction_id} has an empty question: there is nothing to label")
        return logged

    # -- reads -------------------------------------------------------------------------------

    def get_prediction(self, prediction_id: str) -> PredictionRecord | None:
        """The logged prediction with this id, or ``None``."""
        with self._read() as session:
            row = session.get(Prediction, prediction_id)
            return None if row is None else _prediction_record(row)

    def get_feedback(self, feedback_id: str) -> FeedbackRecord | None:
        """The feedback row with this id, or ``None``."""
        with self._read() as session:
            row = session.get(Feedback, feedback_id)
            return None if row is None else _feedback_record(row)

    def feedback_for(self, prediction_id: str) -> list[FeedbackRecord]:
        """Every feedback row about one prediction, oldest first (empty if none)."""
        with self._read() as session:
            rows = session.scalars(
                select(Feedback).where(Feedback.prediction_id == prediction_id).order_by(Feedback.created_at, Feedback.id)
            )
            return [_feedback_record(row) for row in rows]

    def count_predictions(self) -> int:
        """Number of rows in ``predictions``."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Prediction)).scalar_one())

    def count_feedback(self) -> int:
        """Number of rows in ``feedback``."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Feedback)).scalar_one())

    def labeled_tickets(self, until: datetime | None = None, since: datetime | None = None) -> list[LabeledTicket]:
        """The agents' final labels, one per distinct question, oldest first.

        Only feedback with ``since <= created_at < until`` is considered (so ``until`` gives
        the labels as they were known at that moment: a re-training is reproducible). Rules,
        applied in SQL with window functions (``ROW_NUMBER() OVER``, SQLite ≥ 3.25 and
        PostgreSQL):

        1. per prediction (feedback without a prediction: per question text), a correction
           overrides a confirmation whatever their order, and among the same action the
           latest feedback wins;
        2. questions with identical (masked) text collapse to the latest of those labels.

        Ties in ``created_at`` are broken by the feedback id, so the result is deterministic.

        Returns:
            :class:`LabeledTicket` rows ordered by ``created_at`` then id.
        """
        f = Feedback.__table__.c
        correction_first = case((f.action == "correct", 0), else_=1)
        per_prediction = (
            select(
                f.id, f.prediction_id, f.question, f.agent_category, f.action, f.created_at,
                func.row_number()
                .over(partition_by=(f.prediction_id, f.question), order_by=(correction_first, f.created_at.desc(), f.id.desc()))
                .label("rank"),
            )
            .where(*_window(f.created_at, since, until))
            .subquery("per_prediction")
        )
        p = per_prediction.c
        per_question = (
            select(
                p.id, p.prediction_id, p.question, p.agent_category, p.action, p.created_at,
                func.row_number().over(partition_by=p.question, order_by=(p.created_at.desc(), p.id.desc())).label("rank"),
            )
            .where(p.rank == 1)
            .subquery("per_question")
        )
        q = per_question.c
        query = (
            select(q.id, q.prediction_id, q.question, q.agent_category, q.action, q.created_at)
            .where(q.rank == 1)
            .order_by(q.created_at, q.id)
        )
        with self._engine.connect() as conn:
            return [
                LabeledTicket(row.id, row.prediction_id, row.question, row.agent_category, row.action, row.created_at)
                for row in conn.execute(query)
            ]

    def export_tsv(
        self, target: str | os.PathLike[str] | IO[str], until: datetime | None = None, since: datetime | None = None
    ) -> int:
        """Write :meth:`labeled_tickets` as a TSV a re-training reads; return the rows written.

        Format: UTF-8, ``\\n`` line ends, header ``id\\tquestion\\tanswer\\tcategory``, one
        ticket per line with an empty answer (the classic export layout that
        ``preprocessing.datasets.load_tickets`` reads). Tabs, carriage returns and newlines
        inside a question are replaced by spaces so a row stays one line of four fields.

        Args:
            target: a path (written to ``<path>.tmp`` then renamed over ``path``, so a reader
                never sees a half-written file; the directory must exist) or an open text
                stream (written as is, not closed).
            until, since: the feedback window, as for :meth:`labeled_tickets`.
        """
        tickets = self.labeled_tickets(until=until, since=since)
        lines = ["\t".join(TSV_HEADER)]
        lines += ["\t".join((t.id, _one_line(t.question), "", _one_line(t.category))) for t in tickets]
        payload = "\n".join(lines) + "\n"
        if isinstance(target, (str, os.PathLike)):
            path = Path(target)
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "w", encoding="utf-8", newline="\n") as stream:
                stream.write(payload)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(tmp, path)
        else:
            target.write(payload)
        return len(tickets)

    # -- statistics --------------------------------------------------------------------------

    def questions_per_day(
        self, since: datetime | None = None, until: datetime | None = None, offset: timedelta = timedelta(0)
    ) -> list[stats.DayCount]:
        """Logged questions per day (``offset`` from UTC for day boundaries, e.g. 9 h for JST).

        See :func:`feedback.stats.questions_per_day`.
        """
        with self._engine.connect() as conn:
            return stats.questions_per_day(conn, _opt_ts("since", since), _opt_ts("until", until), offset)

    def category_counts(self, since: datetime | None = None, until: datetime | None = None) -> dict[str | None, int]:
        """Predictions per predicted category in the window (``None``: no category)."""
        with self._engine.connect() as conn:
            return stats.category_counts(conn, _opt_ts("since", since), _opt_ts("until", until))

    def needs_review_rate(self, since: datetime | None = None, until: datetime | None = None) -> stats.ReviewRate:
        """Share of predictions flagged for review in the window, with counts per reason."""
        with self._engine.connect() as conn:
            return stats.needs_review_rate(conn, _opt_ts("since", since), _opt_ts("until", until))

    def feedback_by_category(self, since: datetime | None = None, until: datetime | None = None) -> list[stats.CategoryFeedback]:
        """Feedback counts and correction rate per predicted category in the window."""
        with self._engine.connect() as conn:
            return stats.feedback_by_category(conn, _opt_ts("since", since), _opt_ts("until", until))

    def accuracy(
        self, since: datetime | None = None, until: datetime | None = None, model_version: str | None = None
    ) -> stats.Accuracy:
        """Accuracy measured from feedback: confirmations / all feedback (see :mod:`feedback.stats`)."""
        with self._engine.connect() as conn:
            return stats.accuracy(conn, _opt_ts("since", since), _opt_ts("until", until), model_version)

    def monitor(
        self,
        until: datetime | None = None,
        days: int = monitoring.DEFAULT_WINDOW_DAYS,
        training_counts: Mapping[str, int] | None = None,
        offset: timedelta = timedelta(0),
        limits: monitoring.MonitorLimits | None = None,
    ) -> monitoring.MonitorSummary:
        """The monitoring page's numbers for the ``days`` calendar days ending with ``until`` (default now).

        One read transaction, so the numbers agree with each other: on PostgreSQL at isolation
        level REPEATABLE READ, where every statement sees the snapshot of the first (PostgreSQL
        docs, "Transaction Isolation"); SQLite's read transaction in WAL mode is a snapshot
        already (SQLite docs, "Write-Ahead Logging"). See :func:`feedback.monitor.monitor_summary`.

        Raises:
            ValueError: a naive ``until`` or ``days`` outside [1, 366].
        """
        until = _timestamp("until", until)
        monitoring.check_window_days(days)
        with self._engine.connect() as conn:
            if self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            return monitoring.monitor_summary(conn, until, days, training_counts, offset, limits)

    # -- health ------------------------------------------------------------------------------

    def integrity_check(self) -> list[str]:
        """Problems found in the database, one sentence each; an empty list when healthy.

        Checks:
            * SQLite: ``PRAGMA integrity_check`` (anything but ``ok``), ``PRAGMA
              foreign_key_check`` (SQLite docs, "Pragma statements"), and that the journal
              mode of a file database is WAL;
            * every dialect: feedback rows whose ``prediction_id`` names no prediction
              (orphans, which foreign keys prevent unless they were disabled), confirmations
              whose category differs from the predicted one, and the schema revision being
              the migrations' head (Alembic ``MigrationContext.get_current_heads``).
        """
        problems: list[str] = []
        f, p = Feedback.__table__.c, Prediction.__table__.c
        with self._engine.connect() as conn:
            if self.dialect == "sqlite":
                rows = [row[0] for row in conn.exec_driver_sql("PRAGMA integrity_check")]
                if rows != ["ok"]:
                    problems += [f"sqlite integrity_check: {row}" for row in rows]
                for table, rowid, parent, _fkid in conn.exec_driver_sql("PRAGMA foreign_key_check"):
                    problems.append(f"sqlite foreign_key_check: {table} rowid {rowid} references a missing row of {parent}")
                mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()
                if mode not in ("wal", "memory"):
                    problems.append(f"sqlite journal_mode is {mode!r}, expected 'wal'")
            orphans = conn.execute(
                select(f.id, f.prediction_id)
                .where(f.prediction_id.is_not(None), ~select(p.id).where(p.id == f.prediction_id).exists())
                .order_by(f.id)
            ).all()
            if orphans:
                named = ", ".join(f"{row.id} → {row.prediction_id}" for row in orphans[:MAX_IDS_REPORTED])
                problems.append(f"{len(orphans)} feedback row(s) reference a missing prediction: {named}")
            bad_confirms = conn.execute(
                select(f.id)
                .where(f.action == "confirm", (f.predicted_category.is_(None)) | (f.predicted_category != f.agent_category))
                .order_by(f.id)
            ).scalars().all()
            if bad_confirms:
                problems.append(
                    f"{len(bad_confirms)} confirmation(s) whose category differs from the predicted one: "
                    + ", ".join(bad_confirms[:MAX_IDS_REPORTED])
                )
            revisions = current_revisions(conn)
            head = head_revision()
            if revisions != (head,):
                problems.append(f"schema revision is {', '.join(revisions) or 'none'}, the migrations' head is {head}")
        return problems


# -- helpers -----------------------------------------------------------------------------------


def _prediction_row(
    *,
    question: str,
    model_version: str,
    category: str | None,
    probability: float | None,
    top_k: Iterable[Mapping[str, Any] | tuple[str, float]] = (),
    needs_review: bool = False,
    reason: str | None = None,
    source: str = "api",
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """The checked column values of one ``predictions`` row, with a new id (see ``log_prediction``)."""
    check_masked(_str("question", question, None, allow_empty=True))
    category = _category("category", category, optional=True)
    probability = _probability("probability", probability)
    if (category is None) != (probability is None):
        raise ValueError("category and probability are given together, or both None (a question with no content)")
    if reason is not None and reason not in REASONS:
        raise ValueError(f"reason must be None or one of {REASONS}, not {reason!r}")
    return {
        "id": new_id(),
        "created_at": _timestamp("created_at", created_at),
        "model_version": _str("model_version", model_version, MODEL_VERSION_LENGTH),
        "question": question,
        "category": category,
        "probability": probability,
        "top_k": _top_k(top_k),
        "needs_review": bool(needs_review),
        "reason": reason,
        "source": _str("source", source, SOURCE_LENGTH),
    }


def _window(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    since, until = _opt_ts("since", since), _opt_ts("until", until)
    if since is not None and until is not None and since >= until:
        raise ValueError(f"since ({since.isoformat()}) must be before until ({until.isoformat()})")
    return stats._window(column, since, until)


def _by_key(session: Session, key: str) -> Feedback | None:
    return session.scalars(select(Feedback).where(Feedback.idempotency_key == key)).first()


def _check_action(action: str, agent_category: str, predicted_category: str | None) -> None:
    if action == "confirm" and agent_category != predicted_category:
        raise ValueError(
            f"a confirmation keeps the predicted category ({predicted_category!r}), not {agent_category!r}: use action='correct'"
        )
    if action == "correct" and agent_category == predicted_category:
        raise ValueError(f"a correction must name another category than the predicted {predicted_category!r}: use action='confirm'")


def _str(name: str, value: Any, max_length: int | None, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must not be empty")
    if max_length is not None and len(value) > max_length:
        raise ValueError(f"{name} is {len(value)} characters long, at most {max_length}")
    return value


def _category(name: str, value: Any, optional: bool) -> str | None:
    if value is None:
        if optional:
            return None
        raise ValueError(f"{name} must not be empty")
    value = _str(name, value, CATEGORY_LENGTH).strip()
    if any(ch in value for ch in "\t\r\n"):
        raise ValueError(f"{name} must not contain a tab or a line break: {value!r}")
    return value


def _required_category(name: str, value: Any) -> str:
    category = _category(name, value, optional=False)
    if category is None:  # unreachable: optional=False raises first
        raise ValueError(f"{name} must not be empty")
    return category


def _probability(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number in [0, 1], not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], not {value!r}") from None
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise ValueError(f"{name} must be a number in [0, 1], not {value!r}")
    return number


def _top_k(items: Iterable[Mapping[str, Any] | tuple[str, float]]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping):
            category, probability = item.get("category"), item.get("probability")
        elif isinstance(item, Sequence) and len(item) == 2 and not isinstance(item, str):
            category, probability = item
        else:
            raise ValueError(f"top_k entries are {{category, probability}} mappings or pairs, not {item!r}")
        result.append({
            "category": _required_category("top_k category", category),
            "probability": _probability("top_k probability", probability),
        })
    return result


def _timestamp(name: str, value: datetime | None) -> datetime:
    if value is None:
        return utc_now()
    return _opt_ts(name, value)  # type: ignore[return-value]


def _opt_ts(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (e.g. datetime.now(timezone.utc)), got {value.isoformat()}")
    return value.astimezone(timezone.utc)


def _one_line(text_value: str) -> str:
    return text_value.replace("\r\n", " ").replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _prediction_record(row: Prediction) -> PredictionRecord:
    return PredictionRecord(
        id=row.id, created_at=row.created_at, model_version=row.model_version, question=row.question,
        category=row.category, probability=row.probability, top_k=tuple(dict(item) for item in row.top_k or ()),
        needs_review=bool(row.needs_review), reason=row.reason, source=row.source,
    )


def _feedback_record(row: Feedback) -> FeedbackRecord:
    return FeedbackRecord(
        id=row.id, prediction_id=row.prediction_id, created_at=row.created_at, model_version=row.model_version,
        question=row.question, predicted_category=row.predicted_category, predicted_probability=row.predicted_probability,
        agent_category=row.agent_category, action=row.action, idempotency_key=row.idempotency_key, agent=row.agent,
    )
