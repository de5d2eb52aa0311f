"""The calibration and review plots of training/plots.py on exact bins and curves, including empty ones."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from routing.calibration import ECE_BINS, expected_calibration_error, reliability_bins
from routing.review import choose_threshold, risk_coverage_curve
from training.plots import plot_reliability_diagram, plot_risk_coverage

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Ten validation questions: calibrated top probabilities, their uncalibrated (over-confident)
# values, and whether the top category was right.
AFTER = np.array([0.95, 0.9, 0.9, 0.85, 0.7, 0.65, 0.6, 0.55, 0.4, 0.35])
BEFORE = np.array([0.99, 0.99, 0.98, 0.97, 0.95, 0.93, 0.9, 0.88, 0.8, 0.7])
CORRECT = np.array([True, True, True, True, True, False, True, False, False, False])


def calibration(with_before: bool) -> dict:
    """``metrics["calibration"]`` for the ten questions, with or without the uncalibrated bins."""
    report = {
        "temperature": 1.7,
        "bins": ECE_BINS,
        "ece_after": expected_calibration_error(AFTER, CORRECT),
        "reliability": reliability_bins(AFTER, CORRECT),
    }
    if with_before:
        report["ece_before"] = expected_calibration_error(BEFORE, CORRECT)
        report["ece_temperature"] = 0.12
        report["reliability_before"] = reliability_bins(BEFORE, CORRECT)
    return report


def image(path: Path) -> np.ndarray:
    """The PNG at ``path`` as an RGB(A) array in [0, 1], after checking it is a non-blank PNG."""
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 0.01  # not a blank canvas
    return pixels


def coloured_pixels(pixels: np.ndarray, colour: str) -> int:
    """Pixels of ``colour`` (``"#rrggbb"``, within 12 of 255 per channel): how much of a series is drawn."""
    rgb = (pixels[..., :3] * 255).astype(int)
    target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(rgb - target).max(axis=-1) <= 12).sum())


BEFORE_COLOUR = "#e08a2c"  # the uncalibrated bins (opaque in the histogram)
POINT_COLOUR = "#1a7f52"  # the operating point
TARGET_COLOUR = "#b42318"  # the target precision line


@pytest.fixture(autouse=True)
def warnings_are_errors():
    """A plot that warns (e.g. an empty legend, NaN limits) fails; a machine without a Japanese
    font only gets the module's own warning about it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message="no Japanese font found")
        yield


def test_reliability_diagram_draws_the_uncalibrated_bins_only_when_given(tmp_path):
    plot_reliability_diagram(calibration(with_before=False), tmp_path / "after.png")
    plot_reliability_diagram(calibration(with_before=True), tmp_path / "both.png")
    after, both = image(tmp_path / "after.png"), image(tmp_path / "both.png")
    assert coloured_pixels(after, BEFORE_COLOUR) == 0
    assert coloured_pixels(both, BEFORE_COLOUR) > 50


@pytest.mark.parametrize("report", [
    {},  # a bundle whose metrics hold no bins at all
    {"reliability": reliability_bins(np.zeros(0), np.zeros(0, dtype=bool)), "ece_after": None, "ece_before": None},
    {"reliability": reliability_bins(np.array([1.0]), np.array([True])), "reliability_before": [], "ece_after": 0.0},
], ids=["no-keys", "no-questions", "one-question"])
def test_reliability_diagram_copes_with_empty_bins(tmp_path, report):
    plot_reliability_diagram(report, tmp_path / "reliability.png")
    image(tmp_path / "reliability.png")


def test_risk_coverage_marks_the_operating_point_and_target(tmp_path):
    curve = risk_coverage_curve(AFTER, CORRECT)
    threshold, coverage, accuracy = choose_threshold(curve, 0.8)
    assert (threshold, coverage, accuracy) == (0.555, 0.7, 6 / 7)  # 7 questions ≥ 0.555, 6 right
    review = {"threshold": threshold, "margin": 0.1, "target_precision": 0.8,
              "holdout_coverage": coverage, "holdout_accuracy": accuracy, "curve": curve}
    plot_risk_coverage(review, tmp_path / "with.png")
    plot_risk_coverage({**review, "holdout_coverage": None, "holdout_accuracy": None, "target_precision": None}, tmp_path / "without.png")
    with_point, without = image(tmp_path / "with.png"), image(tmp_path / "without.png")
    assert coloured_pixels(with_point, POINT_COLOUR) > 50 and coloured_pixels(with_point, TARGET_COLOUR) > 50
    assert coloured_pixels(without, POINT_COLOUR) == coloured_pixels(without, TARGET_COLOUR) == 0


@pytest.mark.parametrize("review", [
    {},  # an old bundle.json without a curve
    {"threshold": 1.0, "target_precision": 0.95, "holdout_coverage": 0.0, "holdout_accuracy": None,
     "curve": risk_coverage_curve(np.zeros(0), np.zeros(0, dtype=bool))},  # nothing in the holdout
    {"threshold": 0.5, "target_precision": None, "holdout_coverage": 1.0, "holdout_accuracy": 1.0,
     "curve": [[0.0, 1.0, 1.0], [0.5, 1.0, 1.0], [1.0, 0.0, None]]},
], ids=["no-keys", "empty-holdout", "hand-set-threshold"])
def test_risk_coverage_copes_with_missing_values(tmp_path, review):
    plot_risk_coverage(review, tmp_path / "risk.png")
    image(tmp_path / "risk.png")
