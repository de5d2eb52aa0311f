"""The training run: tickets → preprocessing → sampling → LSTM → evaluation → model bundle.

This is the batch re-training script behind ``toiawase train``. It follows one path (see
../shared/ARCHITECTURE.md): load the ticket files, clean and tokenize every question with the
shared :func:`preprocessing.pipeline.preprocess` settings, merge/cap/oversample categories, fit
the vocabulary and sequence length on the training split, train the Keras model with early
stopping, evaluate it and a TF-IDF baseline on the validation data, and save the bundle.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from preprocessing.datasets import load_tickets
from preprocessing.pipeline import PreprocessSettings
from preprocessing.sampling import balance, category_counts, class_weights, merge_categories
from training.baselines import baseline_inputs, make_baseline
from training.bundle import BUNDLE_FORMAT, new_version, save_bundle
from training.config import TrainConfig
from training.data import Examples, drop_rare_categories, prepare_examples
from training.evaluate import evaluate_predictions, format_report
from training.fastpath import RecurrentRouter
from training.vocabulary import Vocabulary

# Bucket boundaries (tokens) for length-bucketed batches: padding only to the batch's bucket.
_BUCKETS = (8, 16, 24, 32, 48, 64, 96, 128, 192)


class FitResult(NamedTuple):
    """What :func:`fit_router` returns.

    Attributes:
        model: the trained ``keras.Model`` (best epoch's weights restored).
        vocabulary: fitted on the training split.
        seq_len: the sequence length in tokens.
        history: Keras' ``History.history`` (one value per epoch per metric).
        sampled_counts: ``{category: examples}`` the model was trained on, after cap/oversampling.
    """

    model: object
    vocabulary: Vocabulary
    seq_len: int
    history: dict[str, list[float]]
    sampled_counts: dict[str, int]


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        bundle_path: the saved bundle directory.
        metrics: ``metrics.json`` content (LSTM metrics plus ``baselines`` and ``data``).
        report: the plain-text report printed by ``toiawase train``.
        seconds: wall-clock training time, loading to saved bundle.
    """

    bundle_path: Path
    metrics: dict
    report: str
    seconds: float


def sequence_length(lengths: list[int], percentile: float, maximum: int) -> int:
    """The model's sequence length: the ``percentile`` of token lengths, within ``[1, maximum]``."""
    if not lengths:
        return 1
    return int(min(maximum, max(1, math.ceil(float(np.percentile(lengths, percentile))))))


def fingerprint(examples: Examples) -> str:
    """SHA-256 (hex) of the training questions and labels: names the data a bundle was trained on."""
    digest = hashlib.sha256()
    for question, label in zip((t.question for t in examples.tickets), examples.labels):
        digest.update(question.encode("utf-8") + b"\t" + label.encode("utf-8") + b"\n")
    return digest.hexdigest()


def _dataset(sequences, labels, weights, batch_size: int, shuffle: bool, seed: int):
    """A tf.data pipeline of length-bucketed, padded batches ``(ids, label[, weight])``."""
    import tensorflow as tf

    lengths = np.array([len(s) for s in sequences], dtype=np.int32)
    padded = np.zeros((len(sequences), max(int(lengths.max(initial=1)), 1)), dtype=np.int32)
    for row, ids in enumerate(sequences):
        padded[row, : len(ids)] = ids
    extra = (np.asarray(weights, dtype=np.float32),) if weights is not None else ()
    ds = tf.data.Dataset.from_tensor_slices((padded, lengths, np.asarray(labels, dtype=np.int32), *extra))
    if shuffle:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda ids, length, *rest: length,
        bucket_boundaries=list(_BUCKETS),
        bucket_batch_sizes=[batch_size] * (len(_BUCKETS) + 1),
    )
    # Cut each batch to its longest question: padding only up to that, not to the sequence length.
    ds = ds.map(lambda ids, length, *rest: (ids[:, : tf.reduce_max(length)], *rest))
    return ds.prefetch(tf.data.AUTOTUNE)


