"""The promotion gate of ``toiawase retrain``: may the challenger replace the champion?

Pure functions over the metrics :func:`training.evaluate.evaluate_predictor` returns for both
models on the same labeled questions, and a result dataclass saying which rule held.

Rules, on every evaluation set that is gated (the frozen ``--eval`` file, and the held-out
recent feedback when it has at least ``min_recent`` questions):

1. **macro-F1**: the challenger's macro-F1 is not lower than the champion's by more than
   ``max_drop`` (``champion - challenger <= max_drop``);
2. **recall per category**: for every category with at least ``min_category_support``
   questions in that set, the challenger's recall is not lower than the champion's by more
   than ``max_category_drop``. Macro-F1 can rise while one queue is quietly lost (a queue's
   questions routed elsewhere); this rule catches it. Categories with fewer questions are
   reported, not gated: there one question moves recall by more than 1/``min_category_support``.

A drop *equal* to its allowance passes. Differences are compared with a tolerance of
:data:`TOLERANCE` (1e-9), far below any real difference of two fractions of counts (at least
1/n² for n questions) but above the rounding of ``0.90 - 0.85`` in binary floating point.

Without a champion (first run, or a champion that does not load) the challenger is promoted
without comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields

#: Slack of every comparison (see the module docstring).
TOLERANCE = 1e-9


@dataclass(frozen=True)
class GatePolicy:
    """The allowances of the gate; serialises to JSON (:meth:`to_dict`).

    Attributes:
        max_drop: largest allowed fall of macro-F1 (a fraction: 0.01 = one point), ≥ 0.
        max_category_drop: largest allowed fall of one category's recall, ≥ 0.
        min_category_support: categories with fewer questions in an evaluation set are not
            gated on it (their recall is shown), ≥ 1.
        min_recent: the held-out recent feedback is gated only with at least this many
            questions (fewer: reported as skipped), ≥ 1.

    Raises:
        ValueError: for a negative allowance or a minimum below 1.
    """

    max_drop: float = 0.0
    max_category_drop: float = 0.05
    min_category_support: int = 10
    min_recent: int = 20

    def __post_init__(self) -> None:
        if self.max_drop < 0 or self.max_category_drop < 0:
            raise ValueError(f"allowances must be 0 or more (max_drop {self.max_drop}, max_category_drop {self.max_category_drop})")
        if self.min_category_support < 1 or self.min_recent < 1:
            raise ValueError(f"minimums must be at least 1 (min_category_support {self.min_category_support}, min_recent {self.min_recent})")

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of the attributes."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> "GatePolicy":
        """Inverse of :meth:`to_dict`. Raises ``TypeError`` for an unknown key."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown gate settings: {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass(frozen=True)
class RuleCheck:
    """One rule on one evaluation set.

    Attributes:
        rule: ``"macro_f1"`` or ``"recall"``.
        evaluation: the evaluation set's name (e.g. ``"eval"``, ``"recent"``).
        category: the category, for ``"recall"``; ``None`` for ``"macro_f1"``.
        champion, challenger: the two values, fractions in [0, 1].
        allowance: the largest drop allowed.
        support: questions of that category in the set (``"recall"``), or all of the set.
        gated: ``False`` when only reported (a category below ``min_category_support``).
    """

    rule: str
    evaluation: str
    category: str | None
    champion: float
    challenger: float
    allowance: float
    support: int
    gated: bool = True

    @property
    def drop(self) -> float:
        """``champion - challenger`` (negative: the challenger is better)."""
        return self.champion - self.challenger

    @property
    def passed(self) -> bool:
        """Whether the drop is within the allowance (always ``True`` when not gated)."""
        return not self.gated or self.drop <= self.allowance + TOLERANCE

    def describe(self) -> str:
        """One phrase, e.g. ``"recall of 配送 on eval.tsv fell 0.0800 > 0.0500"``."""
        what = "macro-F1" if self.rule == "macro_f1" else f"recall of {self.category}"
        relation = "≤" if self.passed else ">"
        if self.drop <= 0:
            return f"{what} on {self.evaluation} did not fall ({self.champion:.4f} → {self.challenger:.4f})"
        return f"{what} on {self.evaluation} fell {self.drop:.4f} {relation} {self.allowance:.4f}"

    def to_dict(self) -> dict:
        """The attributes plus ``drop`` and ``passed``."""
        return {**asdict(self), "drop": self.drop, "passed": self.passed}


