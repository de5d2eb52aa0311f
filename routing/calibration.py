"""Calibrated probabilities: temperature scaling and the expected calibration error.

A classifier is *calibrated* when, of the questions it routes with probability 0.8, about 80 %
are right. Neural networks trained with cross-entropy are usually over-confident; temperature
scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks", section 4.2) divides the
logits by one scalar ``T > 0`` fitted on held-out data by minimising the negative log-likelihood.
It changes no ranking (so no accuracy), only how sure the model says it is.

The expected calibration error (ECE) is the weighted mean gap between accuracy and confidence
over ``M`` equal-width confidence bins (Naeini et al. 2015; Guo et al. 2017, eq. 3)::

    ECE = Σ_m |B_m| / n · |acc(B_m) − conf(B_m)|

with the confidence of a question its top probability. This module uses ``M = 15`` by default,
as Guo et al. do.

One temperature cannot fix a confidence curve of the wrong *shape* (on mlit_defects no single
temperature brings dev ECE under 0.0337: BENCHMARKS.md). After the temperature the top
probability ``c`` is therefore recalibrated on its own (*top-label calibration*, Gupta & Ramdas
2022, "Top-label calibration and multiclass-to-binary reductions", ICLR): Platt scaling (Platt
1999) of its log-odds, ``c' = σ(a · log(c / (1 − c)) + b)``, fitted on the same held-out
questions as a logistic regression of "the top category is right" (:func:`fit_top_label`). The
other categories share ``1 − c'`` in their old proportions, and ``c'`` never falls below the
second category's new probability, so the ranking (and the accuracy) stays that of the logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from routing.bundle import is_count
from routing.softmax import log_softmax, softmax

#: Equal-width bins of the expected calibration error (Guo et al. 2017 use 15).
ECE_BINS = 15

#: Fewest held-out questions, and fewest right and wrong top categories among them, for which
#: :func:`fit_top_label` fits the two Platt parameters; with fewer it keeps the identity ``(1, 0)``
#: (our rule: two parameters from a handful of errors would be noise).
TOP_LABEL_MIN_QUESTIONS = 200
TOP_LABEL_MIN_EACH = 10

#: Least lead, in log-odds, of the recalibrated top probability over the runner-up's
#: (``e^δ − 1 ≈ 0.01 %``): far above float32's rounding (6e-8), far below any displayed digit.
TOP_LABEL_LEAD = 1e-4


def apply_temperature(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities ``softmax(logits / temperature)``, float32 ``[n, C]``, rows summing to 1.

    Args:
        logits: ``[n, C]`` scores (any scale; a model's pre-softmax outputs).
        temperature: ``T > 0``; 1 leaves the softmax unchanged (the logits are not even divided).

    Raises:
        ValueError: if ``temperature`` is not positive.

    Example:
        >>> apply_temperature(np.array([[2.0, 0.0]]), 2.0).round(4)
        array([[0.7311, 0.2689]], dtype=float32)
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, not {temperature}")
    scaled = logits if temperature == 1.0 else np.asarray(logits, dtype=np.float64) / temperature
    return softmax(scaled, axis=-1).astype(np.float32)


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean ``−log p(label)`` of ``softmax(logits / temperature)`` (nats per question)."""
    log_p = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=-1)
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising the negative log-likelihood of ``labels`` (Guo et al. 2017).

    Args:
        logits: ``[n, C]`` pre-softmax scores on held-out questions.
        labels: ``[n]`` integer indices of the true categories.
        bounds: the search interval for ``T`` (searched on a log scale, Brent's bounded method,
            ``scipy.optimize.minimize_scalar``).

    Returns:
        ``T`` within ``bounds``; 1.0 when there are no questions.

    Raises:
        ValueError: if the shapes disagree.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"logits {logits.shape} and labels {labels.shape} do not fit")
    if len(labels) == 0:
        return 1.0
    from scipy.optimize import minimize_scalar  # training only: serving never fits (routing.softmax)

    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, labels, float(np.exp(log_t))),
        bounds=(np.log(bounds[0]), np.log(bounds[1])),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(result.x))


