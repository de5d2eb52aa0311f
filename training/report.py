"""Plain-text reports for the terminal: evaluation tables and the training run's summary."""

from __future__ import annotations

import unicodedata
from collections import Counter

from training.config import TrainConfig

#: How each model kind is named in the reports' headline table.
KIND_LABELS = {"lstm": "LSTM (toiawase)", "tfidf": "TF-IDF (toiawase)", "hybrid": "LSTM + n-grams (toiawase)"}


def format_report(metrics: dict, baselines: dict[str, dict] | None = None) -> str:
    """Render metrics (and optional baselines' metrics) as a plain-text report for the terminal.

    The headline table puts the model (named by ``metrics["model_kind"]``, see
    :data:`KIND_LABELS`) and each baseline side by side; the per-category table and confusion
    matrix are the model's.
    """
    baselines = baselines or {}
    label = KIND_LABELS.get(metrics.get("model_kind", "lstm"), "toiawase")
    lines = [f"Evaluated on {metrics['n']} questions", ""]
    lines.append(f"{'model':<22}{'accuracy':>10}{'macro-F1':>10}")
    lines.append(f"{label:<22}{metrics['accuracy']:>10.4f}{metrics['macro_f1']:>10.4f}")
    for name, result in baselines.items():
        lines.append(f"{name:<22}{result['accuracy']:>10.4f}{result['macro_f1']:>10.4f}")
    lines += ["", f"{'category':<20}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>9}"]
    for category, row in metrics["per_category"].items():
        lines.append(
            f"{_pad(category, 20)}{row['precision']:>10.4f}{row['recall']:>10.4f}{row['f1']:>10.4f}{row['support']:>9d}"
        )
    lines += confidence_lines(metrics)
    lines += ["", "confusion matrix (rows: true, columns: predicted, in the order above):"]
    width = max(5, max(len(str(v)) for row in metrics["confusion_matrix"] for v in row) + 1)
    for category, row in zip(metrics["categories"], metrics["confusion_matrix"]):
        lines.append(_pad(category, 20) + "".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)


def confidence_lines(metrics: dict) -> list[str]:
    """Calibration and review lines of a report (empty for metrics without them)."""
    lines = []
    calibration, review = metrics.get("calibration"), metrics.get("review")
    if calibration:
        top = calibration.get("top_label")  # None in metrics written before top-label calibration
        scaling = ("" if top is None else ", top-label scaling none (too few held-out questions or errors)"
                   if top == {"slope": 1.0, "intercept": 0.0} else f", top-label slope {top['slope']:.3f} intercept {top['intercept']:+.3f}")
        steps = "" if "ece_temperature" not in calibration else f" → {calibration['ece_temperature']:.4f} (temperature)"
        lines += ["", (
            f"calibration: temperature {calibration['temperature']:.3f}{scaling}; expected calibration error "
            f"{calibration['ece_before']:.4f}{steps} → {calibration['ece_after']:.4f} ({calibration['bins']} bins)"
        )]
    if review:
        accuracy = "–" if review["auto_accuracy"] is None else f"{review['auto_accuracy']:.1%}"
        reasons = ", ".join(f"{reason} {count}" for reason, count in review["reasons"].items())
        lines.append(
            f"review: {review['coverage']:.1%} routed automatically ({review['auto_routed']} of {review['n']}) "
            f"at {accuracy} accuracy; to an agent: {reasons}"
        )
    return lines


def _pad(text: str, width: int) -> str:
    """Left-justify ``text`` in ``width`` terminal columns (East Asian wide characters count 2)."""
    used = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
    return text + " " * max(1, width - used)


def training_report(metrics: dict, config: TrainConfig, drops: Counter) -> str:
    """The report ``toiawase train`` prints: data counts, the fit's summary, the evaluation.

    Args:
        metrics: ``metrics.json`` of the run (with its ``data`` section and ``baselines``).
        config: the run's configuration.
        drops: rows not used, by reason.
    """
    data = metrics["data"]
    before, after, sampled = data["file_counts"], data["train_counts"], data["sampled_counts"]
    held = data.get("holdout_counts", {})
    resampled = config.cap is not None or config.oversample
    lines = ["", "== data =="]
    lines.append(
        f"training examples: {data['train_examples']}, holdout: {data.get('holdout_examples', 0)}, "
        f"validation: {data['validation_examples']} ({data['validation']})"
    )
    lines.append("dropped rows: " + (", ".join(f"{k}: {v}" for k, v in sorted(drops.items())) if drops else "none"))
    if resampled:
        lines.append(f"per-category counts (training file → fit / holdout → after cap {config.cap}, oversample {config.oversample}):")
    else:
        lines.append("per-category counts (training file → fit / holdout):")
    if config.keep_categories:
        lines.append(f"  (categories other than {', '.join(config.keep_categories)} merged into {config.other_label})")
    for category in sorted(set(before) | set(after), key=lambda c: -after.get(c, 0)):
        counts = f"{before.get(category, 0)} → {after.get(category, 0)} / {held.get(category, 0)}"
        if resampled:
            counts += f" → {sampled.get(category, 0)}"
        lines.append(f"  {category}: {counts}")
    if config.class_weight:
        lines.append("class weights: balanced (n / (k * count))")
    if data.get("epochs_run") is not None:
        lines.append(
            f"epochs run: {data['epochs_run']} (best {data['best_epoch']}), vocabulary {data['vocabulary_size']}, "
            f"sequence length {data['seq_len']}, validation OOV rate {data['oov_rate_validation']:.2%}, "
            f"{data['training_seconds']} s"
        )
    else:
        lines.append(f"features: {data.get('features')}, {data['training_seconds']} s")
    lines += ["", "== evaluation on the validation data =="]
    lines.append(format_report(metrics, metrics["baselines"]))
    return "\n".join(lines)
