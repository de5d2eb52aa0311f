"""Checking questions and routing them: the rules shared by the form page and the JSON API.

The rules (issue #3, "Bad input"): a question is a string of at most ``MAX_QUESTION_CHARS``
(5,000) characters that is not empty or whitespace only. Two further cases the tokenizer cannot
take are refused here rather than failing inside MeCab: lone surrogates (``"\\ud800"``, possible
through JSON escapes; not encodable as UTF-8) and NUL characters (MeCab reads a C string and
would silently stop at the first NUL). A question whose words are all removed by cleaning (e.g.
only ``-----``) is refused after cleaning (``routing.predictor.EmptyQuestionError``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask import current_app

from preprocessing.pipeline import Document
from routing.predictor import EmptyQuestionError, Prediction, Predictor
from webapp.errors import AppError


@dataclass(frozen=True)
class Routing:
    """One routed question.

    Attributes:
        prediction: the model's prediction (category, probability, top-k).
        needs_review: ``True`` when ``prediction.probability`` is below the app's threshold,
            i.e. a person should route the question (「要確認」).
    """

    prediction: Prediction
    needs_review: bool

    def to_dict(self) -> dict:
        """The API's prediction object: ``{"category", "probability", "needs_review", "top_k"}``."""
        data = self.prediction.to_dict()
        return {
            "category": data["category"],
            "probability": data["probability"],
            "needs_review": self.needs_review,
            "top_k": data["top_k"],
        }


def _where(index: int | None) -> tuple[str, str, dict]:
    if index is None:
        return "The question", "質問", {}
    return f"Question {index}", f"{index} 番目の質問", {"index": index}


def check_question(question: object, index: int | None = None) -> str:
    """Return ``question`` if it is acceptable, else raise a 400 :class:`AppError`.

    Args:
        question: the value received (must be a ``str``).
        index: its position in a ``questions`` list (0-based), named in the message; ``None``
            for a single question.

    Raises:
        AppError: 400 for a non-string, empty or whitespace-only, too long (over
            ``MAX_QUESTION_CHARS`` code points) question, or one with NUL or lone surrogates.
    """
    en, ja, details = _where(index)
    limit = current_app.config["MAX_QUESTION_CHARS"]
    if not isinstance(question, str):
        raise AppError(400, f"{en} must be a string, not {json_type(question)}.", f"{ja}は文字列にしてください。", **details)
    if not question.strip():
        raise AppError(400, f"{en} is empty. Please write a question.", f"{ja}が空です。質問を入力してください。", **details)
    if len(question) > limit:
        raise AppError(
            400,
            f"{en} is too long: {len(question):,} characters, at most {limit:,}.",
            f"{ja}が長すぎます（{len(question):,} 文字）。{limit:,} 文字以内にしてください。",
            **details,
        )
    if "\x00" in question:
        raise AppError(400, f"{en} contains a NUL character.", f"{ja}に NUL 文字が含まれています。", **details)
    try:
        question.encode("utf-8")
    except UnicodeEncodeError:
        raise AppError(
            400, f"{en} contains an unpaired surrogate (not valid Unicode text).", f"{ja}に不正な文字（対になっていないサロゲート）が含まれています。", **details
        ) from None
    return question


def route(predictor: Predictor, questions: Sequence[str], top_k: int, single: bool = False) -> list[Routing]:
    """Predict the category of each checked question and flag those below the threshold.

    Args:
        predictor: the loaded model.
        questions: questions already passed through :func:`check_question`.
        top_k: candidates per question (≥ 1; clipped to the number of categories).
        single: the request had one ``question`` (messages then name no position).

    Raises:
        AppError: 400 if a question has no words left after cleaning (e.g. only ``-----``).
    """
    return route_documents(predictor, [predictor.prepare(q) for q in questions], top_k, single)


def route_documents(predictor: Predictor, documents: Sequence[Document], top_k: int, single: bool = False) -> list[Routing]:
    """:func:`route` for questions already prepared with ``predictor.prepare`` (no second cleaning)."""
    threshold = float(current_app.config["THRESHOLD"])
    try:
        predictions = predictor.predict_documents(documents, top_k)
    except EmptyQuestionError as exc:
        index = None if single else exc.indices[0]
        en, ja, details = _where(index)
        if not single:
            details["indices"] = exc.indices
        raise AppError(
            400,
            f"{en} has no words left after cleaning (only symbols, separators, URLs or similar). Please write the question in words.",
            f"{ja}には、記号・区切り線・URL などを除くと言葉が残りません。質問を文章で入力してください。",
            **details,
        ) from None
    return [Routing(p, p.probability < threshold) for p in predictions]


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type (for messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
