"""Fitting model kind ``tfidf``: TF-IDF over MeCab word 1–2-grams + logistic regression (scikit-learn).

The same pipeline as the ``tfidf_word_logreg`` baseline (:mod:`training.baselines`), exported as
plain arrays for :class:`routing.tfidf.TfidfPredictor`, so the baseline can be served through the
same form and API as the LSTM.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from preprocessing.sampling import category_counts
from training.baselines import baseline_inputs, make_baseline
from training.config import TrainConfig
from training.data import Examples
from training.kinds import FittedModel

_BASELINE = "tfidf_word_logreg"


def fit(
    train: Examples,
    valid: Examples,
    categories: list[str],
    config: TrainConfig,
    log: Callable[[str], None] = print,
    verbose: int = 2,
) -> FittedModel:
    """Fit the TF-IDF vectorizer and the logistic regression on ``train`` (``valid`` is not used).

    Returns:
        A :class:`training.kinds.FittedModel` of kind ``tfidf``: ``terms.json`` and the arrays
        ``idf`` ``[F]``, ``coef`` ``[F, C]`` (columns in ``categories`` order), ``intercept`` ``[C]``.

    Raises:
        ValueError: if the fitted classes differ from ``categories``.
    """
    pipeline = make_baseline(_BASELINE, config.seed)
    log(f"training TF-IDF + logistic regression on {len(train)} examples")
    pipeline.fit(baseline_inputs(_BASELINE, train.tokens, train.cleaned), train.labels)
    vectorizer, classifier = pipeline[0], pipeline[-1]
    if list(classifier.classes_) != list(categories):
        raise ValueError(f"fitted classes {list(classifier.classes_)} differ from the categories {categories}")
    terms = vectorizer.get_feature_names_out().tolist()
    coef, intercept = classifier.coef_, classifier.intercept_
    if coef.shape[0] == 1:
        # Two categories: scikit-learn keeps one weight vector w and gives P(second) = σ(x·w + b),
        # which is the softmax of the logits (0, x·w + b).
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return FittedModel(
        kind="tfidf",
        parameters={"ngram_range": list(vectorizer.ngram_range), "sublinear_tf": bool(vectorizer.sublinear_tf)},
        documents={"terms.json": terms},
        arrays={
            "idf": vectorizer.idf_.astype(np.float64),
            "coef": coef.T.astype(np.float64),
            "intercept": intercept.astype(np.float64),
        },
        sampled_counts=category_counts(train.labels),
        summary={"features": len(terms)},
    )
