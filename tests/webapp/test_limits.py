"""Issue 12 §5 in-process: the bearer token of the write endpoints, rate limits per client
(Flask-Limiter), HEAD wherever GET works, and no question text in the logs at INFO level."""

from __future__ import annotations

import logging
import threading
import uuid

import pytest

from webapp import settings
from webapp.limits import ThreadSafeMemoryStorage

SECRET_QUESTION = "佐藤太郎です。注文番号AB-1234の返品をお願いしたいのですが、電話は090-8765-4321です"
TOKEN = "s3cret-token-7e2a"


@pytest.fixture
def make_app(make_app, monkeypatch: pytest.MonkeyPatch):
    """The apps of tests/webapp/conftest.py (fresh SQLite store), with the TOIAWASE_* settings this file tests cleared."""
    for name in (settings.ENV_MODEL, settings.ENV_THRESHOLD, settings.ENV_API_TOKEN, settings.ENV_RATE_LIMIT,
                 settings.ENV_RATE_LIMIT_STORAGE, settings.ENV_RATE_LIMIT_ENABLED):
        monkeypatch.delenv(name, raising=False)
    return make_app


def predict_id(client, question: str = "商品が届きません") -> tuple[str, str]:
    """Route ``question`` through the API: (prediction id, predicted category)."""
    answer = client.post("/api/v1/predict", json={"question": question}).get_json()["predictions"][0]
    return answer["id"], answer["category"]


def confirm(prediction_id: str, category: str) -> dict:
    return {"prediction_id": prediction_id, "action": "confirm", "category": category, "idempotency_key": uuid.uuid4().hex}


# --- bearer token ------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"])
def test_feedback_without_the_right_token_is_401_with_a_message(make_app, authorization):
    client = make_app(API_TOKEN=TOKEN).test_client()
    prediction_id, category = predict_id(client)
    headers = {"Authorization": authorization} if authorization else {}
    response = client.post("/api/v1/feedback", json=confirm(prediction_id, category), headers=headers)
    assert response.status_code == 401
    error = response.get_json()["error"]
    assert error["code"] == 401 and "Authorization: Bearer" in error["message"] and "API トークン" in error["message_ja"]
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="toiawase"'


