"""Model kind ``hybrid``: the BiLSTM and a wide n-gram linear member, fused, in NumPy/SciPy.

Two members score every question:

* the **LSTM member**: the network of kind ``lstm`` (vocabulary ids cut to ``seq_len``, then
  :class:`routing.lstm.RecurrentNetwork`, the same NumPy forward pass);
* the **n-gram member**: a linear model (a class-balanced ``LinearSVC`` at training,
  :mod:`training.fit_hybrid`) over sparse TF-IDF word and character n-grams
  (:class:`routing.ngrams.NgramFeaturizer`): scores ``x · coefᵀ + intercept``.

Each member's scores ``s_m`` get their own temperature ``T_m`` (fitted on the training run's
holdout, :func:`routing.calibration.fit_temperature`), the calibrated member probabilities are
averaged with weights ``w_m`` (summing to 1, also chosen on the holdout:
:func:`training.fit_hybrid.fit_member_weights`), and the log of the average is the hybrid's
logits::

    logits = log( sum_m w_m · softmax(s_m / T_m) )

so the base :class:`routing.predictor.Predictor` applies the bundle's final temperature ``T`` on
top (``p = softmax(logits / T)``), then review and scope, as for every kind. This is the design
the research for issue 9 chose ("avgprob" fusion; BENCHMARKS.md, "Winning design"): on jmultiwoz
dev it scored 0.8997 macro-F1 against the BiLSTM's 0.8893 with equal weights. Weighting the
members by the holdout (seed 1: LSTM 0.3 on both data sets) raised dev macro-F1 to 0.9077
(jmultiwoz) and 0.7360 (mlit_defects) from 0.9005 and 0.7282 with the same trained members;
over three seeds 0.8995 and 0.7402 (BENCHMARKS.md, "Fusion weights").
Bundles written before the weights existed fuse with equal weights, as they were evaluated.

Bundle files of this kind: ``vocabulary.json`` (the LSTM's id → token), ``ngrams.json``
(``{"word": [terms], "char": [terms]}``), ``weights.npz`` (the LSTM's arrays as in kind ``lstm``,
plus ``ngram_word_idf``, ``ngram_char_idf``, ``linear_coef`` ``[C, F]``, ``linear_intercept``
``[C]``), ``model.keras``; the manifest's ``model`` is ``{"lstm": {"network", "seq_len"},
"ngrams": NgramConfig, "member_temperatures": {"lstm": T, "ngram": T}, "member_weights": {"lstm": w,
"ngram": 1 - w}}`` (no ``member_weights``: equal weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from preprocessing.pipeline import Document
from routing.bundle import read_arrays, read_json
from routing.lstm import ModelConfig, RecurrentNetwork, read_seq_len
from routing.ngrams import NgramConfig, NgramFeaturizer
from routing.predictor import Predictor
from routing.softmax import log_softmax
from routing.vocabulary import OOV_ID, Vocabulary

#: The members, in the order their scores are fused.
MEMBERS: tuple[str, ...] = ("lstm", "ngram")

#: The n-gram member's files in a bundle.
NGRAMS = "ngrams.json"


def fuse(scores: Sequence[np.ndarray], temperatures: Sequence[float], weights: Sequence[float] | None = None) -> np.ndarray:
    """``log(sum_m weights[m] · softmax(scores[m] / temperatures[m]))``, float64 ``[n, C]``.

    Computed in log space, ``L + log(sum_m w_m exp(l_m − L))`` with ``l_m = log_softmax(s_m / T_m)``
    and ``L = max_m l_m``, which is exact and never ``-inf`` for finite scores and positive
    weights (plain NumPy: ``scipy.special.logsumexp`` spends more on its argument checks than the
    sum on one question).

    Args:
        scores: one ``[n, C]`` array per member.
        temperatures: one ``T_m > 0`` per member.
        weights: one ``w_m ≥ 0`` per member, summing to 1 (to 1e-9); ``None``: equal weights
            (the mean).

    Raises:
        ValueError: without members, with a temperature that is not positive, with weights
            that are negative or do not sum to 1, or with counts that differ.

    Example:
        >>> np.exp(fuse([np.array([[0.0, 0.0]]), np.array([[np.log(3.0), 0.0]])], [1.0, 1.0])).round(4)
        array([[0.625, 0.375]])
        >>> np.exp(fuse([np.array([[0.0, 0.0]]), np.array([[np.log(3.0), 0.0]])], [1.0, 1.0], [0.5, 0.5])).round(4)
        array([[0.625, 0.375]])
        >>> np.exp(fuse([np.array([[0.0, 0.0]]), np.array([[np.log(3.0), 0.0]])], [1.0, 1.0], [0.2, 0.8])).round(4)
        array([[0.7, 0.3]])
    """
    if not scores or len(scores) != len(temperatures):
        raise ValueError(f"need one temperature per member: {len(scores)} scores, {len(temperatures)} temperatures")
    if not all(t > 0 for t in temperatures):
        raise ValueError(f"temperatures must be positive, not {list(temperatures)}")
    w = np.full(len(scores), 1.0 / len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    check_weights(w, len(scores))
    stacked = np.stack([log_softmax(np.asarray(s, dtype=np.float64) / t) for s, t in zip(scores, temperatures)])
    top = stacked.max(axis=0)
    return top + np.log(np.tensordot(w, np.exp(stacked - top), axes=1))


def check_weights(weights: Sequence[float], members: int) -> None:
    """Raise ``ValueError`` unless ``weights`` are ``members`` non-negative numbers summing to 1 (to 1e-9)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (members,) or not np.all(w >= 0) or abs(float(w.sum()) - 1.0) > 1e-9:
        raise ValueError(f"member weights must be {members} non-negative numbers summing to 1, not {list(np.atleast_1d(w))}")


