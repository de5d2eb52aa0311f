"""The configuration of a training run, a dataclass that serialises to JSON.

Defaults are the configuration ``toiawase train`` uses; BENCHMARKS.md records how they were
chosen (measured on the dev splits of the two real data sets it describes). The network's shape,
which serving needs too, is :class:`routing.lstm.ModelConfig`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields

from routing.lstm import ModelConfig
from routing.ngrams import NgramConfig

#: Model kinds ``toiawase train --kind`` can fit (one fit module each in ``training``).
KINDS: tuple[str, ...] = ("lstm", "tfidf", "hybrid")

#: ``LinearSVC``'s ``class_weight`` choices for the n-gram member of kind ``hybrid``.
LINEAR_CLASS_WEIGHTS: tuple[str | None, ...] = ("balanced", None)


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        kind: the model kind to fit, one of :data:`KINDS`; ``hybrid`` (the BiLSTM fused with a
            linear model over n-grams) by default, since it beat ``lstm`` on both dev sets
            (BENCHMARKS.md, "Winning design").
        model: the network (:class:`routing.lstm.ModelConfig`), for kinds ``lstm`` and ``hybrid``.
        ngrams: the n-gram features of kind ``hybrid``'s wide member
            (:class:`routing.ngrams.NgramConfig`).
        linear_c: the inverse regularisation ``C`` of that member's ``LinearSVC`` (0.5: the
            research's choice; BENCHMARKS.md, "Winning design").
        linear_class_weight: its ``class_weight``, ``"balanced"`` (each category weighs as
            much in total; the research's choice) or ``None``.
        lstm_weight: the LSTM member's weight in kind ``hybrid``'s fusion (the n-gram member
            gets ``1 - lstm_weight``), or ``None`` to choose it on the holdout from
            :data:`training.fit_hybrid.LSTM_WEIGHTS` by macro-F1
            (:func:`training.fit_hybrid.fit_member_weights`). 0.3 by default: the holdout's
            choice was noise on small holdouts (at 1,000 jmultiwoz tickets, 100 held out, its
            choices 0.9, 0.8, 0.2 scored 2.2 points of dev macro-F1 under a fixed 0.3 on average)
            and on jmultiwoz, whose held-out turns share dialogues with the fit part; 0.3 was the
            best fixed weight or within 0.57 points of it at every size measured (both data sets,
            500 tickets to all, 3 seeds; BENCHMARKS.md, "Top-label calibration and a fixed
            fusion weight").
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
        validation_fraction: share of the data held out (stratified) for evaluation when no
            ``--dev`` file is given.
        holdout_fraction: share of the training data held out (stratified) for early stopping,
            calibration and the review threshold, so that none of them is fitted on the
            evaluation data (Guo et al. 2017 fit the temperature on such a validation set).
        holdout_groups: a regular expression whose first group, searched in each ticket's id,
            names the conversation (thread, dialogue) the ticket belongs to, e.g.
            ``^(.+)_turn_\\d+$``; the holdout then takes whole conversations (scikit-learn's
            ``StratifiedGroupKFold``), as a dev or test split made by conversation does. Turns
            of one conversation share names and details, so a holdout that splits them rates a
            memorising model too well (on jmultiwoz it preferred the LSTM where dev did not;
            BENCHMARKS.md). ``None``: questions are held out one by one. Ids it does not match
            are their own group.
        target_precision: the review threshold is the lowest whose automatically routed holdout
            questions are at least this precise (:mod:`routing.review`).
        review_margin: the two top probabilities closer than this are "ambiguous" (Rasa's
            FallbackClassifier default 0.1).
        tensorboard: a directory for TensorBoard logs of the network's training (Keras'
            ``TensorBoard`` callback: loss and accuracy per epoch, weight histograms), or
            ``None``; a run setting, not part of the model.
        scope_quantile: the out-of-scope threshold is this quantile of the holdout's
            out-of-vocabulary shares (:mod:`routing.scope`); 1.0 flags nothing the holdout
            resembles, lower values flag more.
        cap: most examples per category (``None``: no cap).
        oversample: oversample categories below the cap up to it.
        class_weight: weight the loss by inverse category frequency instead of resampling.
        keep_categories: if non-empty, all other categories become ``other_label``.
        other_label: the merged category's name.
        token_form: ``"surface"`` or ``"base"`` (see preprocessing.tokenizer).

    Raises:
        ValueError: for an unknown ``kind`` or ``linear_class_weight``, ``linear_c ≤ 0``, or an
            ``lstm_weight`` outside ``[0, 1]``, or a ``holdout_groups`` that is not a regular
            expression with a group.
    """

    kind: str = "hybrid"
    model: ModelConfig = field(default_factory=ModelConfig)
    ngrams: NgramConfig = field(default_factory=NgramConfig)
    linear_c: float = 0.5
    linear_class_weight: str | None = "balanced"
    lstm_weight: float | None = 0.3
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
    holdout_fraction: float = 0.1
    holdout_groups: str | None = None
    target_precision: float = 0.95
    review_margin: float = 0.1
    scope_quantile: float = 0.95
    tensorboard: str | None = None
    cap: int | None = None
    oversample: bool = False
    class_weight: bool = False
    keep_categories: tuple[str, ...] = ()
    other_label: str = "その他"
    token_form: str = "surface"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.linear_class_weight not in LINEAR_CLASS_WEIGHTS:
            raise ValueError(f"linear_class_weight must be one of {LINEAR_CLASS_WEIGHTS}, not {self.linear_class_weight!r}")
        if not self.linear_c > 0:
            raise ValueError(f"linear_c must be positive, not {self.linear_c}")
        if self.lstm_weight is not None and not 0.0 <= self.lstm_weight <= 1.0:
            raise ValueError(f"lstm_weight must be between 0 and 1, not {self.lstm_weight}")
        if self.holdout_groups is not None:
            try:
                groups = re.compile(self.holdout_groups).groups
            except re.error as exc:
                raise ValueError(f"holdout_groups {self.holdout_groups!r} is not a regular expression: {exc}") from None
            if groups < 1:
                raise ValueError(f"holdout_groups {self.holdout_groups!r} needs a group, e.g. ^(.+)_turn_\\d+$")

    def to_dict(self) -> dict:
        """Return a JSON-serialisable dict (the model and n-gram configs nested under ``"model"``, ``"ngrams"``)."""
        data = asdict(self)
        data["ngrams"] = self.ngrams.to_dict()
        data["keep_categories"] = list(self.keep_categories)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError`` so typos are not ignored.

        A config without ``kind`` was stored before kinds existed, when every model was an LSTM:
        it reads as kind ``lstm`` (not today's default), so re-training such a champion keeps its kind.
        """
        data = dict(data)
        data.setdefault("kind", "lstm")
        model = ModelConfig(**data.pop("model", {}))
        ngrams = NgramConfig(**data.pop("ngrams", {}))
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TypeError(f"unknown training settings: {', '.join(sorted(unknown))}")
        data["keep_categories"] = tuple(data.get("keep_categories", ()))
        return cls(model=model, ngrams=ngrams, **data)
