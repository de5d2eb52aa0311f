"""Evaluation of a router on labeled questions (scikit-learn metrics).

Accuracy, macro-F1 (the unweighted mean of per-category F1, so rare queues count as much as
busy ones), per-category precision/recall/F1/support and the confusion matrix (rows: true
category, columns: predicted, in ``categories`` order), as in scikit-learn's
``classification_report`` and ``confusion_matrix``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


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


def format_report(metrics: dict, baselines: dict[str, dict] | None = None) -> str:
    """Render metrics (and optional baselines' metrics) as a plain-text report for the terminal.

    The headline table puts the LSTM and each baseline side by side; the per-category table
    and confusion matrix are the LSTM's.
    """
    baselines = baselines or {}
    lines = [f"Evaluated on {metrics['n']} questions", ""]
    lines.append(f"{'model':<22}{'accuracy':>10}{'macro-F1':>10}")
    lines.append(f"{'LSTM (toiawase)':<22}{metrics['accuracy']:>10.4f}{metrics['macro_f1']:>10.4f}")
    for name, result in baselines.items():
        lines.append(f"{name:<22}{result['accuracy']:>10.4f}{result['macro_f1']:>10.4f}")
    lines += ["", f"{'category':<20}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>9}"]
    for category, row in metrics["per_category"].items():
        lines.append(
            f"{_pad(category, 20)}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}{row['support']:>9d}"
        )
    lines += ["", "confusion matrix (rows: true, columns: predicted, in the order above):"]
    width = max(5, max(len(str(v)) for row in metrics["confusion_matrix"] for v in row) + 1)
    for category, row in zip(metrics["categories"], metrics["confusion_matrix"]):
        lines.append(_pad(category, 20) + "".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)


def _pad(text: str, width: int) -> str:
    """Left-justify ``text`` in ``width`` terminal columns (East Asian wide characters count 2)."""
    import unicodedata

    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(1, width - used)
