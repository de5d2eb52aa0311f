"""Model kind ``lstm``: the Embedding → (Bi)LSTM/GRU network's forward pass in NumPy, no TensorFlow.

``keras.Model.predict()`` costs about 100 ms per call on a 2-core machine even for a single
question (it builds a tf.data pipeline each call). Serving needs a few milliseconds. This module
re-implements inference of the network built by :func:`training.fit_lstm.build_model` with the
equations of the Keras layers (keras/src/layers/rnn/lstm.py and gru.py, Keras 3):

* LSTM: ``z = x·W + h·U + b``; gates i, f, c̃, o = σ, σ, tanh, σ of the four slices;
  ``c = f⊙c + i⊙c̃``; ``h = o⊙tanh(c)`` (σ is the logistic sigmoid, Keras 3's default).
* GRU (``reset_after=True``, Keras' default): ``x·W + b_in`` and ``h·U + b_rec`` split into
  z, r, h slices; ``z = σ(x_z + r_z)``, ``r = σ(x_r + r_r)``, ``h̃ = tanh(x_h + r⊙r_h)``,
  ``h = z⊙h_prev + (1−z)⊙h̃``.

Three things make it fast: the first layer's input projection is folded into the embedding
(``E·W + b`` is a table looked up per token, so no input matmul at run time); questions are
grouped by exact token length, so there is no padding and no mask, and both directions of a
bidirectional layer run in lock step; and every gate goes through one ``np.tanh`` call, using
``σ(x) = (1 + tanh(x/2)) / 2`` with the ``/2`` folded into the weights of the sigmoid gates at
load time (NumPy's float32 tanh is vectorised; a separate sigmoid costs about ten times more).

The outputs match ``model.predict`` to about 1e-6 (float32); tests check it.

Bundle files of this kind: ``vocabulary.json`` (id → token), ``weights.npz`` (the arrays of
:func:`training.fit_lstm.export_weights`), ``model.keras`` (the Keras model, for checks); the
manifest's ``model`` is ``{"network": ModelConfig, "seq_len": tokens read per question}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from preprocessing.pipeline import Document
from routing.bundle import read_arrays, read_json
from routing.predictor import Predictor
from routing.softmax import softmax
from routing.vocabulary import OOV_ID, Vocabulary

RNN_KINDS: tuple[str, ...] = ("lstm", "gru")
POOLINGS: tuple[str, ...] = ("last", "mean", "max")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the network: Embedding → (Bi)LSTM/GRU × layers → pooling → Dropout → Dense softmax.

    Attributes:
        embedding_dim: size of each token vector.
        rnn: ``"lstm"`` (Hochreiter & Schmidhuber, 1997) or ``"gru"`` (Cho et al., 2014).
        units: hidden units per direction of each recurrent layer.
        layers: number of stacked recurrent layers (≥ 1).
        bidirectional: read the question both ways (Schuster & Paliwal, 1997).
        pooling: ``"last"`` (final state of each direction), ``"mean"`` (masked mean of all
            states, keras.layers.GlobalAveragePooling1D) or ``"max"`` (masked max of all
            states, Conneau et al., 2017).
        dropout: dropout rate before the output layer (0 ≤ rate < 1).
        embedding_dropout: SpatialDropout1D rate on the token vectors (whole vectors dropped).

    Raises:
        ValueError: for an unknown ``rnn`` or ``pooling``, non-positive sizes, or a rate outside [0, 1).
    """

    embedding_dim: int = 128
    rnn: str = "lstm"
    units: int = 64
    layers: int = 1
    bidirectional: bool = True
    pooling: str = "mean"
    dropout: float = 0.5
    embedding_dropout: float = 0.4

    def __post_init__(self) -> None:
        if self.rnn not in RNN_KINDS:
            raise ValueError(f"rnn must be one of {RNN_KINDS}, not {self.rnn!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, not {self.pooling!r}")
        if self.layers < 1 or self.units < 1 or self.embedding_dim < 1:
            raise ValueError("layers, units and embedding_dim must be positive")
        if not (0 <= self.dropout < 1 and 0 <= self.embedding_dropout < 1):
            raise ValueError("dropout rates must be in [0, 1)")

    def to_dict(self) -> dict:
        """Return the fields as a JSON-serialisable dict."""
        return asdict(self)


