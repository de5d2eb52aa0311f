"""Loading the model bundle per app (per gunicorn worker, after the fork), and following ``current``.

The loaded model is the app's only mutable state: a :class:`webapp.reload.ModelHolder` in
``app.extensions["toiawase"]``, which reloads ``models/current`` when it changes (see
:mod:`webapp.reload`). Each request takes the :class:`ModelState` in force once, at its start
(``g.model_state``, set by a ``before_request`` hook), so one request uses one predictor from
start to end even when another thread swaps the model meanwhile.

When no bundle can be loaded the app still starts: its pages explain how to train one and the
API answers 503 (issue #3, "No trained model yet"); a bundle that appears later is picked up.
"""

from __future__ import annotations

from flask import Flask, current_app, g, has_request_context

from routing.predictor import Predictor
from webapp.reload import ModelHolder, ModelState

__all__ = ["EXTENSION", "MAKE_HINT", "TRAIN_HINT", "ModelHolder", "ModelState", "load_model", "model_state"]

EXTENSION = "toiawase"

#: What the pages and the 503 answers tell a person to run when there is no model.
TRAIN_HINT = "toiawase train --data FILE --out models"
MAKE_HINT = "make serve"


def load_model(app: Flask) -> ModelHolder:
    """Load the bundle at ``app.config["MODEL_PATH"]`` into ``app.extensions`` and return its holder.

    ``app.config["RELOAD_INTERVAL"]`` (seconds, default 2) is how often ``current`` is looked at.
    A missing or damaged bundle is logged and recorded in the state, not raised.
    """
    interval = float(app.config.get("RELOAD_INTERVAL", 2.0))
    holder = ModelHolder(app.config["MODEL_PATH"], app.logger, interval=interval)
    app.extensions[EXTENSION] = holder
    app.before_request(_take_state)
    return holder


def _take_state() -> None:
    """``before_request``: fix the model state of this request (looking at ``current`` if due)."""
    g.model_state = current_app.extensions[EXTENSION].state()


def model_state() -> ModelState:
    """The :class:`ModelState` of this request (taken at its start), or the app's current one
    outside a request."""
    if has_request_context() and "model_state" in g:
        return g.model_state
    return current_app.extensions[EXTENSION].peek()


def loaded_predictor(app: Flask) -> Predictor | None:
    """The predictor ``app`` serves right now (``None`` without a model)."""
    return app.extensions[EXTENSION].peek().predictor
