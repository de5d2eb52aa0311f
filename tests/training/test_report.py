"""The terminal report of ``toiawase train``: the calibration line names each step."""

from __future__ import annotations

import pytest

from training.report import confidence_lines


@pytest.mark.parametrize(
    "section, expected",
    [
        ({"top_label": {"slope": 0.713, "intercept": 0.235}, "ece_temperature": 0.0346},
         "calibration: temperature 0.912, top-label slope 0.713 intercept +0.235; expected calibration error 0.0337 → 0.0346 (temperature) → 0.0125 (15 bins)"),
        ({"top_label": {"slope": 1.0, "intercept": 0.0}, "ece_temperature": 0.0125},
         "calibration: temperature 0.912, top-label scaling none (too few held-out questions or errors); expected calibration error 0.0337 → 0.0125 (temperature) → 0.0125 (15 bins)"),
        ({}, "calibration: temperature 0.912; expected calibration error 0.0337 → 0.0125 (15 bins)"),  # metrics from before
    ],
)
def test_training_report_names_each_calibration_step(section, expected):
    metrics = {"calibration": {"temperature": 0.912, "ece_before": 0.0337, "ece_after": 0.0125, "bins": 15, **section}}
    assert confidence_lines(metrics) == ["", expected]
