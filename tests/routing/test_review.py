"""The review decision: reasons in order, the risk–coverage curve and the chosen threshold."""

from __future__ import annotations

import numpy as np
import pytest

from routing.review import REASONS, ReviewPolicy, choose_threshold, review_reason, risk_coverage_curve


def test_reasons_are_checked_in_the_documented_order():
    policy = ReviewPolicy(threshold=0.7, margin=0.1)
    assert review_reason(policy, 0.95, 0.03) is None
    assert review_reason(policy, None, 0.0, has_content=False) == "no_content"
    assert review_reason(policy, 0.95, 0.03, has_content=False) == "no_content"
    assert review_reason(policy, 0.95, 0.03, out_of_scope=True) == "out_of_scope"
    assert review_reason(policy, 0.41, 0.39) == "ambiguous"  # also below the threshold: ambiguity first
    assert review_reason(policy, 0.69, 0.20) == "low_confidence"
    assert review_reason(policy, 0.70, 0.20) is None  # the threshold itself is routed
    assert review_reason(ReviewPolicy(threshold=0.3, margin=0.0), 0.35, 0.35) is None  # margin 0: no ambiguity rule
    assert REASONS == ("no_content", "out_of_scope", "ambiguous", "low_confidence")


def test_policy_round_trips_and_checks_its_range():
    policy = ReviewPolicy(threshold=0.615, margin=0.1, target_precision=0.95)
    assert ReviewPolicy.from_dict({**policy.to_dict(), "curve": [[0.0, 1.0, 0.9]]}) == policy
    with pytest.raises(ValueError, match="must be in"):
        ReviewPolicy(threshold=1.5)


def test_risk_coverage_curve_counts_exactly():
    top = np.array([0.99, 0.9, 0.8, 0.6, 0.55, 0.3])
    correct = np.array([True, True, False, True, False, False])
    curve = {round(t, 3): (c, a) for t, c, a in risk_coverage_curve(top, correct)}
    assert len(curve) == 201
    assert curve[0.0] == (1.0, 0.5)
    assert curve[0.6] == (4 / 6, 0.75)
    assert curve[0.85] == (2 / 6, 1.0)
    assert curve[1.0] == (0.0, None)
    # Questions the other rules send to review are never counted as routed.
    eligible = np.array([True, False, True, True, True, True])
    assert {round(t, 3): (c, a) for t, c, a in risk_coverage_curve(top, correct, eligible)}[0.85] == (1 / 6, 1.0)


def test_the_lowest_threshold_reaching_the_target_is_chosen():
    top = np.array([0.99, 0.9, 0.8, 0.6, 0.55, 0.3])
    correct = np.array([True, True, False, True, False, False])
    curve = risk_coverage_curve(top, correct)
    assert choose_threshold(curve, 0.75) == (0.555, 4 / 6, 0.75)  # from 0.555 on, the wrong 0.55 goes to review
    assert choose_threshold(curve, 0.95)[:2] == (0.805, 2 / 6)
    # Unreachable: everything to review at threshold 1.
    assert choose_threshold(risk_coverage_curve(top, np.zeros(6, dtype=bool)), 0.95) == (1.0, 0.0, None)