class LSTMMember:
    """The recurrent member: a question's vocabulary ids, cut to ``seq_len``, through the network.

    Args:
        vocabulary: the tokens the network knows.
        seq_len: most tokens read per question.
        network: the NumPy forward pass (:class:`routing.lstm.RecurrentNetwork`).

    Raises:
        ValueError: for ``seq_len`` < 1 (every question would be cut to nothing).
    """

    def __init__(self, vocabulary: Vocabulary, seq_len: int, network: RecurrentNetwork) -> None:
        self.vocabulary = vocabulary
        self.seq_len = read_seq_len(seq_len)
        self.network = network

    def logits(self, documents: Sequence[Document]) -> np.ndarray:
        """The network's scores before its softmax, float32 ``[n, C]`` (every document has a token)."""
        return self.network.logits([self.vocabulary.encode(d.tokens, self.seq_len) for d in documents])


class LinearMember:
    """The wide member: ``features · coefᵀ + intercept`` over :class:`routing.ngrams.NgramFeaturizer`.

    Args:
        featurizer: the fitted n-gram TF-IDF transform (``F`` columns).
        coef: ``[C, F]`` weights (scikit-learn's ``coef_``).
        intercept: ``[C]``.

    Raises:
        ValueError: if the shapes do not fit together.
    """

    def __init__(self, featurizer: NgramFeaturizer, coef: np.ndarray, intercept: np.ndarray) -> None:
        coef, intercept = np.asarray(coef), np.asarray(intercept)
        if coef.ndim != 2 or coef.shape[1] != featurizer.n_features or intercept.shape != (coef.shape[0],):
            raise ValueError(f"linear weights {coef.shape} and intercept {intercept.shape} do not fit {featurizer.n_features} n-gram features")
        self.featurizer = featurizer
        self.weights = np.ascontiguousarray(coef.T)  # [F, C]: a sparse row times it reads F rows
        self.intercept = intercept

    def logits(self, documents: Sequence[Document], chunk: int = 128) -> np.ndarray:
        """Scores ``[n, C]`` float64: the sparse product ``features · coefᵀ + intercept``
        (scikit-learn's ``decision_function``, to about 1e-6).

        ``chunk`` questions at a time: their features come from one
        :meth:`routing.ngrams.NgramFeaturizer.features` call, and each question's product is
        the sum, in float64 and in column order, of ``value · weights[column]`` over its
        non-zero features alone (``np.add.reduceat``), so a question's scores do not depend on
        the rest of the batch. Only the weight rows read are converted from float32, never the
        whole ``[F, C]`` matrix. The chunk bounds the working memory: 2,000 mlit questions peak
        at 8.5 MB in chunks of 128, at 31 MB in one piece (tracemalloc).
        """
        out = np.tile(self.intercept.astype(np.float64), (len(documents), 1))
        for start in range(0, len(documents), chunk):
            data, columns, indptr = self.featurizer.features(documents[start : start + chunk])
            filled = np.flatnonzero(indptr[1:] > indptr[:-1])  # questions with a known n-gram
            if len(filled):
                products = self.weights[columns] * data[:, None]
                out[start + filled] += np.add.reduceat(products, indptr[filled], axis=0)
        return out


