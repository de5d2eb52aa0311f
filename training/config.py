"""Configuration dataclasses for the model and for a training run; both serialise to JSON.

Defaults are the configuration ``toiawase train`` uses; BENCHMARKS.md records how they were
chosen (measured on ../shared/data dev splits).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

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


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        model: the network (:class:`ModelConfig`).
        epochs: the most epochs; early stopping usually ends sooner.
        batch_size: examples per gradient step.
        learning_rate: Adam's step size (Kingma & Ba, 2015).
        patience: epochs without a lower validation loss before early stopping; the best
            epoch's weights are restored (keras.callbacks.EarlyStopping).
        seed: seeds Python, NumPy and TensorFlow; the same seed gives the same model.
        max_vocab: the most frequent tokens kept in the vocabulary (plus padding and OOV).
        min_count: tokens seen fewer times in training are out-of-vocabulary.
        seq_len_percentile: the sequence length is this percentile of training question
            lengths in tokens (longer questions are cut), bounded by ``max_seq_len``.
        max_seq_len: upper bound of the sequence length, in tokens.
        validation_fraction: share held out (stratified) when no ``--dev`` file is given.
        cap: most examples per category (``None``: no cap).
        oversample: oversample categories below the cap up to it.
        class_weight: weight the loss by inverse category frequency instead of resampling.
        keep_categories: if non-empty, all other categories become ``other_label``.
        other_label: the merged category's name.
        token_form: ``"surface"`` or ``"base"`` (see preprocessing.tokenizer).
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 2e-3
    patience: int = 2
    seed: int = 42
    max_vocab: int = 15000
    min_count: int = 1
    seq_len_percentile: float = 99.0
    max_seq_len: int = 200
    validation_fraction: float = 0.2
    cap: int | None = None
    oversample: bool = False
    class_weight: bool = False
    keep_categories: tuple[str, ...] = ()
    other_label: str = "その他"
    token_form: str = "surface"

    def to_dict(self) -> dict:
        """Return a JSON-serialisable dict (the model config nested under ``"model"``)."""
        data = asdict(self)
        data["keep_categories"] = list(self.keep_categories)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError`` so typos are not ignored."""
        data = dict(data)
        model = ModelConfig(**data.pop("model", {}))
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TypeError(f"unknown training settings: {', '.join(sorted(unknown))}")
        data["keep_categories"] = tuple(data.get("keep_categories", ()))
        return cls(model=model, **data)
