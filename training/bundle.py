"""The versioned model bundle: save atomically, load once, predict fast.

A bundle is one directory per version under a models directory::

    models/20261122-101500-ab12cd/
      bundle.json          format, version, categories (output order), sequence length,
                           preprocessing settings, training config, data fingerprint, created_at
      vocabulary.json      id → token list (0 padding, 1 out-of-vocabulary)
      weights.npz          float32 arrays for the NumPy fast path (training.fastpath)
      model.keras          the Keras model, for retraining and checks
      metrics.json         LSTM and baseline metrics on the validation data
      history.json, training_curves.png, confusion_matrix.png
    models/current  →  20261122-101500-ab12cd   (a symlink, switched after a complete write)

A bundle is written into a temporary sibling directory and renamed into place (``rename`` is
atomic within one file system, POSIX), then ``current`` is replaced by an atomic symlink swap, so
a reader never sees a half-written bundle and a crash mid-write leaves the last good one served.

:func:`load_bundle` is the one loader used by the CLI and the web app. It does not import
TensorFlow: prediction goes through :class:`training.fastpath.RecurrentRouter`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Sequence

import numpy as np

from preprocessing.pipeline import PreprocessSettings, clean_text, preprocess
from preprocessing.tokenizer import tokenize
from training.config import TrainConfig
from training.fastpath import RecurrentRouter
from training.vocabulary import OOV_ID, Vocabulary

BUNDLE_FORMAT = 1
CURRENT = "current"
PLOTS = ("training_curves.png", "confusion_matrix.png")


class BundleError(Exception):
    """A path is not a usable model bundle (missing, incomplete, or of an unknown format)."""


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
        probability: its probability (softmax output, in [0, 1]).
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
        tokens: the tokens, cut to the bundle's sequence length.
        out_of_vocabulary: per token, ``True`` if it is unknown to the vocabulary.
        truncated: number of tokens cut off beyond the sequence length.
    """

    cleaned: str
    tokens: list[str]
    out_of_vocabulary: list[bool]
    truncated: int


@dataclass
class Bundle:
    """A loaded model bundle; see the module docstring for the files. Thread-safe to predict."""

    path: Path
    version: str
    categories: list[str]
    vocabulary: Vocabulary
    settings: PreprocessSettings
    config: TrainConfig
    seq_len: int
    router: RecurrentRouter
    created_at: str
    metrics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def tokens(self, question: str) -> list[str]:
        """The question's tokens (the shared preprocessing, with this bundle's settings)."""
        return preprocess(question, self.settings)

    def encode(self, questions: Sequence[str], allow_empty: bool = False) -> list[list[int]]:
        """Token ids per question, cut to ``seq_len``.

        Args:
            questions: raw questions.
            allow_empty: return ``[]`` for a question with no token left after cleaning
                instead of raising.

        Raises:
            EmptyQuestionError: if a question has no token left after cleaning (unless
                ``allow_empty``).
        """
        encoded = [self.vocabulary.encode(self.tokens(q), self.seq_len) for q in questions]
        empty = [i for i, ids in enumerate(encoded) if not ids]
        if empty and not allow_empty:
            raise EmptyQuestionError(empty)
        return encoded

    def predict_proba(self, questions: Sequence[str]) -> np.ndarray:
        """Probabilities ``[n, len(categories)]`` (float32, rows sum to 1).

        Raises:
            EmptyQuestionError: as :meth:`encode`.
        """
        if not questions:
            return np.zeros((0, len(self.categories)), dtype=np.float32)
        return self.router.predict_proba(self.encode(questions))

    def predict(self, questions: Sequence[str], top_k: int = 3, allow_empty: bool = False) -> list[Prediction | None]:
        """Route each question.

        Args:
            questions: raw questions (cleaned and tokenized here, as in training).
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
        if top_k < 1:
            raise ValueError(f"top_k must be at least 1, not {top_k}")
        encoded = self.encode(questions, allow_empty)
        rows = [i for i, ids in enumerate(encoded) if ids]
        probabilities = self.router.predict_proba([encoded[i] for i in rows])
        k = min(top_k, len(self.categories))
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        results: list[Prediction | None] = [None] * len(questions)
        for i, row, best in zip(rows, probabilities, order):
            top = [(self.categories[j], float(row[j])) for j in best]
            results[i] = Prediction(top[0][0], top[0][1], top)
        return results

    def analyze(self, question: str) -> Analysis:
        """Return the cleaned text and the tokens this bundle's model sees for ``question``."""
        cleaned = clean_text(question, self.settings)
        tokens = tokenize(cleaned, self.settings.token_form)
        kept = tokens[: self.seq_len]
        oov = [i == OOV_ID for i in self.vocabulary.encode(kept)]
        return Analysis(cleaned, kept, oov, len(tokens) - len(kept))

    def plot_path(self, name: str) -> Path | None:
        """Path of a plot file of this bundle (one of :data:`PLOTS`) if it exists, else ``None``."""
        path = self.path / name
        return path if name in PLOTS and path.is_file() else None

    def keras_model(self):
        """Load and return the Keras model (imports TensorFlow: slow, for checks and retraining)."""
        import keras

        return keras.saving.load_model(self.path / "model.keras")


