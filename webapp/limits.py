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

``memory://`` is served by :class:`ThreadSafeMemoryStorage`, not by the ``limits`` library's own
``MemoryStorage``: in ``limits`` 5.8.0 (``requirements.lock``) two threads counting at once can
both start its expiry timer, and the second start raises ``RuntimeError: threads can only be
started once``, a 500 for that request (seen once in 1,863 requests of ``bench/reliability.py``'s
load on 2026-12-06; the race is alisaifee/limits pull request #352, "Make memory storage
threadsafe").

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
import threading
from collections.abc import Callable
from typing import TypeVar

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import MemoryStorage

from webapp.errors import AppError

View = TypeVar("View", bound=Callable)


#: The storage scheme of :class:`ThreadSafeMemoryStorage`; ``memory://`` is mapped to it.
SAFE_MEMORY_SCHEME = "toiawase-memory"


class ThreadSafeMemoryStorage(MemoryStorage):
    """``limits``' in-memory storage with its counting calls made one at a time (``toiawase-memory://``).

    ``MemoryStorage.incr``, ``decr`` and ``acquire_entry`` each check whether the expiry timer
    runs and start a new one if not; two threads doing so at once start the same timer twice
    (``RuntimeError``). Here one lock per storage makes each of those calls whole. A call takes
    microseconds, so the lock costs the worker's 32 threads nothing measurable.
    """

    STORAGE_SCHEME = [SAFE_MEMORY_SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        self._counting = threading.Lock()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """``MemoryStorage.incr`` under the storage's lock."""
        with self._counting:
            return super().incr(key, expiry, amount)

    def decr(self, key: str, amount: int = 1) -> int:
        """``MemoryStorage.decr`` under the storage's lock."""
        with self._counting:
            return super().decr(key, amount)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        """``MemoryStorage.acquire_entry`` (moving window) under the storage's lock."""
        with self._counting:
            return super().acquire_entry(key, limit, expiry, amount)


def init_limiter(app: Flask, exempt: tuple[str, ...] = ("health.healthz", "static")) -> Limiter:
    """Apply the application-wide limits of ``app.config`` (``RATELIMIT_*``) to every view but ``exempt`` ones.

    One count per client for all its requests (Flask-Limiter's "application limits"), not one per
    route. A ``memory://`` storage URI is served by :class:`ThreadSafeMemoryStorage`.

    Returns the :class:`flask_limiter.Limiter` (also in the set ``app.extensions["limiter"]``).
    """
    configured = str(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
    # Flask-Limiter prefers the constructor's storage_uri to the config's; the config keeps what was set.
    storage_uri = f"{SAFE_MEMORY_SCHEME}://" if configured.startswith("memory://") else None
    return Limiter(get_remote_address, app=app, storage_uri=storage_uri,
                   application_limits_exempt_when=lambda: request.endpoint in exempt)


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
