"""The training side of the model-kind seam: what a fit returns, and the fit function of each kind.

Every kind's fit function has the signature of :data:`Fit`::

    fit(train, valid, categories, config, log, verbose) -> FittedModel

``train`` and ``valid`` are :class:`training.data.Examples` (cleaned, tokenized, labeled);
``valid`` is for early stopping and may hold categories the model does not know. The returned
:class:`FittedModel` holds everything the bundle needs; :func:`training.run.train` writes it and
reads it back through :func:`routing.predictor.load_predictor` before evaluating it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Kind → "module:function" of its fit (imported on first use: the LSTM's imports TensorFlow).
FITTERS: dict[str, str] = {
    "lstm": "training.fit_lstm:fit",
    "tfidf": "training.fit_tfidf:fit",
    "hybrid": "training.fit_hybrid:fit",
}


@dataclass
class FittedModel:
    """A fitted model, ready to be written into a bundle.

    Attributes:
        kind: the model kind (``bundle.json["kind"]``).
        parameters: the kind's parameters (``bundle.json["model"]``), JSON-serialisable.
        documents: the kind's JSON files by name (``vocabulary.json``, ``terms.json``...).
        arrays: the arrays of ``weights.npz``.
        sampled_counts: ``{category: examples}`` the model was fitted on (after cap/oversampling).
        history: per-epoch training curves (Keras' ``History.history``); empty for kinds
            without epochs.
        summary: facts for the training report and ``metrics.json["data"]`` (vocabulary size,
            epochs run, ...).
        writers: extra bundle files written by a callable given the file's path (e.g. the
            Keras model's ``save``).
    """

    kind: str
    parameters: dict
    documents: dict[str, object]
    arrays: dict[str, np.ndarray]
    sampled_counts: dict[str, int]
    history: dict[str, list[float]] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)
    writers: dict[str, Callable[[Path], None]] = field(default_factory=dict)


#: The signature of a kind's fit function (see the module docstring).
Fit = Callable[..., FittedModel]


def fit_function(kind: str) -> Fit:
    """Return the fit function of ``kind``.

    Raises:
        ValueError: for a kind without one.
    """
    if kind not in FITTERS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(FITTERS)}")
    module, name = FITTERS[kind].split(":")
    return getattr(importlib.import_module(module), name)
