"""When a question goes to a person instead of a queue: the review decision and its operating point.

A question is routed automatically only if nothing speaks against it. Otherwise it ``needs
review``, with the first reason that applies, in this order:

1. ``no_content``: the question carries no words (only symbols, emoji, digits or masks such as
   ``<URL>``; :func:`preprocessing.pipeline.has_content`). No category is given at all.
2. ``out_of_scope``: it is unlike anything the model was trained on (:mod:`routing.scope`).
3. ``ambiguous``: the two most probable categories are within ``margin`` of each other (as Rasa's
   ``FallbackClassifier`` does with its ``ambiguity_threshold``, default 0.1).
4. ``low_confidence``: the calibrated top probability is below ``threshold``.

The threshold is chosen at training time on held-out questions for a target precision of the
automatically routed ones (selective classification, El-Yaniv & Wiener 2010; the risk–coverage
curve of Geifman & El-Yaniv 2017): of all thresholds whose auto-routed questions are at least
``target_precision`` correct, the lowest, which routes the most questions automatically.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from routing.bundle import is_number

#: The reasons a question needs review, in the order they are checked.
REASONS: tuple[str, ...] = ("no_content", "out_of_scope", "ambiguous", "low_confidence")

#: Threshold grid of the stored risk–coverage curve (0, 0.005, ..., 1).
CURVE_STEP = 0.005


@dataclass(frozen=True)
class ReviewPolicy:
    """The rules of :func:`review_reason`, saved in the bundle (``bundle.json["review"]``).

    Attributes:
        threshold: lowest calibrated top probability routed automatically, in [0, 1].
        margin: smallest gap between the two top probabilities routed automatically, in [0, 1]
            (0 disables the ambiguity rule).
        target_precision: the precision the threshold was chosen for (a record; ``None`` if the
            threshold was set by hand).

    Raises:
        ValueError: for a threshold or margin outside [0, 1].
    """

    threshold: float = 0.5
    margin: float = 0.1
    target_precision: float | None = None

    def __post_init__(self) -> None:
        if not (0.0 <= self.threshold <= 1.0 and 0.0 <= self.margin <= 1.0):
            raise ValueError(f"threshold and margin must be in [0, 1], not {self.threshold} and {self.margin}")

    def to_dict(self) -> dict:
        """The fields as a JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ReviewPolicy":
        """Inverse of :meth:`to_dict` (the stored curve is ignored).

        Raises:
            ValueError: for a threshold or margin outside [0, 1], or a ``target_precision``,
                ``holdout_coverage`` or ``holdout_accuracy`` (the records ``/model`` shows) that
                is neither ``null`` nor a number in [0, 1].
            KeyError: without ``threshold`` or ``margin``.
        """
        for name in ("target_precision", "holdout_coverage", "holdout_accuracy"):
            value = data.get(name)
            if value is not None and not (is_number(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"review.{name} is {value!r:.60}, not a number in [0, 1]")
        return cls(float(data["threshold"]), float(data["margin"]), data.get("target_precision"))


def review_reason(
    policy: ReviewPolicy, top: float | None, second: float, out_of_scope: bool = False, has_content: bool = True
) -> str | None:
    """The reason a question needs review (one of :data:`REASONS`), or ``None`` to route it.

    Args:
        policy: threshold and margin.
        top: the calibrated top probability (``None`` when there is no content to score).
        second: the second highest probability (0 with a single category).
        out_of_scope: the out-of-scope detector flagged the question.
        has_content: the question carries words.

    Example:
        >>> policy = ReviewPolicy(threshold=0.6, margin=0.1)
        >>> [review_reason(policy, 0.9, 0.05), review_reason(policy, 0.45, 0.40), review_reason(policy, 0.55, 0.2)]
        [None, 'ambiguous', 'low_confidence']
    """
    if not has_content or top is None:
        return "no_content"
    if out_of_scope:
        return "out_of_scope"
    if top - second < policy.margin:
        return "ambiguous"
    if top < policy.threshold:
        return "low_confidence"
    return None


def risk_coverage_curve(top: np.ndarray, correct: np.ndarray, eligible: np.ndarray | None = None, step: float = CURVE_STEP) -> list[list[float]]:
    """Coverage and accuracy of the automatically routed questions, per threshold.

    Args:
        top: ``[n]`` calibrated top probabilities.
        correct: ``[n]`` whether the top category is right.
        eligible: ``[n]`` questions the other rules (ambiguity, out of scope) would route
            (default: all).
        step: spacing of the thresholds 0, step, ..., 1.

    Returns:
        ``[[threshold, coverage, accuracy], ...]``: coverage is the share of all ``n`` questions
        routed automatically at that threshold, accuracy the share of those that are right
        (``None`` when none is routed).
    """
    top = np.asarray(top, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    eligible = np.ones_like(correct) if eligible is None else np.asarray(eligible, dtype=bool)
    n = max(len(top), 1)
    curve = []
    for threshold in np.round(np.arange(0.0, 1.0 + step / 2, step), 6):
        routed = eligible & (top >= threshold)
        count = int(routed.sum())
        curve.append([float(threshold), count / n, float(correct[routed].mean()) if count else None])
    return curve


def choose_threshold(curve: list[list[float]], target_precision: float) -> tuple[float, float, float | None]:
    """The lowest threshold of ``curve`` whose routed questions reach ``target_precision``.

    Returns:
        ``(threshold, coverage, accuracy)``; if no threshold reaches the target, ``(1.0, ...)``
        at threshold 1 (nearly everything goes to review).

    Example:
        >>> curve = [[0.0, 1.0, 0.80], [0.5, 0.7, 0.93], [0.6, 0.6, 0.96], [0.9, 0.2, 1.0]]
        >>> choose_threshold(curve, 0.95)
        (0.6, 0.6, 0.96)
    """
    for threshold, coverage, accuracy in curve:
        if accuracy is not None and accuracy >= target_precision:
            return threshold, coverage, accuracy
    last = curve[-1]
    return 1.0, last[1], last[2]
