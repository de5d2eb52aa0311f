"""The monitoring numbers (feedback/monitor.py) on a store filled with known rows, on SQLite and PostgreSQL.

``store_url`` (tests/feedback_fixtures.py) gives an empty SQLite file or an empty database on the
throwaway PostgreSQL server of the session. The Jensen–Shannon divergence is checked against
the definition written out here with ``math.log2`` (not against SciPy again).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

import pytest

from feedback import (
    Accuracy,
    Alert,
    CategoryFeedback,
    DayCount,
    FeedbackStore,
    MonitorLimits,
    ReviewRate,
)
from feedback.monitor import category_drift, window

TRAINING = {"配送": 50, "支払い": 30, "ログイン": 20}


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC instant in November 2026."""
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


UNTIL = at(23, 12)


def js_divergence_bits(p: list[float], q: list[float]) -> float:
    """The Jensen–Shannon divergence by its definition (Lin 1991): the mean KL to the midpoint, in bits."""
    m = [(a + b) / 2 for a, b in zip(p, q)]
    kl = lambda x: sum(a * math.log2(a / c) for a, c in zip(x, m) if a > 0)  # noqa: E731
    return (kl(p) + kl(q)) / 2


@pytest.fixture
def store(store_url: str):
    with FeedbackStore.open(store_url) as opened:
        yield opened


@pytest.fixture
def filled(store: FeedbackStore) -> FeedbackStore:
    """Eight predictions and six feedback rows around the window [21 Nov 00:00, 23 Nov 12:00) UTC."""

    def log(question: str, category: str | None, when: datetime, reason: str | None = None) -> str:
        return store.log_prediction(
            question=question, model_version="20261122-101500-ab12cd", category=category,
            probability=None if category is None else 0.8, top_k=[] if category is None else [(category, 0.8)],
            needs_review=reason is not None, reason=reason, created_at=when,
        )

    early = log("荷物の追跡番号を教えてください", "配送", at(20, 10))  # before the window (UTC and JST)
    log("配達日時を変更したい", "配送", at(20, 16))  # 21 Nov 01:00 JST: in the JST window only
    delivered = log("注文した商品がまだ届きません", "配送", at(21, 1))
    broken = log("届いた商品が壊れていました", "配送", at(21, 5))
    billing = log("クレジットカードの請求が二重になっています", "支払い", at(21, 9), reason="ambiguous")
    late = log("配送先を間違えました", "配送", at(23, 3))
    empty = log("！！！", None, at(23, 4), reason="no_content")
    log("パスワードを忘れてログインできません", "ログイン", at(23, 11, 59))
    log("再配達をお願いします", "配送", UNTIL)  # the window is half-open: left out
    for key, (pid, action, category, when) in enumerate([
        (early, "confirm", "配送", at(20, 11)),  # before the window
        (delivered, "confirm", "配送", at(21, 2)),
        (broken, "correct", "返品・返金", at(22, 1)),
        (billing, "confirm", "支払い", at(21, 10)),
        (empty, "correct", "その他", at(23, 5)),
        (late, "confirm", "配送", at(23, 12, 30)),  # after the window
    ]):
        store.record_feedback(prediction_id=pid, action=action, agent_category=category, idempotency_key=f"k{key}", created_at=when)
    return store


def test_the_window_numbers_are_exact(filled: FeedbackStore) -> None:
    summary = filled.monitor(until=UNTIL, days=3, training_counts=TRAINING)

    assert (summary.since, summary.until, summary.window_days) == (at(21, 0), UNTIL, 3)
    assert summary.days == (DayCount(date(2026, 11, 21), 3), DayCount(date(2026, 11, 22), 0), DayCount(date(2026, 11, 23), 3))
    assert summary.questions == 6
    assert summary.review == ReviewRate(6, 2, 2 / 6, {"ambiguous": 1, "no_content": 1})

    drift = summary.drift
    assert (drift.recent_questions, drift.training_examples) == (5, 100)  # the question without content is left out
    assert drift.divergence == pytest.approx(js_divergence_bits([0.6, 0.2, 0.2], [0.5, 0.3, 0.2]), abs=1e-12)
    assert drift.divergence == pytest.approx(0.010545, abs=1e-6)
    assert drift.distance == pytest.approx(math.sqrt(drift.divergence), abs=1e-12)
    # Largest move first; 支払い and 配送 both moved by 10 points (ties by name).
    assert [(s.category, s.recent, s.training) for s in drift.shifts] == [("支払い", 1, 30), ("配送", 3, 50), ("ログイン", 1, 20)]
    assert [round(s.change, 12) for s in drift.shifts] == [-0.1, 0.1, 0.0]
    assert [(s.recent_share, s.training_share) for s in drift.shifts] == [(0.2, 0.3), (0.6, 0.5), (0.2, 0.2)]

    assert summary.feedback == (
        CategoryFeedback("配送", 2, 1, 1, 0.5),
        CategoryFeedback("支払い", 1, 1, 0, 0.0),
        CategoryFeedback(None, 1, 0, 1, 1.0),
    )
    assert summary.accuracy == Accuracy(4, 2, 0.5)
    assert summary.correction_rate == 0.5
    assert summary.alerts == ()  # the default limits want 200 questions and 20 feedback rows


