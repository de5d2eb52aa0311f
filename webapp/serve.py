"""Running the app under gunicorn, programmatically (``toiawase serve``).

Follows gunicorn's "Custom Application" recipe (``gunicorn.app.base.BaseApplication``). The app
is *not* preloaded in the master (``preload_app = False``): each worker calls
:func:`webapp.create_app` after the fork and loads the bundle itself. Serving never imports
TensorFlow, but TensorFlow is not fork-safe and the rule keeps the workers independent.

Workers are :class:`webapp.worker.BufferingThreadWorker`: gunicorn's ``gthread`` worker
(threads per worker, HTTP keep-alive) that reads each whole request in its event loop before a
thread handles it, so clients that never finish sending their request hold no thread (see that
module; ``--worker-class gthread`` gives gunicorn's own). MeCab taggers are per thread
(``preprocessing.tokenizer``) and ``Predictor.predict`` is thread-safe.

A new bundle in ``models/current`` is picked up by every worker within 2 s, without a signal
(:mod:`webapp.reload`); ``kill -HUP <master pid>`` restarts the workers, which fall back to the
last good bundle if ``current`` is broken. At start-up, a present but broken bundle stops
``toiawase serve`` before any worker is forked: one line naming the file, exit status 2
(:func:`check_bundle`); a missing one only warns (the app serves the "no model" page).

Logs: gunicorn's access log and the app's lines carry the request id (:mod:`webapp.request_id`);
the access log prints the method and path, not the query string, and no request body.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path

from gunicorn.app.base import BaseApplication

from webapp import settings
from webapp.csrf import new_secret_key
from webapp.feedback_store import check_url, database_url_for, probe, worker_exit
from webapp.scheduling import BATCH_LOCK_CONFIG

log = logging.getLogger(__name__)

#: Threads per worker: requests handled at once by one worker (slow clients hold none, see
#: :mod:`webapp.worker`). A batch waiting for its turn (:mod:`webapp.scheduling`) holds a thread,
#: so there are as many threads as clients expected at once: with 8, single questions queued
#: behind waiting batches for a free thread: single-question p99 810 ms with 8 threads, 190 ms
#: with 24 (``bench/loadtest/run.py --users 32 --duration 20``, with the cross-worker batch lock,
#: 1-min load average 1.28 and 0.91 before the runs). A thread costs little memory: the MeCab
#: dictionary is mapped once per process (:mod:`preprocessing.tokenizer`); 190 MB resident per
#: worker after that run with 32 threads (README, "Load test").
THREADS = 32
#: OpenBLAS threads per worker (threadpoolctl), see :meth:`ToiawaseApplication.load`.
BLAS_THREADS = 1
#: The worker class: gthread that buffers whole requests first (:mod:`webapp.worker`).
WORKER_CLASS = "webapp.worker.BufferingThreadWorker"
#: Seconds a worker may spend on one request before gunicorn restarts it. A 1,000-question
#: request takes well under a second; this bounds a stuck worker.
TIMEOUT = 30
#: Seconds an idle keep-alive connection stays open.
KEEPALIVE = 5
#: gunicorn's access log format: client, method, path without the query string (questions never
#: reach the log), status, bytes, time in milliseconds, request id (the response's header).
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
#: The app's log lines (``app.logger``), with the request id (``-`` outside a request).
APP_LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] [rid=%(request_id)s] %(message)s"


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

        Also, in the worker: the app's log format (:func:`configure_app_logging`), gunicorn's
        body errors answered 400, the interpreter's switch interval
        (:data:`webapp.scheduling.SWITCH_INTERVAL`).

        OpenBLAS is limited to :data:`BLAS_THREADS` (threadpoolctl), as the batch workers of
        ``routing.batch`` are: the model's matrices are small, and OpenBLAS's second thread
        spins on the other core, which the other worker needs. Form POST (occlusion evidence
        and similar tickets) took 17.9 ms of CPU with one BLAS thread against 26.9 ms with
        OpenBLAS's default two (in-process Flask test client, demo hybrid model).
        """
        from gunicorn.http.errors import NoMoreData, ParseException
        from threadpoolctl import threadpool_limits

        from webapp import create_app
        from webapp.errors import register_malformed_request_handler
        from webapp.scheduling import SWITCH_INTERVAL

        configure_app_logging()
        sys.setswitchinterval(SWITCH_INTERVAL)
        threadpool_limits(limits=BLAS_THREADS)
        app = create_app(self.app_config)
        register_malformed_request_handler(app, ParseException, NoMoreData)
        return app


