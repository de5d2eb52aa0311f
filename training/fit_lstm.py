"""Fitting model kind ``lstm``: the Keras network, its training, and the arrays serving reads.

The network (Embedding (mask zeros) → (Bi)LSTM/GRU layers → pooling → Dense softmax) is written
in the manner of keras.io's "Text classification from scratch" and "Bidirectional LSTM on IMDB"
examples. Layer names are fixed (``embedding``, ``rnn_0``, ``rnn_1``, ..., ``output``) because
:func:`export_weights` reads the weights by name for :class:`routing.lstm.RecurrentNetwork`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from preprocessing.sampling import balance, category_counts, class_weights
from routing.lstm import ModelConfig
from routing.vocabulary import Vocabulary
from training.config import TrainConfig
from training.data import Examples
from training.kinds import FittedModel

# Bucket boundaries (tokens) for length-bucketed batches: padding only to the batch's bucket.
_BUCKETS = (8, 16, 24, 32, 48, 64, 96, 128, 192)


@keras.saving.register_keras_serializable(package="toiawase")
class MaskedGlobalMaxPooling1D(layers.Layer):
    """Max over time of ``[batch, time, features]`` ignoring masked (padding) steps.

    ``keras.layers.GlobalMaxPooling1D`` ignores the mask, so padding (zero states after the
    last token) would take part in the max. Max pooling over BiLSTM states is the sentence
    encoder Conneau et al. (2017, "Supervised Learning of Universal Sentence Representations")
    found best. Output ``[batch, features]``; no mask is passed on.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            keep = ops.expand_dims(ops.cast(mask, "bool"), -1)
            inputs = ops.where(keep, inputs, ops.full_like(inputs, -1e9))
        return ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None


def build_model(config: ModelConfig, vocab_size: int, n_classes: int, learning_rate: float = 2e-3) -> keras.Model:
    """Build and compile the classifier.

    Args:
        config: the network's shape.
        vocab_size: number of token ids, including padding (0) and OOV (1).
        n_classes: number of categories (≥ 2).
        learning_rate: Adam's step size.

    Returns:
        A compiled ``keras.Model`` mapping int32 ids ``[batch, time]`` (0 = padding, any
        length) to category probabilities ``[batch, n_classes]``; loss is sparse categorical
        cross-entropy on integer labels.

    Raises:
        ValueError: if ``n_classes < 2`` or ``vocab_size < 3``.
    """
    if n_classes < 2:
        raise ValueError(f"need at least 2 categories to route between, got {n_classes}")
    if vocab_size < 3:
        raise ValueError(f"vocabulary too small ({vocab_size} ids)")
    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = layers.Embedding(vocab_size, config.embedding_dim, mask_zero=True, name="embedding")(inputs)
    if config.embedding_dropout:
        x = layers.SpatialDropout1D(config.embedding_dropout, name="embedding_dropout")(x)
    rnn_class = layers.LSTM if config.rnn == "lstm" else layers.GRU
    for i in range(config.layers):
        return_sequences = i < config.layers - 1 or config.pooling != "last"
        rnn = rnn_class(config.units, return_sequences=return_sequences)
        if config.bidirectional:
            rnn = layers.Bidirectional(rnn, name=f"rnn_{i}")
        else:
            rnn.name = f"rnn_{i}"
        x = rnn(x)
    if config.pooling == "mean":
        x = layers.GlobalAveragePooling1D(name="pooling")(x)
    elif config.pooling == "max":
        x = MaskedGlobalMaxPooling1D(name="pooling")(x)
    if config.dropout:
        x = layers.Dropout(config.dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs, name="toiawase_router")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def export_weights(model: keras.Model, config: ModelConfig) -> dict[str, np.ndarray]:
    """Return the weights :class:`routing.lstm.RecurrentNetwork` needs, as float32 arrays.

    Keys: ``embedding`` ``[vocab, dim]``; per layer ``i`` and direction ``d`` (0 forward,
    1 backward) ``rnn_{i}_{d}_kernel`` ``[in, G*units]``, ``rnn_{i}_{d}_recurrent``
    ``[units, G*units]``, ``rnn_{i}_{d}_bias`` (``[G*units]`` for LSTM, ``[2, G*units]`` for
    GRU), with G = 4 (LSTM gates i, f, c, o) or 3 (GRU gates z, r, h), Keras' layouts;
    ``output_kernel`` ``[features, classes]``, ``output_bias`` ``[classes]``.
    """
    weights = {"embedding": model.get_layer("embedding").get_weights()[0]}
    for i in range(config.layers):
        arrays = model.get_layer(f"rnn_{i}").get_weights()
        for d in range(2 if config.bidirectional else 1):
            kernel, recurrent, bias = arrays[3 * d : 3 * d + 3]
            weights[f"rnn_{i}_{d}_kernel"] = kernel
            weights[f"rnn_{i}_{d}_recurrent"] = recurrent
            weights[f"rnn_{i}_{d}_bias"] = bias
    kernel, bias = model.get_layer("output").get_weights()
    weights["output_kernel"], weights["output_bias"] = kernel, bias
    return {key: value.astype("float32") for key, value in weights.items()}