def test_days_in_japan_shift_the_window(filled: FeedbackStore) -> None:
    summary = filled.monitor(until=UNTIL, days=3, training_counts=TRAINING, offset=timedelta(hours=9))

    assert summary.since == at(20, 15)  # 21 Nov 00:00 JST
    assert summary.utc_offset_minutes == 540
    assert summary.days == (DayCount(date(2026, 11, 21), 4), DayCount(date(2026, 11, 22), 0), DayCount(date(2026, 11, 23), 3))
    assert summary.drift.recent_questions == 6
    assert [(s.category, s.recent) for s in summary.drift.shifts][0] == ("配送", 4)


def test_limits_crossed_become_alerts(filled: FeedbackStore) -> None:
    limits = MonitorLimits(drift=0.01, correction_rate=0.25, min_questions=5, min_feedback=2)
    summary = filled.monitor(until=UNTIL, days=3, training_counts=TRAINING, limits=limits)

    assert [(a.kind, a.category, a.limit, a.count) for a in summary.alerts] == [
        ("drift", None, 0.01, 5),
        ("correction_rate", None, 0.25, 4),
        ("correction_rate", "配送", 0.25, 2),  # 支払い has no correction; the no-category row is not a category
    ]
    assert summary.alerts[1] == Alert("correction_rate", None, 0.5, 0.25, 4)
    # One question or one feedback row short of the minimum: no alert.
    quiet = filled.monitor(until=UNTIL, days=3, training_counts=TRAINING, limits=MonitorLimits(drift=0.01, min_questions=6, min_feedback=5))
    assert quiet.alerts == ()


def test_the_json_form(filled: FeedbackStore) -> None:
    data = filled.monitor(until=UNTIL, days=3, training_counts=TRAINING).to_dict()

    assert data["window"] == {"since": "2026-11-21T00:00:00+00:00", "until": "2026-11-23T12:00:00+00:00", "days": 3, "utc_offset_minutes": 0}
    assert data["questions_per_day"] == [
        {"day": "2026-11-21", "questions": 3}, {"day": "2026-11-22", "questions": 0}, {"day": "2026-11-23", "questions": 3},
    ]
    assert data["needs_review"]["by_reason"] == [{"reason": "ambiguous", "count": 1}, {"reason": "no_content", "count": 1}]
    assert data["feedback"]["by_category"][2] == {
        "predicted_category": None, "feedback": 1, "confirmations": 0, "corrections": 1, "correction_rate": 1.0,
    }
    assert (data["feedback"]["corrections"], data["feedback"]["accuracy"]) == (2, 0.5)
    assert data["drift"]["categories"][0]["category"] == "支払い"


def test_an_empty_store_and_an_unknown_training_mix(store: FeedbackStore) -> None:
    summary = store.monitor(until=UNTIL, days=2)

    assert summary.days == (DayCount(date(2026, 11, 22), 0), DayCount(date(2026, 11, 23), 0))
    assert summary.review == ReviewRate(0, 0, None, {})
    assert (summary.drift.divergence, summary.drift.shifts) == (None, ())
    assert summary.accuracy == Accuracy(0, 0, None)
    assert summary.correction_rate is None
    with pytest.raises(ValueError, match="between 1 and 366"):
        store.monitor(until=UNTIL, days=0)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.monitor(until=datetime(2026, 11, 23, 12))


def test_drift_of_disjoint_and_identical_mixes() -> None:
    assert category_drift({"配送": 7}, {"支払い": 3}).divergence == 1.0
    assert category_drift({"配送": 2, "支払い": 6, None: 9}, {"配送": 25, "支払い": 75}).divergence == 0.0
    assert category_drift({None: 4}, {"配送": 1}).divergence is None  # nothing categorised in the window


def test_the_window_starts_at_midnight() -> None:
    assert window(at(23, 12), 1) == (at(23, 0), at(23, 12))
    assert window(at(23, 0), 7) == (at(17, 0), at(23, 0))
    with pytest.raises(ValueError, match="between 1 and 366"):
        window(at(23, 0), 367)
    with pytest.raises(ValueError, match="drift limit must be a number between 0 and 1"):
        MonitorLimits(drift=1.5)
