"""Temperature scaling and the expected calibration error (Guo et al. 2017); top-label Platt scaling
(Platt 1999; Gupta & Ramdas 2022)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit, softmax

from routing.calibration import (
    TOP_LABEL_LEAD,
    Calibration,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    fit_top_label,
    negative_log_likelihood,
    recalibrate_top_label,
    reliability_bins,
    top_label_log_odds,
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


# --- top-label Platt scaling --------------------------------------------------------------------


def misshapen(slope: float, intercept: float, n: int = 20_000, classes: int = 6, seed: int = 0):
    """Logits whose top category is right with probability ``σ(slope · logit(c) + intercept)``.

    ``c`` is the top probability of ``softmax(logits)``; for ``slope ≠ 1`` no temperature can
    calibrate them (a temperature moves all log-odds together, the curve keeps its shape).
    """
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=(n, classes))
    top = softmax(logits, axis=1).max(axis=1)
    correct = rng.random(n) < expit(slope * logit(top) + intercept)
    return logits, correct


def test_known_platt_parameters_are_recovered():
    logits, correct = misshapen(0.7, 0.25)
    _, log_odds = top_label_log_odds(logits)
    slope, intercept = fit_top_label(log_odds, correct)
    assert slope == pytest.approx(0.7, abs=0.04) and intercept == pytest.approx(0.25, abs=0.05)


def test_top_label_scaling_fixes_a_shape_no_temperature_can():
    logits, correct = misshapen(0.5, 0.6, seed=1)
    labels = np.where(correct, logits.argmax(axis=1), (logits.argmax(axis=1) + 1) % logits.shape[1])
    temperature = fit_temperature(logits, labels)
    tempered = apply_temperature(logits, temperature).max(axis=1)
    _, log_odds = top_label_log_odds(logits, temperature)
    calibrated = Calibration(temperature, *fit_top_label(log_odds, correct)).probabilities(logits)
    assert expected_calibration_error(tempered, correct) > 0.04
    assert expected_calibration_error(calibrated.max(axis=1), correct) < 0.015
    assert np.array_equal(calibrated.argmax(axis=1), logits.argmax(axis=1))


def test_recalibrated_rows_follow_the_formula_and_keep_the_ranking():
    logits = np.array([[2.0, 0.5, -1.0], [0.3, 0.2, 0.1], [1.0, 3.0, 0.0], [40.0, 0.0, 0.0]])
    out = recalibrate_top_label(logits, 0.8, 0.7, 0.25)
    p = softmax(logits / 0.8, axis=1)
    c = p.max(axis=1)
    new = expit(0.7 * logit(c) + 0.25)
    for row in (0, 2):  # the formula: the top Platt-scaled, the rest sharing 1 − c' in proportion
        expected = p[row] * (1 - new[row]) / (1 - c[row])
        expected[p[row].argmax()] = new[row]
        np.testing.assert_allclose(out[row], expected, rtol=1e-6)
    # Nearly a tie (row 1) under a steep, lowering scaling: Platt alone would put the top
    # (σ(2 · logit(0.37) − 1) ≈ 0.11) under the runner-up; it is held just above it instead.
    steep = recalibrate_top_label(logits, 0.8, 2.0, -1.0)
    assert steep[1, 0] == pytest.approx(steep[1, 1] * np.exp(TOP_LABEL_LEAD), rel=1e-6) and steep[1, 0] > steep[1, 1] > steep[1, 2]
    assert expit(2.0 * logit(c[1]) - 1.0) < 0.12 < steep[1, 0]
    # A top probability that rounds to 1 in float64 still gets finite log-odds (40 / 0.8 = 50 nats).
    assert top_label_log_odds(logits, 0.8)[1][3] == pytest.approx(50.0 - np.log(2.0))
    assert out.dtype == np.float32 and np.allclose(out.sum(axis=1), 1.0, atol=1e-6)
    assert np.array_equal(out.argmax(axis=1), logits.argmax(axis=1))


def test_identity_scaling_is_the_temperature_to_the_last_bit():
    logits = np.random.default_rng(3).normal(0.0, 3.0, size=(50, 4))
    assert np.array_equal(Calibration(1.7).probabilities(logits), apply_temperature(logits, 1.7))
    assert Calibration.from_dict({"temperature": 1.7}) == Calibration(1.7, 1.0, 0.0)
    assert Calibration.from_dict(None) == Calibration()
    section = {"temperature": 0.9, "top_label": {"slope": 0.7, "intercept": 0.25}}
    assert Calibration.from_dict(section) == Calibration(0.9, 0.7, 0.25)
    assert Calibration.from_dict(section).top_label == section["top_label"]


@pytest.mark.parametrize("section", [{"temperature": 0.0}, {"temperature": 1.0, "top_label": {"slope": -0.5, "intercept": 0.0}},
                                     {"temperature": 1.0, "top_label": {"slope": 1.0, "intercept": float("nan")}},
                                     {"temperature": 1.0, "top_label": {"slope": float("inf"), "intercept": 0.0}},
                                     {"temperature": float("inf")}])
def test_a_calibration_that_would_reorder_is_rejected(section):
    with pytest.raises(ValueError, match="positive temperature and slope"):
        Calibration.from_dict(section)


@pytest.mark.parametrize("section", ["abc", [1, 2], {"temperature": 1.0, "top_label": "abc"}, {"temperature": 1.0, "top_label": [1, 2]}])
def test_a_calibration_that_is_not_an_object_is_rejected(section):
    with pytest.raises(ValueError, match="must be JSON objects"):
        Calibration.from_dict(section)


def test_too_little_evidence_keeps_the_identity():
    logits, correct = misshapen(0.7, 0.25, n=199)
    _, log_odds = top_label_log_odds(logits)
    assert fit_top_label(log_odds, correct) == (1.0, 0.0)  # under 200 questions
    assert fit_top_label(np.linspace(-2, 4, 500), np.r_[np.zeros(9, bool), np.ones(491, bool)]) == (1.0, 0.0)  # 9 wrong
    assert fit_top_label(np.linspace(-2, 4, 500), np.linspace(-2, 4, 500) < 1) == (1.0, 0.0)  # confidence predicts errors
    with pytest.raises(ValueError, match="do not fit"):
        fit_top_label(np.zeros(3), np.zeros(2, bool))


@pytest.mark.parametrize("slope, intercept", [(1.03, -0.32), (2.0, -1.0), (0.7, 0.25), (0.3, -2.0)])
def test_no_scaling_changes_an_answer_even_among_near_ties(slope, intercept):
    """A lowering scaling would put many tops under their runner-up; every argmax stays (float32)."""
    rng = np.random.default_rng(7)
    logits = rng.normal(0.0, 1.0, size=(20_000, 9))
    logits[:5000, 1] = logits[:5000, 0] - rng.uniform(0, 0.05, 5000)  # thousands of near-ties
    calibrated = Calibration(0.9, slope, intercept).probabilities(logits)
    assert np.array_equal(calibrated.argmax(axis=1), logits.argmax(axis=1))
    ranked = np.sort(calibrated, axis=1)
    assert (ranked[:, -1] > ranked[:, -2]).all()