@dataclass(frozen=True)
class GateResult:
    """The gate's decision.

    Attributes:
        promote: whether the challenger may replace the champion.
        reason: one sentence: why.
        checks: every rule checked, in order (evaluation set, then macro-F1, then categories).
        skipped: evaluation sets not gated, with why (e.g. too few recent questions).
    """

    promote: bool
    reason: str
    checks: tuple[RuleCheck, ...] = ()
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> tuple[RuleCheck, ...]:
        """The checks that did not pass."""
        return tuple(check for check in self.checks if not check.passed)

    def to_dict(self) -> dict:
        """``{"promote", "reason", "checks": [...], "skipped": {...}}``."""
        return {"promote": self.promote, "reason": self.reason, "checks": [c.to_dict() for c in self.checks], "skipped": dict(self.skipped)}


def macro_f1_check(evaluation: str, champion: Mapping, challenger: Mapping, max_drop: float) -> RuleCheck:
    """Rule 1 on one evaluation set, from two ``evaluate_predictor`` results (``"macro_f1"``, ``"n"``)."""
    return RuleCheck("macro_f1", evaluation, None, float(champion["macro_f1"]), float(challenger["macro_f1"]), max_drop, int(challenger["n"]))


def recall_checks(evaluation: str, champion: Mapping, challenger: Mapping, max_category_drop: float, min_support: int) -> list[RuleCheck]:
    """Rule 2 on one evaluation set: one check per category with questions in the set.

    Categories come from both results' ``"per_category"`` (a category the challenger lacks has
    recall 0 for it; one only the challenger has, recall 0 for the champion), in the champion's
    order then the challenger's new ones; categories without questions in the set are left out.
    A category's support is the number of its questions in the set (the same for both models).
    """
    ours, theirs = champion["per_category"], challenger["per_category"]
    names = list(ours) + [name for name in theirs if name not in ours]
    checks = []
    for name in names:
        support = max(int(ours.get(name, {}).get("support", 0)), int(theirs.get(name, {}).get("support", 0)))
        if support == 0:
            continue
        checks.append(RuleCheck(
            "recall", evaluation, name, float(ours.get(name, {}).get("recall", 0.0)), float(theirs.get(name, {}).get("recall", 0.0)),
            max_category_drop, support, gated=support >= min_support,
        ))
    return checks


def decide(
    evaluations: Mapping[str, tuple[Mapping, Mapping]],
    policy: GatePolicy,
    *,
    champion: bool = True,
    skipped: Mapping[str, str] | None = None,
) -> GateResult:
    """Apply the rules to every gated evaluation set.

    Args:
        evaluations: evaluation set name → (champion's metrics, challenger's metrics), both from
            :func:`training.evaluate.evaluate_predictor` on the same questions; in report order.
        policy: the allowances.
        champion: ``False`` when there is no champion to compare with (``evaluations`` is then
            ignored and the challenger promoted).
        skipped: evaluation sets left out of the gate, with why.

    Returns:
        A :class:`GateResult`: promote iff every check passed (vacuously with no gated set).

    Example:
        >>> eval_set = {"macro_f1": 0.90, "n": 100, "per_category": {"配送": {"recall": 0.90, "support": 50}}}
        >>> worse = {"macro_f1": 0.85, "n": 100, "per_category": {"配送": {"recall": 0.85, "support": 50}}}
        >>> decide({"eval.tsv": (eval_set, worse)}, GatePolicy(max_drop=0.05, max_category_drop=0.05)).promote
        True
        >>> decide({"eval.tsv": (eval_set, worse)}, GatePolicy(max_drop=0.049, max_category_drop=0.05)).reason
        'kept the champion: macro-F1 on eval.tsv fell 0.0500 > 0.0490'
    """
    skipped = dict(skipped or {})
    if not champion:
        return GateResult(True, "no champion to compare with: the challenger is promoted", (), skipped)
    checks: list[RuleCheck] = []
    for name, (ours, theirs) in evaluations.items():
        checks.append(macro_f1_check(name, ours, theirs, policy.max_drop))
        checks += recall_checks(name, ours, theirs, policy.max_category_drop, policy.min_category_support)
    failed = [check for check in checks if not check.passed]
    if failed:
        return GateResult(False, "kept the champion: " + "; ".join(check.describe() for check in failed), tuple(checks), skipped)
    gated = ", ".join(evaluations) or "no evaluation set"
    return GateResult(True, f"every rule passed on {gated}", tuple(checks), skipped)