def fit_router(
    train: Examples,
    valid: Examples,
    categories: list[str],
    config: TrainConfig,
    log: Callable[[str], None] = print,
    verbose: int = 2,
) -> FitResult:
    """Fit vocabulary, sequence length and the Keras model on ``train``; validate on ``valid``.

    The vocabulary and sequence length come from the whole training split; the cap,
    oversampling and class weights of ``config`` apply to the examples the model is fitted on.

    Returns:
        A :class:`FitResult`.
    """
    import keras

    from training.model import build_model

    keras.utils.set_random_seed(config.seed)
    vocabulary = Vocabulary.fit(train.tokens, config.max_vocab, config.min_count)
    seq_len = sequence_length([len(t) for t in train.tokens], config.seq_len_percentile, config.max_seq_len)
    index = {c: i for i, c in enumerate(categories)}

    picked = np.arange(len(train))
    if config.cap is not None or config.oversample:
        picked = balance(train.labels, cap=config.cap, oversample=config.oversample, seed=config.seed)
    sampled = train.subset(picked)
    weights = None
    if config.class_weight:
        per_class = class_weights(sampled.labels, categories)
        weights = [per_class[index[label]] for label in sampled.labels]

    def encode(examples: Examples):
        return [vocabulary.encode(tokens, seq_len) or [1] for tokens in examples.tokens]

    train_ds = _dataset(encode(sampled), [index[l] for l in sampled.labels], weights, config.batch_size, True, config.seed)
    valid_known = [i for i, label in enumerate(valid.labels) if label in index]
    valid_sub = valid.subset(valid_known)
    valid_ds = _dataset(encode(valid_sub), [index[l] for l in valid_sub.labels], None, config.batch_size, False, config.seed)

    log(
        f"vocabulary: {len(vocabulary)} ids ({len(vocabulary) - 2} tokens + padding + out-of-vocabulary); "
        f"sequence length: {seq_len} tokens ({config.seq_len_percentile:g}th percentile, max {config.max_seq_len})"
    )
    log(f"training on {len(sampled)} examples, validating on {len(valid_sub)}; up to {config.epochs} epochs")
    model = build_model(config.model, len(vocabulary), len(categories), config.learning_rate)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)
    with warnings.catch_warnings():
        # Length-bucketed datasets have no known size, so Keras warns at the end of epoch 1.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        history = model.fit(
            train_ds, validation_data=valid_ds, epochs=config.epochs, callbacks=[stop], verbose=verbose, shuffle=False
        )
    history_lists = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    return FitResult(model, vocabulary, seq_len, history_lists, category_counts(sampled.labels))


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

    Returns:
        A :class:`TrainResult`.

    Raises:
        TicketFileError: unreadable input (names file and line).
        ValueError: fewer than two categories after merging, or bad settings.
    """
    started = time.perf_counter()
    config = config or TrainConfig()
    settings = PreprocessSettings(token_form=config.token_form)
    drops: Counter = Counter()
    load = dict(fmt=fmt, text_column=text_column, label_column=label_column, skip_bad_rows=skip_bad_rows)
    loaded = load_tickets(data, **load)
    examples = prepare_examples(loaded, settings, drops, skip_bad_rows)
    before_merge = category_counts(examples.labels)
    if config.keep_categories:
        examples.labels = merge_categories(examples.labels, config.keep_categories, config.other_label)
    examples = drop_rare_categories(examples, data, drops, skip_bad_rows)
    file_counts = category_counts(examples.labels)
    categories = sorted(set(examples.labels))
    if len(categories) < 2:
        raise ValueError(f"{data}: need at least 2 categories to train a router, found {len(categories)}")

    if dev is not None:
        dev_drops: Counter = Counter()
        loaded_dev = load_tickets(dev, **load)
        valid = prepare_examples(loaded_dev, settings, dev_drops, skip_bad_rows)
        if config.keep_categories:
            valid.labels = merge_categories(valid.labels, config.keep_categories, config.other_label, require_present=False)
        train_part = examples
        for reason, count in dev_drops.items():
            drops[f"dev: {reason}"] += count
    else:
        from sklearn.model_selection import train_test_split

        train_idx, valid_idx = train_test_split(
            np.arange(len(examples)), test_size=config.validation_fraction, stratify=examples.labels, random_state=config.seed
        )
        train_part, valid = examples.subset(sorted(train_idx)), examples.subset(sorted(valid_idx))
    unknown = Counter(label for label in valid.labels if label not in categories)
    if unknown:
        log(f"warning: validation has {sum(unknown.values())} question(s) in categories not in training: {dict(unknown)}")

    model, vocabulary, seq_len, history, sampled_counts = fit_router(train_part, valid, categories, config, log, verbose)
    from training.model import export_weights

    weights = export_weights(model, config.model)
    router = RecurrentRouter(config.model, weights)
    valid_ids = [vocabulary.encode(t, seq_len) or [1] for t in valid.tokens]
    predicted = [categories[i] for i in router.predict_proba(valid_ids).argmax(axis=1)]
    metrics = evaluate_predictions(valid.labels, predicted, categories)

    baseline = make_baseline("tfidf_word_logreg", config.seed)
    baseline.fit(baseline_inputs("tfidf_word_logreg", train_part.tokens, train_part.cleaned), train_part.labels)
    baseline_pred = baseline.predict(baseline_inputs("tfidf_word_logreg", valid.tokens, valid.cleaned))
    baseline_metrics = evaluate_predictions(valid.labels, list(baseline_pred), categories)
    metrics["baselines"] = {"tfidf_word_logreg": baseline_metrics}
    train_counts = category_counts(train_part.labels)
    metrics["data"] = {
        "train_file": str(data),
        "dev_file": str(dev) if dev else None,
        "validation": "dev file" if dev else f"stratified {config.validation_fraction:g} of the training file",
        "train_examples": len(train_part),
        "validation_examples": len(valid),
        "categories_before_merge": before_merge,
        "file_counts": file_counts,
        "train_counts": train_counts,
        "sampled_counts": sampled_counts,
        "dropped": dict(drops),
        "epochs_run": len(history.get("loss", [])),
        "best_epoch": int(np.argmin(history["val_loss"])) + 1 if history.get("val_loss") else None,
        "vocabulary_size": len(vocabulary),
        "seq_len": seq_len,
        "oov_rate_validation": _oov_rate(vocabulary, valid.tokens),
    }

    data_fingerprint = fingerprint(train_part)
    version = base_version = new_version(data_fingerprint)
    suffix = 2
    while (Path(out) / version).exists():  # same data retrained within the same second
        version, suffix = f"{base_version}-{suffix}", suffix + 1
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    info = {
        "format": BUNDLE_FORMAT,
        "version": version,
        "created_at": created_at,
        "categories": categories,
        "seq_len": seq_len,
        "preprocessing": settings.to_dict(),
        "train_config": config.to_dict(),
        "data_fingerprint": data_fingerprint,
        "train_file": str(data),
    }
    with tempfile.TemporaryDirectory() as plots_dir:
        from training.plots import plot_confusion_matrix, plot_training_curves

        curves = os.path.join(plots_dir, "training_curves.png")
        matrix = os.path.join(plots_dir, "confusion_matrix.png")
        plot_training_curves(history, curves)
        plot_confusion_matrix(metrics["confusion_matrix"], metrics["categories"], matrix)
        seconds = time.perf_counter() - started
        metrics["data"]["training_seconds"] = round(seconds, 1)
        path = save_bundle(
            out,
            version=version,
            files={
                "bundle.json": info,
                "vocabulary.json": vocabulary.tokens,
                "metrics.json": metrics,
                "history.json": history,
            },
            weights=weights,
            keras_model=model,
            extra_files={"training_curves.png": curves, "confusion_matrix.png": matrix},
        )
    report = _training_report(metrics, file_counts, train_counts, sampled_counts, config, drops)
    return TrainResult(path, metrics, report, time.perf_counter() - started)


def _oov_rate(vocabulary: Vocabulary, documents: list[list[str]]) -> float:
    total = sum(len(d) for d in documents)
    unknown = sum(1 for d in documents for t in d if t not in vocabulary.index)
    return round(unknown / total, 4) if total else 0.0


def _training_report(
    metrics: dict, before: dict, after: dict, sampled: dict, config: TrainConfig, drops: Counter
) -> str:
    data = metrics["data"]
    resampled = config.cap is not None or config.oversample
    lines = ["", "== data =="]
    lines.append(f"training examples: {data['train_examples']}, validation: {data['validation_examples']} ({data['validation']})")
    lines.append("dropped rows: " + (", ".join(f"{k}: {v}" for k, v in sorted(drops.items())) if drops else "none"))
    if resampled:
        lines.append(f"per-category counts (training file → training split → after cap {config.cap}, oversample {config.oversample}):")
    else:
        lines.append("per-category counts (training file → training split):")
    if config.keep_categories:
        lines.append(f"  (categories other than {', '.join(config.keep_categories)} merged into {config.other_label})")
    for category in sorted(set(before) | set(after), key=lambda c: -after.get(c, 0)):
        counts = f"{before.get(category, 0)} → {after.get(category, 0)}"
        if resampled:
            counts += f" → {sampled.get(category, 0)}"
        lines.append(f"  {category}: {counts}")
    if config.class_weight:
        lines.append("class weights: balanced (n / (k * count))")
    lines.append(
        f"epochs run: {data['epochs_run']} (best {data['best_epoch']}), vocabulary {data['vocabulary_size']}, "
        f"sequence length {data['seq_len']}, validation OOV rate {data['oov_rate_validation']:.2%}, "
        f"{data['training_seconds']} s"
    )
    lines += ["", "== evaluation on the validation data =="]
    lines.append(format_report(metrics, metrics["baselines"]))
    return "\n".join(lines)

