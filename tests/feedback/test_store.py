"""The feedback store on real databases: every storage test runs on SQLite and on PostgreSQL.

``store_url`` (tests/feedback_fixtures.py) gives an empty SQLite file or an empty database on a
throwaway PostgreSQL server that the session starts (installing PostgreSQL if needed).
"""

from __future__ import annotations

import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from feedback import (
    ENV_VAR,
    Accuracy,
    CategoryFeedback,
    DayCount,
    FeedbackStore,
    ReviewRate,
    StoreConfig,
    StoreOpenError,
    StoreURLError,
    UnknownPredictionError,
    UnmaskedQuestionError,
    default_url,
    resolve_url,
)
from feedback.loadtest import run_load
from feedback.migrate import head_revision
from preprocessing.datasets import load_tickets
from tests.paths import REPO_ROOT as ROOT

JST = timezone(timedelta(hours=9))

Q_DELIVERY = "注文した商品がまだ届きません"
Q_BILLING = "クレジットカードの請求が二重になっています"
Q_LOGIN = "パスワードを忘れてログインできません"
Q_APP = "アプリが起動直後に落ちます"
Q_BROKEN = "届いた商品が壊れていました"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A UTC instant in November 2026."""
    return datetime(2026, 11, day, hour, minute, tzinfo=timezone.utc)


@pytest.fixture
def store(store_url: str):
    with FeedbackStore.open(store_url) as opened:
        yield opened


def log(store: FeedbackStore, question: str, category: str | None, probability: float | None, **kw) -> str:
    kw.setdefault("model_version", "20261122-101500-ab12cd")
    top_k = kw.pop("top_k", [] if category is None else [(category, probability)])
    return store.log_prediction(question=question, category=category, probability=probability, top_k=top_k, **kw)


# -- schema and migrations ---------------------------------------------------------------------


def test_open_creates_the_schema_at_head_and_reopening_changes_nothing(store_url: str) -> None:
    with FeedbackStore.open(store_url) as store:
        prediction_id = log(store, Q_DELIVERY, "配送", 0.8312)
    with FeedbackStore.open(store_url) as store:  # second open: upgrade is a no-op, data kept
        assert store.count_predictions() == 1
        assert store.get_prediction(prediction_id).question == Q_DELIVERY
        assert store.integrity_check() == []
        inspector = inspect(store.engine)
        assert set(inspector.get_table_names()) == {"predictions", "feedback", "alembic_version"}
        assert {c["name"] for c in inspector.get_columns("feedback")} == {
            "id", "prediction_id", "created_at", "model_version", "question", "predicted_category",
            "predicted_probability", "agent_category", "action", "idempotency_key", "agent",
        }
        assert {i["name"] for i in inspector.get_indexes("predictions")} == {
            "ix_predictions_created_at", "ix_predictions_category_created_at",
        }
        assert {i["name"] for i in inspector.get_indexes("feedback")} >= {
            "ix_feedback_created_at", "ix_feedback_prediction_id", "ix_feedback_predicted_category_created_at",
        }
        assert [fk["referred_table"] for fk in inspector.get_foreign_keys("feedback")] == ["predictions"]
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()] == ["0001"]


def test_sqlite_is_created_with_its_directory_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    url = default_url(tmp_path / "models" / "nested")
    with FeedbackStore.open(url) as store, store.engine.connect() as conn:
        pragmas = {name: conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")}
    assert (tmp_path / "models" / "nested" / "feedback.sqlite3").is_file()
    # synchronous: 2 is FULL (SQLite docs, PRAGMA synchronous)
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2, "busy_timeout": 30000}
    with FeedbackStore.open(url, StoreConfig(sqlite_synchronous="NORMAL", sqlite_busy_timeout_ms=5000)) as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_the_alembic_command_line_migrates_too(store_url: str, tmp_path: Path) -> None:
    alembic = Path(sys.executable).parent / "alembic"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(ENV_VAR, None)
    command = [str(alembic), "-c", str(ROOT / "feedback" / "alembic.ini"), "-x", f"url={store_url}"]
    if make_url(store_url).get_backend_name() == "sqlite":
        Path(make_url(store_url).database).parent.mkdir(parents=True)
    upgraded = subprocess.run([*command, "upgrade", "head"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr
    current = subprocess.run([*command, "current"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert current.stdout.split() == ["0001", "(head)"], current.stdout + current.stderr
    with FeedbackStore.open(store_url) as store:
        assert store.integrity_check() == []
        assert store.count_feedback() == 0


# -- writing and reading back ------------------------------------------------------------------


def test_a_confirmation_and_a_correction_are_stored_with_exact_values(store: FeedbackStore) -> None:
    before = datetime.now(timezone.utc)
    delivery = log(
        store, Q_DELIVERY, "配送", 0.8312,
        top_k=[{"category": "配送", "probability": 0.8312}, ("返品・返金", 0.1021), ("その他", 0.0667)],
        source="form",
    )
    billing = log(
        store, Q_BILLING, "配送", 0.4133, top_k=[("配送", 0.4133), ("支払い", 0.4011)],
        needs_review=True, reason="ambiguous", source="api", created_at=datetime(2026, 11, 23, 9, 30, tzinfo=JST),
    )
    after = datetime.now(timezone.utc)
    assert len(delivery) == 32 and delivery.isalnum() and delivery != billing

    p = store.get_prediction(delivery)
    assert (p.question, p.category, p.probability, p.model_version, p.source) == (Q_DELIVERY, "配送", 0.8312, "20261122-101500-ab12cd", "form")
    assert p.top_k == (
        {"category": "配送", "probability": 0.8312},
        {"category": "返品・返金", "probability": 0.1021},
        {"category": "その他", "probability": 0.0667},
    )
    assert (p.needs_review, p.reason) == (False, None)
    assert p.created_at.tzinfo == timezone.utc and before <= p.created_at <= after

    b = store.get_prediction(billing)
    assert b.created_at == at(23, 0, 30) and b.created_at.utcoffset() == timedelta(0)  # 09:30 JST is 00:30 UTC
    assert (b.needs_review, b.reason) == (True, "ambiguous")

    confirmed = store.record_feedback(
        prediction_id=delivery, action="confirm", agent_category="配送", idempotency_key="form-1", agent="佐藤",
    )
    corrected = store.record_feedback(
        prediction_id=billing, action="correct", agent_category="支払い", idempotency_key="form-2",
        created_at=at(23, 1),
    )
    assert confirmed.created and corrected.created
    f = store.get_feedback(corrected.feedback.id)
    assert f == corrected.feedback
    assert (f.prediction_id, f.question, f.model_version, f.predicted_category, f.predicted_probability) == (
        billing, Q_BILLING, "20261122-101500-ab12cd", "配送", 0.4133,
    )
    assert (f.agent_category, f.action, f.idempotency_key, f.agent, f.created_at) == ("支払い", "correct", "form-2", None, at(23, 1))
    assert store.get_feedback(confirmed.feedback.id).agent == "佐藤"
    assert [x.id for x in store.feedback_for(delivery)] == [confirmed.feedback.id]
    assert store.get_prediction("0" * 32) is None and store.get_feedback("nope") is None
    assert (store.count_predictions(), store.count_feedback()) == (2, 2)


def test_feedback_about_a_question_that_was_not_logged(store: FeedbackStore) -> None:
    stored = store.record_feedback(
        question=Q_APP, model_version="v1", predicted_category="アカウント", predicted_probability=0.51,
        action="correct", agent_category="技術的なトラブル", idempotency_key="mail-77",
    ).feedback
    assert (stored.prediction_id, stored.question, stored.predicted_category, stored.agent_category) == (None, Q_APP, "アカウント", "技術的なトラブル")
    assert store.labeled_tickets()[0].category == "技術的なトラブル"


def test_numpy_probabilities_are_stored_as_floats(store: FeedbackStore) -> None:
    prediction_id = log(store, Q_DELIVERY, "配送", np.float32(0.75), top_k=[("配送", np.float64(0.75)), ("その他", np.float32(0.25))])
    p = store.get_prediction(prediction_id)
    assert p.probability == 0.75 and type(p.probability) is float
    assert p.top_k == ({"category": "配送", "probability": 0.75}, {"category": "その他", "probability": 0.25})


def test_a_question_with_no_content_is_logged_without_a_category(store: FeedbackStore) -> None:
    prediction_id = log(store, "", None, None, needs_review=True, reason="no_content", source="cli")
    p = store.get_prediction(prediction_id)
    assert (p.question, p.category, p.probability, p.top_k, p.reason) == ("", None, None, (), "no_content")
    with pytest.raises(ValueError, match="empty question"):
        store.record_feedback(prediction_id=prediction_id, action="correct", agent_category="その他", idempotency_key="k")


def test_many_predictions_are_logged_in_one_call_in_order(store: FeedbackStore) -> None:
    entries = [
        {"question": f"{Q_DELIVERY}（{i}件目）", "model_version": "v7", "category": "配送", "probability": 0.5 + i / 4000,
         "top_k": [("配送", 0.5 + i / 4000), ("その他", 0.5 - i / 4000)], "source": "api"}
        for i in range(1000)
    ]
    entries[3] = {"question": "-----", "model_version": "v7", "category": None, "probability": None,
                  "needs_review": True, "reason": "no_content", "source": "api"}
    ids = store.log_predictions(entries)
    assert len(ids) == len(set(ids)) == 1000 and store.count_predictions() == 1000
    first, fourth, last = store.get_prediction(ids[0]), store.get_prediction(ids[3]), store.get_prediction(ids[999])
    assert (first.question, first.probability, first.top_k[1]) == (f"{Q_DELIVERY}（0件目）", 0.5, {"category": "その他", "probability": 0.5})
    assert (fourth.question, fourth.category, fourth.reason) == ("-----", None, "no_content")
    assert (last.question, last.probability, last.model_version, last.source) == (f"{Q_DELIVERY}（999件目）", 0.5 + 999 / 4000, "v7", "api")
    assert store.log_predictions([]) == []


def test_a_batch_with_one_bad_entry_stores_nothing(store: FeedbackStore) -> None:
    good = {"question": Q_DELIVERY, "model_version": "v7", "category": "配送", "probability": 0.8}
    with pytest.raises(UnmaskedQuestionError, match="prediction 1: the question contains an e-mail address"):
        store.log_predictions([good, {**good, "question": "yamada@example.co.jp です"}])
    with pytest.raises(ValueError, match="prediction 2: probability must be a number"):
        store.log_predictions([good, good, {**good, "probability": 1.5}])
    with pytest.raises(ValueError, match="prediction 0: .*unexpected keyword argument 'colour'"):
        store.log_predictions([{**good, "colour": "red"}])
    assert store.count_predictions() == 0


# -- idempotency and validation ----------------------------------------------------------------


def test_a_double_submit_stores_one_row_and_returns_the_first(store: FeedbackStore) -> None:
    prediction_id = log(store, Q_DELIVERY, "配送", 0.8312)
    first = store.record_feedback(prediction_id=prediction_id, action="confirm", agent_category="配送", idempotency_key="token-abc")
    again = store.record_feedback(prediction_id=prediction_id, action="confirm", agent_category="配送", idempotency_key="token-abc")
    # Same key, other content (a stale form re-posted): still the first row, no error.
    other = store.record_feedback(prediction_id=prediction_id, action="correct", agent_category="返品・返金", idempotency_key="token-abc")
    assert first.created and not again.created and not other.created
    assert again.feedback == first.feedback == other.feedback
    assert store.count_feedback() == 1
    assert store.labeled_tickets()[0].category == "配送"


def test_invalid_feedback_is_refused_and_nothing_is_stored(store: FeedbackStore) -> None:
    prediction_id = log(store, Q_DELIVERY, "配送", 0.8312)
    cases = [
        (ValueError, "action must be one of", dict(action="approve", agent_category="配送")),
        (ValueError, "agent_category must not be empty", dict(action="correct", agent_category="")),
        (ValueError, "agent_category must not be empty", dict(action="correct", agent_category="  ")),
        (ValueError, "agent_category must not be empty", dict(action="correct", agent_category=None)),
        (ValueError, "tab or a line break", dict(action="correct", agent_category="支払い\t配送")),
        (ValueError, "a confirmation keeps the predicted category", dict(action="confirm", agent_category="支払い")),
        (ValueError, "a correction must name another category", dict(action="correct", agent_category="配送")),
        (ValueError, "contradicts prediction", dict(action="confirm", agent_category="配送", question="別の質問")),
        (ValueError, "idempotency_key must not be empty", dict(action="confirm", agent_category="配送", idempotency_key="")),
        (ValueError, "timezone-aware", dict(action="confirm", agent_category="配送", created_at=datetime(2026, 11, 23, 9))),
    ]
    for error, message, kwargs in cases:
        kwargs = {"prediction_id": prediction_id, "idempotency_key": "k1", **kwargs}
        with pytest.raises(error, match=message):
            store.record_feedback(**kwargs)
    with pytest.raises(UnknownPredictionError, match="no logged prediction with id 'f00d'") as raised:
        store.record_feedback(prediction_id="f00d", action="confirm", agent_category="配送", idempotency_key="k2")
    assert raised.value.prediction_id == "f00d" and isinstance(raised.value, LookupError)
    with pytest.raises(ValueError, match="question is required"):
        store.record_feedback(action="correct", agent_category="配送", idempotency_key="k3")
    with pytest.raises(ValueError, match=r"probability must be a number in \[0, 1\]"):
        log(store, Q_DELIVERY, "配送", 1.2)
    with pytest.raises(ValueError, match="reason must be None or one of"):
        log(store, Q_DELIVERY, "配送", 0.3, reason="too_long")
    with pytest.raises(ValueError, match="given together"):
        log(store, Q_DELIVERY, None, 0.3)
    assert (store.count_predictions(), store.count_feedback()) == (1, 0)


def test_unmasked_questions_are_refused(store: FeedbackStore) -> None:
    with pytest.raises(UnmaskedQuestionError, match="e-mail address"):
        log(store, "yamada@example.co.jp から注文しました", "配送", 0.7)
    with pytest.raises(UnmaskedQuestionError, match="phone number"):
        log(store, "090-1234-5678に電話をください", "その他", 0.7)
    with pytest.raises(UnmaskedQuestionError, match="phone number"):  # full-width digits, caught after NFKC
        store.record_feedback(question="０９０１２３４５６７８に電話", action="correct", agent_category="その他", idempotency_key="k")
    # What preprocessing.cleaning.clean produces is accepted: placeholders, digits mapped to 0.
    log(store, "<EMAIL> から注文しました <TEL> 注文番号 <ORDER> 合計0000000000円", "配送", 0.7)
    assert (store.count_predictions(), store.count_feedback()) == (1, 0)


# -- labels for re-training --------------------------------------------------------------------


def test_labeled_tickets_follow_the_rules(store: FeedbackStore) -> None:
    delivery = log(store, Q_DELIVERY, "配送", 0.62, created_at=at(20, 1))
    billing = log(store, Q_BILLING, "配送", 0.41, created_at=at(20, 2))
    login_a = log(store, Q_LOGIN, "アカウント", 0.93, created_at=at(20, 3))
    login_b = log(store, Q_LOGIN, "アカウント", 0.88, created_at=at(21, 3))

    def feedback(key: str, when: datetime, **kw) -> None:
        store.record_feedback(idempotency_key=key, created_at=when, **kw)

    # A correction overrides a confirmation, even a later one.
    feedback("d1", at(20, 5), prediction_id=delivery, action="correct", agent_category="返品・返金")
    feedback("d2", at(21, 5), prediction_id=delivery, action="confirm", agent_category="配送")
    # Between corrections, the latest wins.
    feedback("b1", at(20, 6), prediction_id=billing, action="correct", agent_category="アカウント")
    feedback("b2", at(22, 6), prediction_id=billing, action="correct", agent_category="支払い")
    # Identical questions collapse to the latest label.
    feedback("l1", at(21, 7), prediction_id=login_b, action="correct", agent_category="その他")
    feedback("l2", at(22, 7), prediction_id=login_a, action="confirm", agent_category="アカウント")
    # A question that was not logged.
    feedback("a1", at(21, 8), question=Q_APP, predicted_category="技術的なトラブル", action="confirm", agent_category="技術的なトラブル")

    labels = store.labeled_tickets()
    assert [(t.question, t.category, t.action, t.created_at) for t in labels] == [
        (Q_DELIVERY, "返品・返金", "correct", at(20, 5)),
        (Q_APP, "技術的なトラブル", "confirm", at(21, 8)),
        (Q_BILLING, "支払い", "correct", at(22, 6)),
        (Q_LOGIN, "アカウント", "confirm", at(22, 7)),
    ]
    assert [t.prediction_id for t in labels] == [delivery, None, billing, login_a]
    assert labels[0].id == store.feedback_for(delivery)[0].id

    # As known at 2026-11-22 00:00 UTC: the later correction of billing and l2 did not exist yet.
    assert [(t.question, t.category) for t in store.labeled_tickets(until=at(22, 0))] == [
        (Q_DELIVERY, "返品・返金"), (Q_BILLING, "アカウント"), (Q_LOGIN, "その他"), (Q_APP, "技術的なトラブル"),
    ]
    assert [(t.question, t.category) for t in store.labeled_tickets(since=at(21, 0), until=at(22, 0))] == [
        (Q_DELIVERY, "配送"), (Q_LOGIN, "その他"), (Q_APP, "技術的なトラブル"),
    ]
    with pytest.raises(ValueError, match="must be before until"):
        store.labeled_tickets(since=at(22, 0), until=at(21, 0))


def test_export_tsv_writes_exactly_the_labels(store: FeedbackStore, tmp_path: Path) -> None:
    delivery = log(store, Q_DELIVERY, "配送", 0.62, created_at=at(20, 1))
    store.record_feedback(prediction_id=delivery, action="confirm", agent_category="配送", idempotency_key="x1", created_at=at(20, 2))
    broken = store.record_feedback(
        question=f"返品したい\t{Q_BROKEN}\r\n写真あり", action="correct", predicted_category="配送",
        agent_category="返品・返金", idempotency_key="x2", created_at=at(20, 3),
    )
    first = store.feedback_for(delivery)[0].id
    expected = (
        "id\tquestion\tanswer\tcategory\n"
        f"{first}\t{Q_DELIVERY}\t\t配送\n"
        f"{broken.feedback.id}\t返品したい {Q_BROKEN} 写真あり\t\t返品・返金\n"
    )
    path = tmp_path / "labels.tsv"
    assert store.export_tsv(path) == 2
    assert path.read_bytes() == expected.encode("utf-8")
    assert not (tmp_path / "labels.tsv.tmp").exists()
    stream = io.StringIO()
    assert store.export_tsv(stream, until=at(20, 3)) == 1
    assert stream.getvalue() == "id\tquestion\tanswer\tcategory\n" + f"{first}\t{Q_DELIVERY}\t\t配送\n"
    # The re-training's own reader takes the file as it is.
    loaded = load_tickets(str(path))
    assert [(t.id, t.question, t.category) for t in loaded.tickets] == [
        (first, Q_DELIVERY, "配送"), (broken.feedback.id, f"返品したい {Q_BROKEN} 写真あり", "返品・返金"),
    ]


# -- health ------------------------------------------------------------------------------------


def test_integrity_check_finds_an_orphan_and_a_schema_behind_head(store: FeedbackStore) -> None:
    prediction_id = log(store, Q_DELIVERY, "配送", 0.8312)
    feedback_id = store.record_feedback(prediction_id=prediction_id, action="confirm", agent_category="配送", idempotency_key="k").feedback.id
    assert store.integrity_check() == []

    # Break it as a careless maintenance script would: delete the prediction behind the
    # foreign key's back (SQLite: a connection without PRAGMA foreign_keys; PostgreSQL: the
    # replica role, under which foreign-key triggers do not fire).
    if store.dialect == "sqlite":
        raw = sqlite3.connect(make_url(str(store.engine.url)).database)
        raw.execute("DELETE FROM predictions WHERE id = ?", (prediction_id,))
        raw.commit()
        raw.close()
    else:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.execute(text("DELETE FROM predictions WHERE id = :id"), {"id": prediction_id})
    problems = store.integrity_check()
    assert f"1 feedback row(s) reference a missing prediction: {feedback_id} → {prediction_id}" in problems
    if store.dialect == "sqlite":
        assert "sqlite foreign_key_check: feedback rowid 1 references a missing row of predictions" in problems
        assert len(problems) == 2
    else:
        assert len(problems) == 1

    with store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    assert store.integrity_check()[-1] == "schema revision is 0000, the migrations' head is 0001"


# -- statistics --------------------------------------------------------------------------------


def test_statistics_on_a_known_data_set(store: FeedbackStore) -> None:
    p1 = log(store, Q_DELIVERY, "配送", 0.90, created_at=at(20, 1))
    p2 = log(store, Q_BROKEN, "配送", 0.55, needs_review=True, reason="low_confidence", created_at=at(20, 23, 30))
    p3 = log(store, Q_BILLING, "支払い", 0.45, needs_review=True, reason="ambiguous", created_at=at(21, 10))
    p4 = log(store, "！！！", None, None, needs_review=True, reason="no_content", created_at=at(23, 9))
    p5 = log(store, "請求書を再発行してください", "支払い", 0.97, model_version="v2", created_at=at(23, 12))
    for key, (pid, action, category, when) in enumerate([
        (p1, "confirm", "配送", at(20, 2)),
        (p2, "correct", "返品・返金", at(21, 1)),
        (p3, "confirm", "支払い", at(21, 11)),
        (p4, "correct", "その他", at(23, 10)),
        (p5, "confirm", "支払い", at(23, 13)),
    ]):
        store.record_feedback(prediction_id=pid, action=action, agent_category=category, idempotency_key=str(key), created_at=when)

    assert store.questions_per_day() == [
        DayCount(date(2026, 11, 20), 2), DayCount(date(2026, 11, 21), 1), DayCount(date(2026, 11, 22), 0), DayCount(date(2026, 11, 23), 2),
    ]
    # Days in Japan: 23:30 UTC on the 20th is 08:30 JST on the 21st.
    assert store.questions_per_day(offset=timedelta(hours=9)) == [
        DayCount(date(2026, 11, 20), 1), DayCount(date(2026, 11, 21), 2), DayCount(date(2026, 11, 22), 0), DayCount(date(2026, 11, 23), 2),
    ]
    assert store.questions_per_day(since=at(21, 0), until=at(23, 0)) == [DayCount(date(2026, 11, 21), 1)]
    assert store.questions_per_day(since=at(24, 0)) == []

    assert list(store.category_counts().items()) == [("支払い", 2), ("配送", 2), (None, 1)]
    assert list(store.category_counts(since=at(21, 0)).items()) == [("支払い", 2), (None, 1)]

    assert store.needs_review_rate() == ReviewRate(5, 3, 0.6, {"ambiguous": 1, "low_confidence": 1, "no_content": 1})
    assert store.needs_review_rate(since=at(23, 10)) == ReviewRate(1, 0, 0.0, {})
    assert store.needs_review_rate(until=at(1, 0)) == ReviewRate(0, 0, None, {})

    assert store.feedback_by_category() == [
        CategoryFeedback("支払い", 2, 2, 0, 0.0),
        CategoryFeedback("配送", 2, 1, 1, 0.5),
        CategoryFeedback(None, 1, 0, 1, 1.0),
    ]
    assert store.feedback_by_category(since=at(21, 0), until=at(23, 0)) == [
        CategoryFeedback("支払い", 1, 1, 0, 0.0), CategoryFeedback("配送", 1, 0, 1, 1.0),
    ]
    assert store.accuracy() == Accuracy(5, 3, 0.6)
    assert store.accuracy(model_version="v2") == Accuracy(1, 1, 1.0)
    assert store.accuracy(since=at(22, 0)) == Accuracy(2, 1, 0.5)
    assert store.accuracy(until=at(20, 0)) == Accuracy(0, 0, None)


# -- concurrency -------------------------------------------------------------------------------


def test_32_threads_writing_at_once_lose_nothing(store: FeedbackStore) -> None:
    result = run_load(store, threads=32, writes=50, tag="threads")
    assert result.error_count == 0, result.errors
    assert (result.predictions_acknowledged, result.feedback_acknowledged) == (1600, 1600)
    assert (store.count_predictions(), store.count_feedback()) == (1600, 1600)
    assert len(store.labeled_tickets()) == 5  # five distinct questions in the load
    assert store.integrity_check() == []
    print(f"\n{store.dialect}: {result.to_json()}")


def test_concurrent_double_submits_store_one_row_per_key(store: FeedbackStore) -> None:
    predictions = [log(store, Q_DELIVERY, "配送", 0.8312) for _ in range(40)]
    results: dict[str, list[tuple[str, bool]]] = {pid: [] for pid in predictions}
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def submit(seed: int) -> None:
        order = predictions[:]
        random.Random(seed).shuffle(order)
        start.wait()
        for pid in order:
            try:
                stored = store.record_feedback(prediction_id=pid, action="confirm", agent_category="配送", idempotency_key=f"dup-{pid}")
            except BaseException as error:
                with lock:
                    errors.append(error)
                continue
            with lock:
                results[pid].append((stored.feedback.id, stored.created))

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count_feedback() == 40
    for outcomes in results.values():
        assert len(outcomes) == 16
        assert len({feedback_id for feedback_id, _ in outcomes}) == 1  # every caller saw the same row
        assert sum(created for _, created in outcomes) == 1


def test_two_processes_writing_to_the_same_new_database(store_url: str, tmp_path: Path) -> None:
    """Two processes (as two gunicorn workers) open the same new database at the same moment
    (both run the migrations) and then write concurrently with 8 threads each."""
    barrier = tmp_path / "barrier"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "feedback.loadtest", "--url", store_url, "--threads", "8", "--writes", "50", "--barrier", str(barrier), "--parties", "2"]
    processes = [
        subprocess.Popen([*command, "--tag", f"worker{n}"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(2)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out + err
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [(r["predictions_acknowledged"], r["feedback_acknowledged"], r["error_count"]) for r in results] == [(400, 400, 0)] * 2
    with FeedbackStore.open(store_url) as store:
        assert (store.count_predictions(), store.count_feedback()) == (800, 800)
        assert store.integrity_check() == []
    print(f"\n{make_url(store_url).get_backend_name()}: " + " | ".join(out.strip() for out, _ in outputs))


# -- configuration -----------------------------------------------------------------------------


def test_url_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    default = f"sqlite:///{models.resolve()}/feedback.sqlite3"
    assert default_url(models) == default
    assert resolve_url(None, models, environ={}) == default
    assert resolve_url("", models, environ={ENV_VAR: "  "}) == default
    assert resolve_url(None, models, environ={ENV_VAR: "postgresql+psycopg://app@db/toiawase"}) == "postgresql+psycopg://app@db/toiawase"
    assert resolve_url(" sqlite:////srv/fb.sqlite3 ", models, environ={ENV_VAR: "postgresql+psycopg://app@db/x"}) == "sqlite:////srv/fb.sqlite3"
    monkeypatch.setenv(ENV_VAR, f"sqlite:///{tmp_path}/from-env/fb.sqlite3")
    with FeedbackStore.open(resolve_url(None, models)) as store:
        log(store, Q_DELIVERY, "配送", 0.8312)
    assert (tmp_path / "from-env" / "fb.sqlite3").is_file() and not models.exists()
    monkeypatch.delenv(ENV_VAR)
    with FeedbackStore.open(resolve_url(None, models)) as store:
        assert store.count_predictions() == 0
    assert (models / "feedback.sqlite3").is_file()


def test_bad_urls_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreURLError, match="invalid database URL 'not a url': expected a SQLAlchemy URL"):
        FeedbackStore.open("not a url")
    with pytest.raises(StoreURLError, match="empty database URL"):
        FeedbackStore.open("")
    with pytest.raises(StoreURLError, match="unknown database dialect in 'nosuchdb://host/db'"):
        FeedbackStore.open("nosuchdb://host/db")
    with pytest.raises(StoreURLError, match="driver .* is not installed"):
        FeedbackStore.open("postgresql+pg8000://app@127.0.0.1/db")
    # Nothing listens on port 1: the message names the URL without its password, and the reason.
    with pytest.raises(StoreOpenError, match=r"cannot open the feedback store at postgresql\+psycopg://app:\*\*\*@127.0.0.1:1/db: .*refused") as raised:
        FeedbackStore.open("postgresql+psycopg://app:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(raised.value)
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreOpenError, match="cannot create the directory"):
        FeedbackStore.open(f"sqlite:///{tmp_path}/a-file/feedback.sqlite3")
    (tmp_path / "not-a-db.sqlite3").write_text("これはデータベースではありません" * 100)
    with pytest.raises(StoreOpenError, match="file is not a database"):
        FeedbackStore.open(f"sqlite:///{tmp_path}/not-a-db.sqlite3")


def test_a_store_is_a_context_manager_that_closes_its_pool(tmp_path: Path) -> None:
    store = FeedbackStore.open(default_url(tmp_path))
    with store as same:
        assert same is store and store.dialect == "sqlite" and repr(store).startswith("FeedbackStore('sqlite:///")
        log(store, Q_DELIVERY, "配送", 0.8312)
        assert store.engine.pool.checkedin() >= 1
    assert store.engine.pool.checkedin() == 0
    # The data is in the file for the next process.
    engine = create_engine(default_url(tmp_path))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT question FROM predictions")).scalars().all() == [Q_DELIVERY]
    engine.dispose()
