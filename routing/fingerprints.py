"""Fingerprints of a bundle's training questions, and the overlap of an evaluation set with them.

An evaluation on questions the model was trained on overstates how it does on new questions.
To tell, every bundle keeps, in ``train_questions.npz`` (array ``blake2b_64``), one 64-bit
fingerprint per distinct *normalized* training question: the first 8 bytes of BLAKE2b
(RFC 7693, ``hashlib.blake2b(digest_size=8)``) of the UTF-8 cleaned text
(:func:`preprocessing.pipeline.clean_text` with the bundle's settings: NFKC, masks, digits → 0,
whitespace collapsed, lower case), read as a big-endian unsigned integer, sorted and unique.
"Training questions" are those the model was fitted on and those it was early-stopped and
calibrated on (the holdout); the validation part is not one of them.

The file is small (8 bytes a question: 106 KB for 13,224 questions) and reveals no text.
Two different questions share a fingerprint with probability about ``n·m / 2**64`` for ``n``
training and ``m`` evaluated questions (birthday bound): 1e-9 for 100,000 each.

Bundles written before fingerprints existed have no such file: their overlap is unknown
(``None``), not zero.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from routing.bundle import BundleError, read_arrays

#: The bundle file holding the fingerprints, and its array's name.
FINGERPRINTS = "train_questions.npz"
ARRAY = "blake2b_64"


def fingerprint(cleaned: str) -> int:
    """The 64-bit fingerprint of one cleaned question: BLAKE2b-64 of its UTF-8 bytes, big-endian.

    Example:
        >>> fingerprint("荷物が届きません") == fingerprint("荷物が届きません")
        True
        >>> fingerprint("荷物が届きません") == fingerprint("荷物が届きました")
        False
    """
    return int.from_bytes(hashlib.blake2b(cleaned.encode("utf-8"), digest_size=8).digest(), "big")


def fingerprints(cleaned: Iterable[str]) -> np.ndarray:
    """Fingerprints of many cleaned questions, in order: ``[n]`` uint64 (repeats kept)."""
    return np.fromiter((fingerprint(text) for text in cleaned), dtype=np.uint64)


def training_fingerprints(cleaned: Iterable[str]) -> np.ndarray:
    """What a bundle stores: the sorted, unique fingerprints of its cleaned training questions, ``[k]`` uint64."""
    return np.unique(fingerprints(cleaned))


def load_fingerprints(bundle_dir: str | Path) -> np.ndarray | None:
    """The training fingerprints of a bundle directory, or ``None`` if it has none (an older bundle).

    Raises:
        BundleError: naming the file if it is damaged or not a 1-D uint64 array.
    """
    directory = Path(bundle_dir)
    if not (directory / FINGERPRINTS).is_file():
        return None
    arrays = read_arrays(directory, FINGERPRINTS)
    values = arrays.get(ARRAY)
    if values is None or values.ndim != 1 or values.dtype != np.uint64:
        raise BundleError(f"{directory / FINGERPRINTS}: incomplete or damaged bundle (no 1-D uint64 array {ARRAY!r})")
    return values


@dataclass(frozen=True)
class Overlap:
    """How many evaluated questions are, after normalization, training questions of the model.

    Attributes:
        questions: evaluated questions whose cleaned text is a training question (repeats count).
        share: ``questions / evaluated``, in [0, 1] (0 when nothing was evaluated).
    """

    questions: int
    share: float

    def to_dict(self) -> dict:
        """``{"questions": int, "share": float}``."""
        return {"questions": self.questions, "share": self.share}


def overlap(training: np.ndarray, cleaned: Sequence[str]) -> Overlap:
    """The :class:`Overlap` of evaluated questions (cleaned with the model's settings) with ``training``.

    Args:
        training: a bundle's fingerprints (:func:`load_fingerprints`), sorted.
        cleaned: the evaluated questions' cleaned texts, ``n`` of them.

    Example:
        >>> trained = training_fingerprints(["荷物が届きません", "返品したい"])
        >>> overlap(trained, ["返品したい", "パスワードを忘れました"])
        Overlap(questions=1, share=0.5)
    """
    if not cleaned:
        return Overlap(0, 0.0)
    found = int(np.isin(fingerprints(cleaned), training, assume_unique=False).sum())
    return Overlap(found, found / len(cleaned))
