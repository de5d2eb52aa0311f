"""The predictor seam: one interface over every model kind, and :func:`load_predictor`.

A :class:`Predictor` is a loaded bundle of some kind. The base class does what every kind shares
(the bundle's preprocessing, empty-question handling, top-k, analysis); a kind implements only
:meth:`Predictor.probabilities`, its forward pass on prepared questions, in the manner of
scikit-learn's ``predict_proba`` (``[n_questions, n_categories]``, rows summing to 1).

Kinds (``bundle.json["kind"]``) and the modules holding their inference:

* ``lstm``: the Embedding → (Bi)LSTM network, in NumPy (:mod:`routing.lstm`);
* ``tfidf``: TF-IDF over word n-grams + multinomial logistic regression (:mod:`routing.tfidf`).
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from preprocessing.pipeline import Document, PreprocessSettings, prepare
from routing.bundle import METRICS, PLOTS, BundleError, read_json, read_manifest, resolve_bundle_path

#: Model kind → "module:class" of its predictor (imported on first use).
KINDS: dict[str, str] = {
    "lstm": "routing.lstm:LSTMPredictor",
    "tfidf": "routing.tfidf:TfidfPredictor",
}


class EmptyQuestionError(ValueError):
    """Questions with no token left after cleaning (e.g. only a separator line).

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
        category: the most probable category.
        probability: its probability (in [0, 1]).
        top_k: the ``k`` most probable ``(category, probability)`` pairs, best first.
    """

    category: str
    probability: float
    top_k: list[tuple[str, float]]

    def to_dict(self) -> dict:
        """``{"category", "probability", "top_k": [{"category", "probability"}, ...]}``."""
        return {
            "category": self.category,
            "probability": self.probability,
            "top_k": [{"category": c, "probability": p} for c, p in self.top_k],
        }


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
    def probabilities(self, documents: Sequence[Document]) -> np.ndarray:
        """The kind's forward pass: float32 ``[len(documents), len(categories)]``, rows sum to 1.

        Every document has at least one token.
        """

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
        """Probabilities ``[n, len(categories)]`` (float32, rows sum to 1) of raw questions.

        Raises:
            EmptyQuestionError: if a question has no token left after cleaning.
        """
        if not questions:
            return np.zeros((0, len(self.categories)), dtype=np.float32)
        documents = [self.prepare(q) for q in questions]
        empty = [i for i, document in enumerate(documents) if not document.tokens]
        if empty:
            raise EmptyQuestionError(empty)
        return self.probabilities(documents)

    def predict(self, questions: Sequence[str], top_k: int = 3, allow_empty: bool = False) -> list[Prediction | None]:
        """Route each raw question (cleaned and tokenized here, as in training).

        Args:
            questions: raw questions.
            top_k: how many candidates per question (clipped to the number of categories).
            allow_empty: give ``None`` for a question with no words left after cleaning
                (for files, where one such line must not stop the rest) instead of raising.

        Returns:
            One :class:`Prediction` per question, in order (``None`` only with ``allow_empty``).

        Raises:
            EmptyQuestionError: if a question has no words left after cleaning (unless
                ``allow_empty``).
            ValueError: if ``top_k < 1``.
        """
        return self.predict_documents([self.prepare(q) for q in questions], top_k, allow_empty)

    def predict_documents(self, documents: Sequence[Document], top_k: int = 3, allow_empty: bool = False) -> list[Prediction | None]:
        """:meth:`predict` for questions already prepared with :meth:`prepare` (no second cleaning)."""
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {top_k}")
        rows = [i for i, document in enumerate(documents) if document.tokens]
        if len(rows) < len(documents) and not allow_empty:
            raise EmptyQuestionError([i for i, document in enumerate(documents) if not document.tokens])
        results: list[Prediction | None] = [None] * len(documents)
        if not rows:
            return results
        probabilities = self.probabilities([documents[i] for i in rows])
        k = min(top_k, len(self.categories))
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        for i, row, best in zip(rows, probabilities, order):
            top = [(self.categories[j], float(row[j])) for j in best]
            results[i] = Prediction(top[0][0], top[0][1], top)
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


def load_predictor(path: str | os.PathLike) -> Predictor:
    """Load a bundle (a bundle directory, or a models directory whose ``current`` is used).

    Takes well under a second and about as much memory as the arrays (no TensorFlow).

    Raises:
        BundleError: missing or incomplete bundle, a damaged file (named), an unknown format or
            kind.
    """
    directory = resolve_bundle_path(path)
    manifest = read_manifest(directory)
    kind = manifest["kind"]
    if kind not in KINDS:
        raise BundleError(f"{directory / 'bundle.json'}: model kind {kind!r} is not known to this toiawase (it knows {', '.join(KINDS)})")
    metrics = read_json(directory, METRICS) if (directory / METRICS).is_file() else {}
    module, name = KINDS[kind].split(":")
    cls = getattr(importlib.import_module(module), name)
    try:
        return cls.from_bundle(directory, manifest, metrics)
    except BundleError:
        raise
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise BundleError(f"{directory}: incomplete or damaged {kind} bundle ({type(exc).__name__}: {exc})") from None
