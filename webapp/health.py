"""``GET /healthz``: is this worker ready to route questions?

200 ``{"status": "ok", "model_version": ..., "feedback_store": "ok"}`` when a bundle is loaded;
503 ``{"status": "no_model", "error": {...}, "feedback_store": ...}`` otherwise, so a load
balancer or the browser test does not send questions to a worker that can only answer 503.
``feedback_store`` is ``"ok"`` or ``"unavailable"`` (the database could not be opened: questions
are still routed, feedback answers 503); it never changes the status code.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from webapp.errors import no_model_error
from webapp.feedback_store import store_state
from webapp.model_loading import model_state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Readiness check (see the module docstring); never loads or predicts anything."""
    state = model_state()
    feedback_store = store_state().health
    if state.predictor is None:
        return jsonify({"status": "no_model", **no_model_error(state.error).to_dict(), "feedback_store": feedback_store}), 503
    return jsonify({"status": "ok", "model_version": state.predictor.version, "feedback_store": feedback_store}), 200
