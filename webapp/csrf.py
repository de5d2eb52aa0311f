"""CSRF protection of the page forms with Flask-WTF's ``CSRFProtect``, and the app's secret key.

Every POST of a page (the question form ``/`` and the feedback forms ``/feedback``) must carry
the ``csrf_token`` field rendered into the form (Flask-WTF docs, "CSRF Protection"): the token is
signed with ``SECRET_KEY`` and tied to the session cookie, so another site cannot make an
agent's browser post. The JSON API (``/api/...``) is exempt: it is not called by a browser with
cookies, and gets a bearer token instead. A post without a valid token is a Japanese error page
with status 400.

``SECRET_KEY`` comes from ``$TOIAWASE_SECRET_KEY``; ``toiawase serve`` makes one random key for
all its workers when it is unset (forms then last until the server restarts). An app built
without one gets a random key of its own and says so in the log: forms rendered by one process
are then refused by another.
"""

from __future__ import annotations

import secrets

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect

from webapp.errors import AppError

#: Seconds a rendered form's token stays valid (Flask-WTF's ``WTF_CSRF_TIME_LIMIT``, default
#: one hour): a working day, since an agent may leave the page open between tickets.
TIME_LIMIT = 8 * 3600


def new_secret_key() -> str:
    """A random secret key for Flask's session signing (``secrets.token_hex(32)``: 256 bits)."""
    return secrets.token_hex(32)


def init_csrf(app: Flask, exempt: tuple[object, ...] = ()) -> CSRFProtect:
    """Protect every form post of ``app`` and return the (per-app) extension.

    Args:
        app: the app; a missing ``SECRET_KEY`` is replaced by a random one (with a warning).
        exempt: blueprints or views that need no token (the JSON API).
    """
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = new_secret_key()
        app.logger.warning("no SECRET_KEY (set TOIAWASE_SECRET_KEY): using a random one; forms rendered by another process will be refused")
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", TIME_LIMIT)
    csrf = CSRFProtect(app)
    for item in exempt:
        csrf.exempt(item)
    app.register_error_handler(CSRFError, _csrf_error)
    return csrf


def _csrf_error(error: CSRFError) -> tuple[str, int]:
    """The page shown for a post without a valid token (status 400)."""
    answer = AppError(
        400,
        f"The form could not be accepted: {error.description} Reload the page and send it again.",
        "フォームの有効期限が切れたか、正しくない送信です。ページを読み込み直してから、もう一度送信してください。",
    )
    return render_template("error.html", error=answer), 400