def members_from_parts(parameters: dict, vocabulary: Sequence[str], ngrams: dict, arrays: dict[str, np.ndarray]) -> tuple[LSTMMember, LinearMember]:
    """Build both members from a bundle's parts (the manifest's ``model``, ``vocabulary.json``,
    ``ngrams.json`` and ``weights.npz``; see the module docstring).

    Raises:
        KeyError: for a missing parameter or array; ValueError: for shapes that do not fit.
    """
    lstm = parameters["lstm"]
    network = RecurrentNetwork(ModelConfig(**lstm["network"]), arrays)
    config = NgramConfig(**parameters["ngrams"])
    featurizer = NgramFeaturizer(config, ngrams, {b: arrays[f"ngram_{b}_idf"] for b in config.blocks})
    linear = LinearMember(featurizer, arrays["linear_coef"], arrays["linear_intercept"])
    return LSTMMember(Vocabulary(vocabulary), lstm["seq_len"], network), linear


class HybridPredictor(Predictor):
    """Predictor of kind ``hybrid``: the fused members (see the module docstring).

    Args:
        path, manifest, metrics: as for :class:`routing.predictor.Predictor`.
        lstm, linear: the two members.

    Attributes:
        member_temperatures: ``[T_lstm, T_ngram]``, in :data:`MEMBERS` order.
        member_weights: ``[w_lstm, w_ngram]``, in :data:`MEMBERS` order (``[0.5, 0.5]`` for a
            bundle without ``member_weights``).

    Raises:
        ValueError: if a member's outputs do not fit the categories, a temperature is not
            positive, or the weights are not non-negative numbers summing to 1.
    """

    kind = "hybrid"

    def __init__(self, path: Path, manifest: dict, metrics: dict, lstm: LSTMMember, linear: LinearMember) -> None:
        super().__init__(path, manifest, metrics)
        temperatures = manifest["model"]["member_temperatures"]
        self.member_temperatures = [float(temperatures[m]) for m in MEMBERS]
        if not all(t > 0 for t in self.member_temperatures):
            raise ValueError(f"member temperatures must be positive, not {temperatures}")
        weights = manifest["model"].get("member_weights")
        self.member_weights = [1.0 / len(MEMBERS)] * len(MEMBERS) if weights is None else [float(weights[m]) for m in MEMBERS]
        check_weights(self.member_weights, len(MEMBERS))
        classes = len(self.categories)
        if lstm.network.output_bias.shape != (classes,) or linear.intercept.shape != (classes,):
            raise ValueError(f"members give {lstm.network.output_bias.shape} and {linear.intercept.shape} scores for {classes} categories")
        self.lstm, self.linear = lstm, linear

    @classmethod
    def from_bundle(cls, directory: Path, manifest: dict, metrics: dict) -> "HybridPredictor":
        """Read ``vocabulary.json``, ``ngrams.json`` and ``weights.npz`` (see the module docstring)."""
        lstm, linear = members_from_parts(
            manifest["model"], read_json(directory, "vocabulary.json"), read_json(directory, NGRAMS), read_arrays(directory)
        )
        return cls(directory, manifest, metrics, lstm, linear)

    def known_tokens(self, tokens: Sequence[str]) -> list[bool]:
        """``False`` for tokens out of the LSTM member's vocabulary."""
        return [i != OOV_ID for i in self.lstm.vocabulary.encode(tokens)]

    def member_logits(self, documents: Sequence[Document]) -> list[np.ndarray]:
        """Each member's raw scores ``[n, C]``, in :data:`MEMBERS` order."""
        return [self.lstm.logits(documents), self.linear.logits(documents)]

    def logits(self, documents: Sequence[Document]) -> np.ndarray:
        """``log(sum_m w_m · softmax(s_m / T_m))``, ``[n, categories]`` float64 (:func:`fuse`)."""
        return fuse(self.member_logits(documents), self.member_temperatures, self.member_weights)