def reliability_bins(confidences: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per equal-width confidence bin: its bounds, question count, mean confidence and accuracy.

    Args:
        confidences: ``[n]`` top probabilities in [0, 1].
        correct: ``[n]`` whether each top category was right.
        bins: number of bins over [0, 1] (a confidence equal to a bin's upper edge belongs to it;
            the first bin also takes 0).

    Returns:
        ``bins`` dicts ``{"lower", "upper", "count", "confidence", "accuracy"}`` (the last two
        ``None`` for an empty bin): the data of a reliability diagram.
    """
    confidences = np.asarray(confidences, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, bins - 1)
    rows = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        rows.append({
            "lower": float(edges[b]),
            "upper": float(edges[b + 1]),
            "count": count,
            "confidence": float(confidences[members].mean()) if count else None,
            "accuracy": float(correct[members].mean()) if count else None,
        })
    return rows


def expected_calibration_error(confidences: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE over ``bins`` equal-width bins (see the module docstring), in [0, 1].

    Example:
        >>> round(expected_calibration_error(np.array([0.9, 0.9, 0.6, 0.6]), np.array([True, True, True, False])), 4)
        0.1
    """
    rows = reliability_bins(confidences, correct, bins)
    n = sum(row["count"] for row in rows)
    if n == 0:
        return 0.0
    return float(sum(row["count"] * abs(row["accuracy"] - row["confidence"]) for row in rows if row["count"]) / n)


def _top_and_rest(logits: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``p = softmax(logits / T)`` (float64 ``[n, C]``), its top index ``[n]``, and the sum and the
    largest of the other probabilities ``[n]``, both taken from the others directly (no ``1 − c``:
    exact when ``c`` rounds to 1).

    Raises:
        ValueError: if ``temperature`` is not positive.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, not {temperature}")
    p = softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=-1)
    top = p.argmax(axis=1)
    others = p.copy()
    others[np.arange(len(p)), top] = 0.0
    return p, top, others.sum(axis=1), others.max(axis=1, initial=0.0)


def top_label_log_odds(logits: np.ndarray, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The top category of ``softmax(logits / temperature)`` and the log-odds of its probability.

    Args:
        logits: ``[n, C]`` pre-softmax scores, ``C ≥ 2``.
        temperature: ``T > 0``.

    Returns:
        ``(top [n] int, log_odds [n] float64)`` where ``log_odds = log(c) − log(Σ_{j≠top} p_j) =
        log(c / (1 − c))`` for the top probability ``c``, computed from the other probabilities
        directly, so it stays finite (and exact) when ``c`` rounds to 1; ``+inf`` only when every
        other probability underflows.

    Raises:
        ValueError: if ``temperature`` is not positive.
    """
    p, top, rest, _ = _top_and_rest(logits, temperature)
    with np.errstate(divide="ignore"):
        return top, np.log(p[np.arange(len(p)), top]) - np.log(rest)


@dataclass(frozen=True)
class Calibration:
    """How logits become the probabilities shown: a temperature, then top-label Platt scaling.

    ``bundle.json["calibration"]`` holds ``temperature`` and, from bundles made with top-label
    calibration on, ``top_label: {"slope", "intercept"}``; a bundle without them gets the plain
    softmax / temperature alone (``slope 1, intercept 0`` is the identity, to the last bit).

    Attributes:
        temperature: ``T > 0`` (Guo et al. 2017).
        slope: ``a > 0`` of ``c' = σ(a · logit(c) + b)`` (see the module docstring).
        intercept: ``b``.
    """

    temperature: float = 1.0
    slope: float = 1.0
    intercept: float = 0.0

    @classmethod
    def from_dict(cls, section: dict | None) -> "Calibration":
        """From ``bundle.json["calibration"]`` (``None`` or ``{}``: no calibration).

        Raises:
            ValueError: for a section or ``top_label`` that is not a JSON object, a temperature,
                slope or intercept that is not a finite number (temperature and slope also > 0),
                or a ``fitted_on`` (the holdout's size, shown on ``/model``) that is not a count.
            TypeError: for a number field that is not a number.
        """
        section = section or {}
        top = (section.get("top_label") or {}) if isinstance(section, dict) else None
        if not isinstance(top, dict):
            shown = section if top is None else section["top_label"]
            raise ValueError(f"calibration and its top_label (bundle.json) must be JSON objects, not {type(shown).__name__} {shown!r:.60}")
        fitted_on = section.get("fitted_on")
        if fitted_on is not None and not is_count(fitted_on):
            raise ValueError(f"calibration.fitted_on is {fitted_on!r:.60}, not a number of questions")
        calibration = cls(float(section.get("temperature", 1.0)), float(top.get("slope", 1.0)), float(top.get("intercept", 0.0)))
        numbers = np.array([calibration.temperature, calibration.slope, calibration.intercept])
        if not (np.isfinite(numbers).all() and calibration.temperature > 0 and calibration.slope > 0):
            raise ValueError(f"calibration needs a positive temperature and slope and a finite intercept, not {asdict(calibration)}")
        return calibration

    @property
    def scales_top(self) -> bool:
        """Whether the top-label step does anything (it is the identity for slope 1, intercept 0)."""
        return not (self.slope == 1.0 and self.intercept == 0.0)

    @property
    def top_label(self) -> dict:
        """``{"slope", "intercept"}``, the ``top_label`` entry of ``bundle.json["calibration"]``."""
        return {"slope": self.slope, "intercept": self.intercept}

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``[n, C]`` float32, rows summing to 1, same ranking as ``logits``.

        The temperature alone (:func:`apply_temperature`, bit for bit) when the top-label step is
        the identity.
        """
        if not self.scales_top:
            return apply_temperature(logits, self.temperature)
        return recalibrate_top_label(logits, self.temperature, self.slope, self.intercept)


def recalibrate_top_label(logits: np.ndarray, temperature: float, slope: float, intercept: float) -> np.ndarray:
    """``softmax(logits / T)`` with its top probability Platt-scaled (see the module docstring).

    The new log-odds ``u = a · log(c / (1 − c)) + b`` are raised, where needed, to
    ``log(p_2 / (1 − c)) + δ`` so that the top category stays above the second's new probability
    ``p_2 · (1 − c') / (1 − c)`` by the factor ``e^δ`` (:data:`TOP_LABEL_LEAD`, kept apart even in
    float32): the argmax never changes, not even to a tie that ``argmax`` would break otherwise.

    Args:
        logits: ``[n, C]`` pre-softmax scores, ``C ≥ 2``.
        temperature, slope, intercept: as in :class:`Calibration`.

    Returns:
        ``[n, C]`` float32 probabilities, rows summing to 1.
    """
    p, top, rest, second = _top_and_rest(logits, temperature)
    rows = np.arange(len(p))
    finite = rest > 0  # otherwise every other probability underflowed: the row stays as it is
    rest = np.where(finite, rest, 1.0)
    with np.errstate(divide="ignore"):
        log_odds = np.log(p[rows, top]) - np.log(rest)
        floor = np.log(second) - np.log(rest) + TOP_LABEL_LEAD
    u = np.maximum(slope * log_odds + intercept, floor)
    new_top = np.exp(-np.logaddexp(0.0, -u))  # σ(u), stable at both ends
    new_rest = np.exp(-np.logaddexp(0.0, u))  # 1 − σ(u)
    out = p * np.where(finite, new_rest / rest, 0.0)[:, None]
    out[rows, top] = np.where(finite, new_top, p[rows, top])
    return out.astype(np.float32)


def fit_top_label(log_odds: np.ndarray, correct: np.ndarray) -> tuple[float, float]:
    """Platt scaling of the top probability's log-odds, fitted on held-out questions.

    A logistic regression of ``correct`` on ``log_odds`` (scikit-learn ``LogisticRegression``
    without penalty, ``C=inf``, L-BFGS): ``P(right | c) = σ(a · logit(c) + b)`` (Platt 1999; as a top-label
    calibrator, Gupta & Ramdas 2022).

    Args:
        log_odds: ``[n]`` log-odds of the top probability after the temperature
            (:func:`top_label_log_odds`); non-finite values are left out.
        correct: ``[n]`` whether the top category was right.

    Returns:
        ``(slope, intercept)``; the identity ``(1.0, 0.0)`` with fewer than
        :data:`TOP_LABEL_MIN_QUESTIONS` usable questions or fewer than :data:`TOP_LABEL_MIN_EACH`
        right or wrong ones, or when the fitted slope is not positive (a calibrator must keep the
        order of confidences).

    Raises:
        ValueError: if the shapes differ.
    """
    log_odds = np.asarray(log_odds, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if log_odds.shape != correct.shape or log_odds.ndim != 1:
        raise ValueError(f"log-odds {log_odds.shape} and correct {correct.shape} do not fit")
    usable = np.isfinite(log_odds)
    x, y = log_odds[usable], correct[usable]
    right = int(y.sum())
    if len(y) < TOP_LABEL_MIN_QUESTIONS or min(right, len(y) - right) < TOP_LABEL_MIN_EACH:
        return 1.0, 0.0
    from sklearn.linear_model import LogisticRegression  # training only: serving never fits

    model = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000).fit(x[:, None], y)
    slope, intercept = float(model.coef_[0, 0]), float(model.intercept_[0])
    if not (slope > 0 and np.isfinite(intercept)):
        return 1.0, 0.0
    return slope, intercept
