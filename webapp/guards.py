"""View guards, in the manner of the Flask tutorial's ``login_required``.

:func:`requires_model` says once what every page and API endpoint that needs a model would
otherwise repeat: without a loaded model, a page answers the "no model" page and the API a JSON
503, both saying how to train one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from flask import g, render_template

from webapp.errors import no_model_error, wants_json
from webapp.model_loading import MAKE_HINT, TRAIN_HINT, model_state

View = TypeVar("View", bound=Callable)


def requires_model(view: View) -> View:
    """Run ``view`` only when a model is loaded, with it in ``g.predictor``.

    Raises:
        AppError: 503 for the API (``/api/...``, ``/healthz``) when no model is loaded; pages
            render ``no_model.html`` with status 503 instead.
    """

    @functools.wraps(view)
    def wrapped(**kwargs):
        state = model_state()
        if state.predictor is None:
            if wants_json():
                raise no_model_error(state.error)
            return render_template("no_model.html", state=state, train_hint=TRAIN_HINT, make_hint=MAKE_HINT), 503
        g.predictor = state.predictor
        return view(**kwargs)

    return wrapped  # type: ignore[return-value]
