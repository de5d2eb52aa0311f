"""The training run behind ``toiawase train``: tickets → examples → fitted model → evaluated bundle.

One path, one job per step:

1. :func:`training.data.load_training_data`: load the ticket files, clean and tokenize every
   question with the shared :func:`preprocessing.pipeline.prepare`, merge categories, split into
   fit, holdout (early stopping, calibration, review threshold) and evaluation parts;
2. the kind's fit function (:mod:`training.kinds`): the model;
3. the baseline (:mod:`training.baselines`) on the same split, to report beside it;
4. :func:`write_bundle`: write the bundle into a temporary directory, read it back through
   :func:`routing.predictor.load_predictor`, fit the temperature and the review threshold on the
   holdout (:func:`training.calibrate.fit_confidence`), then evaluate exactly what will be served
   (:func:`training.evaluate.evaluate_predictor`), add metrics and plots, publish it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from preprocessing.pipeline import PreprocessSettings
from preprocessing.sampling import category_counts
from routing.bundle import ARRAYS, BUNDLE_FORMAT, MANIFEST, METRICS, BundleWriter, unique_version
from routing.fingerprints import ARRAY as FINGERPRINT_ARRAY, FINGERPRINTS, training_fingerprints
from routing.predictor import SCOPE_VOCABULARY, load_predictor
from routing.scope import fit_scope
from training.baselines import baseline_inputs, make_baseline
from training.calibrate import fit_confidence
from training.config import TrainConfig
from training.data import Examples, TrainingData, load_training_data
from training.evaluate import evaluate_predictions, evaluate_predictor
from training.kinds import FittedModel, fit_function
from training.report import training_report
from training.similar_index import build_similar_index

#: The baseline fitted beside every model and reported in ``metrics.json["baselines"]``.
BASELINE = "tfidf_word_logreg"


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        bundle_path: the saved bundle directory.
        metrics: ``metrics.json`` content (the model's metrics plus ``baselines`` and ``data``).
        report: the plain-text report printed by ``toiawase train``.
        seconds: wall-clock training time, loading to saved bundle.
    """

    bundle_path: Path
    metrics: dict
    report: str
    seconds: float


def fingerprint(examples: Examples) -> str:
    """SHA-256 (hex) of the training questions and labels: names the data a bundle was trained on."""
    digest = hashlib.sha256()
    for question, label in zip((t.question for t in examples.tickets), examples.labels):
        digest.update(question.encode("utf-8") + b"\t" + label.encode("utf-8") + b"\n")
    return digest.hexdigest()


def fit_baseline(data: TrainingData, seed: int) -> dict:
    """Fit the :data:`BASELINE` on the training split and return its metrics on the validation split."""
    baseline = make_baseline(BASELINE, seed)
    baseline.fit(baseline_inputs(BASELINE, data.train.tokens, data.train.cleaned), data.train.labels)
    predicted = baseline.predict(baseline_inputs(BASELINE, data.valid.tokens, data.valid.cleaned))
    return evaluate_predictions(data.valid.labels, list(predicted), data.categories)


def train(
    data: str,
    out: str | os.PathLike,
    config: TrainConfig | None = None,
    *,
    dev: str | None = None,
    text_column: str = "question",
    label_column: str = "category",
    fmt: str | None = None,
    skip_bad_rows: bool = False,
    log: Callable[[str], None] = print,
    verbose: int = 2,
    make_current: bool = True,
    encoding: str | None = None,
) -> TrainResult:
    """Train a router on ticket file ``data`` and save the bundle under models directory ``out``.

    Args:
        data: training ticket file (see ``preprocessing.datasets``).
        out: models directory; the bundle goes to ``out/<version>`` and ``out/current``.
        config: the training configuration (``None``: the defaults, ``TrainConfig()``).
        dev: validation ticket file; without it a stratified ``validation_fraction`` of
            ``data`` is held out (scikit-learn's ``train_test_split(stratify=...)``).
        text_column, label_column, fmt, skip_bad_rows: as for ``load_tickets``.
        log: where progress lines go.
        verbose: Keras' fit verbosity (2: one line per epoch; 0: silent).
        make_current: point ``out/current`` at the new bundle (``False``: only write it, as
            ``toiawase retrain`` does for a challenger before its gate).
        encoding: the ticket files' text encoding (``None``: UTF-8 or cp932 detected).

    Returns:
        A :class:`TrainResult`.

    Raises:
        TicketFileError: unreadable input (names file and line).
        ValueError: fewer than two categories after merging, or bad settings.
    """
    started = time.perf_counter()
    config = config or TrainConfig()
    settings = PreprocessSettings(token_form=config.token_form)
    prepared = load_training_data(
        data, config, settings, dev=dev, text_column=text_column, label_column=label_column, fmt=fmt, skip_bad_rows=skip_bad_rows,
        encoding=encoding,
    )
    unknown = category_counts([label for label in prepared.valid.labels if label not in prepared.categories])
    if unknown:
        log(f"warning: validation has {sum(unknown.values())} question(s) in categories not in training: {unknown}")
    holdout = prepared.holdout if len(prepared.holdout) else prepared.valid
    if not len(prepared.holdout):
        log("warning: too few examples for a holdout; early stopping and calibration use the evaluation data")
    fitted = fit_function(config.kind)(prepared.train, holdout, prepared.categories, config, log=log, verbose=verbose)
    baselines = {BASELINE: fit_baseline(prepared, config.seed)}
    path, metrics = write_bundle(out, fitted, prepared, config, settings, baselines, str(data), dev, started, make_current)
    return TrainResult(path, metrics, training_report(metrics, config, prepared.drops), time.perf_counter() - started)


