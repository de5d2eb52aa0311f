"""The words behind a prediction: occlusion of the question's MeCab tokens.

For a question with tokens ``t_1 … t_n`` routed to category ``c`` with calibrated probability
``p(c | t_1 … t_n)``, the *effect* of token ``t_i`` is::

    effect_i = p(c | t_1 … t_n) − p(c | t_1 … t_{i−1}, t_{i+1} … t_n)

(occlusion: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014,
§4.2, applied to words as in Li, Monroe & Jurafsky, "Understanding Neural Networks through
Representation Erasure", 2016). A positive effect means the token raised the chosen category's
probability; a negative one, that it lowered it. Each occurrence of a repeated token is occluded
on its own, so the list has one entry per token, in question order.

Rules:

* all occluded questions and the whole question go through the predictor in **one** call of
  :meth:`routing.predictor.Predictor.occlusion_logits` (one batched forward pass; the ``tfidf``
  kind computes the occluded rows from the whole question's n-grams), then the bundle's
  calibration; nothing is random, so the result is deterministic, and the whole question's
  probability is the one :meth:`Predictor.predict` gives (up to floating-point rounding);
* a question of one token, once occluded, has no tokens left: its probability is then taken as
  uniform, ``1 / number of categories`` (the model has nothing to go on);
* tokens the model does not read (beyond its ``token_limit``, e.g. an LSTM's sequence length)
  have effect exactly 0 and are not re-scored;
* at most :data:`MAX_OCCLUDED` tokens are occluded (the cost grows with the square of the
  length for TF-IDF); later tokens get effect ``None`` (not measured).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from preprocessing.pipeline import Document
from routing.predictor import Predictor

#: Most tokens of one question occluded (a 5,000-character question has about 3,000).
MAX_OCCLUDED = 300


@dataclass(frozen=True)
class Evidence:
    """One token of the question and its effect on the chosen category's probability.

    Attributes:
        token: the MeCab token, as the model reads it.
        effect: probability with the token minus probability without it, in [-1, 1] (6
            decimals); ``None`` beyond :data:`MAX_OCCLUDED` tokens.
    """

    token: str
    effect: float | None

    def to_dict(self) -> dict:
        """``{"token", "effect"}``."""
        return {"token": self.token, "effect": self.effect}


def occlusion(predictor: Predictor, document: Document, category: str) -> list[Evidence]:
    """The effect of each token of ``document`` on the probability of ``category`` (rules: module docstring).

    Args:
        predictor: the loaded model.
        document: the prepared question (``predictor.prepare(question)``), with content.
        category: one of ``predictor.categories`` (normally the predicted one).

    Returns:
        One :class:`Evidence` per token, in question order (``[]`` for no tokens).

    Raises:
        ValueError: if ``category`` is not one of the model's categories.
    """
    if category not in predictor.categories:
        raise ValueError(f"category {category!r} is not one of the model's ({', '.join(predictor.categories)})")
    tokens = list(document.tokens)
    if not tokens:
        return []
    column = predictor.categories.index(category)
    limit = predictor.token_limit
    read = len(tokens) if limit is None else min(len(tokens), limit)
    scored = min(read, MAX_OCCLUDED)
    if len(tokens) > 1:
        logits = predictor.occlusion_logits(document, range(scored))
        probabilities = predictor.calibration.probabilities(logits)[:, column].astype(np.float64)
        whole, without = probabilities[0], probabilities[1:]
    else:
        whole = float(predictor.probabilities([document])[0, column])
        without = np.full(scored, 1.0 / len(predictor.categories))
    effects: list[float | None] = [round(float(whole - p), 6) for p in without]
    effects += [None] * (read - scored) + [0.0] * (len(tokens) - read)
    return [Evidence(token, effect) for token, effect in zip(tokens, effects, strict=True)]
