"""The monitoring page ``/monitor`` and ``GET /api/v1/monitor`` through Flask's test client.

The app serves the session's bundle (its ``metrics.json`` holds the training mix) and a real
SQLite feedback store filled here with known rows; the numbers are checked exactly, the
divergence against its definition. (The queries themselves run on PostgreSQL too in
tests/feedback/test_monitor.py.)
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from feedback import FeedbackStore
from webapp import create_app, settings
from webapp.feedback_store import close_store

WARNING = "注意：上限を超えた指標があります"


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (settings.ENV_MODEL, settings.ENV_THRESHOLD, settings.ENV_SECRET_KEY, "TOIAWASE_DB", *settings.MONITOR_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def training_counts(trained_bundle_dir: Path) -> dict[str, int]:
    metrics = json.loads((trained_bundle_dir / "current" / "metrics.json").read_text(encoding="utf-8"))
    return metrics["data"]["train_counts"]


@pytest.fixture
def traffic(db_url: str) -> None:
    """Today: 12 questions routed to 配送 and one without content; 4 feedback rows on 配送, 3 of them corrections."""
    with FeedbackStore.open(db_url) as store:
        ids = [
            store.log_prediction(question=f"注文した商品がまだ届きません（{i}回目）", model_version="v1", category="配送",
                                 probability=0.9, top_k=[("配送", 0.9)], source="api")
            for i in range(12)
        ]
        store.log_prediction(question="！！！", model_version="v1", category=None, probability=None, top_k=[],
                             needs_review=True, reason="no_content", source="form")
        for key, (action, category) in enumerate([("confirm", "配送"), ("correct", "返品・返金"), ("correct", "返品・返金"), ("correct", "その他")]):
            store.record_feedback(prediction_id=ids[key], action=action, agent_category=category, idempotency_key=f"k{key}")


def js_divergence_bits(p: dict[str, float], q: dict[str, float]) -> float:
    """The Jensen–Shannon divergence by its definition (Lin 1991), in bits."""
    keys = set(p) | set(q)
    m = {k: (p.get(k, 0) + q.get(k, 0)) / 2 for k in keys}
    kl = lambda x: sum(v * math.log2(v / m[k]) for k, v in x.items() if v > 0)  # noqa: E731
    return (kl(p) + kl(q)) / 2


def test_limits_crossed_show_a_warning_on_the_page_and_in_the_json(make_app, traffic, training_counts, trained_bundle_dir: Path) -> None:
    client = make_app(MONITOR_MIN_QUESTIONS=10, MONITOR_MIN_FEEDBACK=4).test_client()
    total = sum(training_counts.values())
    expected = js_divergence_bits({"配送": 1.0}, {k: v / total for k, v in training_counts.items()})

    data = client.get("/api/v1/monitor").get_json()
    assert data["window"]["days"] == 7 and data["window"]["utc_offset_minutes"] == 540
    assert len(data["questions_per_day"]) == 7 and data["questions_per_day"][-1]["questions"] == 13
    assert data["questions"] == 13
    assert data["needs_review"] == {"predictions": 13, "needs_review": 1, "rate": 1 / 13, "by_reason": [{"reason": "no_content", "count": 1}]}
    assert data["drift"]["recent_questions"] == 12 and data["drift"]["training_examples"] == total
    assert data["drift"]["js_divergence_bits"] == pytest.approx(expected, abs=1e-12)
    assert data["drift"]["categories"][0]["category"] == "配送"  # the one that moved most
    assert data["drift"]["categories"][0]["change"] == pytest.approx(1 - training_counts["配送"] / total, abs=1e-12)
    assert data["feedback"] == {
        "feedback": 4, "confirmations": 1, "corrections": 3, "accuracy": 0.25, "correction_rate": 0.75,
        "by_category": [{"predicted_category": "配送", "feedback": 4, "confirmations": 1, "corrections": 3, "correction_rate": 0.75}],
    }
    assert [(a["kind"], a["category"], a["value"]) for a in data["alerts"]] == [
        ("drift", None, pytest.approx(expected, abs=1e-12)), ("correction_rate", None, 0.75), ("correction_rate", "配送", 0.75),
    ]
    assert data["model_version"] == os.readlink(trained_bundle_dir / "current")

    page = client.get("/monitor")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert WARNING in html and 'role="alert"' in html
    assert f"JS ダイバージェンス {expected:.3f} ビット（上限 0.050、12 件）" in html
    assert "担当者による修正率が 75.0% で、上限 25.0% を超えています（フィードバック 4 件）" in html
    assert "カテゴリ「配送」の修正率が 75.0% で" in html
    assert 'class="over-limit"' in html
    # Charts are server-drawn bars: today's bar is the full width, no script and nothing from another host.
    assert re.search(r'style="width: 100\.0%"', html)
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html


def test_below_the_minimum_counts_there_is_no_warning(make_app, traffic) -> None:
    client = make_app().test_client()  # defaults: 200 questions, 20 feedback rows
    html = client.get("/monitor").get_data(as_text=True)
    assert WARNING not in html and 'role="alert"' not in html
    assert "カテゴリの付いた質問が 200 件未満のため" in html
    assert "修正率" in html and "75.0%" in html
    assert client.get("/api/v1/monitor").get_json()["alerts"] == []


def test_limits_from_the_environment(make_app, traffic, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOIAWASE_MONITOR_MIN_FEEDBACK", "4")
    monkeypatch.setenv("TOIAWASE_MONITOR_CORRECTION_LIMIT", "0.8")  # 0.75 stays under it
    monkeypatch.setenv("TOIAWASE_MONITOR_DAYS", "3")
    data = make_app().test_client().get("/api/v1/monitor").get_json()
    assert data["limits"] == {"drift": 0.05, "correction_rate": 0.8, "min_questions": 200, "min_feedback": 4}
    assert data["alerts"] == [] and len(data["questions_per_day"]) == 3
    monkeypatch.setenv("TOIAWASE_MONITOR_CORRECTION_LIMIT", "0.7")
    assert [a["category"] for a in make_app().test_client().get("/api/v1/monitor").get_json()["alerts"]] == [None, "配送"]


@pytest.mark.parametrize("variable, value, message", [
    ("TOIAWASE_MONITOR_DRIFT_LIMIT", "abc", "TOIAWASE_MONITOR_DRIFT_LIMIT must be a number, not 'abc'"),
    ("TOIAWASE_MONITOR_DRIFT_LIMIT", "1.5", "the drift limit must be a number between 0 and 1"),
    ("TOIAWASE_MONITOR_MIN_QUESTIONS", "2.5", "TOIAWASE_MONITOR_MIN_QUESTIONS must be a whole number"),
    ("TOIAWASE_MONITOR_DAYS", "0", "MONITOR_WINDOW_DAYS (TOIAWASE_MONITOR_DAYS): days must be a whole number between 1 and 366"),
    ("TOIAWASE_MONITOR_UTC_OFFSET", "20", "hours between -14 and 14"),
])
def test_bad_settings_stop_the_app_with_a_message(make_app, monkeypatch: pytest.MonkeyPatch, variable, value, message) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        make_app()


def test_the_window_from_the_query(make_app, traffic) -> None:
    client = make_app().test_client()
    assert len(client.get("/api/v1/monitor?days=30").get_json()["questions_per_day"]) == 30
    bad = client.get("/api/v1/monitor?days=abc")
    assert bad.status_code == 400
    assert bad.get_json()["error"]["message"] == "days must be a whole number between 1 and 366, not 'abc'."
    page = client.get("/monitor?days=0")
    assert page.status_code == 400 and "days は 1 から 366 までの整数にしてください。" in page.get_data(as_text=True)


def test_without_a_store_the_page_is_503(trained_bundle_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the database's directory should be")
    app = create_app({"TESTING": True, "MODEL_PATH": str(trained_bundle_dir), "DB_URL": f"sqlite:///{tmp_path / 'blocker' / 'db.sqlite3'}"})
    assert app.test_client().get("/api/v1/monitor").status_code == 503
    assert "データベース" in app.test_client().get("/monitor").get_data(as_text=True)


def test_without_a_model_the_traffic_is_shown_and_the_training_mix_is_unknown(tmp_path: Path, db_url: str, traffic) -> None:
    app = create_app({"TESTING": True, "MODEL_PATH": str(tmp_path / "no-models"), "DB_URL": db_url})
    try:
        data = app.test_client().get("/api/v1/monitor").get_json()
        assert data["model_version"] is None and data["questions"] == 13
        assert data["drift"]["js_divergence_bits"] is None and data["drift"]["categories"] == []
        html = app.test_client().get("/monitor").get_data(as_text=True)
        assert "モデルが読み込まれていないため、学習時との比較はできません。" in html
    finally:
        close_store(app)
