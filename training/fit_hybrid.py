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
   forward pass of :mod:`routing.hybrid`).

The final temperature and the review threshold are fitted afterwards on the same holdout, on the
fused logits, by :func:`training.calibrate.fit_confidence`, as for every kind.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from preprocessing.pipeline import Document
from routing.calibration import fit_temperature
from routing.hybrid import MEMBERS, NGRAMS, members_from_parts
from routing.ngrams import NgramConfig, NgramFeaturizer
from training import fit_lstm
from training.config import TrainConfig
from training.data import Examples
from training.kinds import FittedModel


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


def fit(
    train: Examples,
    valid: Examples,
    categories: list[str],
    config: TrainConfig,
    log: Callable[[str], None] = print,
    verbose: int = 2,
) -> FittedModel:
    """Fit both members on ``train`` and their temperatures on ``valid`` (the holdout).

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
    temperatures = {name: fit_temperature(member.logits(documents), labels) for name, member in zip(MEMBERS, members)}
    log("member temperatures on the holdout: " + ", ".join(f"{name} {t:.3f}" for name, t in temperatures.items()))
    return FittedModel(
        kind="hybrid",
        parameters={**parameters, "member_temperatures": temperatures},
        documents={"vocabulary.json": lstm.documents["vocabulary.json"], NGRAMS: ngrams},
        arrays=arrays,
        sampled_counts=lstm.sampled_counts,
        history=lstm.history,
        summary={**lstm.summary, "ngram_features": featurizer.n_features, "member_temperatures": temperatures},
        writers=lstm.writers,
    )
