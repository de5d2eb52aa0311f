"""``GET /healthz`` (and ``HEAD``): is this worker ready to route questions?

* 200 ``{"status": "ok", "model_version": ...}``: the bundle ``current`` names is loaded;
* 200 ``{"status": "degraded", "model_version": ..., "reason": ...}``: a model serves, but the
  bundle ``current`` names now was refused (damaged, missing file...; see :mod:`webapp.reload`).
  Still 200 so that load balancers keep the instance, which answers correctly with the last good
  model, while operators see why. ``reason`` names the file at fault relative to the models
  directory (no absolute server path);
* 503 ``{"status": "no_model", "error": {...}}``: nothing to route with, so a load balancer or
  the browser test does not send questions to a worker that can only answer 503.

Every answer also carries ``feedback_store``: ``"ok"`` or ``"unavailable"`` (the database could
not be opened: questions are still routed, feedback answers 503); it never changes the status.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from webapp.errors import no_model_error
from webapp.feedback_store import store_state
from webapp.model_loading import model_state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Readiness check (see the module docstring); never loads or predicts anything itself."""
    state = model_state()
    feedback_store = store_state().health
    if state.predictor is None:
        return jsonify({"status": "no_model", **no_model_error(state.error).to_dict(), "feedback_store": feedback_store}), 503
    body = {"status": state.status, "model_version": state.predictor.version}
    if state.refused:
        body["reason"] = state.refused
    body["feedback_store"] = feedback_store
    return jsonify(body), 200
