"""Loading the model bundle once per app (per gunicorn worker, after the fork).

The loaded model is the app's only mutable state; it lives in ``app.extensions["toiawase"]`` as a
:class:`ModelState`. When no bundle can be loaded the app still starts: its pages explain how to
train one and the API answers 503 (issue #3, "No trained model yet").
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from routing.bundle import BundleError
from routing.predictor import Predictor, load_predictor

EXTENSION = "toiawase"

#: What the pages and the 503 answers tell a person to run when there is no model.
TRAIN_HINT = "toiawase train --data FILE --out models"
MAKE_HINT = "make serve"


@dataclass(frozen=True)
class ModelState:
    """The outcome of loading the bundle at start-up.

    Attributes:
        path: the ``MODEL_PATH`` that was tried (models or bundle directory).
        predictor: the loaded model, or ``None``.
        error: why loading failed (``BundleError`` message), or ``None``.
    """

    path: str
    predictor: Predictor | None
    error: str | None


def load_model(app: Flask) -> ModelState:
    """Load the bundle at ``app.config["MODEL_PATH"]`` into ``app.extensions`` and return the state.

    A missing or damaged bundle is logged as a warning and recorded, not raised.
    """
    path = str(app.config["MODEL_PATH"])
    try:
        state = ModelState(path, load_predictor(path), None)
        app.logger.info("model bundle %s (%s) loaded from %s", state.predictor.version, state.predictor.kind, state.predictor.path)
    except BundleError as exc:
        state = ModelState(path, None, str(exc))
        app.logger.warning("no model: %s", exc)
    app.extensions[EXTENSION] = state
    return state


def model_state() -> ModelState:
    """The :class:`ModelState` of the current app (inside a request or app context)."""
    return current_app.extensions[EXTENSION]
