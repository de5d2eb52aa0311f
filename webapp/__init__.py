"""toiawase's web app: the question form, the model page and the JSON API (Flask).

:func:`create_app` is the application factory (as in the Flask tutorial's ``flaskr``). Templates
and static files are read from the repository's top-level ``templates/`` and ``static/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from flask import Flask, Response

from webapp import settings

#: The repository root (this package is installed editable, so the folders are found from here).
ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: Mapping[str, object] | None = None) -> Flask:
    """Create the app, load the model bundle once and open the feedback store.

    Args:
        test_config: Flask config values overriding the environment and defaults, e.g.
            ``{"MODEL_PATH": "models", "THRESHOLD": 0.6, "DB_URL": "sqlite:////srv/fb.sqlite3"}``
            (see :mod:`webapp.settings` for the keys). ``None`` values are ignored, so callers
            can pass unset options through.

    Returns:
        The app. A missing model is not an error: the pages then explain how to train one and the
        API answers 503. Nor is a feedback store that cannot be opened: questions are routed
        without being logged and feedback answers 503 (:mod:`webapp.feedback_store`). Page
        forms are CSRF-protected (:mod:`webapp.csrf`); the JSON API and the signed webhooks
        (:mod:`webapp.webhooks`) are exempt.

    Raises:
        ValueError: if ``THRESHOLD`` (or ``TOIAWASE_THRESHOLD``) is not a number in [0, 1], or a
            monitoring setting is out of range (:func:`webapp.monitor.check_config`).
    """
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.from_mapping(settings.defaults())
    app.config.from_mapping(settings.from_environment())
    app.config.from_mapping({k: v for k, v in (test_config or {}).items() if v is not None})
    app.config["THRESHOLD"] = settings.parse_threshold(app.config["THRESHOLD"])
    from webapp.monitor import check_config

    check_config(app)
    app.json.ensure_ascii = False  # Japanese readable in the JSON answers
    app.json.sort_keys = False  # keep the documented field order

    from webapp import api, feedback_pages, files, health, monitor, pages, request_id, scheduling, webhooks
    from webapp.csrf import init_csrf
    from webapp.errors import register_error_handlers
    from webapp.feedback_store import open_store
    from webapp.limits import init_limiter
    from webapp.model_loading import load_model

    request_id.init_app(app)
    scheduling.init_app(app)
    app.before_request(files.raise_upload_limit)  # before CSRFProtect reads the form
    init_limiter(app)
    load_model(app)
    open_store(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(feedback_pages.bp)
    app.register_blueprint(files.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(monitor.bp)
    app.register_blueprint(webhooks.bp)
    register_error_handlers(app)
    init_csrf(app, exempt=(api.bp, webhooks.bp))
    app.after_request(_security_headers)
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["datetime"] = format_datetime
    return app


def percent(value: float | None, digits: int = 1) -> str:
    """Format a probability or score in [0, 1] as a percentage (``0.8312`` → ``"83.1%"``; ``None`` → ``"–"``)."""
    return "–" if value is None else f"{100 * float(value):.{digits}f}%"


def format_datetime(value: str) -> str:
    """Format an ISO 8601 timestamp for people (``2026-11-22T04:37:52+00:00`` → ``2026-11-22 04:37 UTC``).

    A value that does not parse is returned unchanged.
    """
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    zone = moment.tzname() or ""
    return f"{moment:%Y-%m-%d %H:%M} {zone}".strip()


def _security_headers(response: Response) -> Response:
    """Defence in depth against injected markup: no foreign scripts, no framing, no sniffing."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
