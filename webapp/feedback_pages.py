"""Feedback on the form page: the buttons under a prediction and ``POST /feedback``.

Under a confident prediction the page shows 「正しい」 (confirm) and a 「修正」 menu of the other
categories (correct); under a prediction that needs review, one menu of every category (the
agent routes the question: ``choose``, see :mod:`webapp.agent_feedback`). Each is a plain HTML
form (no JavaScript needed) with Flask-WTF's CSRF token and a random idempotency key made when
the page is rendered, so a double submit stores one row.

``POST /feedback`` follows Post/Redirect/Get: a stored (or already stored) answer redirects to
the empty form with the flashed message 「フィードバックを保存しました」 (Flask docs, "Message
Flashing"), with status 303 See Other (RFC 9110 §15.4.4: the redirected request is a GET). Bad
fields are a Japanese error page with status 400 (404 unknown prediction, 422 key reused, 503
store unavailable), like every other page error.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import Blueprint, flash, g, redirect, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField
from wtforms.validators import AnyOf, DataRequired, Length

from feedback.models import CATEGORY_LENGTH, KEY_LENGTH
from routing.predictor import Prediction, Predictor
from webapp.agent_feedback import CHOOSE, FeedbackRequest, submit
from webapp.errors import AppError
from webapp.guards import requires_model

bp = Blueprint("feedback_pages", __name__)

#: The flashed confirmation after a stored answer.
SAVED = "フィードバックを保存しました"
#: The actions a page form may post.
FORM_ACTIONS = ("confirm", "correct", CHOOSE)
#: Flash category of :data:`SAVED` (the page styles it as a success message).
FLASH_CATEGORY = "success"


class FeedbackForm(FlaskForm):
    """The fields every feedback form on the page posts (plus Flask-WTF's ``csrf_token``).

    The category is checked against the model and the prediction by
    :func:`webapp.agent_feedback.submit`, not here (the menu's options depend on both).
    """

    prediction_id = HiddenField(validators=[DataRequired("予測の ID がありません。"), Length(max=64, message="予測の ID が長すぎます。")])
    action = HiddenField(validators=[AnyOf(FORM_ACTIONS, message="操作の種類が正しくありません。")])
    category = HiddenField(validators=[DataRequired("カテゴリが選ばれていません。カテゴリを選んでください。"), Length(max=CATEGORY_LENGTH, message="カテゴリ名が長すぎます。")])
    idempotency_key = HiddenField(validators=[DataRequired("送信キーがありません。ページを読み込み直してください。"), Length(max=KEY_LENGTH, message="送信キーが長すぎます。")])


@dataclass(frozen=True)
class FeedbackForms:
    """What the page needs to draw the feedback forms of one prediction.

    Attributes:
        prediction_id: the logged prediction, or ``None`` when it was not logged (no forms then).
        unavailable: why feedback cannot be given (a Japanese sentence), or ``None``.
        confirm_key, correct_key, choose_key: a fresh idempotency key per form (``None`` for a
            form the prediction does not get).
        predicted: the predicted category (``None`` for a question with no content).
        choices: the categories of the 「修正」 menu (the model's, without the predicted one) or,
            for a question that needs review, of the choice menu (all of the model's).
    """

    prediction_id: str | None
    unavailable: str | None
    confirm_key: str | None = None
    correct_key: str | None = None
    choose_key: str | None = None
    predicted: str | None = None
    choices: tuple[str, ...] = ()


def new_key() -> str:
    """A random idempotency key for one rendered form (``secrets.token_urlsafe(18)``: 24 characters, 144 bits)."""
    return secrets.token_urlsafe(18)


def forms_for(predictor: Predictor, prediction: Prediction, prediction_id: str | None, store_available: bool) -> FeedbackForms:
    """The feedback forms under ``prediction`` (see :class:`FeedbackForms`).

    A confident prediction gets 「正しい」 and 「修正」; one that needs review (including a question
    with no content, which has no category to confirm) gets one menu of every category.
    """
    if prediction_id is None:
        why = "フィードバックの保存先（データベース）に接続できないため、いまはフィードバックを送信できません。" if not store_available else (
            "この予測は記録できなかったため、フィードバックを送信できません。"
        )
        return FeedbackForms(None, why)
    if prediction.needs_review:
        return FeedbackForms(prediction_id, None, choose_key=new_key(), predicted=prediction.category, choices=tuple(predictor.categories))
    others = tuple(c for c in predictor.categories if c != prediction.category)
    return FeedbackForms(prediction_id, None, confirm_key=new_key(), correct_key=new_key(), predicted=prediction.category, choices=others)


@bp.post("/feedback")
@requires_model
def feedback() -> Response:
    """Store an agent's answer from the page, then redirect to the form (Post/Redirect/Get).

    Raises:
        AppError: 400 for invalid fields (shown as the Japanese error page), and the errors of
            :func:`webapp.agent_feedback.submit`.
    """
    form = FeedbackForm()
    if not form.validate_on_submit():
        first = next(iter(form.errors.values()))
        message_ja = first[0] if first else "フィードバックの内容が正しくありません。"
        raise AppError(400, f"Invalid feedback form: {form.errors}", str(message_ja))
    request = FeedbackRequest(form.prediction_id.data, form.action.data, form.category.data, form.idempotency_key.data)
    result = submit(g.predictor, request, FORM_ACTIONS)
    label = "正しい" if result.feedback.action == "confirm" else "修正"
    flash(f"{SAVED}（{label}：{result.feedback.agent_category}）", FLASH_CATEGORY)
    return redirect(url_for("pages.index"), code=303)
