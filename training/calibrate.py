"""Fitting what makes a model's confidence mean something, on held-out training questions.

After the model is fitted, :func:`fit_confidence` takes the predictor (read back from the bundle
being written) and the holdout carved from the training data (never the evaluation data), and
returns the bundle sections that :class:`routing.predictor.Predictor` applies at serving time:

* ``calibration``: the temperature (Guo et al. 2017; :func:`routing.calibration.fit_temperature`),
  then the top-label Platt scaling of the tempered top probability
  (:func:`routing.calibration.fit_top_label`), both on the holdout;
* ``review``: the ambiguity margin, and the threshold chosen on the risk–coverage curve of the
  calibrated holdout for ``target_precision`` (:func:`routing.review.choose_threshold`), with the
  curve itself for the /model page; questions the other rules send to review (ambiguous, out of
  scope) are not counted as routed at any threshold.

The out-of-scope detector is fitted before (:func:`routing.scope.fit_scope`), by the run.
"""

from __future__ import annotations

import numpy as np

from routing.calibration import Calibration, apply_temperature, expected_calibration_error, fit_temperature, fit_top_label, top_label_log_odds
from preprocessing.pipeline import Document
from routing.predictor import Predictor
from routing.review import ReviewPolicy, choose_threshold, risk_coverage_curve
from training.data import Examples


def holdout_scores(predictor: Predictor, holdout: Examples) -> tuple[np.ndarray, np.ndarray, list[Document]]:
    """The predictor's logits ``[n, C]`` on the holdout questions it can score, their label indices ``[n]``
    and their prepared documents.

    Questions without content or in categories the model does not know are left out.
    """
    index = {c: i for i, c in enumerate(predictor.categories)}
    documents = [predictor.prepare(t.question) for t in holdout.tickets]
    keep = [i for i, (document, label) in enumerate(zip(documents, holdout.labels)) if document.has_content and label in index]
    kept = [documents[i] for i in keep]
    if not keep:
        return np.zeros((0, len(predictor.categories))), np.zeros(0, dtype=np.int64), kept
    logits = np.asarray(predictor.logits(kept), dtype=np.float64)
    return logits, np.asarray([index[holdout.labels[i]] for i in keep], dtype=np.int64), kept


def fit_confidence(predictor: Predictor, holdout: Examples, target_precision: float, margin: float) -> dict:
    """Fit the temperature and the top-label scaling, and choose the review threshold, on ``holdout``.

    Args:
        predictor: the fitted model (its own temperature is ignored: logits are used).
        holdout: held-out training questions (not used for fitting the model's weights).
        target_precision: wanted share of right answers among automatically routed questions.
        margin: the ambiguity margin between the two top probabilities.

    Returns:
        ``{"calibration": {"temperature", "top_label": {"slope", "intercept"}, "fitted_on",
        "ece_before", "ece_temperature", "ece_after"},
        "review": {"threshold", "margin", "target_precision", "holdout_coverage",
        "holdout_accuracy", "curve": [[threshold, coverage, accuracy], ...]}}``, the sections
        of ``bundle.json``.

    Raises:
        ValueError: if ``target_precision`` or ``margin`` is outside [0, 1].
    """
    if not (0.0 <= target_precision <= 1.0 and 0.0 <= margin <= 1.0):
        raise ValueError(f"target precision and margin must be in [0, 1], not {target_precision} and {margin}")
    logits, labels, documents = holdout_scores(predictor, holdout)
    temperature = fit_temperature(logits, labels)
    raw, tempered = apply_temperature(logits, 1.0), apply_temperature(logits, temperature)
    top_index, log_odds = top_label_log_odds(logits, temperature)
    calibration = Calibration(temperature, *fit_top_label(log_odds, top_index == labels))
    calibrated = calibration.probabilities(logits)
    ranked = np.sort(calibrated, axis=1)[:, ::-1]
    top = ranked[:, 0] if len(labels) else np.zeros(0)
    second = ranked[:, 1] if calibrated.shape[1] > 1 else np.zeros(len(labels))
    correct = calibrated.argmax(axis=1) == labels
    in_scope = ~predictor.out_of_scope(documents, calibrated)
    curve = risk_coverage_curve(top, correct, eligible=((top - second) >= margin) & in_scope)
    threshold, coverage, accuracy = choose_threshold(curve, target_precision)
    policy = ReviewPolicy(threshold=threshold, margin=margin, target_precision=target_precision)
    return {
        "calibration": {
            "temperature": temperature,
            "top_label": calibration.top_label,
            "fitted_on": int(len(labels)),
            "ece_before": expected_calibration_error(raw.max(axis=1), raw.argmax(axis=1) == labels) if len(labels) else None,
            "ece_temperature": expected_calibration_error(tempered.max(axis=1), correct) if len(labels) else None,
            "ece_after": expected_calibration_error(top, correct) if len(labels) else None,
        },
        "review": {**policy.to_dict(), "holdout_coverage": coverage, "holdout_accuracy": accuracy, "curve": curve},
    }
