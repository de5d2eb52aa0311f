"""What the monitoring page shows: recent traffic and feedback against what the model learned.

:func:`monitor_summary` reads, in one read transaction, the prediction log and the agents'
feedback of a window of calendar days and returns a :class:`MonitorSummary`:

* questions per day (every day of the window, zero-count days included);
* the needs-review rate (:func:`feedback.stats.needs_review_rate`);
* the category mix of the window's predictions against the training mix, compared with the
  Jensen–Shannon divergence (:func:`category_drift`);
* the agents' correction rate per predicted category (:func:`feedback.stats.feedback_by_category`)
  and accuracy measured from feedback, confirmations / (confirmations + corrections)
  (:func:`feedback.stats.accuracy`);
* the alerts raised by :class:`MonitorLimits` (:func:`alerts_for`).

Drift is measured on the *predicted* categories: the true category of live traffic is unknown
until an agent looks. A shift of the predicted-label distribution is the "black box shift
detection" signal of Lipton, Wang & Smola, "Detecting and Correcting for Label Shift with Black
Box Predictors" (ICML 2018), found by Rabanser, Günnemann & Lipton, "Failing Loudly" (NeurIPS
2019) to be among the best simple detectors of dataset shift. Questions with no category (no
content) are left out of the mix; questions flagged for review keep their top category.

Everything is plain SQL through SQLAlchemy (the queries of :mod:`feedback.stats`), so it runs on
SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import numpy as np
from scipy.spatial.distance import jensenshannon
from sqlalchemy.engine import Connection

from feedback import stats

#: Days in the window when none is given.
DEFAULT_WINDOW_DAYS = 7
#: Longest window accepted, in days (a year of daily bars).
MAX_WINDOW_DAYS = 366


@dataclass(frozen=True)
class MonitorLimits:
    """When the monitoring page warns. Defaults and their reasoning (README, "Monitoring").

    Attributes:
        drift: Jensen–Shannon divergence (bits, in [0, 1]) between the window's category mix and
            the training mix above which the page warns. Default 0.05: with 10 categories of
            10 % each, one category growing to 30 % of the traffic gives 0.047 bits, to 40 %
            0.091; sampling noise alone, with 200 questions in 10 equally frequent categories,
            stays under 0.02 bits in 99 % of windows (simulated: ``(k-1) / (8 n ln 2)`` bits on
            average, the χ² approximation of the divergence).
        correction_rate: share of feedback that corrects the model above which the page warns
            (overall, and for each category with enough feedback). Default 0.25: about twice the
            error rate measured on validation data (jmultiwoz_routing accuracy 0.87–0.89,
            BENCHMARKS.md); agents look more often at the doubtful questions, so the rate seen
            in feedback runs above the validation error even for a healthy model.
        min_questions: fewer categorised questions in the window than this give no drift
            warning (the divergence is shown, but it is mostly noise). Default 200.
        min_feedback: fewer feedback rows (overall, or for one category) than this give no
            correction-rate warning (one correction out of two is not a trend). Default 20.
    """

    drift: float = 0.05
    correction_rate: float = 0.25
    min_questions: int = 200
    min_feedback: int = 20

    def __post_init__(self) -> None:
        for name in ("drift", "correction_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"the {name} limit must be a number between 0 and 1, not {value!r}")
        for name in ("min_questions", "min_feedback"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number ≥ 0, not {value!r}")


@dataclass(frozen=True)
class CategoryShift:
    """One category in the window against training.

    Attributes:
        category: the category name.
        recent: predictions of this category in the window; recent_share: ``recent`` / all
            categorised predictions in the window, in [0, 1].
        training: training examples of this category; training_share: its share, in [0, 1].
        change: ``recent_share - training_share`` (positive: more frequent than in training).
    """

    category: str
    recent: int
    recent_share: float
    training: int
    training_share: float
    change: float


@dataclass(frozen=True)
class Drift:
    """The window's category mix against the training mix.

    Attributes:
        recent_questions: categorised predictions in the window (questions with no content left out).
        training_examples: training examples (0 when the training mix is unknown).
        divergence: Jensen–Shannon divergence in bits, in [0, 1] (0: same mix; 1: no category
            in common); ``None`` when either side is empty or unknown. It is the square of
            ``scipy.spatial.distance.jensenshannon(p, q, base=2)``, which returns the
            Jensen–Shannon *distance* (SciPy docs: "the square root of the Jensen-Shannon
            divergence"; Lin, "Divergence measures based on the Shannon entropy", IEEE Trans.
            Inf. Theory 37(1), 1991).
        distance: that distance, ``sqrt(divergence)``; ``None`` likewise.
        shifts: every category of either side, the largest ``|change|`` first (ties by name);
            empty when the training mix is unknown.
    """

    recent_questions: int
    training_examples: int
    divergence: float | None
    distance: float | None
    shifts: tuple[CategoryShift, ...]


@dataclass(frozen=True)
class Alert:
    """A limit crossed. kind: ``"drift"`` or ``"correction_rate"``; category: the category of a
    per-category correction rate (``None``: overall); value and limit in [0, 1]; count: the
    questions (drift) or feedback rows (correction rate) behind ``value``."""

    kind: str
    category: str | None
    value: float
    limit: float
    count: int


@dataclass(frozen=True)
class MonitorSummary:
    """The monitoring page's numbers for one window.

    Attributes:
        since, until: the window ``[since, until)``, aware UTC: ``since`` is midnight (in the
            time zone of ``offset``) ``window_days - 1`` days before ``until``'s day.
        window_days: calendar days in the window, today included.
        utc_offset_minutes: the time zone of the day boundaries, minutes east of UTC (540: JST).
        days: one :class:`~feedback.stats.DayCount` per day of the window, oldest first.
        questions: predictions logged in the window.
        review: the needs-review rate of those predictions.
        drift: the category mix against training (:class:`Drift`).
        feedback: feedback rows per predicted category (most first), with correction rates.
        accuracy: confirmations / all feedback in the window (``None`` without feedback).
        correction_rate: corrections / all feedback (``1 - accuracy``), ``None`` without feedback.
        limits: the limits applied; alerts: those crossed.
    """

    since: datetime
    until: datetime
    window_days: int
    utc_offset_minutes: int
    days: tuple[stats.DayCount, ...]
    questions: int
    review: stats.ReviewRate
    drift: Drift
    feedback: tuple[stats.CategoryFeedback, ...]
    accuracy: stats.Accuracy
    correction_rate: float | None
    limits: MonitorLimits = field(default_factory=MonitorLimits)
    alerts: tuple[Alert, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: dates and times as ISO 8601 strings, the needs-review reasons as a
        list of ``{"reason", "count"}`` (a reason may be ``null``), dataclasses as objects."""
        return {
            "window": {
                "since": self.since.isoformat(),
                "until": self.until.isoformat(),
                "days": self.window_days,
                "utc_offset_minutes": self.utc_offset_minutes,
            },
            "questions": self.questions,
            "questions_per_day": [{"day": d.day.isoformat(), "questions": d.questions} for d in self.days],
            "needs_review": {
                "predictions": self.review.predictions,
                "needs_review": self.review.needs_review,
                "rate": self.review.rate,
                "by_reason": [{"reason": reason, "count": count} for reason, count in self.review.by_reason.items()],
            },
            "drift": {
                "recent_questions": self.drift.recent_questions,
                "training_examples": self.drift.training_examples,
                "js_divergence_bits": self.drift.divergence,
                "js_distance": self.drift.distance,
                "categories": [asdict(shift) for shift in self.drift.shifts],
            },
            "feedback": {
                "feedback": self.accuracy.feedback,
                "confirmations": self.accuracy.confirmations,
                "corrections": self.accuracy.feedback - self.accuracy.confirmations,
                "accuracy": self.accuracy.accuracy,
                "correction_rate": self.correction_rate,
                "by_category": [asdict(item) for item in self.feedback],
            },
            "limits": asdict(self.limits),
            "alerts": [asdict(alert) for alert in self.alerts],
        }


