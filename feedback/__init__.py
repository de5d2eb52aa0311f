"""The feedback store of toiawase: what the router answered, and what the agents said about it.

The web app and the CLI log every prediction (:meth:`FeedbackStore.log_prediction`); agents
confirm or correct categories (:meth:`FeedbackStore.record_feedback`, idempotent per key); the
nightly re-training reads the agents' final labels (:meth:`FeedbackStore.labeled_tickets`,
:meth:`FeedbackStore.export_tsv`); the monitoring page reads statistics and the drift from the training mix
(:meth:`FeedbackStore.monitor`, :mod:`feedback.monitor`).

Storage is SQL through SQLAlchemy 2 with the schema versioned by Alembic migrations shipped in
``feedback/migrations``: by default a SQLite file in WAL mode beside the models
(``<models_dir>/feedback.sqlite3``), or any SQLAlchemy URL (PostgreSQL via
``postgresql+psycopg://``) given on the command line or in ``$TOIAWASE_DB`` (:func:`resolve_url`).

Example::

    from feedback import FeedbackStore, resolve_url

    with FeedbackStore.open(resolve_url(None, "models")) as store:
        pid = store.log_prediction(question="注文した商品がまだ届きません", model_version="v1",
                                   category="配送", probability=0.83,
                                   top_k=[("配送", 0.83), ("返品・返金", 0.09)])
        store.record_feedback(prediction_id=pid, action="confirm", agent_category="配送",
                              idempotency_key="form-token-123")
"""

from feedback.config import DEFAULT_FILENAME, ENV_VAR, StoreConfig, default_url, resolve_url
from feedback.errors import (
    FeedbackStoreError,
    StoreOpenError,
    StoreURLError,
    UnknownPredictionError,
    UnmaskedQuestionError,
)
from feedback.models import ACTIONS, REASONS
from feedback.monitor import Alert, CategoryShift, Drift, MonitorLimits, MonitorSummary
from feedback.stats import Accuracy, CategoryFeedback, DayCount, ReviewRate
from feedback.store import (
    TSV_HEADER,
    FeedbackRecord,
    FeedbackResult,
    FeedbackStore,
    LabeledTicket,
    PredictionRecord,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_FILENAME",
    "ENV_VAR",
    "REASONS",
    "TSV_HEADER",
    "Accuracy",
    "Alert",
    "CategoryFeedback",
    "CategoryShift",
    "DayCount",
    "Drift",
    "FeedbackRecord",
    "FeedbackResult",
    "FeedbackStore",
    "FeedbackStoreError",
    "LabeledTicket",
    "MonitorLimits",
    "MonitorSummary",
    "PredictionRecord",
    "ReviewRate",
    "StoreConfig",
    "StoreOpenError",
    "StoreURLError",
    "UnknownPredictionError",
    "UnmaskedQuestionError",
    "default_url",
    "resolve_url",
]
