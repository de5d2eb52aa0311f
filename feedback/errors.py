"""Exceptions of the feedback store. All derive from :class:`FeedbackStoreError`.

Invalid arguments (an unknown action, an empty category, a probability outside [0, 1], a naive
datetime) raise the built-in ``ValueError``; the classes below that also derive from
``ValueError``/``LookupError`` can be caught either way.
"""

from __future__ import annotations


class FeedbackStoreError(Exception):
    """Base class of every error raised on purpose by :mod:`feedback`."""


class StoreURLError(FeedbackStoreError, ValueError):
    """The database URL cannot be parsed, or names a database driver that is not installed."""


class StoreOpenError(FeedbackStoreError, RuntimeError):
    """The database could not be reached, created or migrated to the current schema.

    The message names the URL with its password hidden and the database's own reason.
    """


class UnknownPredictionError(FeedbackStoreError, LookupError):
    """Feedback names a ``prediction_id`` that is not in the prediction log.

    Attributes:
        prediction_id: the id that was not found.
    """

    def __init__(self, prediction_id: str) -> None:
        super().__init__(f"no logged prediction with id {prediction_id!r}")
        self.prediction_id = prediction_id


class UnmaskedQuestionError(FeedbackStoreError, ValueError):
    """A question still holds an e-mail address or a phone number: it must be masked first.

    The store keeps no personal data at rest; callers mask questions with
    ``preprocessing.cleaning.clean`` (which turns them into ``<EMAIL>``/``<TEL>``) before
    logging them. The message names what was found, never the value itself.
    """
