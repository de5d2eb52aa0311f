"""Checking questions and routing them: the rules shared by the form page and the JSON API.

The rules (issue #3, "Bad input"): a question is a string of at most ``MAX_QUESTION_CHARS``
(5,000) characters that is not empty or whitespace only. Two further cases the tokenizer cannot
take are refused here rather than failing inside MeCab: lone surrogates (``"\\ud800"``, possible
through JSON escapes; not encodable as UTF-8) and NUL characters (MeCab reads a C string and
would silently stop at the first NUL). A question whose words are all removed by cleaning (e.g.
only ``-----``) is not an error: like every entry point, it gets ``needs_review`` with reason
``no_content`` (:mod:`routing.review`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flask import current_app

from preprocessing.pipeline import Document
from routing.evidence import Evidence, occlusion
from routing.predictor import Prediction, Predictor
from webapp.errors import AppError
from webapp.scheduling import route_batch

if TYPE_CHECKING:
    from routing.similar import SimilarTicket


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


def review_threshold(predictor: Predictor) -> float:
    """The threshold in force: the app's ``THRESHOLD`` if set, else the bundle's review threshold."""
    configured = current_app.config["THRESHOLD"]
    return predictor.review.threshold if configured is None else float(configured)


def route(predictor: Predictor, questions: Sequence[str], top_k: int) -> list[Prediction]:
    """Route each checked question with the app's review threshold (``None``: the bundle's).

    Args:
        predictor: the loaded model.
        questions: questions already passed through :func:`check_question`.
        top_k: candidates per question (≥ 1; clipped to the number of categories).

    Returns:
        One prediction per question; a question with no words gets reason ``no_content``.
        Several questions are routed where they do not delay single ones
        (:func:`webapp.scheduling.route_batch`).
    """
    if len(questions) <= 1:
        return route_documents(predictor, [predictor.prepare(q) for q in questions], top_k)
    # Several questions: away from the single ones (webapp.scheduling).
    return route_batch(predictor, questions, top_k, review_threshold(predictor))


def route_documents(predictor: Predictor, documents: Sequence[Document], top_k: int) -> list[Prediction]:
    """:func:`route` for questions already prepared with ``predictor.prepare`` (no second cleaning)."""
    return predictor.predict_documents(documents, top_k, threshold=review_threshold(predictor))


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


def extras(predictor: Predictor, questions: Sequence[str], predictions: Sequence[Prediction], similar: int, evidence: bool) -> list[dict]:
    """Per prediction, the extra fields asked for: ``similar`` (past tickets) and ``evidence`` (token effects).

    Args:
        predictor: the loaded model.
        questions: the checked questions, ``n``.
        predictions: their predictions, ``n``, in order.
        similar: similar tickets per question (0: no ``similar`` field), at most
            :data:`routing.similar.MAX_SIMILAR`.
        evidence: give each prediction its ``evidence`` list.

    Returns:
        ``n`` dicts, each with ``"similar": [{"id", "question", "answer", "category", "score"}, ...]``
        when ``similar > 0`` (``[]`` for a question with no content, or a bundle trained before
        similar tickets were indexed) and ``"evidence": [{"token", "effect"}, ...]`` when
        ``evidence`` (``[]`` for a question with no content). Questions are prepared again here
        (about 0.2 ms each), only when something is asked for.
    """
    if not similar and not evidence:
        return [{} for _ in predictions]
    results = []
    for question, prediction in zip(questions, predictions, strict=True):
        document = predictor.prepare(question)
        fields: dict = {}
        if similar:
            fields["similar"] = [t.to_dict() for t in similar_tickets(predictor, document, prediction, similar)]
        if evidence:
            fields["evidence"] = [e.to_dict() for e in token_evidence(predictor, document, prediction)]
        results.append(fields)
    return results


def similar_tickets(predictor: Predictor, document: Document, prediction: Prediction, n: int) -> list[SimilarTicket]:
    """The ``n`` past tickets most like a prepared question, preferring its predicted category (:mod:`routing.similar`).

    ``[]`` when the question has no content or the bundle has no index.
    """
    if predictor.similar is None or prediction.category is None:
        return []
    return predictor.similar.search(document.tokens, prediction.category, n)


def token_evidence(predictor: Predictor, document: Document, prediction: Prediction) -> list[Evidence]:
    """Each token's effect on the predicted category's probability (:func:`routing.evidence.occlusion`); ``[]`` with no content."""
    if prediction.category is None:
        return []
    return occlusion(predictor, document, prediction.category)
