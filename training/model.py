"""The Keras network: Embedding (mask zeros) → (Bi)LSTM/GRU layers → pooling → Dense softmax.

Written in the manner of keras.io's "Text classification from scratch" and "Bidirectional
LSTM on IMDB" examples. Layer names are fixed (``embedding``, ``rnn_0``, ``rnn_1``, ...,
``output``) because :mod:`training.fastpath` reads the weights by name.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from training.config import ModelConfig


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


def export_weights(model: keras.Model, config: ModelConfig) -> dict[str, "numpy.ndarray"]:  # noqa: F821
    """Return the weights :class:`training.fastpath.RecurrentRouter` needs, as float32 arrays.

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
