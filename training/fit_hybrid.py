"""Fitting model kind ``hybrid``: the BiLSTM, a linear model over n-grams, and their temperatures.

1. The LSTM member is fitted exactly as kind ``lstm`` (:func:`training.fit_lstm.fit`: the same
   network, vocabulary, early stopping on the holdout, cap/oversampling/class weights);
2. the n-gram member: scikit-learn's ``TfidfVectorizer`` for each block of
   :class:`routing.ngrams.NgramConfig` (word n-grams of the tokens, character n-grams of the
   cleaned text; ``sublinear_tf``, ``min_df``, ``lowercase=False``), the blocks stacked and
   scaled by ``1/sqrt(blocks)``, and ``LinearSVC(C, class_weight)`` on the fit part (the
   research's choice for issue 9: C = 0.5, class-balanced; BENCHMARKS.md, "Winning design");
   only the terms, idf vectors and weights are kept (:class:`routing.ngrams.NgramFeaturizer`
   recomputes the features from them);
3. each member's temperature, fitted on the holdout (never the evaluation data) with
   :func:`routing.calibration.fit_temperature` on the member's scores as served (the NumPy
   forward pass of :mod:`routing.hybrid`);
4. the members' weights in the fusion: ``TrainConfig.lstm_weight`` (0.3 by default), or, when
   it is ``None`` (``--lstm-weight auto``), chosen on the same holdout (:func:`fit_member_weights`).

The final temperature, the top-label scaling and the review threshold are fitted afterwards on the same holdout, on the
fused logits, by :func:`training.calibrate.fit_confidence`, as for every kind.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.svm import LinearSVC

from preprocessing.pipeline import Document
from routing.calibration import fit_temperature
from routing.hybrid import MEMBERS, NGRAMS, fuse, members_from_parts
from routing.ngrams import NgramConfig, NgramFeaturizer
from training import fit_lstm
from training.config import TrainConfig
from training.data import Examples
from training.kinds import FittedModel


#: The LSTM member's weights :func:`fit_member_weights` tries (the n-gram member gets the rest):
#: never 0 or 1, so both members always count; 0.5 first, so that ties keep the plain mean.
LSTM_WEIGHTS: tuple[float, ...] = (0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.1, 0.9)


def _split_on_space(text: str) -> list[str]:
    return text.split(" ")


def ngram_vectorizers(config: NgramConfig) -> dict[str, TfidfVectorizer]:
    """Unfitted scikit-learn vectorizers, one per block of ``config`` (in column order).

    ``word`` reads the tokens joined by single spaces (:func:`vectorizer_inputs`), ``char`` the
    cleaned text; neither lower-cases (the cleaned text already is, tokens are kept as MeCab
    gives them).
    """
    vectorizers = {}
    if config.word_ngrams is not None:
        vectorizers["word"] = TfidfVectorizer(
            tokenizer=_split_on_space, token_pattern=None, lowercase=False, ngram_range=config.word_ngrams,
            sublinear_tf=True, min_df=config.min_df,
        )
    if config.char_ngrams is not None:
        vectorizers["char"] = TfidfVectorizer(
            analyzer="char", lowercase=False, ngram_range=config.char_ngrams, sublinear_tf=True, min_df=config.min_df
        )
    return vectorizers


def vectorizer_inputs(block: str, tokens: Sequence[Sequence[str]], cleaned: Sequence[str]) -> list[str]:
    """The strings the ``block`` vectorizer of :func:`ngram_vectorizers` reads."""
    return [" ".join(t) for t in tokens] if block == "word" else list(cleaned)


def stacked_features(vectorizers: dict[str, TfidfVectorizer], tokens: Sequence[Sequence[str]], cleaned: Sequence[str]) -> csr_matrix:
    """scikit-learn's features of fitted ``vectorizers``: blocks side by side, each times ``1/sqrt(blocks)``.

    Returns a float64 CSR matrix ``[n, total terms]``; :meth:`routing.ngrams.NgramFeaturizer.transform`
    computes the same matrix without scikit-learn.
    """
    blocks = [v.transform(vectorizer_inputs(b, tokens, cleaned)) for b, v in vectorizers.items()]
    return csr_matrix(hstack(blocks, format="csr") * (1.0 / math.sqrt(len(blocks))))


def fit_featurizer(config: NgramConfig, tokens: Sequence[Sequence[str]], cleaned: Sequence[str]) -> tuple[NgramFeaturizer, dict[str, TfidfVectorizer], csr_matrix]:
    """Fit the vectorizers on training questions.

    Returns:
        (the serving featurizer built from their terms and idf vectors, the fitted vectorizers,
        the training features as scikit-learn computes them).

    Raises:
        ValueError: as ``TfidfVectorizer.fit`` when no n-gram is kept (e.g. ``min_df`` above the
            number of questions).
    """
    vectorizers = ngram_vectorizers(config)
    for block, vectorizer in vectorizers.items():
        vectorizer.fit(vectorizer_inputs(block, tokens, cleaned))
    terms = {b: v.get_feature_names_out().tolist() for b, v in vectorizers.items()}
    idf = {b: v.idf_.astype(np.float64) for b, v in vectorizers.items()}
    return NgramFeaturizer(config, terms, idf), vectorizers, stacked_features(vectorizers, tokens, cleaned)


def fit_linear(features: csr_matrix, labels: Sequence[str], categories: list[str], config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``LinearSVC(C=config.linear_c, class_weight=config.linear_class_weight)``.

    Returns:
        ``coef`` ``[C, F]`` float32 and ``intercept`` ``[C]`` float64, rows in ``categories``
        order. With two categories scikit-learn keeps one weight vector for the second; the
        first gets zeros, so that the softmax of the scores is the same decision.

    Raises:
        ValueError: if the fitted classes differ from ``categories``.
    """
    classifier = LinearSVC(C=config.linear_c, class_weight=config.linear_class_weight, random_state=config.seed)
    classifier.fit(features, list(labels))
    if list(classifier.classes_) != list(categories):
        raise ValueError(f"fitted classes {list(classifier.classes_)} differ from the categories {categories}")
    coef, intercept = classifier.coef_, classifier.intercept_
    if coef.shape[0] == 1:
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return coef.astype(np.float32), intercept.astype(np.float64)