class RecurrentNetwork:
    """Forward pass of the trained classifier on token-id sequences.

    Args:
        config: the network's shape (as trained).
        weights: arrays named as by :func:`training.fit_lstm.export_weights`.

    Raises:
        KeyError: if a needed array is missing; ValueError: if shapes disagree.
    """

    def __init__(self, config: ModelConfig, weights: dict[str, np.ndarray]) -> None:
        self.config = config
        self.directions = 2 if config.bidirectional else 1
        self.gates = 4 if config.rnn == "lstm" else 3
        self.units = config.units
        embedding = np.asarray(weights["embedding"], dtype=np.float32)
        self.vocab_size = embedding.shape[0]
        self.layers: list[dict[str, np.ndarray]] = []
        for i in range(config.layers):
            kernels, recurrents, in_bias, rec_bias = [], [], [], []
            for d in range(self.directions):
                kernel = np.asarray(weights[f"rnn_{i}_{d}_kernel"], dtype=np.float32)
                recurrent = np.asarray(weights[f"rnn_{i}_{d}_recurrent"], dtype=np.float32)
                bias = np.asarray(weights[f"rnn_{i}_{d}_bias"], dtype=np.float32)
                if recurrent.shape != (self.units, self.gates * self.units):
                    raise ValueError(f"rnn_{i}_{d}: recurrent kernel shape {recurrent.shape} does not fit the config")
                kernels.append(kernel)
                recurrents.append(recurrent)
                if bias.ndim == 2:  # GRU reset_after: [input bias, recurrent bias]
                    in_bias.append(bias[0])
                    rec_bias.append(bias[1])
                else:
                    in_bias.append(bias)
                    rec_bias.append(np.zeros_like(bias))
            # Columns in the order the step function reads them, sigmoid gates scaled by 1/2.
            order, scale = self._gate_layout()
            kernels = [k[:, order] * scale for k in kernels]
            recurrents = [r[:, order] * scale for r in recurrents]
            in_bias = [b[order] * scale for b in in_bias]
            rec_bias = [b[order] * scale for b in rec_bias]
            layer = {
                "kernel": np.stack(kernels),  # [D, in, G*H]
                "recurrent": np.stack(recurrents),  # [D, H, G*H]
                "in_bias": np.stack(in_bias)[:, None, :],  # [D, 1, G*H]
                "rec_bias": np.stack(rec_bias)[:, None, :],
            }
            if i == 0:
                # Fold the input projection into the embedding table: [D, vocab, G*H].
                layer["table"] = np.einsum("ve,deg->dvg", embedding, layer["kernel"]) + layer["in_bias"]
            self.layers.append(layer)
        self.output_kernel = np.asarray(weights["output_kernel"], dtype=np.float32)
        self.output_bias = np.asarray(weights["output_bias"], dtype=np.float32)

    def _gate_layout(self) -> tuple[np.ndarray, np.ndarray]:
        """Column order and scale of the gate blocks, from Keras' layout to the step function's.

        LSTM: Keras' i, f, c̃, o → i, f, o, c̃ (the three sigmoid gates first, scaled by 1/2).
        GRU: z, r, h̃ kept, z and r scaled by 1/2 (the h̃ block, tanh, is not scaled).
        """
        H = self.units
        blocks = [0, 1, 3, 2] if self.gates == 4 else [0, 1, 2]
        order = np.concatenate([np.arange(b * H, (b + 1) * H) for b in blocks])
        sigmoid_blocks = 3 if self.gates == 4 else 2
        scale = np.concatenate([np.full(sigmoid_blocks * H, 0.5), np.ones((self.gates - sigmoid_blocks) * H)])
        return order, scale.astype(np.float32)

    def _run_layer(self, layer: dict[str, np.ndarray], projected: np.ndarray, need_sequence: bool):
        """Run one (bi)directional layer over input projections ``projected`` ``[D, B, T, G*H]``.

        ``projected[d, :, t]`` is what direction ``d`` reads at its step ``t`` (for the backward
        direction that is time ``T-1-t``). Returns the final states ``[D, B, H]`` and, if
        ``need_sequence``, all states ``[D, B, T, H]`` in the same reading order.
        """
        D, B, T, G = projected.shape
        H = self.units
        h = np.zeros((D, B, H), dtype=np.float32)
        c = np.zeros((D, B, H), dtype=np.float32)
        # Zeroed, not np.empty: BLAS may scale the old contents of `out` by beta=0, and garbage
        # bits (NaN, Inf) there raise "invalid value encountered in matmul" (seen once in CI).
        z = np.zeros((D, B, G), dtype=np.float32)
        states = np.empty((D, B, T, H), dtype=np.float32) if need_sequence else None
        recurrent, rec_bias = layer["recurrent"], layer["rec_bias"]
        # NumPy's stacked matmul is fastest for a few rows; for many rows one BLAS gemm per
        # direction is several times faster.
        stacked = B <= 16
        for t in range(T):
            if stacked:
                np.matmul(h, recurrent, out=z)
            else:
                for d in range(D):
                    np.matmul(h[d], recurrent[d], out=z[d])
            x = projected[:, :, t]
            if self.gates == 4:
                z += x
                np.tanh(z, out=z)
                z[..., : 3 * H] += 1.0  # 2·σ for i, f, o (their weights are pre-scaled by 1/2)
                i, f, o, g = z[..., :H], z[..., H : 2 * H], z[..., 2 * H : 3 * H], z[..., 3 * H :]
                c *= f
                c += i * g
                c *= 0.5
                h = np.tanh(c)
                h *= o
                h *= 0.5
            else:
                z += rec_bias
                gates = x[..., : 2 * H] + z[..., : 2 * H]
                np.tanh(gates, out=gates)
                gates += 1.0
                gates *= 0.5  # σ for the update gate z and the reset gate r
                candidate = z[..., 2 * H :] * gates[..., H:]
                candidate += x[..., 2 * H :]
                np.tanh(candidate, out=candidate)
                h = candidate + gates[..., :H] * (h - candidate)  # z⊙h + (1−z)⊙h̃
            if need_sequence:
                states[:, :, t] = h
        return h, states

    def _features(self, ids: np.ndarray) -> np.ndarray:
        """Pooled features ``[B, D*H]`` for equal-length, unpadded sequences ``ids`` ``[B, T]``."""
        pooling = self.config.pooling
        D = self.directions
        table = self.layers[0]["table"]
        # Each direction's input in its reading order (the backward one reads the ids reversed).
        projected = np.stack([table[d][ids if d == 0 else ids[:, ::-1]] for d in range(D)])  # [D, B, T, G*H]
        for i, layer in enumerate(self.layers):
            last = i == len(self.layers) - 1
            final, states = self._run_layer(layer, projected, need_sequence=not last or pooling != "last")
            if last:
                if pooling == "mean":
                    pooled = states.mean(axis=2)  # [D, B, H]; the order of time steps does not matter
                elif pooling == "max":
                    pooled = states.max(axis=2)
                else:
                    pooled = final
                return np.concatenate(list(pooled), axis=-1)
            # Time-aligned outputs [B, T, D*H] (the backward states reversed back), as Keras'
            # Bidirectional layer returns them, are the next layer's input.
            inputs = np.concatenate([states[d] if d == 0 else states[d][:, ::-1] for d in range(D)], axis=-1)
            following = self.layers[i + 1]
            projected = np.stack(
                [(inputs if d == 0 else inputs[:, ::-1]) @ following["kernel"][d] + following["in_bias"][d] for d in range(D)]
            )
        raise AssertionError("unreachable")

    def predict_proba(self, sequences: Sequence[Sequence[int]], chunk: int = 512) -> np.ndarray:
        """Category probabilities ``softmax(logits)``, float32 ``[n, classes]`` (see :meth:`logits`)."""
        return softmax(self.logits(sequences, chunk), axis=-1)

    def logits(self, sequences: Sequence[Sequence[int]], chunk: int = 512) -> np.ndarray:
        """Scores before the output softmax for token-id sequences of any lengths.

        Args:
            sequences: one list of ids per question, unpadded, each of length ≥ 1 (ids in
                ``[0, vocab)``; 0 must not occur since it is the padding id).
            chunk: most sequences of one length computed together (bounds memory).

        Returns:
            float32 ``[n, classes]``.

        Raises:
            ValueError: for an empty sequence or an id outside the vocabulary.
        """
        n = len(sequences)
        out = np.empty((n, self.output_bias.shape[0]), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for row, seq in enumerate(sequences):
            if len(seq) == 0:
                raise ValueError(f"sequence {row} is empty; a question needs at least one token")
            by_length.setdefault(len(seq), []).append(row)
        for length, rows in by_length.items():
            for start in range(0, len(rows), chunk):
                part = rows[start : start + chunk]
                ids = np.asarray([sequences[r] for r in part], dtype=np.int64)
                if ids.min() < 1 or ids.max() >= self.vocab_size:
                    raise ValueError(f"token id out of range [1, {self.vocab_size})")
                out[part] = self._features(ids) @ self.output_kernel + self.output_bias
        return out


def read_seq_len(seq_len: object) -> int:
    """``seq_len`` of a bundle's ``model`` section as the most tokens read per question.

    Raises:
        ValueError: for a value below 1 (every question would be cut to nothing) or not a number.
        TypeError: for a value ``int()`` does not take (a list, an object, ``null``).
    """
    limit = int(seq_len)  # type: ignore[call-overload]
    if limit < 1:
        raise ValueError(f"seq_len is {limit}, not a number of tokens ≥ 1")
    return limit


class LSTMPredictor(Predictor):
    """Predictor of kind ``lstm``: vocabulary ids, cut to ``seq_len``, through :class:`RecurrentNetwork`.

    Args:
        path, manifest, metrics: as for :class:`routing.predictor.Predictor`.
        vocabulary: the token vocabulary the network was trained with.
        weights: the network's arrays (see :func:`training.fit_lstm.export_weights`).

    Attributes:
        network_config: the network's :class:`ModelConfig`.
        seq_len: most tokens read per question (the rest are cut).
        vocabulary: the :class:`routing.vocabulary.Vocabulary`.
        network: the :class:`RecurrentNetwork`.
    """

    kind = "lstm"

    def __init__(self, path: Path, manifest: dict, metrics: dict, vocabulary: Vocabulary, weights: dict[str, np.ndarray]) -> None:
        super().__init__(path, manifest, metrics)
        parameters = manifest["model"]
        self.network_config = ModelConfig(**parameters["network"])
        self.seq_len = read_seq_len(parameters["seq_len"])
        self.vocabulary = vocabulary
        self.network = RecurrentNetwork(self.network_config, weights)

    @classmethod
    def from_bundle(cls, directory: Path, manifest: dict, metrics: dict) -> "LSTMPredictor":
        """Read ``vocabulary.json`` and ``weights.npz`` (see the module docstring)."""
        tokens = read_json(directory, "vocabulary.json")
        return cls(directory, manifest, metrics, Vocabulary(tokens), read_arrays(directory))

    @property
    def token_limit(self) -> int:
        """The sequence length: tokens beyond it are not read."""
        return self.seq_len

    def known_tokens(self, tokens: Sequence[str]) -> list[bool]:
        """``False`` for out-of-vocabulary tokens."""
        return [i != OOV_ID for i in self.vocabulary.encode(tokens)]

    def encode(self, documents: Sequence[Document]) -> list[list[int]]:
        """Token ids per document, cut to ``seq_len`` (unpadded)."""
        return [self.vocabulary.encode(document.tokens, self.seq_len) for document in documents]

    def logits(self, documents: Sequence[Document]) -> np.ndarray:
        """The network's scores before its output softmax, ``[n, categories]`` float32."""
        return self.network.logits(self.encode(documents))
