"""The feedback store in the web app: one :class:`feedback.FeedbackStore` per app, and the prediction log.

Each app (so each gunicorn worker, since ``create_app`` runs after the fork) opens its own store
in :func:`open_store`: SQLAlchemy docs, "Using Connection Pools with Multiprocessing or
os.fork()": a pool must not cross a fork. It lives in ``app.extensions["toiawase_feedback"]`` as
a :class:`StoreState` and is closed when the app is garbage-collected or the process exits
(``weakref.finalize``), or explicitly with :func:`close_store` (gunicorn's ``worker_exit``).

The database URL is the config's ``DB_URL`` (``toiawase serve --db``), else ``$TOIAWASE_DB``,
else a SQLite file ``feedback.sqlite3`` in the models directory (:func:`feedback.resolve_url`).
A store that cannot be opened is not fatal: the app still routes questions (their logging is
skipped, with a warning in the log), the feedback form and API answer 503, and ``/healthz``
says ``"feedback_store": "unavailable"``.

Logging is best effort too: every routed question is logged in one transaction per request
(:func:`log_predictions`), its question masked as the bundle's cleaning masks it
(:func:`feedback.privacy.mask_question`); when that fails (a database gone away, a disk full, a
question the store's privacy check still refuses) the answer is given anyway, without ids.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from feedback import FeedbackStore, FeedbackStoreError, StoreConfig, resolve_url
from feedback.engine import create_store_engine, safe_url
from feedback.privacy import check_masked, mask_question
from routing.bundle import MANIFEST
from routing.predictor import Prediction, Predictor
from webapp.errors import AppError

EXTENSION = "toiawase_feedback"

#: ``/healthz`` values of ``feedback_store``.
OK, UNAVAILABLE = "ok", "unavailable"


@dataclass(frozen=True)
class StoreState:
    """The outcome of opening the store at start-up.

    Attributes:
        url: the database URL, password hidden.
        store: the open store, or ``None`` when it could not be opened.
        error: why it could not (the store's message), or ``None``.
    """

    url: str
    store: FeedbackStore | None
    error: str | None

    @property
    def health(self) -> str:
        """``"ok"`` or ``"unavailable"`` (for ``/healthz``)."""
        return OK if self.store is not None else UNAVAILABLE


def models_directory(model_path: str | Path) -> Path:
    """The models directory of ``MODEL_PATH``: itself, or a bundle directory's parent.

    ``--model`` takes a models directory (its ``current`` is served) or one bundle inside it;
    the default database lives in the models directory either way.
    """
    path = Path(model_path)
    return path.parent if (path / MANIFEST).is_file() else path


def database_url_for(db_url: str | None, model_path: str | Path) -> str:
    """The store's URL: ``db_url``, else ``$TOIAWASE_DB``, else ``feedback.sqlite3`` in the models directory of ``model_path``."""
    return resolve_url(db_url, models_directory(model_path))


def database_url(app: Flask) -> str:
    """The URL the app's store opens (:func:`database_url_for` of its ``DB_URL`` and ``MODEL_PATH``)."""
    return database_url_for(app.config.get("DB_URL"), app.config["MODEL_PATH"])


def open_store(app: Flask) -> StoreState:
    """Open the app's feedback store into ``app.extensions`` and return the state.

    A URL that does not parse and a database that cannot be reached, created or migrated are
    logged as a warning and recorded (the app serves without feedback), not raised.
    """
    url = database_url(app)
    try:
        store = FeedbackStore.open(url)
    except FeedbackStoreError as error:
        state = StoreState(safe_url(url), None, str(error))
        app.logger.warning("feedback store unavailable (questions are routed but not logged; feedback answers 503): %s", error)
    else:
        state = StoreState(store.url, store, None)
        weakref.finalize(app, store.close)
        app.logger.info("feedback store %s opened", store.url)
    app.extensions[EXTENSION] = state
    return state


def close_store(app: Flask) -> None:
    """Close the app's store (its pooled connections); later calls do nothing."""
    state: StoreState | None = app.extensions.get(EXTENSION)
    if state is not None and state.store is not None:
        state.store.close()
        app.extensions[EXTENSION] = StoreState(state.url, None, "closed")


def store_state() -> StoreState:
    """The :class:`StoreState` of the current app (inside a request or app context)."""
    return current_app.extensions[EXTENSION]


def require_store() -> FeedbackStore:
    """The current app's open store.

    Raises:
        AppError: 503 when the store could not be opened (the message says feedback cannot be
            saved now and that questions are still routed).
    """
    state = store_state()
    if state.store is None:
        raise AppError(
            503,
            "Feedback cannot be saved now: the feedback store (database) is unavailable; the server log says why. "
            "Questions are still routed.",
            "フィードバックの保存先（データベース）に接続できないため、いまはフィードバックを保存できません。質問の振り分けは引き続き使えます。",
        )
    return state.store


def log_predictions(predictor: Predictor, questions: Sequence[str], predictions: Sequence[Prediction], source: str) -> list[str | None]:
    """Log routed questions in one transaction; return one id per question (``None``: not logged).

    Args:
        predictor: the model that answered (its version; its cleaning rules mask the questions).
        questions: the questions as received, one per prediction.
        predictions: the answers given, in the same order.
        source: ``"form"`` or ``"api"``.

    Returns:
        The new ids in order. A question the store's privacy check refuses even after masking
        gets ``None`` (and a warning); all are ``None`` when the store is unavailable or the
        write fails (a warning names the error): the answer is given without ids.
    """
    state = store_state()
    ids: list[str | None] = [None] * len(questions)
    if state.store is None:
        return ids
    rules = predictor.settings.rules
    entries, positions = [], []
    for position, (question, prediction) in enumerate(zip(questions, predictions, strict=True)):
        masked = mask_question(question, rules)
        try:
            check_masked(masked)
        except FeedbackStoreError as error:
            current_app.logger.warning("question %d not logged: %s", position, error)
            continue
        entries.append({
            "question": masked, "model_version": predictor.version, "category": prediction.category,
            "probability": prediction.probability, "top_k": prediction.top_k, "needs_review": prediction.needs_review,
            "reason": prediction.reason, "source": source,
        })
        positions.append(position)
    try:
        logged = state.store.log_predictions(entries)
    except (SQLAlchemyError, FeedbackStoreError, ValueError) as error:
        current_app.logger.warning("%d prediction(s) not logged: %s: %s", len(entries), type(error).__name__, error)
        return ids
    for position, prediction_id in zip(positions, logged, strict=True):
        ids[position] = prediction_id
    return ids


def check_url(url: str) -> None:
    """Check before serving that ``url`` parses and names an installed driver (nothing is connected).

    Raises:
        feedback.StoreURLError: the URL cannot be parsed, or its dialect or driver is unknown.
    """
    create_store_engine(url, StoreConfig()).dispose()


def probe(url: str) -> str | None:
    """Open and close the store at ``url`` once (creating or migrating its schema); return why it failed, or ``None``.

    ``toiawase serve`` calls it in gunicorn's master before the workers fork, to warn on the
    terminal; the engine is disposed before the fork, so no connection crosses it (SQLAlchemy
    docs, "Using Connection Pools with Multiprocessing or os.fork()").
    """
    try:
        FeedbackStore.open(url).close()
    except FeedbackStoreError as error:
        return str(error)
    return None


def worker_exit(server: object, worker: object) -> None:
    """gunicorn's ``worker_exit`` hook: close the exiting worker's store (gunicorn docs, "Server Hooks")."""
    app = getattr(worker, "wsgi", None)
    if isinstance(app, Flask):
        close_store(app)
        app.logger.info("feedback store closed")
