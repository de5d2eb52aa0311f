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
"""

from __future__ import annotations

import numpy as np

from routing.softmax import log_softmax, softmax

#: Equal-width bins of the expected calibration error (Guo et al. 2017 use 15).
ECE_BINS = 15


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