def holdout_documents(holdout: Examples, categories: list[str]) -> tuple[list[Document], np.ndarray]:
    """The holdout questions a member can score (some token, a known category) and their label indices."""
    index = {c: i for i, c in enumerate(categories)}
    keep = [i for i, (tokens, label) in enumerate(zip(holdout.tokens, holdout.labels)) if tokens and label in index]
    documents = [Document(holdout.cleaned[i], list(holdout.tokens[i])) for i in keep]
    return documents, np.asarray([index[holdout.labels[i]] for i in keep], dtype=np.int64)


def fit_member_weights(
    scores: Sequence[np.ndarray], temperatures: Sequence[float], labels: np.ndarray, grid: Sequence[float] = LSTM_WEIGHTS
) -> tuple[dict[str, float], dict[float, float]]:
    """Choose the LSTM member's weight in the fusion by the holdout's macro-F1.

    The fused prediction (:func:`routing.hybrid.fuse` with weights ``[w, 1 − w]``) is scored for
    each ``w`` of ``grid`` with scikit-learn's ``f1_score(average="macro")``; the first ``w`` in
    grid order with the highest score wins (the default grid starts at 0.5, so equal weights win
    ties). A weight is a hyperparameter of the ensemble, chosen on held-out data as early
    stopping and the temperatures are; macro-F1 because it is the metric the product is judged
    by (every category counts alike), where the holdout's log-loss preferred the LSTM more than
    dev macro-F1 did (BENCHMARKS.md, "Winning design").

    Args:
        scores: each member's raw scores on the holdout, ``[n, C]``, in :data:`routing.hybrid.MEMBERS` order.
        temperatures: the members' temperatures, same order.
        labels: ``[n]`` category indices of the holdout questions.
        grid: the LSTM weights to try, each in ``[0, 1]``.

    Returns:
        (``{"lstm": w, "ngram": 1 − w}``, ``{w: holdout macro-F1}`` for every ``w`` tried).

    Raises:
        ValueError: for an empty grid or holdout, or a weight outside ``[0, 1]``.
    """
    if not len(grid) or not len(labels):
        raise ValueError(f"need weights to try and holdout questions: {len(grid)} weights, {len(labels)} questions")
    if not all(0.0 <= w <= 1.0 for w in grid):
        raise ValueError(f"LSTM weights must be between 0 and 1, not {list(grid)}")
    tried = {float(w): float(f1_score(labels, fuse(scores, temperatures, [w, 1.0 - w]).argmax(axis=1), average="macro")) for w in grid}
    best = max(tried, key=lambda w: tried[w])  # max keeps the first of equal scores, in grid order
    return {"lstm": best, "ngram": 1.0 - best}, tried