def configure_app_logging() -> None:
    """Log the app's lines (logger ``webapp``) at INFO with :data:`APP_LOG_FORMAT` (request id)."""
    from flask.logging import default_handler

    default_handler.setFormatter(logging.Formatter(APP_LOG_FORMAT))
    logging.getLogger("webapp").setLevel(logging.INFO)


def gunicorn_options(host: str, port: int, workers: int, worker_class: str = WORKER_CLASS, threads: int = THREADS) -> dict[str, object]:
    """The gunicorn settings used by :func:`run_gunicorn` (see the module constants)."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": worker_class,
        "threads": threads,
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
    worker_class: str = WORKER_CLASS,
    threads: int = THREADS,
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
        worker_class: gunicorn worker class (default :data:`WORKER_CLASS`).
        threads: threads per worker (:data:`THREADS`).

    The workers share one ``SECRET_KEY`` (``$TOIAWASE_SECRET_KEY``, else a random one made
    here), so a form rendered by one worker is accepted by another.

    Raises:
        SystemExit: status 2 for a present but broken bundle (``error: FILE: reason`` on stderr)
            or a threshold outside [0, 1]; gunicorn's status when it stops.
        feedback.StoreURLError: the database URL does not parse or names no installed driver.
    """
    model = model or os.environ.get(settings.ENV_MODEL) or settings.DEFAULT_MODEL_PATH
    try:
        if threshold is not None:
            threshold = settings.parse_threshold(threshold, "--threshold")
        else:
            settings.from_environment()  # validates TOIAWASE_THRESHOLD before forking workers
    except ValueError as exc:
        _fail(str(exc))
    from routing.bundle import BundleError

    try:
        warning = check_bundle(model)
    except BundleError as exc:
        _fail(str(exc))
    if warning:
        print(f"warning: {warning}\nwarning: serving the 'no model' page until a bundle exists (it is picked up within seconds)", file=sys.stderr)
    url = database_url_for(db, os.path.abspath(model))
    check_url(url)
    problem = probe(url)
    if problem is not None:
        print(f"warning: {problem}\nwarning: questions are routed but not logged, and feedback answers 503, until the database "
              "can be opened and the server is restarted", file=sys.stderr)
    secret_key = os.environ.get(settings.ENV_SECRET_KEY) or new_secret_key()
    # The workers' shared batch lock (webapp.scheduling.BatchAdmission): made here, before the fork.
    handle, lock_path = tempfile.mkstemp(prefix="toiawase-batch-", suffix=".lock")
    os.close(handle)
    app_config = {"MODEL_PATH": os.path.abspath(model), "THRESHOLD": threshold, "DB_URL": url, "SECRET_KEY": secret_key,
                  BATCH_LOCK_CONFIG: lock_path}
    try:
        ToiawaseApplication(gunicorn_options(host, port, workers, worker_class, threads), app_config).run()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock_path)


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def check_bundle(model: str | os.PathLike) -> str | None:
    """Check, before forking workers, that the bundle ``model`` names loads.

    Returns:
        ``None`` when it loads; a warning when there is no bundle at all (no ``bundle.json`` and
        no ``current``): the app then serves the "no model" page, as documented.

    Raises:
        BundleError: for a bundle that is there but broken: a damaged or missing file (named
            first in the message), an unknown kind or format, or a ``current`` link to a
            directory that is not a bundle.
    """
    from routing.bundle import CURRENT, MANIFEST, BundleError, resolve_bundle_path
    from routing.predictor import load_predictor

    path = Path(model)
    current = path / CURRENT
    if not (path / MANIFEST).is_file() and os.path.lexists(current) and not (current / MANIFEST).is_file():
        target = os.readlink(current) if current.is_symlink() else CURRENT
        raise BundleError(f"{current}: points to {target}, which has no {MANIFEST} (missing or incomplete bundle)")
    try:
        resolve_bundle_path(path)
    except BundleError as exc:
        return str(exc)
    load_predictor(path)  # raises BundleError naming the file
    return None
