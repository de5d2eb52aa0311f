"""From loaded tickets to cleaned, tokenized, validated training examples.

Every row that does not make it into training is counted by reason (``Drops``), and rows that
point to a broken export raise :class:`~preprocessing.errors.TicketFileError` naming file and line
unless the caller asked to skip bad rows.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from preprocessing.datasets import LoadResult, Ticket, load_tickets
from preprocessing.errors import TicketFileError
from preprocessing.pipeline import PreprocessSettings, prepare
from preprocessing.sampling import category_counts, merge_categories
from training.config import TrainConfig


@dataclass
class Examples:
    """Parallel lists of usable examples: one entry per kept ticket, in file order."""

    tickets: list[Ticket] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)
    tokens: list[list[str]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices) -> "Examples":
        """The examples at ``indices`` (repeats allowed), as a new :class:`Examples`."""
        return Examples(
            [self.tickets[i] for i in indices],
            [self.cleaned[i] for i in indices],
            [self.tokens[i] for i in indices],
            [self.labels[i] for i in indices],
        )


def prepare_examples(
    loaded: LoadResult,
    settings: PreprocessSettings,
    drops: Counter,
    skip_bad_rows: bool = False,
) -> Examples:
    """Clean and tokenize every ticket of ``loaded`` with the shared preprocessing.

    Questions empty after cleaning (only a signature separator, a version line...) are dropped
    and counted under ``drops["empty after cleaning"]``. Questions without words (only symbols,
    digits or placeholders: ``preprocessing.pipeline.has_content``) are bad rows.

    Raises:
        TicketFileError: for a question without words unless ``skip_bad_rows`` (then counted
            under ``drops["no words"]``).
    """
    if loaded.skipped:
        drops["unreadable rows skipped"] += len(loaded.skipped)
    examples = Examples()
    for ticket in loaded.tickets:
        document = prepare(ticket.question, settings)
        if not document.cleaned:
            drops["empty after cleaning"] += 1
            continue
        if not document.has_content:
            if not skip_bad_rows:
                raise TicketFileError(loaded.path, ticket.line, f"question has no words (only symbols, digits or placeholders): {ticket.question[:40]!r}")
            drops["no words"] += 1
            continue
        examples.tickets.append(ticket)
        examples.cleaned.append(document.cleaned)
        examples.tokens.append(document.tokens)
        examples.labels.append(ticket.category or "")
    return examples


def drop_rare_categories(examples: Examples, path: str, drops: Counter, skip_bad_rows: bool = False, minimum: int = 2) -> Examples:
    """Check every category has at least ``minimum`` examples (a stratified split needs two).

    Raises:
        TicketFileError: naming the line of the lone example, unless ``skip_bad_rows`` (then
            such categories are dropped and counted under ``drops["category with too few examples"]``).
    """
    counts = Counter(examples.labels)
    rare = {label for label, count in counts.items() if count < minimum}
    if not rare:
        return examples
    if not skip_bad_rows:
        index = min(i for i, label in enumerate(examples.labels) if label in rare)
        label = examples.labels[index]
        raise TicketFileError(
            path,
            examples.tickets[index].line,
            f"category {label!r} has only {counts[label]} example(s); each category needs at least {minimum} "
            "(add examples, merge it with --keep-categories, or drop it with --skip-bad-rows)",
        )
    keep = [i for i, label in enumerate(examples.labels) if label not in rare]
    drops["category with too few examples"] += len(examples) - len(keep)
    return examples.subset(keep)


@dataclass
class TrainingData:
    """The examples of one training run, split, with the counts its report shows.

    Attributes:
        train: the examples the model is fitted on.
        holdout: training examples held out for early stopping, calibration and the review
            threshold (see :func:`split_holdout`).
        valid: the evaluation examples (the ``--dev`` file, or a stratified share of the data);
            nothing is fitted on them.
        categories: the categories the model routes to (sorted; after merging).
        validation: how ``valid`` was made, in words (for the report).
        before_merge: ``{category: count}`` in the training file before ``--keep-categories``.
        file_counts: ``{category: count}`` in the training file after merging and dropping.
        drops: rows not used, by reason (validation file's reasons prefixed with ``dev:``).
    """

    train: Examples
    holdout: Examples
    valid: Examples
    categories: list[str]
    validation: str
    before_merge: dict[str, int]
    file_counts: dict[str, int]
    drops: Counter


def load_training_data(
    data: str,
    config: TrainConfig,
    settings: PreprocessSettings,
    *,
    dev: str | None = None,
    text_column: str = "question",
    label_column: str = "category",
    fmt: str | None = None,
    skip_bad_rows: bool = False,
    encoding: str | None = None,
) -> TrainingData:
    """Load, clean, tokenize, merge and split the tickets of a training run.

    Args:
        data: training ticket file (see ``preprocessing.datasets``).
        config: the run's configuration (category merge, validation share, seed).
        settings: the preprocessing settings saved in the bundle.
        dev: validation ticket file; without it a stratified ``config.validation_fraction`` of
            ``data`` is held out (scikit-learn's ``train_test_split(stratify=...)``).
        text_column, label_column, fmt, skip_bad_rows, encoding: as for ``load_tickets``
            (``encoding=None``: UTF-8 or cp932 detected).

    Raises:
        TicketFileError: unreadable input (names file and line).
        ValueError: fewer than two categories after merging, or a kept category not in the data.
    """
    drops: Counter = Counter()
    load = dict(fmt=fmt, text_column=text_column, label_column=label_column, skip_bad_rows=skip_bad_rows, encoding=encoding)
    examples = prepare_examples(load_tickets(data, **load), settings, drops, skip_bad_rows)
    before_merge = category_counts(examples.labels)
    if config.keep_categories:
        examples.labels = merge_categories(examples.labels, config.keep_categories, config.other_label)
    examples = drop_rare_categories(examples, data, drops, skip_bad_rows)
    categories = sorted(set(examples.labels))
    if len(categories) < 2:
        raise ValueError(f"{data}: need at least 2 categories to train a router, found {len(categories)}")
    if dev is not None:
        dev_drops: Counter = Counter()
        valid = prepare_examples(load_tickets(dev, **load), settings, dev_drops, skip_bad_rows)
        if config.keep_categories:
            valid.labels = merge_categories(valid.labels, config.keep_categories, config.other_label, require_present=False)
        for reason, count in dev_drops.items():
            drops[f"dev: {reason}"] += count
        train, validation = examples, "dev file"
    else:
        from sklearn.model_selection import train_test_split

        train_idx, valid_idx = train_test_split(
            np.arange(len(examples)), test_size=config.validation_fraction, stratify=examples.labels, random_state=config.seed
        )
        train, valid = examples.subset(sorted(train_idx)), examples.subset(sorted(valid_idx))
        validation = f"stratified {config.validation_fraction:g} of the training file"
    train, holdout = split_holdout(train, config.holdout_fraction, config.seed, config.holdout_groups)
    return TrainingData(train, holdout, valid, categories, validation, before_merge, category_counts(examples.labels), drops)


def split_holdout(examples: Examples, fraction: float, seed: int, groups: str | None = None) -> tuple[Examples, Examples]:
    """Split ``examples`` into (fit, holdout): a seeded ``fraction`` held out, stratified by category.

    Categories with a single example stay in the fit part (a stratified split needs two of each);
    the holdout has at least one example of every other category. With fewer than two examples
    per category overall, or ``fraction`` 0, the holdout is empty (callers then fall back on the
    evaluation data and say so).

    With ``groups`` (a regular expression, :attr:`training.config.TrainConfig.holdout_groups`),
    whole conversations are held out: the first group of its search in each ticket's id names
    the conversation (an id it does not match is its own), and the holdout is one fold of
    scikit-learn's ``StratifiedGroupKFold(n_splits=round(1 / fraction), shuffle=True)``, which
    keeps the categories' shares as well as whole groups allow. If that fold misses a category
    the fit part has, the split falls back on questions one by one (the same as without groups).
    """
    counts = category_counts(examples.labels)
    splittable = [i for i, label in enumerate(examples.labels) if counts[label] >= 2]
    n_holdout = int(np.ceil(fraction * len(examples)))
    categories = {examples.labels[i] for i in splittable}
    if fraction <= 0 or not splittable or n_holdout < len(categories) or len(splittable) - n_holdout < len(categories):
        return examples, examples.subset([])
    if groups is not None:
        grouped = _group_holdout(examples, splittable, fraction, seed, re.compile(groups))
        if grouped is not None:
            held = set(grouped)
            return examples.subset([i for i in range(len(examples)) if i not in held]), examples.subset(sorted(held))
    from sklearn.model_selection import train_test_split

    fit_idx, holdout_idx = train_test_split(
        np.asarray(splittable), test_size=n_holdout, stratify=[examples.labels[i] for i in splittable], random_state=seed
    )
    held = set(holdout_idx.tolist())
    return examples.subset([i for i in range(len(examples)) if i not in held]), examples.subset(sorted(held))


def _group_holdout(examples: Examples, splittable: list[int], fraction: float, seed: int, pattern: re.Pattern) -> list[int] | None:
    """The indices of one ``StratifiedGroupKFold`` fold of ``splittable`` by conversation, or ``None``
    when there are too few conversations or the fold misses a category (see :func:`split_holdout`)."""
    from sklearn.model_selection import StratifiedGroupKFold

    def conversation(ticket_id: str) -> str:
        found = pattern.search(ticket_id)
        return found.group(1) if found and found.group(1) is not None else ticket_id

    keys = [conversation(examples.tickets[i].id) for i in splittable]
    labels = [examples.labels[i] for i in splittable]
    n_splits = max(2, round(1 / fraction))
    if len(set(keys)) < n_splits:
        return None
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, held = next(folds.split(np.zeros(len(splittable)), labels, keys))
    in_fold = set(held.tolist())
    held_labels = {labels[i] for i in in_fold}
    fit_labels = {labels[i] for i in range(len(labels)) if i not in in_fold}
    if held_labels != set(labels) or fit_labels != set(labels):
        return None
    return [splittable[i] for i in held]
