"""Class-balanced sampling: merging minor categories, capping, oversampling, class weights.

Support data is imbalanced (in the mlit_defects data set of BENCHMARKS.md one category holds
~30% of the tickets and the smallest < 0.1%). Three standard remedies are offered, all deterministic
under a seed:

* cap each category at ``cap`` examples (random undersampling; the classic Keras tutorial
  for Japanese support routing caps at 700),
* randomly oversample categories below the cap up to it (with replacement),
* or leave the data as it is and weight the loss with :func:`class_weights`.

Functions work on label lists and return index arrays, so any parallel data (questions,
token ids) can be selected with them, scikit-learn style.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


def merge_categories(
    labels: Sequence[str], keep: Sequence[str], other_label: str = "その他", require_present: bool = True
) -> list[str]:
    """Map every label not in ``keep`` to ``other_label``.

    Support teams often route only a few queues and send the rest to a general one.

    Args:
        labels: one label per example.
        keep: the categories to keep as they are.
        other_label: the label for everything else (may itself be one of ``keep``).
        require_present: check that every kept category occurs in ``labels`` (right for
            training data, where a typo in ``keep`` would otherwise go unnoticed; validation and
            evaluation files may lack a category, so they pass ``False``).

    Returns:
        A new list, same length as ``labels``.

    Raises:
        ValueError: if ``keep`` is empty, or (with ``require_present``) names a category not
            present in ``labels``.
    """
    keep_set = set(keep)
    if not keep_set:
        raise ValueError("keep must name at least one category")
    missing = sorted(keep_set - set(labels) - {other_label})
    if missing and require_present:
        raise ValueError(f"--keep-categories names categories not in the data: {', '.join(missing)}")
    return [label if label in keep_set else other_label for label in labels]


def balance(
    labels: Sequence[str],
    cap: int | None = None,
    oversample: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """Choose example indices so that no category exceeds ``cap`` (and, optionally, each reaches it).

    Args:
        labels: one label per example, length ``n``.
        cap: the most examples kept per category; ``None`` keeps all (then ``oversample``
            raises every category to the size of the largest).
        oversample: repeat randomly chosen examples of categories smaller than the cap
            (sampling with replacement after each original example is taken once).
        seed: seed of the NumPy generator; the same inputs and seed give the same indices.

    Returns:
        Sorted int64 indices into ``labels`` (with repeats when oversampling).

    Raises:
        ValueError: if ``cap`` is not positive.

    Example:
        >>> labels = ["支払い"] * 5 + ["配送"] * 2
        >>> Counter(labels[i] for i in balance(labels, cap=3, oversample=True))
        Counter({'支払い': 3, '配送': 3})
    """
    if cap is not None and cap <= 0:
        raise ValueError(f"cap must be a positive number of examples, not {cap}")
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    target = cap if cap is not None else max((len(v) for v in by_label.values()), default=0)
    chosen: list[np.ndarray] = []
    for label in sorted(by_label):
        indices = np.asarray(by_label[label], dtype=np.int64)
        if len(indices) > target:
            chosen.append(rng.choice(indices, size=target, replace=False))
        else:
            chosen.append(indices)
            if oversample and len(indices) < target:
                chosen.append(rng.choice(indices, size=target - len(indices), replace=True))
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(chosen))


def class_weights(labels: Sequence[str], categories: Sequence[str]) -> dict[int, float]:
    """Per-class loss weights ``n / (k * count)`` for class index ``i`` of ``categories``.

    This is scikit-learn's ``class_weight="balanced"`` heuristic (from King & Zeng, 2001, "Logistic
    Regression in Rare Events Data"), in the ``{index: weight}`` shape ``keras.Model.fit`` takes.

    Raises:
        ValueError: if a category in ``categories`` has no example in ``labels``.
    """
    counts = Counter(labels)
    n, k = len(labels), len(categories)
    missing = [c for c in categories if counts[c] == 0]
    if missing:
        raise ValueError(f"no training example for categories: {', '.join(missing)}")
    return {i: n / (k * counts[c]) for i, c in enumerate(categories)}


def category_counts(labels: Sequence[str]) -> dict[str, int]:
    """Return ``{category: count}``, largest first (ties by name), for reports."""
    return dict(sorted(Counter(labels).items(), key=lambda item: (-item[1], item[0])))
