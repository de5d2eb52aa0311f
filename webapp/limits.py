"""Rate limits per client (Flask-Limiter), and the bearer token of the write endpoints.

**Rate limits.** Every request is counted against its client's address (``REMOTE_ADDR``: the
server faces the clients itself, see README "Serving"; behind a proxy, put the proxy's limits
there) with Flask-Limiter's application limits, one count per client across all routes (the ``RATELIMIT_APPLICATION`` config key, set from
``TOIAWASE_RATE_LIMIT``; default :data:`webapp.settings.DEFAULT_RATE_LIMIT`, ``600 per minute;50 per second``, in the ``limits`` library's notation,
e.g. ``"100 per minute"``). ``/healthz`` and the static files are exempt: load
balancers and uptime monitors poll them. Above the limit the answer is 429 with a ``Retry-After``
header and the usual bilingual error (:mod:`webapp.errors`). The counters are kept in memory in
each worker (``RATELIMIT_STORAGE_URI`` = ``memory://``): with ``--workers N`` a client may get up
to N times the limit, and counters restart with the workers. Point ``TOIAWASE_RATE_LIMIT_STORAGE``
at a shared store (``redis://host:6379``, Flask-Limiter's storage URIs) for one count per client
across workers. ``TOIAWASE_RATE_LIMIT_ENABLED=0`` turns the limits off.

**Bearer token.** When ``TOIAWASE_API_TOKEN`` (config ``API_TOKEN``) is set, the write endpoints
of the API (``POST /api/v1/feedback``; there is no webhook endpoint) require
``Authorization: Bearer <token>`` (RFC 6750 §2.1), compared in constant time
(:func:`hmac.compare_digest`); anything else is 401 with ``WWW-Authenticate: Bearer``. Unset, the
API is open as before (a trusted network). The form's feedback is protected by its CSRF token
instead (:mod:`webapp.csrf`).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from webapp.errors import AppError

View = TypeVar("View", bound=Callable)


def init_limiter(app: Flask, exempt: tuple[str, ...] = ("health.healthz", "static")) -> Limiter:
    """Apply the application-wide limits of ``app.config`` (``RATELIMIT_*``) to every view but ``exempt`` ones.

    One count per client for all its requests (Flask-Limiter's "application limits"), not one per
    route.

    Returns the :class:`flask_limiter.Limiter` (also in ``app.extensions["limiter"]``).
    """
    return Limiter(get_remote_address, app=app, application_limits_exempt_when=lambda: request.endpoint in exempt)


def requires_token(view: View) -> View:
    """Run ``view`` only with the right bearer token when ``API_TOKEN`` is configured.

    Raises:
        AppError: 401 (with ``WWW-Authenticate: Bearer``) for a missing, malformed or wrong token.
    """

    @functools.wraps(view)
    def wrapped(**kwargs):
        expected = current_app.config.get("API_TOKEN")
        if expected:
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
                raise AppError(
                    401,
                    "A valid API token is required: send the header `Authorization: Bearer <token>` (TOIAWASE_API_TOKEN of the server).",
                    "API トークンが必要です。`Authorization: Bearer <トークン>` ヘッダーを送ってください。",
                    headers={"WWW-Authenticate": 'Bearer realm="toiawase"'},
                )
        return view(**kwargs)

    return wrapped  # type: ignore[return-value]
