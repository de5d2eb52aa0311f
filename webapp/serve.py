"""Running the app under gunicorn, programmatically (``toiawase serve``).

Follows gunicorn's "Custom Application" recipe (``gunicorn.app.base.BaseApplication``). The app
is *not* preloaded in the master (``preload_app = False``): each worker calls
:func:`webapp.create_app` after the fork and loads the bundle itself. Serving never imports
TensorFlow, but TensorFlow is not fork-safe and the rule keeps the workers independent.

Workers are ``gthread`` workers (threads per worker, HTTP keep-alive); MeCab taggers are per
thread (``preprocessing.tokenizer``) and ``Predictor.predict`` is thread-safe. A new bundle in
``models/current`` is picked up by ``kill -HUP <master pid>`` (gunicorn restarts the workers).
"""

from __future__ import annotations

import logging
import os
import sys

from gunicorn.app.base import BaseApplication

from webapp import settings
from webapp.csrf import new_secret_key
from webapp.feedback_store import check_url, database_url_for, probe, worker_exit

log = logging.getLogger(__name__)

#: Threads per worker (gthread): a slow client does not block the worker's other requests.
THREADS = 4
#: Seconds a worker may spend on one request before gunicorn restarts it. A 1,000-question
#: request takes well under a second; this bounds a stuck worker.
TIMEOUT = 30
#: Seconds an idle keep-alive connection stays open.
KEEPALIVE = 5
#: gunicorn's access log format with the request time in milliseconds (``%(M)s``).
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'


class ToiawaseApplication(BaseApplication):
    """A gunicorn application whose workers each build the Flask app from ``app_config``."""

    def __init__(self, options: dict[str, object], app_config: dict[str, object]) -> None:
        self.options = options
        self.app_config = app_config
        super().__init__()

    def load_config(self) -> None:
        """Copy ``options`` into gunicorn's settings (unknown or ``None`` values are skipped)."""
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key.lower(), value)

    def load(self):
        """Build the WSGI app in the worker (called after the fork, since ``preload_app`` is off).

        OpenBLAS keeps its default thread pool here: limited to one thread (as the batch workers
        of ``routing.batch`` are), four concurrent clients saw p50 9.7 ms instead of
        2.8 ms (``bench/latency.py --concurrency 4``), the gthread worker's threads then
        contending inside OpenBLAS.
        """
        from webapp import create_app

        return create_app(self.app_config)


def gunicorn_options(host: str, port: int, workers: int) -> dict[str, object]:
    """The gunicorn settings used by :func:`run_gunicorn` (see the module constants)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": THREADS,
        "preload_app": False,
        "timeout": TIMEOUT,
        "graceful_timeout": 10,
        "keepalive": KEEPALIVE,
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "loglevel": "info",
        "proc_name": "toiawase",
        # gunicorn ≥ 24 opens a control socket in ~/.gunicorn; several servers (tests, the
        # benchmark) would share its path, and nothing here uses it.
        "control_socket_disable": True,
        "worker_exit": worker_exit,  # closes the worker's feedback store
    }


def run_gunicorn(
    model: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 2,
    threshold: float | None = None,
    db: str | None = None,
) -> None:
    """Serve the app with gunicorn until interrupted (Ctrl+C or SIGTERM); does not return before.

    Args:
        model: bundle or models directory; ``None``: ``$TOIAWASE_MODEL``, else ``models``.
        host, port: where to listen (``127.0.0.1`` by default: only this machine).
        workers: worker processes (each loads the bundle, a few MB for the demo model).
        threshold: top probability below which a question needs review; ``None``:
            ``$TOIAWASE_THRESHOLD``, else 0.5.
        db: feedback database URL; ``None``: ``$TOIAWASE_DB``, else ``feedback.sqlite3`` in the
            models directory. A database that cannot be opened is a warning (the app routes
            questions without logging them; feedback answers 503).

    The workers share one ``SECRET_KEY`` (``$TOIAWASE_SECRET_KEY``, else a random one made
    here), so a form rendered by one worker is accepted by another.

    Raises:
        SystemExit: on a threshold outside [0, 1] (message on stderr) or when gunicorn stops.
        feedback.StoreURLError: the database URL does not parse or names no installed driver.
    """
    model = model or os.environ.get(settings.ENV_MODEL) or settings.DEFAULT_MODEL_PATH
    try:
        if threshold is not None:
            threshold = settings.parse_threshold(threshold, "--threshold")
        else:
            settings.from_environment()  # validates TOIAWASE_THRESHOLD before forking workers
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    _warn_without_model(model)
    url = database_url_for(db, os.path.abspath(model))
    check_url(url)
    problem = probe(url)
    if problem is not None:
        print(f"warning: {problem}\nwarning: questions are routed but not logged, and feedback answers 503, until the database "
              "can be opened and the server is restarted", file=sys.stderr)
    secret_key = os.environ.get(settings.ENV_SECRET_KEY) or new_secret_key()
    app_config = {"MODEL_PATH": os.path.abspath(model), "THRESHOLD": threshold, "DB_URL": url, "SECRET_KEY": secret_key}
    ToiawaseApplication(gunicorn_options(host, port, workers), app_config).run()


def _warn_without_model(model: str) -> None:
    """Say on stderr, before the workers start, that there is no bundle (the app still serves)."""
    from routing.bundle import BundleError, resolve_bundle_path

    try:
        resolve_bundle_path(model)
    except BundleError as exc:
        print(f"warning: {exc}\nwarning: serving the 'no model' page until a bundle exists and the server is restarted", file=sys.stderr)