def fit(
    train: Examples,
    valid: Examples,
    categories: list[str],
    config: TrainConfig,
    log: Callable[[str], None] = print,
    verbose: int = 2,
) -> FittedModel:
    """Fit both members on ``train``, their temperatures and fusion weights on ``valid`` (the holdout).

    Returns:
        A :class:`training.kinds.FittedModel` of kind ``hybrid`` (files and parameters as in
        :mod:`routing.hybrid`); its ``history`` and ``writers`` are the LSTM member's.

    Raises:
        ValueError: if the fitted classes differ from ``categories``, or no n-gram is kept.
    """
    lstm = fit_lstm.fit(train, valid, categories, config, log=log, verbose=verbose)
    started = time.perf_counter()
    featurizer, vectorizers, features = fit_featurizer(config.ngrams, train.tokens, train.cleaned)
    log(f"n-gram member: {featurizer.n_features} features ({', '.join(f'{b} {featurizer.sizes[b]}' for b in featurizer.blocks)}); "
        f"LinearSVC C={config.linear_c:g}, class_weight={config.linear_class_weight}")
    coef, intercept = fit_linear(features, train.labels, categories, config)
    log(f"n-gram member fitted in {time.perf_counter() - started:.1f} s")
    ngrams = {b: vectorizers[b].get_feature_names_out().tolist() for b in featurizer.blocks}
    arrays = {**lstm.arrays, "linear_coef": coef, "linear_intercept": intercept}
    arrays.update({f"ngram_{b}_idf": featurizer.idf[b] for b in featurizer.blocks})
    parameters = {"lstm": lstm.parameters, "ngrams": config.ngrams.to_dict()}
    members = members_from_parts(parameters, lstm.documents["vocabulary.json"], ngrams, arrays)
    documents, labels = holdout_documents(valid, categories)
    scores = [member.logits(documents) for member in members]
    temperatures = {name: fit_temperature(s, labels) for name, s in zip(MEMBERS, scores)}
    log("member temperatures on the holdout: " + ", ".join(f"{name} {t:.3f}" for name, t in temperatures.items()))
    if config.lstm_weight is None:
        weights, tried = fit_member_weights(scores, list(temperatures.values()), labels)
        log("fusion weight of the LSTM member by holdout macro-F1: "
            + ", ".join(f"{w:g} {f1:.4f}" for w, f1 in sorted(tried.items())) + f" → {weights['lstm']:g}")
    else:
        weights = {"lstm": float(config.lstm_weight), "ngram": 1.0 - float(config.lstm_weight)}
        log(f"fusion weight of the LSTM member: {weights['lstm']:g} (set)")
    return FittedModel(
        kind="hybrid",
        parameters={**parameters, "member_temperatures": temperatures, "member_weights": weights},
        documents={"vocabulary.json": lstm.documents["vocabulary.json"], NGRAMS: ngrams},
        arrays=arrays,
        sampled_counts=lstm.sampled_counts,
        history=lstm.history,
        summary={**lstm.summary, "ngram_features": featurizer.n_features, "member_temperatures": temperatures, "member_weights": weights},
        writers=lstm.writers,
    )
