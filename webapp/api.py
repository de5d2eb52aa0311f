"""The JSON API, version 1: ``POST /api/v1/predict``, ``POST /api/v1/feedback``, ``GET /api/v1/model`` and its OpenAPI
description (``GET /api/v1/monitor`` is in :mod:`webapp.monitor`).

``POST /api/v1/predict`` takes a JSON object with either ``"question": "..."`` or
``"questions": ["...", ...]`` (1 to ``MAX_QUESTIONS`` = 1,000), and optionally ``"top_k"``
(an integer ≥ 1, default 3, clipped to the number of categories), ``"similar"`` (an integer
0 to 10, default 0: that many past tickets like each question, with their answers, preferring
the predicted category, :mod:`routing.similar`) and ``"evidence"`` (a boolean, default false:
each token's effect on the predicted category's probability, :mod:`routing.evidence`; for at
most ``MAX_EVIDENCE_QUESTIONS`` = 100 questions). It answers::

    {"model_version": "20261122-101500-ab12cd",
     "predictions": [{"id": "3f2a…", "category": "配送", "probability": 0.91, "needs_review": false,
                      "reason": null, "top_k": [{"category": "配送", "probability": 0.91}, ...]}]}

one prediction per question, in order (also for a single ``question``). With ``"similar": n``
each prediction also has ``"similar": [{"id", "question", "answer", "category", "score"}, ...]``
(at most ``n``; texts masked; ``[]`` for no content or a bundle without an index), with
``"evidence": true`` ``"evidence": [{"token", "effect"}, ...]`` in question order. ``id`` comes first: the
id of the prediction in the prediction log (32 hex characters), to send feedback about it; it is
``null`` when the question could not be logged (the feedback store is unavailable; logging never
fails a prediction, see :mod:`webapp.feedback_store`). Probabilities are
calibrated. ``needs_review`` is true when a person should route the question, with ``reason``
one of ``no_content`` (then ``category`` and ``probability`` are null and ``top_k`` is empty),
``out_of_scope``, ``ambiguous`` or ``low_confidence`` (:mod:`routing.review`; the threshold is the
bundle's unless the app's ``THRESHOLD`` is set). Bad input is 400, a body over
``MAX_CONTENT_LENGTH`` is 413, no loaded model is 503; errors are ``{"error": {...}}`` (see
:mod:`webapp.errors`). The body is read as UTF-8 JSON whatever its Content-Type says.

``POST /api/v1/feedback`` takes ``{"prediction_id": "...", "action": "confirm"|"correct",
"category": "...", "idempotency_key": "...", "agent": "..." (optional)}``; the key may come in
the ``Idempotency-Key`` header instead. It answers 201 with the stored row (see
:func:`webapp.agent_feedback.feedback_json`) for a new key, 200 with the same row for a repeated
one, 400 for bad fields, 404 for an unknown prediction id, 422 for a key already used for
another submission, 503 when the feedback store is unavailable (rules:
:mod:`webapp.agent_feedback`). The JSON API is exempt from CSRF tokens (:mod:`webapp.csrf`). When ``TOIAWASE_API_TOKEN`` is
set, feedback needs ``Authorization: Bearer <token>`` (401 otherwise); every endpoint is rate
limited per client (429; :mod:`webapp.limits`).

``GET /api/v1/openapi.json`` is the OpenAPI 3 description of all this (``webapp/openapi.json``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from routing.predictor import Prediction, Predictor
from routing.similar import MAX_SIMILAR
from webapp.agent_feedback import KEY_HEADER, api_request, feedback_json, submit
from webapp.errors import AppError
from webapp.feedback_store import log_predictions
from webapp.guards import requires_model
from webapp.limits import requires_token
from webapp.questions import check_question, extras, json_type, review_threshold, route

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_FIELDS = ("question", "questions", "top_k", "similar", "evidence")

#: The OpenAPI 3 description of this API, hand-written beside the code it describes (kept true
#: to it by tests/webapp/test_openapi.py, which fuzzes the app with Schemathesis against it).
OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def _json_body() -> dict:
    """The request body decoded as a UTF-8 JSON object (:func:`read_body` then :func:`parse_json_object`)."""
    return parse_json_object(read_body())


def read_body() -> bytes:
    """The raw request body.

    Raises:
        RequestEntityTooLarge: 413 for a body over ``MAX_CONTENT_LENGTH`` (with or without a
            Content-Length header).
    """
    raw = request.get_data(cache=False)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        # A chunked body (no Content-Length) is cut at the limit by Werkzeug's LimitedStream
        # without an error; reaching the limit means the body was too large.
        raise RequestEntityTooLarge()
    return raw


def parse_json_object(raw: bytes, example: str = '{"question": "..."}') -> dict:
    """``raw`` decoded as a UTF-8 JSON object (``example``: the object the empty-body message suggests).

    Raises:
        AppError: 400 for an empty body, bytes that are not UTF-8, invalid JSON, or JSON that is
            not an object.
    """
    if not raw.strip():
        raise AppError(400, f"The request body is empty; send a JSON object like {example}.", f"リクエストの本文が空です。{example} の形の JSON を送ってください。")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AppError(400, f"The request body is not valid UTF-8 (byte {exc.start}).", f"リクエストの本文が UTF-8 ではありません（{exc.start} バイト目）。") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AppError(400, f"The request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).", f"リクエストの本文が正しい JSON ではありません（{exc.lineno} 行 {exc.colno} 列）。") from None
    except RecursionError:
        raise AppError(400, "The request body is nested too deeply.", "JSON の入れ子が深すぎます。") from None
    except ValueError as exc:
        # Python refuses to convert integers of over 4,300 digits (sys.int_info.str_digits_check_threshold):
        # json.loads raises a plain ValueError for e.g. a 5,000-digit "top_k".
        raise AppError(400, f"The request body holds a number that is too large ({str(exc).split(';')[0]}).", "JSON の数値が大きすぎます。") from None
    if not isinstance(body, dict):
        raise AppError(400, f"The request body must be a JSON object, not {json_type(body)}.", "リクエストの本文は JSON オブジェクトにしてください。")
    return body


def _questions(body: dict) -> list[str]:
    """The checked questions of the body (one for a single ``question``).

    Raises:
        AppError: 400 for unknown fields, neither or both of ``question``/``questions``, a
            ``questions`` that is not a non-empty array of at most ``MAX_QUESTIONS``, or a bad
            question (see :func:`webapp.questions.check_question`).
    """
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise AppError(400, f"Unknown field(s): {', '.join(unknown)}. Allowed: {', '.join(_FIELDS)}.", f"未知のフィールドがあります: {', '.join(unknown)}。", fields=unknown)
    if ("question" in body) == ("questions" in body):
        raise AppError(400, 'Send either "question" (a string) or "questions" (an array of strings).', '"question"（文字列）か "questions"（文字列の配列）のどちらか一方を送ってください。')
    if "question" in body:
        return [check_question(body["question"])]
    questions = body["questions"]
    limit = current_app.config["MAX_QUESTIONS"]
    if not isinstance(questions, list):
        raise AppError(400, f'"questions" must be an array of strings, not {json_type(questions)}.', '"questions" は文字列の配列にしてください。')
    if not questions:
        raise AppError(400, '"questions" is empty.', '"questions" が空です。')
    if len(questions) > limit:
        raise AppError(400, f'Too many questions: {len(questions):,}, at most {limit:,} per request.', f"質問が多すぎます（{len(questions):,} 件）。1 回に {limit:,} 件までです。")
    return [check_question(q, i) for i, q in enumerate(questions)]


def _top_k(body: dict) -> int:
    """``top_k`` of the body (default ``DEFAULT_TOP_K``). Raises AppError 400 unless an integer ≥ 1."""
    top_k = body.get("top_k", current_app.config["DEFAULT_TOP_K"])
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise AppError(400, f'"top_k" must be an integer of at least 1, not {json.dumps(top_k, ensure_ascii=False)}.', '"top_k" は 1 以上の整数にしてください。')
    return top_k


def _similar(body: dict) -> int:
    """``similar`` of the body (default 0). Raises AppError 400 unless an integer from 0 to ``MAX_SIMILAR``."""
    similar = body.get("similar", 0)
    if isinstance(similar, bool) or not isinstance(similar, int) or not 0 <= similar <= MAX_SIMILAR:
        raise AppError(
            400,
            f'"similar" must be an integer from 0 to {MAX_SIMILAR}, not {json.dumps(similar, ensure_ascii=False)}.',
            f'"similar" は 0 から {MAX_SIMILAR} までの整数にしてください。',
        )
    return similar


def _evidence(body: dict, questions: int) -> bool:
    """``evidence`` of the body (default false).

    Raises:
        AppError: 400 unless a boolean, or when true for more than ``MAX_EVIDENCE_QUESTIONS`` questions.
    """
    evidence = body.get("evidence", False)
    if not isinstance(evidence, bool):
        raise AppError(400, f'"evidence" must be true or false, not {json.dumps(evidence, ensure_ascii=False)}.', '"evidence" は true か false にしてください。')
    limit = current_app.config["MAX_EVIDENCE_QUESTIONS"]
    if evidence and questions > limit:
        raise AppError(
            400,
            f'"evidence" is given for at most {limit:,} questions per request, not {questions:,}.',
            f'"evidence" は 1 回に {limit:,} 件までの質問に付けられます（{questions:,} 件）。',
        )
    return evidence


@bp.post("/predict")
@requires_model
def predict() -> Response:
    """Route one or more questions; see the module docstring for the request and answer."""
    body = _json_body()
    questions = _questions(body)
    top_k = _top_k(body)
    similar = _similar(body)
    evidence = _evidence(body, len(questions))
    predictions = route(g.predictor, questions, top_k)
    ids = log_predictions(g.predictor, questions, predictions, source="api")
    added = extras(g.predictor, questions, predictions, similar, evidence)
    return jsonify(predictions_json(g.predictor, ids, predictions, added))


def predictions_json(
    predictor: Predictor, ids: Sequence[str | None], predictions: Sequence[Prediction], added: Sequence[dict] | None = None,
) -> dict:
    """The answer of ``POST /api/v1/predict``: ``{"model_version", "predictions": [{"id", ...}]}`` (module docstring).

    ``added``: per prediction, the extra fields asked for (``similar``, ``evidence``), or ``None``.
    """
    added = added if added is not None else [{}] * len(predictions)
    return {
        "model_version": predictor.version,
        "predictions": [
            {"id": prediction_id, **p.to_dict(), **fields} for prediction_id, p, fields in zip(ids, predictions, added, strict=True)
        ],
    }


@bp.post("/feedback")
@requires_token
@requires_model
def feedback() -> tuple[Response, int]:
    """Store an agent's confirmation or correction of a logged prediction; see the module docstring."""
    result = submit(g.predictor, api_request(_json_body(), request.headers.get(KEY_HEADER)))
    return jsonify(feedback_json(result.feedback)), 201 if result.created else 200


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 description of the JSON API (``webapp/openapi.json``), as is."""
    response = current_app.response_class(OPENAPI_PATH.read_bytes(), mimetype="application/json")
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/model")
@requires_model
def model_info() -> Response:
    """The loaded model: version, kind, categories, training date, threshold and headline metrics.

    Metrics are measured on the validation data at training time (``metrics.json``): accuracy
    and macro-F1 in [0, 1], for the model and for the TF-IDF + logistic regression baseline.
    """
    predictor = g.predictor
    metrics = predictor.metrics
    return jsonify(
        {
            "model_version": predictor.version,
            "model_kind": predictor.kind,
            "categories": predictor.categories,
            "created_at": predictor.created_at,
            "threshold": review_threshold(predictor),
            "margin": predictor.review.margin,
            "metrics": {
                "validation_examples": metrics.get("n"),
                "accuracy": metrics.get("accuracy"),
                "macro_f1": metrics.get("macro_f1"),
                "baselines": {
                    name: {"accuracy": b.get("accuracy"), "macro_f1": b.get("macro_f1")}
                    for name, b in (metrics.get("baselines") or {}).items()
                },
            },
        }
    )