def write_bundle(
    out: str | os.PathLike,
    fitted: FittedModel,
    prepared: TrainingData,
    config: TrainConfig,
    settings: PreprocessSettings,
    baselines: dict[str, dict],
    data: str,
    dev: str | None,
    started: float,
    make_current: bool = True,
) -> tuple[Path, dict]:
    """Write, reload, evaluate and publish the bundle of ``fitted``; return its path and metrics.

    The metrics are computed on the bundle as written (read back through
    :func:`routing.predictor.load_predictor`), so they describe exactly the model that is served.
    The bundle keeps the fingerprints of its training questions (fit and holdout parts,
    :mod:`routing.fingerprints`), so an evaluation can tell how much of its data was trained on,
    and the same tickets, masked, in a BM25 index of similar tickets with their answers
    (:mod:`routing.similar`, :mod:`training.similar_index`).
    """
    data_fingerprint = fingerprint(prepared.train)
    version = unique_version(out, data_fingerprint)
    manifest = {
        "format": BUNDLE_FORMAT,
        "kind": fitted.kind,
        "version": version,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "categories": prepared.categories,
        "preprocessing": settings.to_dict(),
        "model": fitted.parameters,
        "category_merge": {"keep": list(config.keep_categories), "other": config.other_label} if config.keep_categories else None,
        "train_config": config.to_dict(),
        "data_fingerprint": data_fingerprint,
        "train_file": data,
    }
    with BundleWriter(out, version) as writer:
        writer.write_json(MANIFEST, manifest)
        for name, document in fitted.documents.items():
            writer.write_json(name, document)
        writer.write_arrays(ARRAYS, fitted.arrays)
        train, held = prepared.train, prepared.holdout
        trained_on = Examples(train.tickets + held.tickets, train.cleaned + held.cleaned, train.tokens + held.tokens, train.labels + held.labels)
        writer.write_arrays(FINGERPRINTS, {FINGERPRINT_ARRAY: training_fingerprints(trained_on.cleaned)})
        manifest["similar"] = build_similar_index(trained_on, settings).save(writer.path)
        for name, write in fitted.writers.items():
            write(writer.path / name)
        if fitted.history:
            writer.write_json("history.json", fitted.history)
        holdout = prepared.holdout if len(prepared.holdout) else prepared.valid
        scope = fit_scope(prepared.train.tokens, holdout.tokens, config.scope_quantile)
        writer.write_json(SCOPE_VOCABULARY, sorted(scope.known))
        manifest["out_of_scope"] = scope.to_dict()
        writer.write_json(MANIFEST, manifest)
        manifest.update(fit_confidence(load_predictor(writer.path), holdout, config.target_precision, config.review_margin))
        writer.write_json(MANIFEST, manifest)
        predictor = load_predictor(writer.path)
        metrics = evaluate_predictor(predictor, [t.question for t in prepared.valid.tickets], prepared.valid.labels)
        metrics["baselines"] = baselines
        metrics["data"] = {
            "train_file": data,
            "dev_file": dev,
            "validation": prepared.validation,
            "train_examples": len(prepared.train),
            "holdout_examples": len(prepared.holdout),
            "validation_examples": len(prepared.valid),
            "categories_before_merge": prepared.before_merge,
            "file_counts": prepared.file_counts,
            "train_counts": category_counts(prepared.train.labels),
            "holdout_counts": category_counts(prepared.holdout.labels),
            "sampled_counts": fitted.sampled_counts,
            "dropped": dict(prepared.drops),
            **fitted.summary,
        }
        _write_plots(writer, fitted.history, metrics, manifest)
        metrics["data"]["training_seconds"] = round(time.perf_counter() - started, 1)
        writer.write_json(METRICS, metrics)
        return writer.commit(make_current), metrics


def _write_plots(writer: BundleWriter, history: dict[str, list[float]], metrics: dict, manifest: dict) -> None:
    """The confusion matrix, (for kinds with epochs) the training curves, the reliability diagram of
    the validation set and the risk–coverage curve of the holdout (``bundle.json["review"]``), as PNG files."""
    from training.plots import plot_confusion_matrix, plot_reliability_diagram, plot_risk_coverage, plot_training_curves

    plot_confusion_matrix(metrics["confusion_matrix"], metrics["categories"], writer.path / "confusion_matrix.png")
    if history:
        plot_training_curves(history, writer.path / "training_curves.png")
    if metrics.get("calibration"):
        plot_reliability_diagram(metrics["calibration"], writer.path / "reliability_diagram.png")
    if manifest.get("review"):
        plot_risk_coverage(manifest["review"], writer.path / "risk_coverage.png")
