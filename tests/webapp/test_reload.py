"""Live reload of ``models/current`` (webapp/reload.py) through the Flask test client.

The models directory is a copy of the session's trained one, with a second good version (the same
arrays under another version name) and broken versions made from it (tests/bundles.py). The
reload interval is 0 s so that every request looks at ``current``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.bundles import broken_bundle, copy_bundle, copy_models, point_current
from webapp import create_app, settings
from webapp.reload import LAST_GOOD, public_reason

QUESTION = "注文した商品がまだ届きません。いつ発送されますか？"


@pytest.fixture
def models(trained_bundle_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the session's models directory, with ``v-good-2`` beside its bundle."""
    target = tmp_path / "models"
    copy_models(trained_bundle_dir, target)
    copy_bundle(target, "v-good-2")
    return target


@pytest.fixture
def make_client(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(settings.ENV_MODEL, raising=False)
    monkeypatch.delenv(settings.ENV_THRESHOLD, raising=False)

    def make(models: Path):
        return create_app({"TESTING": True, "MODEL_PATH": str(models), "RELOAD_INTERVAL": 0}).test_client()

    return make


def health(client) -> tuple[int, dict]:
    response = client.get("/healthz")
    return response.status_code, response.get_json()


def served_version(client) -> str:
    response = client.post("/api/v1/predict", json={"question": QUESTION})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["model_version"]


def test_a_new_current_is_served_without_a_restart(models, make_client):
    client = make_client(models)
    first = served_version(client)
    point_current(models, "v-good-2")
    assert served_version(client) == "v-good-2"
    assert health(client) == (200, {"status": "ok", "model_version": "v-good-2", "feedback_store": "ok"})
    point_current(models, first)
    assert served_version(client) == first


@pytest.mark.parametrize("damage, file", [("empty-weights", "weights.npz"), ("no-vocabulary", "vocabulary.json"), ("bad-manifest", "bundle.json"), ("bad-metrics", "metrics.json")])
def test_a_broken_bundle_is_refused_and_the_old_one_keeps_serving(models, make_client, damage, file, caplog):
    client = make_client(models)
    first = served_version(client)
    broken_bundle(models, "v-broken", damage)
    point_current(models, "v-broken")
    with caplog.at_level(logging.ERROR):
        assert served_version(client) == first
        status, body = health(client)
        for _ in range(3):
            served_version(client)
    assert status == 200
    assert body["status"] == "degraded" and body["model_version"] == first
    assert body["reason"].startswith(f"v-broken/{file}: ")
    assert str(models) not in body["reason"] and "/tmp" not in body["reason"]
    refusals = [r for r in caplog.records if "refused the new bundle" in r.getMessage()]
    assert len(refusals) == 1, "the error is logged once per bad version, not on every check"
    # A good bundle afterwards is loaded and the status is ok again.
    point_current(models, "v-good-2")
    assert served_version(client) == "v-good-2"
    assert health(client) == (200, {"status": "ok", "model_version": "v-good-2", "feedback_store": "ok"})


def test_a_restart_onto_a_broken_current_serves_the_last_good_version(models, make_client):
    client = make_client(models)
    point_current(models, "v-good-2")
    assert served_version(client) == "v-good-2"
    assert (models / LAST_GOOD).read_text().strip() == "v-good-2"
    broken_bundle(models, "v-broken")
    point_current(models, "v-broken")
    restarted = make_client(models)  # what a worker started by kill -HUP does
    assert served_version(restarted) == "v-good-2"
    status, body = health(restarted)
    assert status == 200 and body["status"] == "degraded" and body["reason"].startswith("v-broken/weights.npz")


def test_a_restart_onto_a_broken_current_without_a_last_good_version_serves_no_model(models, make_client):
    broken_bundle(models, "v-broken")
    point_current(models, "v-broken")
    client = make_client(models)
    status, body = health(client)
    assert status == 503 and body["status"] == "no_model"
    assert "v-broken/weights.npz" in body["error"]["message"] and str(models) not in body["error"]["message"]
    page = client.get("/").get_data(as_text=True)
    assert str(models) not in page and str(models.parent) not in page
    assert "v-broken/weights.npz" in page
    # Once current points to a good bundle again, it is served without a restart.
    point_current(models, "v-good-2")
    assert served_version(client) == "v-good-2"


def test_a_model_that_appears_later_is_served(tmp_path, trained_bundle_dir, make_client):
    models = tmp_path / "models"
    models.mkdir()
    client = make_client(models)
    assert health(client)[0] == 503
    copy_models(trained_bundle_dir, models)
    status, body = health(client)
    assert status == 200 and body["status"] == "ok"


def test_current_is_looked_at_no_more_often_than_the_interval(models, monkeypatch):
    monkeypatch.delenv(settings.ENV_MODEL, raising=False)
    client = create_app({"TESTING": True, "MODEL_PATH": str(models), "RELOAD_INTERVAL": 3600}).test_client()
    first = served_version(client)
    point_current(models, "v-good-2")
    assert served_version(client) == first


def test_pages_without_a_model_show_no_absolute_path(tmp_path, make_client):
    client = make_client(tmp_path / "models")
    for response in (client.get("/"), client.get("/model"), client.post("/api/v1/predict", json={"question": QUESTION})):
        text = response.get_data(as_text=True)
        assert response.status_code == 503
        assert str(tmp_path) not in text, text


def test_public_reason_cuts_server_paths(tmp_path):
    reason = public_reason(f"{tmp_path}/models/v1/weights.npz: damaged (see /etc/passwd)", tmp_path / "models")
    assert reason == "v1/weights.npz: damaged (see passwd)"


def test_null_sections_of_metrics_json_leave_the_pages_working(models, make_client):
    # ``null`` where an object is expected is "not recorded", like an absent field: the pages
    # that read these sections (/model, /monitor, /api/v1/model) answered 500 on it before.
    path = models / "v-good-2" / "metrics.json"
    metrics = json.loads(path.read_text(encoding="utf-8"))
    metrics.update(baselines=None, data=None)
    metrics["review"]["reasons"] = None
    path.write_text(json.dumps(metrics, ensure_ascii=False), encoding="utf-8")
    point_current(models, "v-good-2")
    client = make_client(models)
    assert served_version(client) == "v-good-2"
    page = client.get("/model")
    assert page.status_code == 200 and "v-good-2" in page.get_data(as_text=True)
    assert client.get("/monitor").status_code == 200
    answer = client.get("/api/v1/model")
    assert answer.status_code == 200 and answer.get_json()["metrics"]["baselines"] == {}
