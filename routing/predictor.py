"""The predictor seam: one interface over every model kind, and :func:`load_predictor`.

A :class:`Predictor` is a loaded bundle of some kind. The base class does what every kind shares:
the bundle's preprocessing, calibration (the bundle's temperature, :mod:`routing.calibration`),
the out-of-scope detector (:mod:`routing.scope`), the review decision (:mod:`routing.review`: no
content, out of scope, ambiguous, low confidence), top-k and analysis. A kind implements only
:meth:`Predictor.logits`, its forward pass on prepared questions (``[n_questions, n_categories]``
scores before the softmax, in the manner of scikit-learn's ``decision_function``).

Kinds (``bundle.json["kind"]``) and the modules holding their inference:

* ``lstm``: the Embedding → (Bi)LSTM network, in NumPy (:mod:`routing.lstm`);
* ``tfidf``: TF-IDF over word n-grams + multinomial logistic regression (:mod:`routing.tfidf`);
* ``hybrid``: the BiLSTM and a linear model over word and character n-grams, their calibrated
  probabilities averaged (:mod:`routing.hybrid`).
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from preprocessing.pipeline import Document, PreprocessSettings, prepare
from routing.bundle import METRICS, PLOTS, BundleError, read_json, read_manifest, resolve_bundle_path
from routing.calibration import Calibration
from routing.memory import release_free_heap
from routing.metrics_check import check_metrics
from routing.review import ReviewPolicy, review_reason
from routing.scope import VocabularyScope

if TYPE_CHECKING:
    from routing.similar import SimilarIndex

#: The out-of-scope detector's known tokens in a bundle.
SCOPE_VOCABULARY = "scope_vocabulary.json"

#: The review policy of bundles written before policies were stored: the old fixed 0.5
#: threshold, no ambiguity rule.
LEGACY_REVIEW = ReviewPolicy(threshold=0.5, margin=0.0)

#: Model kind → "module:class" of its predictor (imported on first use).
KINDS: dict[str, str] = {
    "lstm": "routing.lstm:LSTMPredictor",
    "tfidf": "routing.tfidf:TfidfPredictor",
    "hybrid": "routing.hybrid:HybridPredictor",
}


class EmptyQuestionError(ValueError):
    """Questions with no content (no words after cleaning), where a score is asked for.

    :meth:`Predictor.predict` never raises it (such questions get reason ``no_content``);
    :meth:`Predictor.predict_proba` does, since it has no row to give them.

    Attributes:
        indices: positions of those questions in the input list.
    """

    def __init__(self, indices: Sequence[int]) -> None:
        self.indices = list(indices)
        super().__init__(f"no words left after cleaning in question(s) at position {', '.join(map(str, self.indices))}")


@dataclass(frozen=True)
class Prediction:
    """The routing of one question.

    Attributes:
        category: the most probable category (``None`` for a question with no content).
        probability: its calibrated probability, in [0, 1] (``None`` with no content).
        top_k: the ``k`` most probable ``(category, probability)`` pairs, best first.
        needs_review: a person should route it (see :mod:`routing.review`).
        reason: why, one of :data:`routing.review.REASONS`, or ``None``.
    """

    category: str | None
    probability: float | None
    top_k: list[tuple[str, float]]
    needs_review: bool = False
    reason: str | None = None

    def to_dict(self) -> dict:
        """``{"category", "probability", "needs_review", "reason", "top_k": [{"category", "probability"}, ...]}``."""
        return {
            "category": self.category,
            "probability": self.probability,
            "needs_review": self.needs_review,
            "reason": self.reason,
            "top_k": [{"category": c, "probability": p} for c, p in self.top_k],
        }


#: The prediction of a question with no content: no category, a person decides.
NO_CONTENT = Prediction(None, None, [], True, "no_content")


@dataclass(frozen=True)
class Analysis:
    """What the model actually sees of a question (for the web page's "seen text" section).

    Attributes:
        cleaned: the text after NFKC and the cleaning rules.
        tokens: the tokens the model reads (cut to its token limit, if it has one).
        out_of_vocabulary: per token, ``True`` if the model does not know it.
        truncated: number of tokens cut off beyond the token limit.
    """

    cleaned: str
    tokens: list[str]
    out_of_vocabulary: list[bool]
    truncated: int


class Predictor(ABC):
    """A loaded model bundle: its preprocessing and its kind's forward pass. Thread-safe to predict.

    Args:
        path: the bundle directory.
        manifest: ``bundle.json`` as returned by :func:`routing.bundle.read_manifest`.
        metrics: ``metrics.json`` (``{}`` if the bundle has none).

    Attributes:
        kind: the model kind (a key of :data:`KINDS`).
        path, manifest, metrics: as given.
        version: the bundle's version name.
        categories: the output order of the probabilities.
        settings: the preprocessing settings the model was trained with.
        created_at: ISO 8601 time of training (UTC).
        category_merge: ``{"keep": [...], "other": "その他"}`` if categories were merged at
            training (``--keep-categories``), else ``None``.
        calibration: the :class:`routing.calibration.Calibration` of ``bundle.json["calibration"]``
            (temperature, then top-label Platt scaling; the plain softmax if none).
        temperature: its temperature (1 if none).
        review: the :class:`routing.review.ReviewPolicy` (``bundle.json["review"]``; the old
            fixed threshold 0.5 for bundles without one).
        scope: the out-of-scope detector (:class:`routing.scope.VocabularyScope`), or ``None``
            for bundles without one; set by :func:`load_predictor`.
        similar: the index of past tickets and their answers (:class:`routing.similar.SimilarIndex`),
            or ``None`` for bundles without one; set by :func:`load_predictor`.
    """

    kind: str = ""

    def __init__(self, path: Path, manifest: dict, metrics: dict) -> None:
        self.path = path
        self.manifest = manifest
        self.metrics = metrics
        self.version: str = manifest["version"]
        self.categories: list[str] = list(manifest["categories"])
        self.settings = PreprocessSettings.from_dict(manifest["preprocessing"])
        self.created_at: str = manifest["created_at"]
        self.category_merge: dict | None = manifest.get("category_merge")
        self.calibration = Calibration.from_dict(manifest.get("calibration"))
        self.review = ReviewPolicy.from_dict(manifest["review"]) if manifest.get("review") else LEGACY_REVIEW
        self.scope: VocabularyScope | None = None
        self.similar: SimilarIndex | None = None

    @property
    def temperature(self) -> float:
        """The calibration's temperature (1 if the bundle has none)."""
        return self.calibration.temperature

    @classmethod
    @abstractmethod
    def from_bundle(cls, directory: Path, manifest: dict, metrics: dict) -> "Predictor":
        """Read the kind's files from ``directory`` and build the predictor.

        Raises:
            BundleError: naming the file that is missing or damaged.
            KeyError, ValueError, TypeError: for parameters or arrays that do not fit together
                (:func:`load_predictor` reports them as a damaged bundle).
        """

    @abstractmethod
    def logits(self, documents: Sequence[Document]) -> np.ndarray:
        """The kind's forward pass: scores ``[len(documents), len(categories)]`` before the softmax.

        Every document has at least one token.
        """

    def probabilities(self, documents: Sequence[Document]) -> np.ndarray:
        """Calibrated probabilities (:attr:`calibration` of :meth:`logits`), float32 ``[n, C]``, rows sum to 1."""
        return self.calibration.probabilities(self.logits(documents))

    def occlusion_logits(self, document: Document, positions: Sequence[int]) -> np.ndarray:
        """Logits of a document and of its versions without one token: ``[1 + len(positions), C]``.

        Row 0 is ``document``; row ``j + 1`` is ``document`` without the token at ``positions[j]``
        (for :mod:`routing.evidence`). This default builds the shortened documents and makes one
        batched call of :meth:`logits`; a kind may compute the same rows faster (equal up to
        floating-point rounding).

        Raises:
            ValueError: if the document has fewer than 2 tokens or a position is out of range.
        """
        tokens = list(document.tokens)
        if len(tokens) < 2:
            raise ValueError("occlusion needs at least 2 tokens")
        if any(not 0 <= i < len(tokens) for i in positions):
            raise ValueError(f"positions must be in [0, {len(tokens)})")
        occluded = [Document(document.cleaned, tokens[:i] + tokens[i + 1 :]) for i in positions]
        return self.logits([document, *occluded])

    def out_of_scope(self, documents: Sequence[Document], probabilities: np.ndarray) -> np.ndarray:
        """Per document, whether it is unlike the training data (``[n]`` bool; none without a detector)."""
        if self.scope is None:
            return np.zeros(len(documents), dtype=bool)
        return self.scope.flags([document.tokens for document in documents])

    @property
    def token_limit(self) -> int | None:
        """Most tokens of a question the model reads (``None``: all of them)."""
        return None

    def known_tokens(self, tokens: Sequence[str]) -> list[bool]:
        """Per token, whether the model knows it (is in its vocabulary)."""
        return [True] * len(tokens)

    def prepare(self, question: str) -> Document:
        """Clean and tokenize ``question`` with this bundle's settings (the shared preprocessing)."""
        return prepare(question, self.settings)

    def tokens(self, question: str) -> list[str]:
        """The question's tokens (the shared preprocessing, with this bundle's settings)."""
        return self.prepare(question).tokens

    def predict_proba(self, questions: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities ``[n, len(categories)]`` (float32, rows sum to 1) of raw questions.

        Raises:
            EmptyQuestionError: if a question has no content (:func:`preprocessing.pipeline.has_content`).
        """
        if not questions:
            return np.zeros((0, len(self.categories)), dtype=np.float32)
        documents = [self.prepare(q) for q in questions]
        empty = [i for i, document in enumerate(documents) if not document.has_content]
        if empty:
            raise EmptyQuestionError(empty)
        return self.probabilities(documents)

    def predict(self, questions: Sequence[str], top_k: int = 3, threshold: float | None = None) -> list[Prediction]:
        """Route each raw question (cleaned and tokenized here, as in training).

        Args:
            questions: raw questions.
            top_k: how many candidates per question (clipped to the number of categories).
            threshold: overrides the bundle's review threshold (``None``: the bundle's).

        Returns:
            One :class:`Prediction` per question, in order; a question with no content gets
            :data:`NO_CONTENT`.

        Raises:
            ValueError: if ``top_k < 1`` or ``threshold`` is outside [0, 1].
        """
        return self.predict_documents([self.prepare(q) for q in questions], top_k, threshold)

    def predict_documents(self, documents: Sequence[Document], top_k: int = 3, threshold: float | None = None) -> list[Prediction]:
        """:meth:`predict` for questions already prepared with :meth:`prepare` (no second cleaning)."""
        scored = [document for document in documents if document.has_content]
        probabilities = self.probabilities(scored) if scored else np.zeros((0, len(self.categories)), dtype=np.float32)
        return self.decide(documents, probabilities, top_k, threshold)

    def decide(self, documents: Sequence[Document], probabilities: np.ndarray, top_k: int = 3, threshold: float | None = None) -> list[Prediction]:
        """Predictions from calibrated probabilities: top-k and the review decision.

        Args:
            documents: the prepared questions, ``n`` of them.
            probabilities: ``[m, C]`` calibrated probabilities of the ``m`` documents that have
                content, in order (see :meth:`probabilities`).
            top_k: candidates per question (clipped to the number of categories).
            threshold: overrides the bundle's review threshold.

        Raises:
            ValueError: if ``top_k < 1`` or the threshold is outside [0, 1].
        """
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {top_k}")
        policy = self.review if threshold is None else replace(self.review, threshold=threshold)
        rows = [i for i, document in enumerate(documents) if document.has_content]
        results: list[Prediction] = [NO_CONTENT] * len(documents)
        if not rows:
            return results
        foreign = self.out_of_scope([documents[i] for i in rows], probabilities)
        k = min(top_k, len(self.categories))
        order = np.argsort(-probabilities, axis=1, kind="stable")
        for i, row, ranked, flagged in zip(rows, probabilities, order, foreign):
            top = [(self.categories[j], float(row[j])) for j in ranked[:k]]
            second = float(row[ranked[1]]) if len(ranked) > 1 else 0.0
            reason = review_reason(policy, top[0][1], second, out_of_scope=bool(flagged))
            results[i] = Prediction(top[0][0], top[0][1], top, reason is not None, reason)
        return results

    def analyze(self, document: Document) -> Analysis:
        """What the model sees of a prepared question: cleaned text, tokens read, unknown tokens."""
        limit = self.token_limit
        kept = document.tokens[:limit] if limit is not None else list(document.tokens)
        known = self.known_tokens(kept)
        return Analysis(document.cleaned, kept, [not k for k in known], len(document.tokens) - len(kept))

    def plot_path(self, name: str) -> Path | None:
        """Path of a plot file of this bundle (one of :data:`routing.bundle.PLOTS`) if it exists."""
        path = self.path / name
        return path if name in PLOTS and path.is_file() else None


def load_predictor(path: str | os.PathLike, *, similar: bool = True) -> Predictor:
    """Load a bundle (a bundle directory, or a models directory whose ``current`` is used).

    Takes well under a second and about as much memory as the arrays (no TensorFlow); the
    memory the load used only while reading is returned to the system
    (:func:`routing.memory.release_free_heap`).

    Args:
        path: the bundle or models directory.
        similar: also load the bundle's index of similar past tickets (:mod:`routing.similar`)
            if it has one. ``False`` for callers that only route (``toiawase predict`` and
            ``evaluate``): the index and bm25s (with SciPy) cost a process 20–40 MB resident
            and are then neither read nor checked; ``predictor.similar`` stays ``None``.

    Raises:
        BundleError: missing or incomplete bundle, a damaged file (named), an unknown format or
            kind.
    """
    directory = resolve_bundle_path(path)
    manifest = read_manifest(directory)
    kind = manifest["kind"]
    if kind not in KINDS:
        raise BundleError(f"{directory / 'bundle.json'}: model kind {kind!r} is not known to this toiawase (it knows {', '.join(KINDS)})")
    metrics = check_metrics(read_json(directory, METRICS), directory / METRICS) if (directory / METRICS).is_file() else {}
    module, name = KINDS[kind].split(":")
    cls = getattr(importlib.import_module(module), name)
    try:
        predictor = cls.from_bundle(directory, manifest, metrics)
        if manifest.get("out_of_scope"):
            predictor.scope = VocabularyScope.from_parts(manifest["out_of_scope"], read_json(directory, SCOPE_VOCABULARY))
        if similar and manifest.get("similar"):
            from routing.similar import load_similar  # bm25s is imported only for bundles with an index

            predictor.similar = load_similar(directory, manifest)
        release_free_heap()  # the load's short-lived objects: give their pages back (routing.memory)
        return predictor
    except BundleError:
        raise
    except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        # AttributeError: a section that must be a JSON object is another JSON value ("similar": 3).
        raise BundleError(f"{directory}: incomplete or damaged {kind} bundle ({type(exc).__name__}: {exc})") from None