def test_feedback_with_the_token_is_stored_and_predict_needs_none(make_app):
    client = make_app(API_TOKEN=TOKEN).test_client()
    prediction_id, category = predict_id(client)  # predict is not a write endpoint: no token
    response = client.post("/api/v1/feedback", json=confirm(prediction_id, category), headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 201
    assert response.get_json()["prediction_id"] == prediction_id


def test_the_token_comes_from_the_environment_and_unset_the_api_is_open(make_app, monkeypatch):
    client = make_app().test_client()
    prediction_id, category = predict_id(client)
    assert client.post("/api/v1/feedback", json=confirm(prediction_id, category)).status_code == 201
    monkeypatch.setenv(settings.ENV_API_TOKEN, TOKEN)
    client = make_app().test_client()
    assert client.post("/api/v1/feedback", json=confirm(prediction_id, category)).status_code == 401


# --- rate limits -------------------------------------------------------------------------------


def test_a_client_over_its_limit_gets_429_in_english_and_japanese_and_others_do_not(make_app):
    client = make_app(RATELIMIT_APPLICATION="3 per minute").test_client()
    statuses = [client.get("/api/v1/model").status_code for _ in range(3)]
    response = client.get("/api/v1/model")
    assert statuses == [200, 200, 200]
    assert response.status_code == 429
    error = response.get_json()["error"]
    assert error["code"] == 429
    assert error["message"] == "Too many requests from this client (limit: 3 per 1 minute); please wait and try again."
    assert error["message_ja"] == "リクエストが多すぎます。しばらく待ってからもう一度お試しください。"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    # Another client address has its own count; the form page answers 429 as a page.
    other = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get("/api/v1/model", environ_base=other).status_code == 200
    page = client.get("/", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert page.status_code == 429 and "リクエストが多すぎます" in page.get_data(as_text=True)


def test_healthz_is_exempt_from_the_limit(make_app):
    client = make_app(RATELIMIT_APPLICATION="2 per minute").test_client()
    assert [client.get("/healthz").status_code for _ in range(6)] == [200] * 6
    assert [client.get("/api/v1/model").status_code for _ in range(3)] == [200, 200, 429]


def test_the_limit_comes_from_the_environment_and_can_be_turned_off(make_app, monkeypatch):
    monkeypatch.setenv(settings.ENV_RATE_LIMIT, "1 per minute")
    client = make_app().test_client()
    assert [client.get("/api/v1/model").status_code for _ in range(2)] == [200, 429]
    monkeypatch.setenv(settings.ENV_RATE_LIMIT_ENABLED, "0")
    client = make_app().test_client()
    assert [client.get("/api/v1/model").status_code for _ in range(3)] == [200, 200, 200]


def test_the_default_limit_is_documented_in_settings(make_app):
    app = make_app()
    assert app.config["RATELIMIT_APPLICATION"] == settings.DEFAULT_RATE_LIMIT == "600 per minute;50 per second"
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    # memory:// is served by the storage whose counting calls take a lock (limits 5.8.0's own
    # MemoryStorage can start its expiry timer twice from two threads: a 500 under load).
    [limiter] = app.extensions["limiter"]  # Flask-Limiter keeps a set of the app's limiters
    assert type(limiter.storage) is ThreadSafeMemoryStorage


def test_the_memory_storage_counts_one_call_at_a_time():
    storage = ThreadSafeMemoryStorage()
    results: list[int] = []
    with storage._counting:  # another thread is counting
        waiting = threading.Thread(target=lambda: results.append(storage.incr("client", 60)))
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive() and results == []
    waiting.join(5)
    assert results == [1]
    threads = [threading.Thread(target=lambda: [storage.incr("client", 60) for _ in range(500)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert storage.get("client") == 1 + 8 * 500
    assert storage.acquire_entry("window", 2, 60) and storage.acquire_entry("window", 2, 60) and not storage.acquire_entry("window", 2, 60)
    assert storage.decr("client", 1) == 8 * 500


# --- HEAD wherever GET works -------------------------------------------------------------------


def get_urls(app) -> list[str]:
    """One URL per GET route of ``app`` (the plot route with a plot the bundle has)."""
    values = {"name": "confusion_matrix.png", "filename": "style.css", "token": "0" * 32, "ext": "csv"}
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods:
            urls.append(rule.build({arg: values[arg] for arg in rule.arguments})[1])
    return sorted(urls)


def test_head_answers_like_get_without_a_body_on_every_get_route(make_app):
    app = make_app(RATELIMIT_ENABLED=False)
    client = app.test_client()
    urls = get_urls(app)
    assert {"/", "/model", "/model/report", "/model/plots/confusion_matrix.png", "/api/v1/model", "/api/v1/openapi.json", "/healthz", "/static/style.css"} <= set(urls)
    for url in urls:
        get, head = client.get(url), client.head(url)
        assert head.status_code == get.status_code != 405, url
        assert head.headers["Content-Type"] == get.headers["Content-Type"], url
        assert head.get_data() == b"", url


# --- logs --------------------------------------------------------------------------------------


def test_no_log_line_at_info_or_above_holds_the_question(make_app, caplog):
    app = make_app(WTF_CSRF_ENABLED=False)
    client = app.test_client()
    with caplog.at_level(logging.INFO):
        answer = client.post("/api/v1/predict", json={"questions": [SECRET_QUESTION, "返品したい"]}).get_json()
        client.post("/", data={"question": SECRET_QUESTION})
        client.post("/api/v1/predict", json={"question": SECRET_QUESTION, "top_k": 0})  # a 400 does not echo it either
        prediction = answer["predictions"][0]
        feedback = client.post("/api/v1/feedback", json={"prediction_id": prediction["id"], "action": "confirm",
                                                          "category": prediction["category"], "idempotency_key": "k-1"})
    assert feedback.status_code == 201
    lines = [f"{record.name} {record.levelname} {record.getMessage()}" for record in caplog.records if record.levelno >= logging.INFO]
    text = "\n".join(lines)
    for fragment in (SECRET_QUESTION, "佐藤太郎", "090-8765-4321", "AB-1234"):
        assert fragment not in text