def resolve_bundle_path(path: str | os.PathLike) -> Path:
    """Return the bundle directory for ``path``: a bundle itself, or a models directory's ``current``.

    Raises:
        BundleError: if neither is found, with a hint on how to train one.
    """
    path = Path(path)
    if (path / "bundle.json").is_file():
        return path
    current = path / CURRENT
    if (current / "bundle.json").is_file():
        return current.resolve()
    if not path.exists():
        raise BundleError(f"{path}: no such model bundle or models directory; train one with `toiawase train --data FILE --out {path}`")
    raise BundleError(f"{path}: not a model bundle (no bundle.json) and no {CURRENT!r} bundle inside; train one with `toiawase train`")


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Load a bundle (directory, or models directory whose ``current`` is used).

    Takes well under a second and about as much memory as the weights (no TensorFlow).

    Raises:
        BundleError: missing or incomplete bundle, or a format this code does not read.
    """
    directory = resolve_bundle_path(path)
    try:
        info = json.loads((directory / "bundle.json").read_text(encoding="utf-8"))
        if info.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{directory}: bundle format {info.get('format')!r}, this toiawase reads {BUNDLE_FORMAT}")
        vocabulary = Vocabulary(json.loads((directory / "vocabulary.json").read_text(encoding="utf-8")))
        with np.load(directory / "weights.npz") as archive:
            weights = {key: archive[key] for key in archive.files}
        config = TrainConfig.from_dict(info["train_config"])
        metrics_path = directory / "metrics.json"
        metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
        return Bundle(
            path=directory,
            version=info["version"],
            categories=list(info["categories"]),
            vocabulary=vocabulary,
            settings=PreprocessSettings.from_dict(info["preprocessing"]),
            config=config,
            seq_len=int(info["seq_len"]),
            router=RecurrentRouter(config.model, weights),
            created_at=info["created_at"],
            metrics=metrics,
            info=info,
        )
    except BundleError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise BundleError(f"{directory}: incomplete or damaged bundle ({type(exc).__name__}: {exc})") from None


def new_version(fingerprint: str, now: datetime | None = None) -> str:
    """A version name ``YYYYMMDD-HHMMSS-<first 6 hex of the data fingerprint>`` (UTC)."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{fingerprint[:6]}"


def save_bundle(
    models_dir: str | os.PathLike,
    *,
    version: str,
    files: dict[str, object],
    weights: dict[str, np.ndarray],
    keras_model=None,
    extra_files: dict[str, str | os.PathLike] | None = None,
    make_current: bool = True,
) -> Path:
    """Write a bundle atomically and (by default) point ``current`` at it.

    Args:
        models_dir: the models directory (created if missing).
        version: the bundle's directory name (see :func:`new_version`).
        files: JSON documents by file name (``bundle.json``, ``vocabulary.json``, ``metrics.json``...).
        weights: arrays for ``weights.npz`` (see ``training.model.export_weights``).
        keras_model: if given, saved as ``model.keras``.
        extra_files: existing files (e.g. plots) copied in under the given names.
        make_current: switch ``current`` to the new bundle after the complete write.

    Returns:
        The bundle directory.

    Raises:
        FileExistsError: if that version already exists.
        OSError: if writing fails (the temporary directory is removed; ``current`` unchanged).
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    final = models_dir / version
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=models_dir))
    try:
        for name, document in files.items():
            (tmp / name).write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        np.savez(tmp / "weights.npz", **weights)
        if keras_model is not None:
            keras_model.save(tmp / "model.keras")
        for name, source in (extra_files or {}).items():
            shutil.copyfile(source, tmp / name)
        os.chmod(tmp, 0o755)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if make_current:
        set_current(models_dir, version)
    return final


def set_current(models_dir: str | os.PathLike, version: str) -> None:
    """Atomically point ``models_dir/current`` at ``version`` (symlink made aside, then renamed).

    Raises:
        BundleError: if ``models_dir/version`` is not a complete bundle.
    """
    models_dir = Path(models_dir)
    if not (models_dir / version / "bundle.json").is_file():
        raise BundleError(f"{models_dir / version}: not a complete bundle")
    link = models_dir / f".{CURRENT}.{os.getpid()}"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(version, link)
    os.replace(link, models_dir / CURRENT)
