"""Inbound messages: ``POST /webhooks/twilio`` (an SMS as Twilio posts it) and ``POST /webhooks/json``.

Both route one question with the loaded model, log it in the prediction log like an API question
(:func:`webapp.feedback_store.log_predictions`, ``source`` ``"twilio"`` or ``"webhook"``; the
question masked, the sender's number never stored), and accept only signed requests:

``POST /webhooks/twilio``
    The form Twilio posts for an incoming message (``application/x-www-form-urlencoded``;
    ``Body`` is the text, ``From`` the sender, plus Twilio's other fields). The
    ``X-Twilio-Signature`` header is checked with the ``twilio`` package's
    ``twilio.request_validator.RequestValidator(auth_token).validate(url, form, signature)``:
    Base64 HMAC-SHA1, keyed with the account's Auth Token, of the URL Twilio requested followed
    by every POST field name and value sorted by name (Twilio docs, "Webhooks security"). The URL
    is the one the app sees, or ``PUBLIC_URL`` + path when set (behind a proxy or tunnel the app
    sees ``http://127.0.0.1:8000/...`` while Twilio signed ``https://example.jp/...``). The
    answer is TwiML built with ``twilio.twiml.messaging_response.MessagingResponse``::

        <?xml version="1.0" encoding="UTF-8"?><Response><Message>お問い合わせを「配送」に振り分けました。</Message></Response>

    or, when the router asks a person to look (``needs_review``),
    「お問い合わせを受け付けました。担当者が内容を確認して振り分けます。」. A message the router cannot
    take (empty, over 5,000 characters) gets a TwiML reply saying so, with status 200, so that
    the sender is told (Twilio sends no reply for an error status).

``POST /webhooks/json``
    A JSON object ``{"text": "..."}`` (optionally ``"top_k"``) signed with HMAC-SHA256 of the raw
    body bytes, keyed with the shared secret, in the header
    ``X-Toiawase-Signature: sha256=<64 hex digits>`` (the scheme of GitHub's
    ``X-Hub-Signature-256``), compared in constant time (``hmac.compare_digest``). The answer
    is the JSON of ``POST /api/v1/predict`` for one question.

Secrets come from ``TOIAWASE_TWILIO_AUTH_TOKEN`` and ``TOIAWASE_WEBHOOK_SECRET``
(:mod:`webapp.settings`). Without one, its endpoint answers 503 with a message and never
accepts a request. A missing or wrong signature is 403 with a message; the signature is
checked before anything else is looked at. Errors are JSON (:mod:`webapp.errors`). These
endpoints are exempt from CSRF tokens (they are called by servers, and signed). The signatures
carry no timestamp, so a captured request can be replayed: serve them over HTTPS only.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, Response, current_app, jsonify, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from routing.predictor import Prediction, Predictor
from webapp.api import parse_json_object, predictions_json, read_body
from webapp.errors import AppError, no_model_error
from webapp.feedback_store import log_predictions
from webapp.model_loading import model_state
from webapp.questions import check_question, json_type, route

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
SIGNATURE_HEADER = "X-Toiawase-Signature"
SIGNATURE_PREFIX = "sha256="

#: ``source`` of the logged predictions.
TWILIO_SOURCE, JSON_SOURCE = "twilio", "webhook"
#: Fields of the JSON webhook's body.
_FIELDS = ("text", "top_k")


def routed_text(prediction: Prediction) -> str:
    """The reply naming the category, or saying that a person will route the message."""
    if prediction.needs_review or prediction.category is None:
        return "お問い合わせを受け付けました。担当者が内容を確認して振り分けます。"
    return f"お問い合わせを「{prediction.category}」に振り分けました。"


def twiml(text: str) -> Response:
    """``<Response><Message>text</Message></Response>`` (Twilio's ``MessagingResponse``) as ``application/xml``."""
    reply = MessagingResponse()
    reply.message(text)
    return Response(str(reply), mimetype="application/xml")


def sign(secret: str, body: bytes) -> str:
    """The ``X-Toiawase-Signature`` value of ``body``: ``"sha256="`` + hex HMAC-SHA256 keyed with ``secret`` (UTF-8).

    >>> sign("秘密", '{"text": "荷物が届きません"}'.encode())[:15]
    'sha256=79eccf45'
    """
    return SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _secret(key: str, variable: str, what: str) -> str:
    """The configured secret ``key``. Raises AppError 503 when it is not set."""
    secret = current_app.config.get(key)
    if not secret:
        raise AppError(
            503,
            f"The {what} webhook is not configured: set {variable} on the server. Unsigned requests are never accepted.",
            f"{what} の Webhook は設定されていません。サーバーで {variable} を設定してください。署名のないリクエストは受け付けません。",
        )
    return str(secret)


def _refuse(header: str, missing: bool) -> AppError:
    if missing:
        return AppError(403, f"The request is not signed: the {header} header is missing.", f"署名がありません（{header} ヘッダーがありません）。")
    return AppError(403, f"The {header} signature does not match this request.", f"{header} の署名がこのリクエストと一致しません。")


def signed_url() -> str:
    """The URL Twilio signed: ``PUBLIC_URL`` + the path and query when set, else the request's URL."""
    base = current_app.config.get("PUBLIC_URL")
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return str(base).rstrip("/") + request.root_path + request.path + (f"?{query}" if query else "")


def check_twilio_signature() -> None:
    """Raise AppError 503 (no Auth Token configured) or 403 (header missing or not matching)."""
    token = _secret("TWILIO_AUTH_TOKEN", "TOIAWASE_TWILIO_AUTH_TOKEN", "Twilio")
    signature = request.headers.get(TWILIO_SIGNATURE_HEADER, "")
    if not signature:
        raise _refuse(TWILIO_SIGNATURE_HEADER, missing=True)
    if not RequestValidator(token).validate(signed_url(), request.form, signature):
        raise _refuse(TWILIO_SIGNATURE_HEADER, missing=False)


def check_json_signature(raw: bytes) -> None:
    """Raise AppError 503 (no secret configured) or 403 (header missing or not matching ``raw``)."""
    secret = _secret("WEBHOOK_SECRET", "TOIAWASE_WEBHOOK_SECRET", "JSON")
    given = request.headers.get(SIGNATURE_HEADER, "").strip()
    if not given:
        raise _refuse(SIGNATURE_HEADER, missing=True)
    if not hmac.compare_digest(sign(secret, raw).encode("ascii"), given.encode("utf-8", "replace")):
        raise _refuse(SIGNATURE_HEADER, missing=False)


def _predictor() -> Predictor:
    state = model_state()
    if state.predictor is None:
        raise no_model_error(state.error)
    return state.predictor


@bp.post("/twilio")
def twilio_message() -> Response:
    """Route an SMS posted by Twilio and reply with TwiML naming the category (module docstring)."""
    check_twilio_signature()
    predictor = _predictor()
    try:
        question = check_question(request.form.get("Body", ""))
    except AppError as error:
        return twiml(error.message_ja)
    [prediction] = route(predictor, [question], current_app.config["DEFAULT_TOP_K"])
    log_predictions(predictor, [question], [prediction], source=TWILIO_SOURCE)
    return twiml(routed_text(prediction))


@bp.post("/json")
def json_message() -> Response:
    """Route ``{"text": ...}`` signed with HMAC-SHA256; answer like ``POST /api/v1/predict`` (module docstring)."""
    raw = read_body()
    check_json_signature(raw)
    predictor = _predictor()
    body = parse_json_object(raw, example='{"text": "..."}')
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise AppError(400, f"Unknown field(s): {', '.join(unknown)}. Allowed: {', '.join(_FIELDS)}.", f"未知のフィールドがあります: {', '.join(unknown)}。", fields=unknown)
    if "text" not in body:
        raise AppError(400, 'Send the message as "text" (a string).', 'メッセージを "text"（文字列）で送ってください。')
    question = check_question(body["text"])
    top_k = body.get("top_k", current_app.config["DEFAULT_TOP_K"])
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise AppError(400, f'"top_k" must be an integer of at least 1, not {json_type(top_k)}.', '"top_k" は 1 以上の整数にしてください。')
    predictions = route(predictor, [question], top_k)
    ids = log_predictions(predictor, [question], predictions, source=JSON_SOURCE)
    return jsonify(predictions_json(predictor, ids, predictions))
