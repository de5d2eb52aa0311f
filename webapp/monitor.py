"""The monitoring page ``GET /monitor`` and its JSON twin ``GET /api/v1/monitor``.

Both show :meth:`feedback.FeedbackStore.monitor` for the last ``?days=`` calendar days (default
``MONITOR_WINDOW_DAYS`` = 7, today included, days in the time zone ``MONITOR_UTC_OFFSET_HOURS``
= 9, JST): questions per day, the needs-review rate, the predicted-category mix against the
training mix of the loaded model (``metrics.json`` → ``data.train_counts``) with its
Jensen–Shannon divergence and the categories that moved most, the agents' correction rate per
category and the accuracy measured from feedback. A visible warning appears when the drift or
the correction rate crosses its limit (``MONITOR_DRIFT_LIMIT``, ``MONITOR_CORRECTION_LIMIT``,
with at least ``MONITOR_MIN_QUESTIONS`` / ``MONITOR_MIN_FEEDBACK`` behind it; see
:class:`feedback.MonitorLimits` for the defaults' reasoning).

The charts are HTML/CSS bars drawn on the server (no script, no CDN). Without a loaded model the
page still shows the traffic and feedback, and says that the training mix is unknown; without a
feedback store it answers 503. A bad ``days`` is 400 with a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request

from feedback import MonitorLimits, MonitorSummary
from feedback.monitor import MAX_WINDOW_DAYS
from webapp.errors import AppError
from webapp.feedback_store import require_store
from webapp.model_loading import model_state

bp = Blueprint("monitor", __name__)

#: Categories listed under "moved most" on the page (the JSON lists them all).
MOST_MOVED = 5


def limits_from_config(config: Mapping[str, object]) -> MonitorLimits:
    """The app's :class:`feedback.MonitorLimits` (``MONITOR_*`` config keys).

    Raises:
        ValueError: a limit outside [0, 1] or a minimum below 0 (the message names the key).
    """
    try:
        return MonitorLimits(
            drift=config["MONITOR_DRIFT_LIMIT"],  # type: ignore[arg-type]
            correction_rate=config["MONITOR_CORRECTION_LIMIT"],  # type: ignore[arg-type]
            min_questions=config["MONITOR_MIN_QUESTIONS"],  # type: ignore[arg-type]
            min_feedback=config["MONITOR_MIN_FEEDBACK"],  # type: ignore[arg-type]
        )
    except ValueError as error:
        raise ValueError(f"monitoring settings (MONITOR_*, TOIAWASE_MONITOR_*): {error}") from None


def day_offset(config: Mapping[str, object]) -> timedelta:
    """``MONITOR_UTC_OFFSET_HOURS`` as a whole-minute ``timedelta`` in [-14 h, +14 h].

    Raises:
        ValueError: not a number, out of range, or not whole minutes.
    """
    hours = config["MONITOR_UTC_OFFSET_HOURS"]
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not -14 <= hours <= 14:
        raise ValueError(f"MONITOR_UTC_OFFSET_HOURS (TOIAWASE_MONITOR_UTC_OFFSET) must be hours between -14 and 14, not {hours!r}")
    minutes = hours * 60
    if minutes != int(minutes):
        raise ValueError(f"MONITOR_UTC_OFFSET_HOURS must be a whole number of minutes, not {hours!r} h")
    return timedelta(minutes=int(minutes))


def check_config(app: Flask) -> None:
    """Check the monitoring settings at start-up, so a bad environment variable stops the app
    with a message rather than failing the page later. Raises ValueError."""
    limits_from_config(app.config)
    day_offset(app.config)
    try:
        window_days(app.config["MONITOR_WINDOW_DAYS"])
    except AppError as error:
        raise ValueError(f"MONITOR_WINDOW_DAYS (TOIAWASE_MONITOR_DAYS): {error.message}") from None


def window_days(value: object) -> int:
    """The window from ``?days=`` (a string) or the config (an int).

    Raises:
        AppError: 400 unless a whole number between 1 and :data:`feedback.monitor.MAX_WINDOW_DAYS`.
    """
    days: object = value
    if isinstance(value, str):
        days = int(value.strip()) if value.strip().isdigit() else value
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_WINDOW_DAYS:
        raise AppError(
            400,
            f"days must be a whole number between 1 and {MAX_WINDOW_DAYS}, not {value!r}.",
            f"days は 1 から {MAX_WINDOW_DAYS} までの整数にしてください。",
        )
    return days


def training_mix() -> tuple[dict[str, int] | None, str | None]:
    """The loaded model's training counts per category and its version (``None``, ``None`` without a model;
    counts ``None`` for a bundle whose ``metrics.json`` has no ``data.train_counts``)."""
    predictor = model_state().predictor
    if predictor is None:
        return None, None
    counts = (predictor.metrics.get("data") or {}).get("train_counts")
    return (dict(counts) if isinstance(counts, dict) and counts else None), predictor.version


def summary() -> tuple[MonitorSummary, str | None, bool]:
    """The current request's summary, the model version, and whether the training mix is known."""
    store = require_store()
    days = window_days(request.args.get("days", current_app.config["MONITOR_WINDOW_DAYS"]))
    counts, version = training_mix()
    result = store.monitor(
        days=days, training_counts=counts, offset=day_offset(current_app.config), limits=limits_from_config(current_app.config)
    )
    return result, version, counts is not None


@bp.get("/monitor")
def monitor_page() -> str:
    """The monitoring page (HTML); see the module docstring."""
    result, version, known = summary()
    busiest = max((d.questions for d in result.days), default=0)
    largest_share = max([s.recent_share for s in result.drift.shifts] + [s.training_share for s in result.drift.shifts] + [0.0])
    return render_template(
        "monitor.html",
        summary=result,
        model_version=version,
        training_known=known,
        busiest=busiest,
        largest_share=largest_share,
        most_moved=[s for s in result.drift.shifts if s.change][:MOST_MOVED],
        max_days=MAX_WINDOW_DAYS,
    )


@bp.get("/api/v1/monitor")
def monitor_json() -> Response:
    """The monitoring numbers as JSON: :meth:`feedback.MonitorSummary.to_dict` plus ``model_version``."""
    result, version, _known = summary()
    return jsonify({"model_version": version, **result.to_dict()})
