"""The Flask app through its test client: every route and every bad input of issue #3.

The model is the session's small demo bundle (``trained_bundle_dir`` in conftest.py); expected
values come from ``load_bundle(...).predict`` on the same questions. CSRF protection is on, as in
production: form posts carry the token of the rendered form (:func:`ask`). Each app gets its own
feedback database in the test's tmp_path.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from routing.bundle import PLOTS
from routing.predictor import load_predictor as load_bundle
from webapp import create_app, settings
from webapp.serve import gunicorn_options
from tests.bundles import copy_models

QUESTION = "注文した商品がまだ届きません。いつ発送されますか？"
QUESTIONS = [
    "パスワードを忘れてしまい、ログインできません。",
    "クレジットカードの支払いが二重に請求されています",
    "届いた商品が壊れていたので返品したいです",
]
REVIEW = "要確認：担当者が振り分けてください"


@pytest.fixture(scope="module")
def bundle(trained_bundle_dir: Path):
    """The session's bundle, loaded once for expected values."""
    return load_bundle(trained_bundle_dir)


@pytest.fixture
def make_app(trained_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Build an app on the session's bundle with extra config (environment variables cleared)."""
    monkeypatch.delenv(settings.ENV_MODEL, raising=False)
    monkeypatch.delenv(settings.ENV_THRESHOLD, raising=False)

    def make(**config):
        db = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
        return create_app({"TESTING": True, "MODEL_PATH": str(trained_bundle_dir), "DB_URL": db, **config})

    return make


@pytest.fixture
def app(make_app):
    """The app with the default settings."""
    return make_app()


@pytest.fixture
def client(app):
    """A test client of :func:`app`."""
    return app.test_client()


def page(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def form_token(html: str) -> str:
    """The CSRF token of the first form of a rendered page."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def session_token(client) -> str:
    """A CSRF token valid for the client's session, for an app whose pages render no form (no model)."""
    from flask import session
    from flask_wtf.csrf import generate_csrf

    with client.application.test_request_context():
        token = generate_csrf()
        raw = session["csrf_token"]
    with client.session_transaction() as client_session:
        client_session["csrf_token"] = raw
    return token


def ask(client, data: dict | None = None, **kwargs):
    """Post the question form as a browser does: with the token of the form rendered by ``GET /``."""
    token = form_token(page(client.get("/")))
    return client.post("/", data={**(data or {}), "csrf_token": token}, **kwargs)


def assert_json_error(response, code: int) -> dict:
    """Check the JSON error shape and return the ``error`` object."""
    assert response.status_code == code, page(response)
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"] and error["message_ja"]
    assert "Traceback" not in page(response)
    return error


# --- the form page -------------------------------------------------------------------------


def test_index_shows_an_empty_form(client):
    response = client.get("/")
    assert response.status_code == 200
    html = page(response)
    assert '<label for="question"' in html and 'id="question"' in html
    assert ">質問する</button>" in html
    assert "/static/style.css" in html
    assert 'id="result"' not in html


def test_static_css_is_served(client):
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert b".bar-fill" in response.data


def test_form_shows_prediction_top3_and_seen_text(make_app, bundle):
    client = make_app(THRESHOLD=0.0).test_client()
    expected = bundle.predict([QUESTION], 3)[0]
    analysis = bundle.analyze(bundle.prepare(QUESTION))
    response = ask(client, {"question": QUESTION})
    assert response.status_code == 200
    html = page(response)
    assert f'data-category="{expected.category}"' in html
    assert f'<p class="answer-category" id="predicted-category">{expected.category}</p>' in html
    assert f"{100 * expected.probability:.1f}%" in html
    for category, probability in expected.top_k:
        assert f'<span class="bar-label">{category}</span>' in html
        assert f'style="width: {100 * probability:.1f}%"' in html
    assert html.count('class="bar-row') == 3
    assert REVIEW not in html
    # The question stays in the textarea; the seen text is in a <details> section.
    assert f"{QUESTION}</textarea>" in html
    assert "<details" in html and analysis.cleaned in html
    assert html.count('class="token') >= len(analysis.tokens)


def test_form_below_threshold_asks_for_a_person(make_app, bundle):
    client = make_app(THRESHOLD=1.0).test_client()
    expected = bundle.predict([QUESTION], 3)[0]
    html = page(ask(client, {"question": QUESTION}))
    assert REVIEW in html
    assert "予測カテゴリ" not in html
    assert "しきい値 100%" in html
    for category, _ in expected.top_k:
        assert f'<span class="bar-label">{category}</span>' in html


def test_form_marks_out_of_vocabulary_tokens(client, bundle):
    question = "ザクザクポヨン機能が動きません"
    analysis = bundle.analyze(bundle.prepare(question))
    assert any(analysis.out_of_vocabulary), "the made-up word should be unknown to the model"
    html = page(ask(client, {"question": question}))
    assert html.count("token token-oov") == sum(analysis.out_of_vocabulary) + 1  # + the legend sample
    assert "（未知語）" in html


def test_form_escapes_html(client):
    question = '<script>alert("x")</script>ログインできません'
    response = ask(client, {"question": question})
    assert response.status_code == 200
    html = page(response)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;ログインできません</textarea>" in html


def test_form_keeps_a_leading_newline_in_the_textarea(client):
    # HTML drops one newline right after <textarea>; the template writes one so the question's own stays.
    html = page(ask(client, {"question": "\n返品したい"}))
    assert '例：注文した商品がまだ届きません。いつ発送されますか？">\n\n返品したい</textarea>' in html


@pytest.mark.parametrize("question", ["", "   ", "\n\t\u3000 "], ids=["empty", "spaces", "whitespace"])
def test_form_empty_question_is_a_message(client, question):
    response = ask(client, {"question": question})
    assert response.status_code == 400
    html = page(response)
    assert "質問が空です" in html and 'role="alert"' in html
    assert 'id="result"' not in html
    assert ">質問する</button>" in html


def test_form_without_the_field_is_a_message(client):
    response = ask(client, {})
    assert response.status_code == 400
    assert "質問が空です" in page(response)


def test_form_question_of_5000_characters_is_accepted_and_5001_refused(client):
    assert ask(client, {"question": "配送" * 2500}).status_code == 200
    response = ask(client, {"question": "配送" * 2500 + "!"})
    assert response.status_code == 400
    html = page(response)
    assert "長すぎます" in html and "5,001" in html and "5,000" in html


def test_form_question_without_words_goes_to_review_with_no_content(client):
    response = ask(client, {"question": "-----"})
    assert response.status_code == 200
    html = page(response)
    assert REVIEW in html and 'data-reason="no_content"' in html and 'data-category=""' in html
    assert "質問に言葉が含まれていません" in html and 'class="bars"' not in html


def test_form_with_non_utf8_bytes_is_not_a_server_error(client):
    token = form_token(page(client.get("/")))
    response = client.post("/", data=b"question=%FF%FE%E3%81%82&csrf_token=" + token.encode(), content_type="application/x-www-form-urlencoded")
    assert response.status_code in (200, 400)
    assert "Traceback" not in page(response)


def test_pages_send_security_headers(client):
    response = client.get("/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


# --- the JSON API --------------------------------------------------------------------------


def test_api_single_question_matches_the_bundle(client, bundle, app):
    expected = bundle.predict([QUESTION], 3)[0]
    response = client.post("/api/v1/predict", json={"question": QUESTION})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["model_version", "predictions"]
    assert body["model_version"] == bundle.version
    [prediction] = body["predictions"]
    # "id" first: the prediction's id in the log (32 hex characters), for feedback about it.
    assert list(prediction) == ["id", "category", "probability", "needs_review", "reason", "top_k"]
    assert re.fullmatch(r"[0-9a-f]{32}", prediction["id"])
    assert prediction["category"] == expected.category
    assert prediction["probability"] == pytest.approx(expected.probability, rel=1e-6)
    assert prediction["needs_review"] is expected.needs_review and prediction["reason"] == expected.reason
    top = prediction["top_k"]
    assert [t["category"] for t in top] == [c for c, _ in expected.top_k]
    assert [t["probability"] for t in top] == pytest.approx([p for _, p in expected.top_k], rel=1e-6)
    probabilities = [t["probability"] for t in top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) <= 1 + 1e-6
    assert top[0] == {"category": prediction["category"], "probability": prediction["probability"]}


def test_api_questions_keep_their_order(client, bundle):
    response = client.post("/api/v1/predict", json={"questions": QUESTIONS})
    assert response.status_code == 200
    predictions = response.get_json()["predictions"]
    assert len(predictions) == len(QUESTIONS)
    for question, prediction in zip(QUESTIONS, predictions):
        expected = bundle.predict([question], 3)[0]
        assert prediction["category"] == expected.category
        assert prediction["probability"] == pytest.approx(expected.probability, abs=1e-5)


def test_api_batch_routed_by_length_answers_in_the_input_order(client, bundle):
    """A call with more questions than one chunk, of mixed lengths (the batch is routed sorted by
    token count, webapp.scheduling.route_batch): each answer is the one of that question alone."""
    from preprocessing.datasets import load_tickets
    from tests.paths import SAMPLE_TICKETS

    questions = [t.question for t in load_tickets(str(SAMPLE_TICKETS)).tickets[:45]] + ["＝＝＝", "返品"]
    lengths = [len(bundle.prepare(q).tokens) for q in questions]
    assert lengths != sorted(lengths) and len(set(lengths)) > 10  # the sort moves questions across chunks
    response = client.post("/api/v1/predict", json={"questions": questions, "top_k": 2})
    assert response.status_code == 200
    predictions = response.get_json()["predictions"]
    assert len(predictions) == len(questions)
    assert len({p["probability"] for p in predictions}) > 20  # answers differ: a shuffle would show
    for question, prediction in zip(questions, predictions):
        expected = bundle.predict([question], 2)[0]
        assert (prediction["category"], prediction["reason"]) == (expected.category, expected.reason)
        assert prediction["probability"] == pytest.approx(expected.probability, abs=1e-5)


def test_api_accepts_1000_questions(client):
    response = client.post("/api/v1/predict", json={"questions": [f"注文番号{i}の配送状況を教えてください" for i in range(1000)]})
    assert response.status_code == 200
    assert len(response.get_json()["predictions"]) == 1000


@pytest.mark.parametrize("top_k", [1, 2, 100])
def test_api_top_k(client, bundle, top_k):
    response = client.post("/api/v1/predict", json={"question": QUESTION, "top_k": top_k})
    assert response.status_code == 200
    top = response.get_json()["predictions"][0]["top_k"]
    assert len(top) == min(top_k, len(bundle.categories))
    if top_k >= len(bundle.categories):
        assert sorted(t["category"] for t in top) == sorted(bundle.categories)
        assert sum(t["probability"] for t in top) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("threshold, needs_review", [(0.0, False), (1.0, True)])
def test_api_needs_review_follows_the_threshold(make_app, threshold, needs_review):
    client = make_app(THRESHOLD=threshold).test_client()
    prediction = client.post("/api/v1/predict", json={"question": QUESTION}).get_json()["predictions"][0]
    assert prediction["needs_review"] is needs_review


def test_api_html_in_a_question_is_data(client):
    response = client.post("/api/v1/predict", json={"question": "<script>alert(1)</script>返品したい"})
    assert response.status_code == 200
    assert response.mimetype == "application/json"


BAD_BODIES = {
    "empty question": {"question": ""},
    "whitespace question": {"question": " \n\t\u3000"},
    "too long": {"question": "あ" * 5001},
    "number question": {"question": 123},
    "null question": {"question": None},
    "list as question": {"question": ["返品したい"]},
    "questions not a list": {"questions": "返品したい"},
    "questions empty": {"questions": []},
    "questions with a number": {"questions": ["返品したい", 5]},
    "questions with an empty one": {"questions": ["返品したい", "  "]},
    "too many questions": {"questions": ["返品したい"] * 1001},
    "both fields": {"question": "返品したい", "questions": ["返品したい"]},
    "neither field": {"text": "返品したい"},
    "unknown field": {"question": "返品したい", "topk": 2},
    "top_k zero": {"question": "返品したい", "top_k": 0},
    "top_k string": {"question": "返品したい", "top_k": "3"},
    "top_k boolean": {"question": "返品したい", "top_k": True},
    "top_k float": {"question": "返品したい", "top_k": 1.5},
    "NUL character": {"question": "返品\u0000したい"},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_api_bad_json_bodies_are_400(client, body):
    assert_json_error(client.post("/api/v1/predict", json=body), 400)


def test_api_error_names_the_bad_question(client):
    error = assert_json_error(client.post("/api/v1/predict", json={"questions": ["返品したい", "", "配送"]}), 400)
    assert error["index"] == 1
    assert "Question 1" in error["message"]



def test_api_questions_without_words_get_no_content_like_every_entry_point(client, bundle):
    response = client.post("/api/v1/predict", json={"questions": ["返品したい", "=====", "配送", "＊＊＊", "😢😢"]})
    assert response.status_code == 200
    predictions = response.get_json()["predictions"]
    no_content = {"category": None, "probability": None, "needs_review": True, "reason": "no_content", "top_k": []}
    assert [{k: v for k, v in predictions[i].items() if k != "id"} for i in (1, 3, 4)] == [no_content] * 3
    assert len({p["id"] for p in predictions}) == 5  # logged too, each with its own id
    assert predictions[0]["category"] == bundle.predict(["返品したい"])[0].category


def test_api_too_long_message_gives_the_numbers(client):
    error = assert_json_error(client.post("/api/v1/predict", json={"question": "あ" * 5001}), 400)
    assert "5,001" in error["message"] and "5,000" in error["message"]


BAD_BYTES = {
    "invalid JSON": '{"question": "返品'.encode(),
    "JSON array": json.dumps(["返品したい"]).encode(),
    "JSON string": b'"hello"',
    "empty body": b"",
    "not UTF-8": '{"question": "返品したい"}'.encode("shift_jis"),
    "lone surrogate": b'{"question": "\\ud800\xe8\xbf\x94\xe5\x93\x81"}',
    "deep nesting": b"[" * 100000 + b"]" * 100000,
    "form-encoded": "question=返品したい".encode(),
}


@pytest.mark.parametrize("data", BAD_BYTES.values(), ids=BAD_BYTES.keys())
def test_api_bad_bytes_are_400(client, data):
    assert_json_error(client.post("/api/v1/predict", data=data, content_type="application/json"), 400)


def test_api_non_utf8_message(client):
    error = assert_json_error(client.post("/api/v1/predict", data='{"question": "返品"}'.encode("shift_jis"), content_type="application/json"), 400)
    assert "UTF-8" in error["message"]


def test_api_body_over_the_limit_is_413(client, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == settings.MAX_CONTENT_LENGTH
    data = b'{"question": "' + b"a" * limit + b'"}'
    error = assert_json_error(client.post("/api/v1/predict", data=data, content_type="application/json"), 413)
    assert f"{limit:,}" in error["message"]


def test_api_chunked_body_over_the_limit_is_413(make_app):
    client = make_app(MAX_CONTENT_LENGTH=1000).test_client()
    data = json.dumps({"question": "返品" * 400}, ensure_ascii=False).encode()
    # Transfer-Encoding: chunked (no Content-Length); the server terminates the stream, as gunicorn says.
    chunked = {"headers": {"Transfer-Encoding": "chunked"}, "environ_overrides": {"wsgi.input_terminated": True}}
    assert_json_error(client.post("/api/v1/predict", data=data, content_type="application/json", **chunked), 413)
    small = json.dumps({"question": "返品したい"}, ensure_ascii=False).encode()
    assert client.post("/api/v1/predict", data=small, content_type="application/json", **chunked).status_code == 200


def test_api_configured_body_limit(make_app):
    client = make_app(MAX_CONTENT_LENGTH=1000).test_client()
    assert client.post("/api/v1/predict", json={"question": "返品したい"}).status_code == 200
    assert_json_error(client.post("/api/v1/predict", json={"question": "返品" * 400}), 413)


def test_api_wrong_method_and_unknown_route_are_json(client):
    assert_json_error(client.get("/api/v1/predict"), 405)
    assert_json_error(client.get("/api/v1/nothing"), 404)


def test_unexpected_error_is_a_500_without_traceback(client, app, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(app.extensions["toiawase"].predictor, "predict_documents", boom)
    error = assert_json_error(client.post("/api/v1/predict", json={"question": QUESTION}), 500)
    assert "secret" not in error["message"]
    response = ask(client, {"question": QUESTION})
    assert response.status_code == 500 and "secret" not in page(response) and "エラー 500" in page(response)


def test_api_model(client, bundle, app):
    response = client.get("/api/v1/model")
    assert response.status_code == 200
    body = response.get_json()
    assert body["model_version"] == bundle.version
    assert body["categories"] == bundle.categories
    assert body["created_at"] == bundle.created_at
    assert app.config["THRESHOLD"] is settings.DEFAULT_THRESHOLD is None  # the bundle's threshold is used
    assert body["threshold"] == bundle.review.threshold and body["margin"] == bundle.review.margin
    metrics = body["metrics"]
    assert metrics["accuracy"] == pytest.approx(bundle.metrics["accuracy"])
    assert metrics["macro_f1"] == pytest.approx(bundle.metrics["macro_f1"])
    assert metrics["validation_examples"] == bundle.metrics["n"]
    baseline = metrics["baselines"]["tfidf_word_logreg"]
    assert baseline["macro_f1"] == pytest.approx(bundle.metrics["baselines"]["tfidf_word_logreg"]["macro_f1"])


def test_healthz(client, bundle):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "model_version": bundle.version, "feedback_store": "ok"}


# --- the model page ------------------------------------------------------------------------


def test_model_page(client, bundle):
    response = client.get("/model")
    assert response.status_code == 200
    html = page(response)
    metrics = bundle.metrics
    baseline = metrics["baselines"]["tfidf_word_logreg"]
    assert bundle.version in html
    for value in (metrics["accuracy"], metrics["macro_f1"], baseline["accuracy"], baseline["macro_f1"]):
        assert f"{100 * value:.1f}%" in html
    assert "TF-IDF" in html
    for category, row in metrics["per_category"].items():
        assert f'<th scope="row">{category}</th>' in html
        assert f"{100 * row['f1']:.1f}%" in html
    for name in PLOTS:
        assert f"/model/plots/{name}?v={bundle.version}" in html


def percent(value: float) -> str:
    """A fraction as the page's ``percent`` filter writes it (``0.6923`` → ``"69.2%"``)."""
    return f"{100 * value:.1f}%"


def test_model_page_shows_calibration_and_the_operating_point(client, bundle):
    html = page(client.get("/model"))
    calibration, review, holdout = bundle.metrics["calibration"], bundle.metrics["review"], bundle.manifest["review"]
    assert "信頼度の較正 (calibration)" in html and "要確認への振り分け (review routing)" in html
    ece = f'<dd id="ece">{percent(calibration["ece_before"])} → {percent(calibration["ece_after"])}</dd>'
    assert ece in html
    assert f"<dd>{calibration['temperature']:.3f}</dd>" in html
    assert "確信度を 15 区間に等分" in html
    if review["auto_accuracy"] is None:
        sentence = "検証データでは自動で振り分けた質問がなく、すべて担当者が確認します。"
    else:
        sentence = (f"検証データの {percent(review['coverage'])} を自動で振り分け、"
                    f"その正解率は {percent(review['auto_accuracy'])}。残りは担当者が確認します。")
    assert f'<p class="lead" id="operating-point">{sentence}</p>' in html
    # One row per reason, with its count and share of the validation questions.
    rows = re.findall(r'<th scope="row" title="[^"]+">要確認：(\S+) <small><code>(\w+)</code></small></th><td class="num">(\d+)</td><td class="num">([^<]+)</td>', html)
    labels = {"no_content": "内容なし", "out_of_scope": "対象外", "ambiguous": "候補が拮抗", "low_confidence": "確信度が低い"}
    assert rows == [(labels[r], r, str(c), percent(c / review["n"])) for r, c in review["reasons"].items()]
    assert f'<td class="num">{review["auto_routed"]}</td><td class="num">{percent(review["auto_routed"] / review["n"])}</td>' in html
    # The holdout figures of bundle.json: the threshold chosen there, its target and operating point.
    assert f"<dt>しきい値（学習時に選択）</dt><dd>{percent(holdout['threshold'])}</dd>" in html
    assert f"<dt>目標の正解率</dt><dd>{percent(holdout['target_precision'])}</dd>" in html
    assert (f'<dd id="holdout-operating-point">{percent(holdout["holdout_coverage"])}'
            f'<small>正解率 {percent(holdout["holdout_accuracy"])}</small></dd>') in html
    assert "運用中のしきい値は設定で" not in html  # the bundle's own threshold is in force
    assert 'alt="信頼度図（横軸：確信度の区間' in html and "<figcaption>信頼度図（検証データ、較正前と較正後）</figcaption>" in html
    assert 'alt="カバー率と正解率の曲線' in html


def test_model_page_says_when_the_threshold_is_overridden(make_app, bundle):
    html = page(make_app(THRESHOLD=0.35).test_client().get("/model"))
    assert "運用中のしきい値は設定で 35.0% に変更されています" in html
    assert f"<dt>しきい値（学習時に選択）</dt><dd>{percent(bundle.manifest['review']['threshold'])}</dd>" in html


@pytest.fixture
def edited_bundle(trained_bundle_dir, tmp_path, monkeypatch):
    """A copy of the session's models directory and its current bundle's directory, for tests that
    edit the bundle; ``client()`` then serves the copy."""
    monkeypatch.delenv(settings.ENV_MODEL, raising=False)
    monkeypatch.delenv(settings.ENV_THRESHOLD, raising=False)
    models = copy_models(trained_bundle_dir, tmp_path / "models")

    def client():
        return create_app({"TESTING": True, "MODEL_PATH": str(models), "DB_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}"}).test_client()

    return models / os.readlink(models / "current"), client


def edit_json(path: Path, edit) -> None:
    """Rewrite the JSON file ``path`` with ``edit(data)``'s result."""
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(edit(data), ensure_ascii=False), encoding="utf-8")


def test_model_page_shows_the_recalibration_after_the_temperature(edited_bundle):
    """Metrics with the ECE of the temperature alone; a bundle with a top-label recalibration (slope,
    intercept), shown as the predictor applies it (bundle.json), whatever metrics.json says of it."""
    bundle_dir, client = edited_bundle
    edit_json(bundle_dir / "metrics.json", lambda m: {
        **m, "calibration": {**m["calibration"], "ece_temperature": 0.0734, "top_label": "damaged"}})
    edit_json(bundle_dir / "bundle.json", lambda b: {
        **b, "calibration": {**b["calibration"], "top_label": {"slope": 1.25, "intercept": -0.125}}})
    html = page(client().get("/model"))
    assert "<dt>ECE（温度スケーリングのみ）</dt><dd>7.3%</dd>" in html
    assert "<dt>確信度の再較正</dt><dd>傾き 1.250、切片 -0.125</dd>" in html
    assert "温度スケーリング（Guo et al. 2017）と確信度の再較正で較正しています" in html


def test_model_page_of_a_bundle_without_calibration_or_review(edited_bundle):
    """An older bundle: metrics without ``calibration``/``review``, bundle.json without ``review``
    and ``calibration``, none of the two new plots. The page renders without those cards."""
    bundle_dir, client = edited_bundle
    for name in ("metrics.json", "bundle.json"):
        assert {"calibration", "review"} <= set(json.loads((bundle_dir / name).read_text(encoding="utf-8")))
        edit_json(bundle_dir / name, lambda data: {k: v for k, v in data.items() if k not in ("calibration", "review")})
    for name in ("reliability_diagram.png", "risk_coverage.png"):
        (bundle_dir / name).unlink()
    client = client()
    response = client.get("/model")
    assert response.status_code == 200
    html = page(response)
    assert "calibration-heading" not in html and "review-heading" not in html and 'id="operating-point"' not in html
    assert "/model/plots/confusion_matrix.png" in html and "/model/plots/training_curves.png" in html
    assert "reliability_diagram.png" not in html and "risk_coverage.png" not in html
    assert client.get("/model/plots/reliability_diagram.png").status_code == 404


@pytest.mark.parametrize("name", PLOTS)
def test_plots_are_served_from_the_bundle(client, bundle, name):
    response = client.get(f"/model/plots/{name}")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data == bundle.plot_path(name).read_bytes()


@pytest.mark.parametrize("name", ["bundle.json", "..%2Fbundle.json", "nothing.png"])
def test_other_bundle_files_are_not_served(client, name):
    response = client.get(f"/model/plots/{name}")
    assert response.status_code == 404
    assert "ページが見つかりません" in page(response)


# --- without a model -----------------------------------------------------------------------


@pytest.fixture
def empty_client(tmp_path, monkeypatch):
    """A client of an app whose models directory does not exist."""
    monkeypatch.delenv(settings.ENV_MODEL, raising=False)
    return create_app({"TESTING": True, "MODEL_PATH": str(tmp_path / "models")}).test_client()


@pytest.mark.parametrize("method, path", [("get", "/"), ("post", "/"), ("get", "/model")])
def test_pages_without_a_model_say_how_to_train(empty_client, method, path):
    data = {"question": QUESTION, "csrf_token": session_token(empty_client)} if method == "post" else None
    response = getattr(empty_client, method)(path, data=data)
    assert response.status_code == 503
    html = page(response)
    assert "toiawase train --data FILE --out models" in html
    assert "make serve" in html
    assert "Traceback" not in html


def test_api_without_a_model_is_503(empty_client):
    error = assert_json_error(empty_client.post("/api/v1/predict", json={"question": QUESTION}), 503)
    assert "toiawase train" in error["message"]
    assert_json_error(empty_client.get("/api/v1/model"), 503)
    response = empty_client.get("/healthz")
    assert response.status_code == 503 and response.get_json()["status"] == "no_model"
    assert response.get_json()["feedback_store"] == "ok"  # the store opens without a model
    assert empty_client.get("/model/plots/confusion_matrix.png").status_code == 404


# --- configuration -------------------------------------------------------------------------


def test_model_and_threshold_from_the_environment(trained_bundle_dir, monkeypatch, bundle, tmp_path):
    monkeypatch.setenv("TOIAWASE_DB", f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    monkeypatch.setenv(settings.ENV_MODEL, str(trained_bundle_dir))
    monkeypatch.setenv(settings.ENV_THRESHOLD, "0.75")
    app = create_app({"TESTING": True})
    assert app.config["THRESHOLD"] == 0.75
    assert app.extensions["toiawase"].predictor.version == bundle.version
    # create_app's config wins over the environment.
    assert create_app({"THRESHOLD": 0.2}).config["THRESHOLD"] == 0.2


@pytest.mark.parametrize("value", ["abc", "1.5", "-0.1"])
def test_bad_threshold_is_refused_at_start(trained_bundle_dir, monkeypatch, value):
    monkeypatch.setenv(settings.ENV_THRESHOLD, value)
    with pytest.raises(ValueError, match=settings.ENV_THRESHOLD):
        create_app({"MODEL_PATH": str(trained_bundle_dir)})


def test_gunicorn_workers_load_the_model_after_fork():
    options = gunicorn_options("127.0.0.1", 8000, 2)
    assert options["preload_app"] is False
    assert options["bind"] == "127.0.0.1:8000" and options["workers"] == 2


# --- a second model kind through the same pages and API ----------------------------------------


def test_a_tfidf_model_serves_through_the_same_form_and_api(tfidf_bundle_dir, monkeypatch, tmp_path):
    monkeypatch.delenv(settings.ENV_MODEL, raising=False)
    monkeypatch.delenv(settings.ENV_THRESHOLD, raising=False)
    predictor = load_bundle(tfidf_bundle_dir)
    db = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    client = create_app({"TESTING": True, "MODEL_PATH": str(tfidf_bundle_dir), "DB_URL": db}).test_client()
    expected = [p.to_dict() for p in predictor.predict(QUESTIONS, 3)]
    body = client.post("/api/v1/predict", json={"questions": QUESTIONS}).get_json()
    assert body["model_version"] == predictor.version
    assert [{k: v for k, v in p.items() if k != "id"} for p in body["predictions"]] == expected
    info = client.get("/api/v1/model").get_json()
    assert info["model_kind"] == "tfidf" and info["categories"] == predictor.categories
    html = page(ask(client, {"question": QUESTIONS[0]}))
    assert f'data-category="{expected[0]["category"]}"' in html
    model_html = page(client.get("/model"))
    assert "TF-IDF＋ロジスティック回帰" in model_html and predictor.version in model_html
    assert "最大トークン数" not in model_html  # the tfidf kind reads every token


def test_a_hybrid_model_serves_through_the_same_form_and_api(hybrid_bundle_dir, monkeypatch, tmp_path):
    monkeypatch.delenv(settings.ENV_MODEL, raising=False)
    monkeypatch.delenv(settings.ENV_THRESHOLD, raising=False)
    predictor = load_bundle(hybrid_bundle_dir)
    db = f"sqlite:///{tmp_path / 'feedback.sqlite3'}"
    client = create_app({"TESTING": True, "MODEL_PATH": str(hybrid_bundle_dir), "DB_URL": db}).test_client()
    expected = [p.to_dict() for p in predictor.predict(QUESTIONS, 3)]
    body = client.post("/api/v1/predict", json={"questions": QUESTIONS}).get_json()
    assert [{k: v for k, v in p.items() if k != "id"} for p in body["predictions"]] == expected
    assert client.get("/api/v1/model").get_json()["model_kind"] == "hybrid"
    html = page(ask(client, {"question": QUESTIONS[0]}))
    assert f'data-category="{expected[0]["category"]}"' in html
    model_html = page(client.get("/model"))
    assert "LSTM＋n-gram線形モデル" in model_html and predictor.version in model_html
    assert "最大トークン数" not in model_html  # the n-gram member reads every token
