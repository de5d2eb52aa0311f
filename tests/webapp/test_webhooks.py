"""Inbound messages: ``POST /webhooks/twilio`` and ``POST /webhooks/json`` through Flask's test client.

Signatures are made here independently of the app: Twilio's with the ``twilio`` package's own
``RequestValidator.compute_signature`` (what Twilio's servers compute), the JSON one with
``hmac`` directly. CSRF protection is on, as served: the webhooks must pass without a token.
The answers are checked against the session's bundle; the logged rows are read back from the
real SQLite store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from feedback import FeedbackStore
from feedback.privacy import mask_question
from routing.predictor import load_predictor as load_bundle
from webapp import settings

TOKEN = "twilio-auth-token-for-tests-0123456789"
SECRET = "共有シークレット-for-tests"
URL = "http://localhost/webhooks/twilio"
PHONE = "+819012345678"
CANDIDATES = [
    "注文した商品がまだ届きません。いつ発送されますか？",
    "パスワードを忘れてしまい、ログインできません。",
    "クレジットカードの支払いが二重に請求されています",
    "届いた商品が壊れていたので返品したいです",
]


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (settings.ENV_MODEL, settings.ENV_THRESHOLD, settings.ENV_SECRET_KEY, "TOIAWASE_DB", *settings.WEBHOOK_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def bundle(trained_bundle_dir: Path):
    return load_bundle(trained_bundle_dir)


@pytest.fixture
def make_app(make_app):
    """The apps of tests/webapp/conftest.py, routing every question (threshold 0)."""
    return lambda **config: make_app(**{"THRESHOLD": 0.0, **config})


@pytest.fixture
def client(make_app):
    return make_app(TWILIO_AUTH_TOKEN=TOKEN, WEBHOOK_SECRET=SECRET).test_client()


@pytest.fixture
def confident(bundle) -> str:
    """A question the bundle routes without review at threshold 0."""
    for question in CANDIDATES:
        if not bundle.predict([question], 3, threshold=0.0)[0].needs_review:
            return question
    pytest.fail("the demo bundle finds every candidate ambiguous")


def sms(body: str) -> dict[str, str]:
    """The fields Twilio posts for an incoming SMS (Twilio docs, "Messaging webhook request")."""
    return {
        "MessageSid": "SM0123456789abcdef0123456789abcdef", "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "From": PHONE, "To": "+815012345678", "Body": body, "NumMedia": "0",
    }


def twilio_signature(url: str, fields: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, fields)


def hmac_header(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def logged(db_url: str) -> list[tuple[str, str, str | None]]:
    with FeedbackStore.open(db_url) as store, store.engine.connect() as conn:
        from sqlalchemy import text

        return [tuple(row) for row in conn.execute(text("SELECT source, question, category FROM predictions ORDER BY created_at"))]


# --- Twilio ------------------------------------------------------------------------------------


def test_a_signed_sms_is_answered_with_twiml_naming_the_category(client, bundle, confident, db_url) -> None:
    fields = sms(confident)
    answer = client.post("/webhooks/twilio", data=fields, headers={"X-Twilio-Signature": twilio_signature(URL, fields)})
    category = bundle.predict([confident], 3, threshold=0.0)[0].category

    assert answer.status_code == 200
    assert answer.mimetype == "application/xml"
    assert answer.get_data(as_text=True) == (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>お問い合わせを「{category}」に振り分けました。</Message></Response>'
    )
    assert logged(db_url) == [("twilio", mask_question(confident, bundle.settings.rules), category)]  # stored masked, NFKC
    assert all(PHONE not in str(row) for row in logged(db_url))


def test_a_message_that_needs_review_says_a_person_will_route_it(client, db_url) -> None:
    fields = sms("-----")  # no words: reason no_content
    answer = client.post("/webhooks/twilio", data=fields, headers={"X-Twilio-Signature": twilio_signature(URL, fields)})
    assert answer.get_data(as_text=True) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>お問い合わせを受け付けました。担当者が内容を確認して振り分けます。</Message></Response>'
    )
    assert logged(db_url) == [("twilio", "-----", None)]


def test_an_empty_sms_is_told_so_in_twiml(client, db_url) -> None:
    fields = sms("  ")
    answer = client.post("/webhooks/twilio", data=fields, headers={"X-Twilio-Signature": twilio_signature(URL, fields)})
    assert answer.status_code == 200
    assert answer.get_data(as_text=True) == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>質問が空です。質問を入力してください。</Message></Response>'
    )
    assert logged(db_url) == []


@pytest.mark.parametrize("case", ["missing", "other token", "body changed", "other url"])
def test_unsigned_or_wrongly_signed_sms_are_refused(client, confident, db_url, case) -> None:
    fields = sms(confident)
    headers = {
        "missing": {},
        "other token": {"X-Twilio-Signature": twilio_signature(URL, fields, token="someone-elses-token")},
        "body changed": {"X-Twilio-Signature": twilio_signature(URL, sms("別の質問です"))},
        "other url": {"X-Twilio-Signature": twilio_signature("https://toiawase.example.jp/webhooks/twilio", fields)},
    }[case]
    answer = client.post("/webhooks/twilio", data=fields, headers=headers)
    assert answer.status_code == 403
    error = answer.get_json()["error"]
    if case == "missing":
        assert error["message"] == "The request is not signed: the X-Twilio-Signature header is missing."
        assert error["message_ja"] == "署名がありません（X-Twilio-Signature ヘッダーがありません）。"
    else:
        assert error["message"] == "The X-Twilio-Signature signature does not match this request."
    assert logged(db_url) == []


def test_behind_a_proxy_the_public_url_is_the_one_signed(make_app, confident) -> None:
    public = "https://toiawase.example.jp"
    client = make_app(TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_URL=public + "/").test_client()
    fields = sms(confident)
    signed = {"X-Twilio-Signature": twilio_signature(public + "/webhooks/twilio", fields)}
    assert client.post("/webhooks/twilio", data=fields, headers=signed).status_code == 200
    # Signed for the URL the app sees, not the public one: refused.
    assert client.post("/webhooks/twilio", data=fields, headers={"X-Twilio-Signature": twilio_signature(URL, fields)}).status_code == 403


def test_without_a_configured_token_nothing_is_accepted(make_app, confident, db_url) -> None:
    client = make_app().test_client()
    fields = sms(confident)
    for headers in ({}, {"X-Twilio-Signature": twilio_signature(URL, fields)}):
        answer = client.post("/webhooks/twilio", data=fields, headers=headers)
        assert answer.status_code == 503
        assert "set TOIAWASE_TWILIO_AUTH_TOKEN" in answer.get_json()["error"]["message"]
    assert logged(db_url) == []


# --- JSON --------------------------------------------------------------------------------------


def test_a_signed_json_message_is_answered_like_the_predict_api(client, bundle, confident, db_url) -> None:
    body = json.dumps({"text": confident}, ensure_ascii=False).encode("utf-8")
    answer = client.post("/webhooks/json", data=body, content_type="application/json", headers={"X-Toiawase-Signature": hmac_header(body)})
    expected = bundle.predict([confident], 3, threshold=0.0)[0].to_dict()

    assert answer.status_code == 200
    data = answer.get_json()
    assert list(data) == ["model_version", "predictions"] and data["model_version"] == bundle.version
    [prediction] = data["predictions"]
    assert len(prediction["id"]) == 32
    assert {k: v for k, v in prediction.items() if k != "id"} == json.loads(json.dumps(expected, ensure_ascii=False))
    assert logged(db_url) == [("webhook", mask_question(confident, bundle.settings.rules), expected["category"])]


@pytest.mark.parametrize("case", ["missing", "other secret", "body changed", "no prefix"])
def test_unsigned_or_wrongly_signed_json_is_refused(client, confident, db_url, case) -> None:
    body = json.dumps({"text": confident}, ensure_ascii=False).encode("utf-8")
    header = {
        "missing": None,
        "other secret": hmac_header(body, secret="別の秘密"),
        "body changed": hmac_header(body + b" "),
        "no prefix": hmac_header(body).removeprefix("sha256="),
    }[case]
    answer = client.post("/webhooks/json", data=body, content_type="application/json", headers={} if header is None else {"X-Toiawase-Signature": header})
    assert answer.status_code == 403
    message = answer.get_json()["error"]["message"]
    assert message == ("The request is not signed: the X-Toiawase-Signature header is missing." if case == "missing"
                       else "The X-Toiawase-Signature signature does not match this request.")
    assert logged(db_url) == []


def test_signed_bad_json_is_400_with_a_message(client) -> None:
    for body, message in [
        (b"", 'The request body is empty; send a JSON object like {"text": "..."}.'),
        (b'{"text": "', "The request body is not valid JSON: Unterminated string starting at (line 1, column 10)."),
        ('{"question": "荷物"}'.encode(), "Unknown field(s): question. Allowed: text, top_k."),
        (b'{"text": 3}', "The question must be a string, not a number."),
        (b'{"text": "x", "top_k": 0}', '"top_k" must be an integer of at least 1, not a number.'),
    ]:
        answer = client.post("/webhooks/json", data=body, content_type="application/json", headers={"X-Toiawase-Signature": hmac_header(body)})
        assert (answer.status_code, answer.get_json()["error"]["message"]) == (400, message)


def test_without_a_configured_secret_the_json_webhook_is_503(make_app, confident) -> None:
    client = make_app(TWILIO_AUTH_TOKEN=TOKEN).test_client()
    body = json.dumps({"text": confident}).encode()
    answer = client.post("/webhooks/json", data=body, content_type="application/json", headers={"X-Toiawase-Signature": hmac_header(body)})
    assert answer.status_code == 503
    assert answer.get_json()["error"]["message"] == (
        "The JSON webhook is not configured: set TOIAWASE_WEBHOOK_SECRET on the server. Unsigned requests are never accepted."
    )


def test_the_secrets_come_from_the_environment(make_app, confident, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOIAWASE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TOIAWASE_TWILIO_AUTH_TOKEN", TOKEN)
    client = make_app().test_client()
    body = json.dumps({"text": confident}).encode()
    assert client.post("/webhooks/json", data=body, content_type="application/json", headers={"X-Toiawase-Signature": hmac_header(body)}).status_code == 200
    fields = sms(confident)
    assert client.post("/webhooks/twilio", data=fields, headers={"X-Twilio-Signature": twilio_signature(URL, fields)}).status_code == 200
