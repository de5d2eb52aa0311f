"""Evaluation of a router on labeled questions (scikit-learn metrics): the one place metrics are made.

Accuracy, macro-F1 (the unweighted mean of per-category F1, so rare queues count as much as
busy ones), per-category precision/recall/F1/support and the confusion matrix (rows: true
category, columns: predicted, in ``categories`` order), as in scikit-learn's
``classification_report`` and ``confusion_matrix``.

:func:`evaluate_predictor` is what training, ``toiawase evaluate``, the benchmarks and the tests
call on a model; :func:`evaluate_predictions` computes the metrics from labels and is also used
for the scikit-learn baselines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from preprocessing.sampling import merge_categories
from routing.calibration import ECE_BINS, Calibration, apply_temperature, expected_calibration_error, reliability_bins
from routing.fingerprints import load_fingerprints, overlap
from routing.predictor import Prediction, Predictor
from routing.review import REASONS


def evaluate_predictions(y_true: Sequence[str], y_pred: Sequence[str], categories: Sequence[str]) -> dict:
    """Compute the standard metrics of a multi-category classifier.

    Args:
        y_true, y_pred: true and predicted category per question (same length ``n`` ≥ 1).
        categories: all categories, in the order used for the per-category table and matrix.
            True labels outside it (e.g. a category the model never saw) are reported too.

    Returns:
        ``{"n", "accuracy", "macro_f1", "weighted_f1", "categories",
        "per_category": {category: {"precision", "recall", "f1", "support"}},
        "confusion_matrix": [[int]]}`` with fractions in [0, 1].

    Raises:
        ValueError: if the lengths differ or there is nothing to evaluate.
    """
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError("nothing to evaluate: no labeled questions")
    labels = list(categories) + sorted(set(y_true) - set(categories))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = [i for i, label in enumerate(labels) if support[i] > 0 or label in categories]
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=[labels[i] for i in present], average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "categories": labels,
        "per_category": {
            labels[i]: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i in range(len(labels))
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def evaluate_predictor(predictor: Predictor, questions: Sequence[str], labels: Sequence[str], *, misclassified: bool = False) -> dict:
    """Route ``questions`` with ``predictor`` (its own preprocessing) and score them against ``labels``.

    Labels are first mapped as the model's categories were merged at training
    (``predictor.category_merge``). A question with no content cannot be routed and is left out
    of the classification metrics (counted; it goes to review with reason ``no_content``).

    Args:
        predictor: any loaded model (see :func:`routing.predictor.load_predictor`).
        questions: raw questions, ``n`` of them.
        labels: their true categories, ``n`` of them.
        misclassified: also list the questions the model gets wrong.

    Returns:
        :func:`evaluate_predictions`' dict (on the calibrated top category) plus
        ``"model_kind"``, ``"model_version"``, ``"skipped": {"empty after cleaning": count}``,
        ``"calibration"`` (:func:`calibration_report`), ``"review"`` (:func:`review_report`),
        ``"overlap"``: ``{"questions", "share"}`` of the evaluated questions that are training
        questions of the model after normalization (:mod:`routing.fingerprints`; ``None`` for a
        bundle without fingerprints) and, with ``misclassified``, ``"misclassified"``: one
        ``{"index", "question", "true", "predicted", "probability"}`` per wrong answer, in input
        order (``index`` into ``questions``; ``probability``: the calibrated probability of the
        predicted category).

    Raises:
        ValueError: if the lengths differ or no question can be routed.
        BundleError: if the bundle's fingerprint file is damaged.
    """
    if len(questions) != len(labels):
        raise ValueError(f"{len(questions)} questions but {len(labels)} labels")
    labels = list(labels)
    if predictor.category_merge:
        merge = predictor.category_merge
        labels = merge_categories(labels, merge["keep"], merge["other"], require_present=False)
    documents = [predictor.prepare(q) for q in questions]
    kept = [i for i, document in enumerate(documents) if document.has_content]
    if not kept:
        raise ValueError("nothing to evaluate: no question has words left after cleaning")
    kept_labels = [labels[i] for i in kept]
    logits = predictor.logits([documents[i] for i in kept])
    probabilities = predictor.calibration.probabilities(logits)
    predicted = [predictor.categories[j] for j in probabilities.argmax(axis=1)]
    metrics = evaluate_predictions(kept_labels, predicted, predictor.categories)
    metrics["model_kind"] = predictor.kind
    metrics["model_version"] = predictor.version
    metrics["skipped"] = {"empty after cleaning": len(documents) - len(kept)}
    correct = np.asarray(predicted) == np.asarray(kept_labels)
    metrics["calibration"] = calibration_report(logits, predictor.calibration, correct)
    metrics["review"] = review_report(predictor.decide(documents, probabilities), labels)
    trained = load_fingerprints(predictor.path)
    metrics["overlap"] = None if trained is None else overlap(trained, [documents[i].cleaned for i in kept]).to_dict()
    if misclassified:
        metrics["misclassified"] = [
            {"index": i, "question": questions[i], "true": label, "predicted": guess, "probability": float(row.max())}
            for i, label, guess, row in zip(kept, kept_labels, predicted, probabilities)
            if guess != label
        ]
    return metrics


def calibration_report(logits: np.ndarray, calibration: Calibration, correct: np.ndarray) -> dict:
    """Expected calibration error before calibration, with the temperature alone, and after
    (temperature and top-label scaling), with the reliability bins before and after.

    Args:
        logits: ``[n, C]`` scores before the softmax.
        calibration: the model's :class:`routing.calibration.Calibration`.
        correct: ``[n]`` whether the top category is right (the same before and after:
            calibration keeps the ranking).

    Returns:
        ``{"temperature", "top_label": {"slope", "intercept"}, "ece_before", "ece_temperature",
        "ece_after", "bins", "reliability": [bin, ...], "reliability_before": [bin, ...]}``
        (:func:`routing.calibration.reliability_bins` of the calibrated and of the raw top
        probabilities).
    """
    before = apply_temperature(logits, 1.0).max(axis=1)
    tempered = apply_temperature(logits, calibration.temperature).max(axis=1)
    after = calibration.probabilities(logits).max(axis=1)
    return {
        "temperature": calibration.temperature,
        "top_label": calibration.top_label,
        "ece_before": expected_calibration_error(before, correct),
        "ece_temperature": expected_calibration_error(tempered, correct),
        "ece_after": expected_calibration_error(after, correct),
        "bins": ECE_BINS,
        "reliability": reliability_bins(after, correct),
        "reliability_before": reliability_bins(before, correct),
    }


def review_report(predictions: Sequence[Prediction], labels: Sequence[str]) -> dict:
    """The operating point of the review decision on labeled questions.

    Returns:
        ``{"n", "auto_routed", "coverage", "auto_accuracy", "reasons": {reason: count}}``:
        ``coverage`` is the share routed automatically, ``auto_accuracy`` the share of those
        that are right (``None`` when none is).
    """
    routed = [(p.category == label) for p, label in zip(predictions, labels) if not p.needs_review]
    reasons = Counter(p.reason for p in predictions if p.needs_review)
    return {
        "n": len(predictions),
        "auto_routed": len(routed),
        "coverage": len(routed) / len(predictions) if predictions else 0.0,
        "auto_accuracy": sum(routed) / len(routed) if routed else None,
        "reasons": {reason: reasons.get(reason, 0) for reason in REASONS},
    }
