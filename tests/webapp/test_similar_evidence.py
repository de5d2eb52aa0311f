"""Similar past tickets and the words behind a prediction, through the API and the form (Flask test client).

The model is the session's TF-IDF bundle trained on the sample tickets (``tfidf_bundle_dir``),
whose similar-tickets index holds the training tickets with their answers; expected values come
from the loaded bundle itself.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import pytest

from routing.bundle import MANIFEST
from routing.evidence import occlusion
from routing.predictor import load_predictor
from routing.similar import SIMILAR_DIR
from tests.webapp.test_app import ask, assert_json_error, page
from webapp import create_app, settings

QUESTION = "注文した荷物がまだ届きません。いつ届きますか？"


@pytest.fixture(scope="module")
def bundle(tfidf_bundle_dir: Path):
    return load_predictor(tfidf_bundle_dir)


def make_client(model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(settings.ENV_MODEL, raising=False)
    monkeypatch.delenv(settings.ENV_THRESHOLD, raising=False)
    app = create_app({"TESTING": True, "MODEL_PATH": str(model), "DB_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}"})
    return app.test_client()


@pytest.fixture
def client(tfidf_bundle_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    return make_client(tfidf_bundle_dir, tmp_path, monkeypatch)


def test_similar_and_evidence_on_request(client, bundle):
    response = client.post("/api/v1/predict", json={"questions": [QUESTION, "パスワードを忘れました"], "similar": 3, "evidence": True})
    assert response.status_code == 200, page(response)
    for question, prediction in zip([QUESTION, "パスワードを忘れました"], response.get_json()["predictions"]):
        document = bundle.prepare(question)
        expected = bundle.similar.search(document.tokens, prediction["category"], 3)
        assert prediction["similar"] == [t.to_dict() for t in expected]
        assert len(prediction["similar"]) == 3
        assert set(prediction["similar"][0]) == {"id", "question", "answer", "category", "score"}
        assert prediction["evidence"] == [e.to_dict() for e in occlusion(bundle, document, prediction["category"])]
        assert [e["token"] for e in prediction["evidence"]] == document.tokens
    delivery, account = response.get_json()["predictions"]
    assert delivery["category"] == "配送" and delivery["similar"][0]["category"] == "配送"
    assert max(account["evidence"], key=lambda e: e["effect"])["token"] == "パスワード"


def test_nothing_extra_unless_asked(client):
    prediction = client.post("/api/v1/predict", json={"question": QUESTION}).get_json()["predictions"][0]
    assert "similar" not in prediction and "evidence" not in prediction
    prediction = client.post("/api/v1/predict", json={"question": QUESTION, "similar": 0, "evidence": False}).get_json()["predictions"][0]
    assert "similar" not in prediction and "evidence" not in prediction


def test_no_content_gets_empty_lists(client):
    prediction = client.post("/api/v1/predict", json={"question": "-----", "similar": 2, "evidence": True}).get_json()["predictions"][0]
    assert prediction["reason"] == "no_content"
    assert prediction["similar"] == [] and prediction["evidence"] == []


@pytest.mark.parametrize("value", [-1, 11, 2.5, "3", True, None, [3]])
def test_bad_similar_is_400(client, value):
    error = assert_json_error(client.post("/api/v1/predict", json={"question": QUESTION, "similar": value}), 400)
    assert error["message"].startswith('"similar" must be an integer from 0 to 10, not ')
    assert error["message_ja"] == '"similar" は 0 から 10 までの整数にしてください。'


@pytest.mark.parametrize("value", ["true", 1, 0, None, {}])
def test_bad_evidence_is_400(client, value):
    error = assert_json_error(client.post("/api/v1/predict", json={"question": QUESTION, "evidence": value}), 400)
    assert error["message"] == f'"evidence" must be true or false, not {json.dumps(value)}.'
    assert error["message_ja"] == '"evidence" は true か false にしてください。'


def test_evidence_for_too_many_questions_is_400(client):
    error = assert_json_error(client.post("/api/v1/predict", json={"questions": ["荷物が届きません"] * 101, "evidence": True}), 400)
    assert error["message"] == '"evidence" is given for at most 100 questions per request, not 101.'
    assert client.post("/api/v1/predict", json={"questions": ["荷物が届きません"] * 101, "similar": 1}).status_code == 200


def test_the_form_shows_similar_tickets_with_their_answers_and_the_evidence(client, bundle):
    response = ask(client, {"question": QUESTION})
    assert response.status_code == 200
    text = page(response)
    document = bundle.prepare(QUESTION)
    tickets = bundle.similar.search(document.tokens, "配送", 3)
    assert "似ている過去の問い合わせと回答" in text
    for i, ticket in enumerate(tickets, start=1):
        assert f'data-ticket-id="{ticket.id}"' in text
        assert html.escape(ticket.question, quote=False) in text
        assert f'<p class="similar-answer" id="similar-answer-{i}">{html.escape(ticket.answer, quote=False)}</p>' in text
        assert f'data-copy-target="similar-answer-{i}" hidden>回答をコピー</button>' in text
    assert text.count('class="similar-item"') == 3
    assert '<script src="/static/copy.js" defer></script>' in text
    # Every token highlighted, in question order, its effect on hover.
    evidence = occlusion(bundle, document, "配送")
    spans = text.split('<p class="evidence" id="evidence"')[1].split("</p>")[0]
    assert spans.count('class="evidence-token') == len(evidence) == len(document.tokens)
    top = max(evidence, key=lambda e: e.effect)
    assert f'title="影響 {100 * top.effect:+.1f} ポイント（この語を除くと確率が {100 * top.effect:.1f} ポイント下がる）" data-effect="{top.effect}">{top.token}</span>' in spans
    assert 'style="background-color: rgba(26, 127, 82, 0.70)"' in spans  # the largest effect, darkest


def test_the_copy_script_is_served(client):
    response = client.get("/static/copy.js")
    assert response.status_code == 200 and b"navigator.clipboard" in response.data


def test_a_bundle_without_the_index(bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    old = tmp_path / "old"
    shutil.copytree(bundle.path, old)
    shutil.rmtree(old / SIMILAR_DIR)
    manifest = json.loads((old / MANIFEST).read_text(encoding="utf-8"))
    del manifest["similar"]
    (old / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    client = make_client(old, tmp_path, monkeypatch)
    prediction = client.post("/api/v1/predict", json={"question": QUESTION, "similar": 3}).get_json()["predictions"][0]
    assert prediction["category"] == "配送" and prediction["similar"] == []
    text = page(ask(client, {"question": QUESTION}))
    assert "似ている過去の問い合わせと回答" not in text and 'id="evidence"' in text
