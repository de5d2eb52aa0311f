"""The web app's settings: Flask config keys, their defaults, and the environment variables.

Where each value comes from, first match wins:

1. the ``test_config`` mapping given to :func:`webapp.create_app` (``toiawase serve`` passes
   ``--model``, ``--threshold`` and ``--db`` this way);
2. the environment: ``TOIAWASE_MODEL`` (→ ``MODEL_PATH``), ``TOIAWASE_THRESHOLD`` (→ ``THRESHOLD``),
   ``TOIAWASE_SECRET_KEY`` (→ ``SECRET_KEY``, see :mod:`webapp.csrf`), ``TOIAWASE_API_TOKEN``
   (→ ``API_TOKEN``), ``TOIAWASE_RATE_LIMIT`` / ``TOIAWASE_RATE_LIMIT_STORAGE`` /
   ``TOIAWASE_RATE_LIMIT_ENABLED`` (→ Flask-Limiter's ``RATELIMIT_APPLICATION`` /
   ``RATELIMIT_STORAGE_URI`` / ``RATELIMIT_ENABLED``, see :mod:`webapp.limits`),
   the monitoring limits
   ``TOIAWASE_MONITOR_*`` (:data:`MONITOR_ENV`, see :mod:`webapp.monitor`), the webhook secrets
   ``TOIAWASE_TWILIO_AUTH_TOKEN`` and ``TOIAWASE_WEBHOOK_SECRET`` and ``TOIAWASE_PUBLIC_URL``
   (see :mod:`webapp.webhooks`); ``DB_URL`` unset falls back
   to ``TOIAWASE_DB``, then to ``feedback.sqlite3`` in the models directory
   (:func:`feedback.resolve_url`, :mod:`webapp.feedback_store`);
3. the defaults below.

The limits are the ones of the product issue (#3, "Bad input"): a question of at most 5,000
characters, at most 1,000 questions per API request, and a request body limit (Flask's
``MAX_CONTENT_LENGTH``) above which the answer is 413. The files page has its own limits
(``FILES_*``, :mod:`webapp.files`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Models directory (its ``current`` bundle is served) or a bundle directory, relative to the cwd.
DEFAULT_MODEL_PATH = "models"
#: Below this calibrated top-category probability (in [0, 1]) a person should route the question;
#: ``None``: the threshold stored in the model bundle (chosen at training for a target precision).
DEFAULT_THRESHOLD = None
#: Longest question accepted, in characters (Unicode code points, before cleaning).
MAX_QUESTION_CHARS = 5000
#: Most questions in one ``POST /api/v1/predict``.
MAX_QUESTIONS = 1000
#: Largest request body in bytes (16 MiB): 1,000 questions of 5,000 kana/kanji take 15 MB in
#: UTF-8 (3 bytes each). Larger bodies get 413 before they are read.
MAX_CONTENT_LENGTH = 16 * 1024 * 1024
#: Largest upload on the files page ``/files`` in bytes (64 MiB; that route only): a 100,000-row
#: file of questions of about 100 kana/kanji is about 30 MB of UTF-8 (bench/upload_large.py).
FILES_MAX_BYTES = 64 * 1024 * 1024
#: Most rows of one uploaded file.
FILES_MAX_ROWS = 200_000
#: Rows shown in the results table (the downloads have every row).
FILES_PREVIEW_ROWS = 200
#: Seconds an uploaded file and its results are kept (then removed at a later upload).
FILES_TTL = 3600
#: Where uploaded files and results are kept (``None``: ``toiawase-files`` in the system's temporary directory).
DEFAULT_FILES_DIR = None
#: Candidates per question when the request does not say (``top_k``).
DEFAULT_TOP_K = 3
#: Most questions of one ``POST /api/v1/predict`` with ``"evidence": true``: each question is
#: scored once per token (about 100 model rows for a 100-token question).
MAX_EVIDENCE_QUESTIONS = 100

#: Feedback database URL (SQLAlchemy); ``None``: ``$TOIAWASE_DB``, else the models directory's SQLite file.
DEFAULT_DB_URL = None
#: Requests per client address and worker, Flask-Limiter's notation (see webapp.limits).
DEFAULT_RATE_LIMIT = "600 per minute;50 per second"
#: Rate-limit counters: in each worker's memory (see webapp.limits for a shared store).
DEFAULT_RATE_LIMIT_STORAGE = "memory://"
#: The session cookie is not sent with cross-site posts (defence in depth beside the CSRF token).
SESSION_COOKIE_SAMESITE = "Lax"

#: The monitoring page (:mod:`webapp.monitor`; the reasoning behind each default is in
#: :class:`feedback.MonitorLimits` and the README, "Monitoring"): calendar days shown when the
#: request does not say (``?days=``), the time zone of the day boundaries (hours east of UTC;
#: 9 = Japan Standard Time, where the help desk works), and the alert limits.
MONITOR_WINDOW_DAYS = 7
MONITOR_UTC_OFFSET_HOURS = 9.0
MONITOR_DRIFT_LIMIT = 0.05
MONITOR_CORRECTION_LIMIT = 0.25
MONITOR_MIN_QUESTIONS = 200
MONITOR_MIN_FEEDBACK = 20

#: Inbound message webhooks (:mod:`webapp.webhooks`): the Twilio account's Auth Token, the
#: shared secret of the JSON webhook, and the public base URL Twilio calls (behind a proxy the
#: URL the app sees differs from the one Twilio signed). ``None``: the webhook answers 503.
TWILIO_AUTH_TOKEN = None
WEBHOOK_SECRET = None
PUBLIC_URL = None

ENV_MODEL = "TOIAWASE_MODEL"
ENV_THRESHOLD = "TOIAWASE_THRESHOLD"
ENV_SECRET_KEY = "TOIAWASE_SECRET_KEY"
ENV_API_TOKEN = "TOIAWASE_API_TOKEN"
ENV_RATE_LIMIT = "TOIAWASE_RATE_LIMIT"
ENV_RATE_LIMIT_STORAGE = "TOIAWASE_RATE_LIMIT_STORAGE"
ENV_RATE_LIMIT_ENABLED = "TOIAWASE_RATE_LIMIT_ENABLED"

#: Environment variable → (config key, type) of the monitoring settings.
MONITOR_ENV: dict[str, tuple[str, type]] = {
    "TOIAWASE_MONITOR_DAYS": ("MONITOR_WINDOW_DAYS", int),
    "TOIAWASE_MONITOR_UTC_OFFSET": ("MONITOR_UTC_OFFSET_HOURS", float),
    "TOIAWASE_MONITOR_DRIFT_LIMIT": ("MONITOR_DRIFT_LIMIT", float),
    "TOIAWASE_MONITOR_CORRECTION_LIMIT": ("MONITOR_CORRECTION_LIMIT", float),
    "TOIAWASE_MONITOR_MIN_QUESTIONS": ("MONITOR_MIN_QUESTIONS", int),
    "TOIAWASE_MONITOR_MIN_FEEDBACK": ("MONITOR_MIN_FEEDBACK", int),
}
#: Environment variable → config key of the webhook secrets (strings).
WEBHOOK_ENV: dict[str, str] = {
    "TOIAWASE_TWILIO_AUTH_TOKEN": "TWILIO_AUTH_TOKEN",
    "TOIAWASE_WEBHOOK_SECRET": "WEBHOOK_SECRET",
    "TOIAWASE_PUBLIC_URL": "PUBLIC_URL",
}


def defaults() -> dict[str, object]:
    """The default Flask config of the app (keys as in the module docstring)."""
    return {
        "MODEL_PATH": DEFAULT_MODEL_PATH,
        "THRESHOLD": DEFAULT_THRESHOLD,
        "MAX_QUESTION_CHARS": MAX_QUESTION_CHARS,
        "MAX_QUESTIONS": MAX_QUESTIONS,
        "MAX_CONTENT_LENGTH": MAX_CONTENT_LENGTH,
        "DEFAULT_TOP_K": DEFAULT_TOP_K,
        "MAX_EVIDENCE_QUESTIONS": MAX_EVIDENCE_QUESTIONS,
        "FILES_MAX_BYTES": FILES_MAX_BYTES,
        "FILES_MAX_ROWS": FILES_MAX_ROWS,
        "FILES_PREVIEW_ROWS": FILES_PREVIEW_ROWS,
        "FILES_TTL": FILES_TTL,
        "FILES_DIR": DEFAULT_FILES_DIR,
        "DB_URL": DEFAULT_DB_URL,
        "SESSION_COOKIE_SAMESITE": SESSION_COOKIE_SAMESITE,
        # Bearer token of the API's write endpoints; None: not required (webapp.limits).
        "API_TOKEN": None,
        # Flask-Limiter's own config keys (webapp.limits).
        "RATELIMIT_APPLICATION": DEFAULT_RATE_LIMIT,
        "RATELIMIT_STORAGE_URI": DEFAULT_RATE_LIMIT_STORAGE,
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_HEADERS_ENABLED": True,
        "MONITOR_WINDOW_DAYS": MONITOR_WINDOW_DAYS,
        "MONITOR_UTC_OFFSET_HOURS": MONITOR_UTC_OFFSET_HOURS,
        "MONITOR_DRIFT_LIMIT": MONITOR_DRIFT_LIMIT,
        "MONITOR_CORRECTION_LIMIT": MONITOR_CORRECTION_LIMIT,
        "MONITOR_MIN_QUESTIONS": MONITOR_MIN_QUESTIONS,
        "MONITOR_MIN_FEEDBACK": MONITOR_MIN_FEEDBACK,
        "TWILIO_AUTH_TOKEN": TWILIO_AUTH_TOKEN,
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PUBLIC_URL": PUBLIC_URL,
    }


def from_environment(environ: Mapping[str, str] = os.environ) -> dict[str, object]:
    """Config values set through the ``TOIAWASE_*`` variables of the module docstring (unset or empty: absent).

    Raises:
        ValueError: if ``TOIAWASE_THRESHOLD`` is not a number in [0, 1], or a ``TOIAWASE_MONITOR_*``
            value is not a number (the message names the variable; the ranges are checked by
            :func:`webapp.monitor.limits_from_config`).
    """
    values: dict[str, object] = {}
    if environ.get(ENV_MODEL):
        values["MODEL_PATH"] = environ[ENV_MODEL]
    if environ.get(ENV_THRESHOLD):
        values["THRESHOLD"] = parse_threshold(environ[ENV_THRESHOLD], source=ENV_THRESHOLD)
    if environ.get(ENV_SECRET_KEY):
        values["SECRET_KEY"] = environ[ENV_SECRET_KEY]
    if environ.get(ENV_API_TOKEN):
        values["API_TOKEN"] = environ[ENV_API_TOKEN]
    if environ.get(ENV_RATE_LIMIT):
        values["RATELIMIT_APPLICATION"] = environ[ENV_RATE_LIMIT]
    if environ.get(ENV_RATE_LIMIT_STORAGE):
        values["RATELIMIT_STORAGE_URI"] = environ[ENV_RATE_LIMIT_STORAGE]
    if environ.get(ENV_RATE_LIMIT_ENABLED):
        values["RATELIMIT_ENABLED"] = environ[ENV_RATE_LIMIT_ENABLED].strip().lower() not in ("0", "false", "no", "off")
    for variable, (key, kind) in MONITOR_ENV.items():
        if environ.get(variable):
            try:
                values[key] = kind(environ[variable].strip())
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise ValueError(f"{variable} must be {what}, not {environ[variable]!r}") from None
    for variable, key in WEBHOOK_ENV.items():
        if environ.get(variable):
            values[key] = environ[variable]
    return values


def parse_threshold(value: object, source: str = "THRESHOLD") -> float | None:
    """Return ``value`` as a probability threshold in [0, 1] (``None`` stays ``None``: the bundle's).

    Raises:
        ValueError: if it is not a number in [0, 1]; the message names ``source``.
    """
    if value is None:
        return None
    try:
        threshold = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{source} must be a number between 0 and 1, not {value!r}") from None
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"{source} must be between 0 and 1, not {threshold}")
    return threshold
