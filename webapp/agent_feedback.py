"""An agent's feedback on a logged prediction: the rules shared by the form page and the JSON API.

An agent either **confirms** a prediction (the predicted category is right) or **corrects** it
to another category; the form's review answer (the agent picks the category of a question that
needs review) is **choose**, which is a confirmation if the agent picked the predicted (top)
category and a correction otherwise. These are the store's rules
(:meth:`feedback.FeedbackStore.record_feedback`): a confirmation keeps the predicted category,
a correction changes it, and a question with no content has no category to confirm.

The category must be one of the loaded model's categories, or the prediction's own (a
prediction logged by an earlier model can still be confirmed). Every submission carries an
idempotency key: the first one with a key is stored (201), a repeat returns the stored row
(200), and a repeat whose prediction, action or category differ from the stored one is refused
with 422, as the IETF draft "The Idempotency-Key HTTP Header Field"
(draft-ietf-httpapi-idempotency-key-header, "Error Scenarios") prescribes for a key reused with
another payload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from feedback import ACTIONS, FeedbackRecord, FeedbackResult, FeedbackStoreError, UnknownPredictionError
from feedback.models import AGENT_LENGTH, CATEGORY_LENGTH, KEY_LENGTH
from routing.predictor import Predictor
from webapp.errors import AppError
from webapp.feedback_store import require_store

#: The form's answer for a question that needs review: confirm or correct, by the category picked.
CHOOSE = "choose"

#: Fields of ``POST /api/v1/feedback``.
API_FIELDS = ("prediction_id", "action", "category", "idempotency_key", "agent")

#: Header carrying the idempotency key (IETF draft-ietf-httpapi-idempotency-key-header).
KEY_HEADER = "Idempotency-Key"

#: Ids the store gives predictions: ``uuid4().hex``.
_PREDICTION_ID = re.compile(r"[0-9a-f]{32}")
#: C0 controls and DEL: never part of a key, a category or an agent's name (and PostgreSQL
#: refuses NUL in text).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class FeedbackRequest:
    """What an agent submitted.

    Attributes:
        prediction_id: the id the prediction was answered with.
        action: ``confirm``, ``correct`` or (form only) ``choose``.
        category: the category the agent says is right.
        idempotency_key: the submission's key (a form token, a client's request id).
        agent: who, free text, or ``None``.
    """

    prediction_id: str
    action: str
    category: str
    idempotency_key: str
    agent: str | None = None


def submit(predictor: Predictor, request: FeedbackRequest, actions: tuple[str, ...] = ACTIONS) -> FeedbackResult:
    """Check ``request`` against its logged prediction and the model, and store it once.

    Args:
        predictor: the loaded model (its categories are the ones an agent may choose).
        request: the submission.
        actions: the actions accepted (the API: ``confirm``/``correct``; the form adds ``choose``).

    Returns:
        The store's :class:`feedback.FeedbackResult`: ``created`` is false for a repeated key.

    Raises:
        AppError: 400 for an unknown action, a category that is empty, unknown to the model or
            against the action (a confirmation of another category, a correction to the
            predicted one, a confirmation of a question with no category); 404 for an unknown
            prediction id; 422 for a key already used for another submission; 503 when the
            store is unavailable or the database fails.
    """
    if request.action not in actions:
        raise AppError(400, f'"action" must be one of {", ".join(actions)}, not {request.action!r}.', f"action は {'、'.join(actions)} のどれかにしてください。")
    _check_text("idempotency_key", request.idempotency_key, KEY_LENGTH, "冪等キー（idempotency_key）")
    if request.agent is not None:
        _check_text("agent", request.agent, AGENT_LENGTH, "担当者名（agent）")
    store = require_store()
    try:
        prediction = store.get_prediction(request.prediction_id) if _PREDICTION_ID.fullmatch(request.prediction_id) else None
        if prediction is None:
            raise _unknown_prediction(request.prediction_id)
        category = _checked_category(predictor, request.category, prediction.category)
        action = request.action
        if action == CHOOSE:
            action = "confirm" if category == prediction.category else "correct"
        if action == "confirm" and prediction.category is None:
            raise AppError(
                400,
                "This question had no content, so there is no predicted category to confirm; correct it to a category instead.",
                "この質問には予測カテゴリがないため「正しい」は選べません。カテゴリを選んで修正してください。",
            )
        if action == "confirm" and category != prediction.category:
            raise AppError(
                400,
                f"A confirmation keeps the predicted category {prediction.category!r}, not {category!r}; use action \"correct\".",
                f"「正しい」は予測カテゴリ（{prediction.category}）のままにする操作です。別のカテゴリにするには修正（correct）してください。",
            )
        if action == "correct" and category == prediction.category:
            raise AppError(
                400,
                f"A correction names another category than the predicted {category!r}; use action \"confirm\".",
                f"修正には予測カテゴリ（{category}）以外のカテゴリを選んでください。予測どおりなら「正しい」を使ってください。",
            )
        result = store.record_feedback(
            prediction_id=prediction.id, action=action, agent_category=category,
            idempotency_key=request.idempotency_key, agent=request.agent,
        )
    except UnknownPredictionError:
        raise _unknown_prediction(request.prediction_id) from None
    except (SQLAlchemyError, FeedbackStoreError) as error:
        raise AppError(503, f"The feedback could not be saved ({type(error).__name__}); please try again.", "フィードバックを保存できませんでした。少し待ってからもう一度送信してください。") from error
    except ValueError as error:  # the store's own rules (should not happen after the checks above)
        raise AppError(400, f"Invalid feedback: {error}", "フィードバックの内容が正しくありません。") from None
    stored = result.feedback
    if not result.created and (stored.prediction_id, stored.action, stored.agent_category) != (prediction.id, action, category):
        raise AppError(
            422,
            f"The idempotency key {request.idempotency_key!r} was already used for another submission "
            f"({stored.action} {stored.agent_category!r} of prediction {stored.prediction_id}); use a new key.",
            "この冪等キーは別のフィードバックで使われています。新しいキーで送信してください。",
        )
    return result


def api_request(body: Mapping[str, object], header_key: str | None) -> FeedbackRequest:
    """The :class:`FeedbackRequest` of a ``POST /api/v1/feedback`` body.

    Args:
        body: the decoded JSON object.
        header_key: the ``Idempotency-Key`` header, or ``None``. The draft makes its value a
            Structured Field string (``"abc"``, quoted, RFC 8941); a bare token is accepted too.

    Raises:
        AppError: 400 for unknown fields, a field that is missing or not a string (``agent``
            may be null or absent), no idempotency key, or a header and body key that differ.
    """
    unknown = sorted(set(body) - set(API_FIELDS))
    if unknown:
        raise AppError(400, f"Unknown field(s): {', '.join(unknown)}. Allowed: {', '.join(API_FIELDS)}.", f"未知のフィールドがあります: {', '.join(unknown)}。", fields=unknown)
    values = {name: _string_field(body, name) for name in ("prediction_id", "action", "category")}
    key = body.get("idempotency_key")
    if header_key is not None:
        header_key = header_key.strip()
        if len(header_key) >= 2 and header_key[0] == header_key[-1] == '"':
            header_key = header_key[1:-1]
        if key is not None and key != header_key:
            raise AppError(400, f'The {KEY_HEADER} header and "idempotency_key" differ; send one of them.', f"{KEY_HEADER} ヘッダーと idempotency_key が異なります。どちらか一方を送ってください。")
        key = header_key
    if key is None:
        raise AppError(400, f'An idempotency key is required: the "idempotency_key" field or the {KEY_HEADER} header.', f'冪等キーが必要です（"idempotency_key" フィールドか {KEY_HEADER} ヘッダー）。')
    if not isinstance(key, str):
        raise AppError(400, '"idempotency_key" must be a string.', '"idempotency_key" は文字列にしてください。')
    agent = body.get("agent")
    if agent is not None and not isinstance(agent, str):
        raise AppError(400, '"agent" must be a string or null.', '"agent" は文字列か null にしてください。')
    return FeedbackRequest(values["prediction_id"], values["action"], values["category"], key, agent or None)


def feedback_json(record: FeedbackRecord) -> dict[str, object]:
    """A stored feedback row as the API answers it (``created_at`` in ISO 8601, UTC).

    Keys, in order: ``id``, ``prediction_id``, ``created_at``, ``model_version``, ``question``
    (masked), ``predicted_category``, ``predicted_probability``, ``agent_category``,
    ``action``, ``idempotency_key``, ``agent``.
    """
    return {
        "id": record.id,
        "prediction_id": record.prediction_id,
        "created_at": record.created_at.isoformat(),
        "model_version": record.model_version,
        "question": record.question,
        "predicted_category": record.predicted_category,
        "predicted_probability": record.predicted_probability,
        "agent_category": record.agent_category,
        "action": record.action,
        "idempotency_key": record.idempotency_key,
        "agent": record.agent,
    }


def _string_field(body: Mapping[str, object], name: str) -> str:
    if name not in body:
        raise AppError(400, f'"{name}" is missing.', f'"{name}" がありません。', field=name)
    value = body[name]
    if not isinstance(value, str):
        raise AppError(400, f'"{name}" must be a string.', f'"{name}" は文字列にしてください。', field=name)
    return value


def _check_text(name: str, value: str, limit: int, label_ja: str) -> None:
    if not value.strip():
        raise AppError(400, f'"{name}" is empty.', f"{label_ja}が空です。", field=name)
    if len(value) > limit:
        raise AppError(400, f'"{name}" is too long: {len(value):,} characters, at most {limit:,}.', f"{label_ja}が長すぎます（{limit:,} 文字まで）。", field=name)
    if _CONTROL.search(value):
        raise AppError(400, f'"{name}" contains a control character.', f"{label_ja}に制御文字が含まれています。", field=name)


def _checked_category(predictor: Predictor, category: str, predicted: str | None) -> str:
    category = category.strip()
    if not category:
        raise AppError(400, "The category is empty; choose one of the model's categories.", "カテゴリが選ばれていません。カテゴリを選んでください。", field="category")
    if category not in predictor.categories and category != predicted:
        shown = category if len(category) <= CATEGORY_LENGTH else category[:CATEGORY_LENGTH] + "…"
        raise AppError(
            400,
            f"Unknown category {shown!r}; the model's categories are: {', '.join(predictor.categories)}.",
            f"カテゴリ「{shown}」はこのモデルにありません（{'、'.join(predictor.categories)}）。",
            field="category",
        )
    return category


def _unknown_prediction(prediction_id: str) -> AppError:
    shown = prediction_id if len(prediction_id) <= 64 else prediction_id[:64] + "…"
    return AppError(404, f"No logged prediction has the id {shown!r}.", "指定された予測（prediction_id）が見つかりません。", field="prediction_id")