def window(until: datetime, days: int, offset: timedelta = timedelta(0)) -> tuple[datetime, datetime]:
    """The window ``[since, until)`` of ``days`` calendar days ending with ``until``'s day.

    ``since`` is midnight, in the time zone ``offset`` from UTC, of the day ``days - 1`` days
    before the day of ``until`` (so ``days=1`` is today so far). Returns aware UTC datetimes.

    Raises:
        ValueError: ``until`` is naive, or ``days`` is not a whole number in
            [1, :data:`MAX_WINDOW_DAYS`].

    >>> window(datetime(2026, 11, 23, 12, tzinfo=timezone.utc), 2, timedelta(hours=9))[0]
    datetime.datetime(2026, 11, 21, 15, 0, tzinfo=datetime.timezone.utc)
    """
    if until.tzinfo is None or until.utcoffset() is None:
        raise ValueError(f"until must be timezone-aware, got {until.isoformat()}")
    check_window_days(days)
    zone = timezone(offset)
    first_day = until.astimezone(zone).date() - timedelta(days=days - 1)
    since = datetime.combine(first_day, time(0), tzinfo=zone)
    return since.astimezone(timezone.utc), until.astimezone(timezone.utc)


def check_window_days(days: object) -> int:
    """Return ``days`` if it is a whole number in [1, :data:`MAX_WINDOW_DAYS`]; else raise ValueError."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WINDOW_DAYS:
        raise ValueError(f"the window must be a whole number of days between 1 and {MAX_WINDOW_DAYS}, not {days!r}")
    return days


def category_drift(recent: Mapping[str | None, int], training: Mapping[str, int] | None) -> Drift:
    """Compare the window's predicted-category counts with the training counts.

    Args:
        recent: predicted category → predictions (the key ``None``, no category, is ignored).
        training: category → training examples (``metrics.json`` ``data.train_counts``), or
            ``None`` when the bundle does not say (then only ``recent_questions`` is filled in).

    Returns:
        A :class:`Drift`. Categories seen on one side only count 0 on the other.

    >>> d = category_drift({"配送": 30, "支払い": 10}, {"配送": 50, "支払い": 50})
    >>> round(d.divergence, 4), d.shifts[0].category, d.shifts[0].change
    (0.0488, '支払い', -0.25)
    """
    recent_counts = {category: int(n) for category, n in recent.items() if category is not None and n}
    recent_total = sum(recent_counts.values())
    training_counts = {category: int(n) for category, n in (training or {}).items() if n}
    training_total = sum(training_counts.values())
    if not training_counts:
        return Drift(recent_total, 0, None, None, ())
    categories = sorted(set(recent_counts) | set(training_counts))
    shifts = []
    for category in categories:
        r, t = recent_counts.get(category, 0), training_counts.get(category, 0)
        r_share = r / recent_total if recent_total else 0.0
        t_share = t / training_total
        shifts.append(CategoryShift(category, r, r_share, t, t_share, r_share - t_share))
    shifts.sort(key=lambda s: (-abs(s.change), s.category))
    divergence = distance = None
    if recent_total:
        p = np.array([recent_counts.get(c, 0) for c in categories], dtype=np.float64)
        q = np.array([training_counts.get(c, 0) for c in categories], dtype=np.float64)
        distance = float(jensenshannon(p, q, base=2))  # normalises p and q itself (SciPy docs)
        if not math.isfinite(distance):  # unreachable with two non-empty count vectors
            distance = None
        else:
            distance = min(max(distance, 0.0), 1.0)
            divergence = distance * distance
    return Drift(recent_total, training_total, divergence, distance, tuple(shifts))


def alerts_for(
    drift: Drift, accuracy: stats.Accuracy, feedback: tuple[stats.CategoryFeedback, ...], limits: MonitorLimits
) -> tuple[Alert, ...]:
    """The limits crossed (strictly above): drift first, then the overall correction rate, then
    per category (most feedback first). Too few questions or feedback rows raise nothing."""
    alerts: list[Alert] = []
    if drift.divergence is not None and drift.recent_questions >= limits.min_questions and drift.divergence > limits.drift:
        alerts.append(Alert("drift", None, drift.divergence, limits.drift, drift.recent_questions))
    if accuracy.feedback and accuracy.feedback >= limits.min_feedback:
        rate = (accuracy.feedback - accuracy.confirmations) / accuracy.feedback
        if rate > limits.correction_rate:
            alerts.append(Alert("correction_rate", None, rate, limits.correction_rate, accuracy.feedback))
    for item in feedback:
        if item.predicted_category is not None and item.feedback >= limits.min_feedback and item.correction_rate > limits.correction_rate:
            alerts.append(Alert("correction_rate", item.predicted_category, item.correction_rate, limits.correction_rate, item.feedback))
    return tuple(alerts)


def monitor_summary(
    conn: Connection,
    until: datetime,
    days: int = DEFAULT_WINDOW_DAYS,
    training_counts: Mapping[str, int] | None = None,
    offset: timedelta = timedelta(0),
    limits: MonitorLimits | None = None,
) -> MonitorSummary:
    """Read the monitoring numbers of the ``days`` calendar days ending with ``until``.

    Args:
        conn: an open connection; every query runs in its transaction (on PostgreSQL open it
            REPEATABLE READ for one snapshot: :meth:`feedback.FeedbackStore.monitor` does).
        until: the end of the window (usually now), timezone-aware.
        days: calendar days in the window, today included (1 to :data:`MAX_WINDOW_DAYS`).
        training_counts: category → training examples (``None``: unknown; no drift measured).
        offset: the time zone of the day boundaries (``timedelta(hours=9)`` for JST).
        limits: when to alert (defaults: :class:`MonitorLimits`).

    Raises:
        ValueError: a naive ``until`` or a bad ``days``.
    """
    limits = limits or MonitorLimits()
    since, until = window(until, days, offset)
    counted = {d.day: d.questions for d in stats.questions_per_day(conn, since, until, offset)}
    first_day: date = since.astimezone(timezone(offset)).date()
    per_day = tuple(stats.DayCount(first_day + timedelta(days=i), counted.get(first_day + timedelta(days=i), 0)) for i in range(days))
    review = stats.needs_review_rate(conn, since, until)
    drift = category_drift(stats.category_counts(conn, since, until), training_counts)
    feedback = tuple(stats.feedback_by_category(conn, since, until))
    accuracy = stats.accuracy(conn, since, until)
    corrections = accuracy.feedback - accuracy.confirmations
    correction_rate = corrections / accuracy.feedback if accuracy.feedback else None
    return MonitorSummary(
        since=since,
        until=until,
        window_days=days,
        utc_offset_minutes=int(offset.total_seconds() // 60),
        days=per_day,
        questions=review.predictions,
        review=review,
        drift=drift,
        feedback=feedback,
        accuracy=accuracy,
        correction_rate=correction_rate,
        limits=limits,
        alerts=alerts_for(drift, accuracy, feedback, limits),
    )
