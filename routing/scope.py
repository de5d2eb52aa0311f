"""Out-of-scope questions: unlike anything the model was trained on, so a person should route them.

A router trained on a travel desk's questions still puts a car-defect report into *some* travel
queue, often with a high probability: softmax confidence is a weak out-of-distribution signal
(Hendrycks & Gimpel 2017 report it as a baseline; on CLINC150, Larson et al. 2019, confidence
thresholds catch about half of the out-of-scope queries). Word overlap is a strong one for
support queues, whose vocabulary is narrow: this detector scores a question by its
**out-of-vocabulary share**, the share of its tokens that the training data did not contain at
least ``min_count`` times, and flags it when that share is above a threshold fitted on held-out
in-domain questions (their ``quantile``, e.g. 0.95: about 5 % of in-domain questions flagged).

It needs no model internals, so every model kind gets it; the known tokens and the threshold
live in the bundle (``scope_vocabulary.json``, ``bundle.json["out_of_scope"]``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from preprocessing.cleaning import PLACEHOLDER_RE


@dataclass(frozen=True)
class VocabularyScope:
    """The out-of-vocabulary share detector (see the module docstring).

    Attributes:
        known: tokens seen at least ``min_count`` times in the training data.
        threshold: a question whose score is above it is out of scope, in [0, 1].
        min_count: how often a token must occur in training to count as known.
        quantile: the share of held-out in-domain questions at or below the threshold (a record).
    """

    known: frozenset[str]
    threshold: float
    min_count: int = 2
    quantile: float = 0.95

    def scores(self, tokens: Sequence[Sequence[str]]) -> np.ndarray:
        """Per question, the share of its tokens (placeholders such as ``<URL>`` aside) not known, ``[n]`` in [0, 1].

        A question whose only tokens are placeholders scores 0 (it has nothing to judge).

        Example:
            >>> scope = VocabularyScope(frozenset({"荷物", "が", "届か", "ない"}), threshold=0.3)
            >>> scope.scores([["荷物", "が", "届か", "ない"], ["ブレーキ", "が", "効か", "ない"]]).tolist()
            [0.0, 0.5]
        """
        out = np.zeros(len(tokens), dtype=np.float64)
        for row, question in enumerate(tokens):
            words = [t for t in question if not PLACEHOLDER_RE.fullmatch(t)]
            if words:
                out[row] = sum(t not in self.known for t in words) / len(words)
        return out

    def flags(self, tokens: Sequence[Sequence[str]]) -> np.ndarray:
        """Per question, whether it is out of scope (score above the threshold), ``[n]`` bool."""
        return self.scores(tokens) > self.threshold

    def to_dict(self) -> dict:
        """The parameters for ``bundle.json["out_of_scope"]`` (the known tokens go to their own file)."""
        return {"method": "oov_share", "threshold": self.threshold, "min_count": self.min_count, "quantile": self.quantile}

    @classmethod
    def from_parts(cls, parameters: dict, known: Iterable[str]) -> "VocabularyScope":
        """Inverse of :meth:`to_dict` plus the known tokens.

        Raises:
            ValueError: for a method other than ``oov_share``.
        """
        if parameters.get("method") != "oov_share":
            raise ValueError(f"unknown out-of-scope method {parameters.get('method')!r}")
        return cls(frozenset(known), float(parameters["threshold"]), int(parameters["min_count"]), float(parameters["quantile"]))


def fit_scope(train_tokens: Sequence[Sequence[str]], holdout_tokens: Sequence[Sequence[str]], quantile: float = 0.95, min_count: int = 2) -> VocabularyScope:
    """Known tokens from the training questions; the threshold from held-out in-domain questions.

    Args:
        train_tokens: tokens of the questions the model is fitted on.
        holdout_tokens: tokens of held-out questions of the same domain (not in ``train_tokens``).
        quantile: the threshold is this quantile of the holdout's scores (higher: fewer flagged).
        min_count: occurrences in training for a token to count as known.

    Raises:
        ValueError: if ``quantile`` is outside [0, 1] or ``min_count`` < 1.
    """
    if not 0.0 <= quantile <= 1.0 or min_count < 1:
        raise ValueError(f"quantile must be in [0, 1] and min_count ≥ 1, not {quantile} and {min_count}")
    counts = Counter(t for question in train_tokens for t in question)
    scope = VocabularyScope(frozenset(t for t, c in counts.items() if c >= min_count), 1.0, min_count, quantile)
    held = scope.scores(holdout_tokens)
    threshold = float(np.quantile(held, quantile)) if len(held) else 1.0
    return VocabularyScope(scope.known, threshold, min_count, quantile)
