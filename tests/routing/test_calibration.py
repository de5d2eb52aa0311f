"""Temperature scaling and the expected calibration error (Guo et al. 2017)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from routing.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    reliability_bins,
)


def synthetic(temperature: float, n: int = 20_000, classes: int = 6, seed: int = 0):
    """Logits ``z`` and labels drawn from ``softmax(z / temperature)``: that temperature calibrates them."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, size=(n, classes))
    probabilities = softmax(logits / temperature, axis=1)
    labels = np.array([rng.choice(classes, p=row) for row in probabilities])
    return logits, labels


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_a_known_temperature_is_recovered(true_temperature):
    logits, labels = synthetic(true_temperature)
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_temperature, rel=0.05)
    # It is the minimum of the negative log-likelihood, not just near the truth.
    for other in (fitted * 0.9, fitted * 1.1):
        assert negative_log_likelihood(logits, labels, fitted) < negative_log_likelihood(logits, labels, other)


def test_scaling_lowers_the_calibration_error_and_keeps_every_ranking():
    logits, labels = synthetic(2.5, seed=1)  # the raw logits are over-confident by a factor 2.5
    raw, scaled = apply_temperature(logits, 1.0), apply_temperature(logits, fit_temperature(logits, labels))
    ece = [expected_calibration_error(p.max(axis=1), p.argmax(axis=1) == labels) for p in (raw, scaled)]
    assert ece[0] > 0.15 and ece[1] < 0.02
    assert np.array_equal(raw.argmax(axis=1), scaled.argmax(axis=1))


def test_temperature_one_is_the_plain_softmax_to_the_last_bit():
    logits = np.array([[1.5, -0.25, 3.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    assert np.array_equal(apply_temperature(logits, 1.0), softmax(logits, axis=-1).astype(np.float32))
    np.testing.assert_allclose(apply_temperature(logits, 1.0)[1], [1 / 3] * 3, rtol=1e-6)
    with pytest.raises(ValueError, match="temperature must be positive"):
        apply_temperature(logits, 0.0)


def test_reliability_bins_and_ece_on_hand_made_values():
    confidences = np.array([0.05, 0.95, 0.95, 1.0, 0.55, 0.55, 0.55, 0.55])
    correct = np.array([False, True, True, True, True, False, False, True])
    rows = reliability_bins(confidences, correct, bins=10)
    assert [r["count"] for r in rows] == [1, 0, 0, 0, 0, 4, 0, 0, 0, 3]
    assert rows[9]["confidence"] == pytest.approx((0.95 + 0.95 + 1.0) / 3) and rows[9]["accuracy"] == 1.0
    assert rows[5]["accuracy"] == 0.5 and rows[1]["confidence"] is None
    expected = (1 * 0.05 + 4 * 0.05 + 3 * abs(1.0 - (2.9 / 3))) / 8
    assert expected_calibration_error(confidences, correct, bins=10) == pytest.approx(expected)
    assert expected_calibration_error(np.array([]), np.array([])) == 0.0


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="do not fit"):
        fit_temperature(np.zeros((3, 2)), np.array([0, 1]))
    assert fit_temperature(np.zeros((0, 2)), np.zeros(0, dtype=int)) == 1.0