def sequence_length(lengths: list[int], percentile: float, maximum: int) -> int:
    """The model's sequence length: the ``percentile`` of token lengths, within ``[1, maximum]``.

    Example:
        >>> sequence_length([3, 5, 8, 40], 50.0, 200)
        7
    """
    if not lengths:
        return 1
    return int(min(maximum, max(1, math.ceil(float(np.percentile(lengths, percentile))))))


def _dataset(sequences: list[list[int]], labels: list[int], weights: list[float] | None, batch_size: int, shuffle: bool, seed: int):
    """A tf.data pipeline of length-bucketed, padded batches ``(ids, label[, weight])``."""
    import tensorflow as tf

    lengths = np.array([len(s) for s in sequences], dtype=np.int32)
    padded = keras.utils.pad_sequences(sequences, padding="post", dtype="int32")
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


def _oov_rate(vocabulary: Vocabulary, documents: list[list[str]]) -> float:
    """Share of tokens in ``documents`` unknown to ``vocabulary``, rounded to 4 digits."""
    total = sum(len(d) for d in documents)
    unknown = sum(1 for d in documents for t in d if t not in vocabulary.index)
    return round(unknown / total, 4) if total else 0.0


def fit(
    train: Examples,
    valid: Examples,
    categories: list[str],
    config: TrainConfig,
    log: Callable[[str], None] = print,
    verbose: int = 2,
) -> FittedModel:
    """Fit vocabulary, sequence length and the Keras network on ``train``; early-stop on ``valid``.

    The vocabulary and sequence length come from the whole training split; the cap,
    oversampling and class weights of ``config`` apply to the examples the model is fitted on.
    Validation questions in categories the model does not know are left out of early stopping.

    Returns:
        A :class:`training.kinds.FittedModel` of kind ``lstm`` (its ``writers`` save
        ``model.keras``).
    """
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

    def encode(examples: Examples) -> list[list[int]]:
        return [vocabulary.encode(tokens, seq_len) for tokens in examples.tokens]

    train_ds = _dataset(encode(sampled), [index[l] for l in sampled.labels], weights, config.batch_size, True, config.seed)
    valid_known = valid.subset([i for i, label in enumerate(valid.labels) if label in index])
    valid_ds = _dataset(encode(valid_known), [index[l] for l in valid_known.labels], None, config.batch_size, False, config.seed)

    log(
        f"vocabulary: {len(vocabulary)} ids ({len(vocabulary) - 2} tokens + padding + out-of-vocabulary); "
        f"sequence length: {seq_len} tokens ({config.seq_len_percentile:g}th percentile, max {config.max_seq_len})"
    )
    log(f"training on {len(sampled)} examples, validating on {len(valid_known)}; up to {config.epochs} epochs")
    model = build_model(config.model, len(vocabulary), len(categories), config.learning_rate)
    callbacks = [keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True)]
    if config.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=config.tensorboard, histogram_freq=1))
        log(f"TensorBoard logs: {config.tensorboard} (view with `tensorboard --logdir {config.tensorboard}`)")
    with warnings.catch_warnings():
        # Length-bucketed datasets have no known size, so Keras warns at the end of epoch 1.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        history = model.fit(
            train_ds, validation_data=valid_ds, epochs=config.epochs, callbacks=callbacks, verbose=verbose, shuffle=False
        )
    curves = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    return FittedModel(
        kind="lstm",
        parameters={"network": config.model.to_dict(), "seq_len": seq_len},
        documents={"vocabulary.json": vocabulary.tokens},
        arrays=export_weights(model, config.model),
        sampled_counts=category_counts(sampled.labels),
        history=curves,
        summary={
            "epochs_run": len(curves.get("loss", [])),
            "best_epoch": int(np.argmin(curves["val_loss"])) + 1 if curves.get("val_loss") else None,
            "vocabulary_size": len(vocabulary),
            "seq_len": seq_len,
            "oov_rate_validation": _oov_rate(vocabulary, valid.tokens),
        },
        writers={"model.keras": model.save},
    )


def load_keras_model(bundle_path: str | Path) -> keras.Model:
    """Load the ``model.keras`` of an ``lstm`` bundle (imports TensorFlow: for checks and retraining).

    Raises:
        ValueError, OSError: as ``keras.saving.load_model`` for a missing or unreadable file.
    """
    return keras.saving.load_model(Path(bundle_path) / "model.keras")
