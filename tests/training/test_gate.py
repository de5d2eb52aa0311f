"""The promotion gate (training/gate.py) on hand-made metrics: each rule, its exact boundary, the decision."""

from __future__ import annotations

import json

import pytest

from training.gate import TOLERANCE, GatePolicy, GateResult, decide, macro_f1_check, recall_checks


def metrics(macro_f1: float, recalls: dict[str, tuple[float, int]]) -> dict:
    """The parts of an ``evaluate_predictor`` result the gate reads: macro-F1, n, per-category recall and support."""
    return {
        "macro_f1": macro_f1,
        "n": sum(support for _, support in recalls.values()),
        "per_category": {name: {"precision": 0.0, "recall": recall, "f1": 0.0, "support": support} for name, (recall, support) in recalls.items()},
    }


CHAMPION = metrics(0.90, {"配送": (0.90, 40), "支払い": (0.80, 30), "アカウント": (0.95, 20)})


def test_a_macro_f1_drop_equal_to_the_allowance_passes_and_just_above_fails():
    # 0.90 - 0.85 is 0.05000000000000004 in binary floating point: the tolerance makes it equal to 0.05.
    challenger = metrics(0.85, {"配送": (0.90, 40), "支払い": (0.80, 30), "アカウント": (0.95, 20)})
    assert 0.90 - 0.85 > 0.05
    at = macro_f1_check("eval.tsv", CHAMPION, challenger, 0.05)
    assert at.passed and at.drop == pytest.approx(0.05)
    assert not macro_f1_check("eval.tsv", CHAMPION, challenger, 0.0499).passed
    # The tolerance is tiny: a drop of 1e-8 over no allowance fails.
    assert not macro_f1_check("eval.tsv", CHAMPION, metrics(0.90 - 1e-8, {"配送": (1.0, 1)}), 0.0).passed
    assert TOLERANCE < 1e-8


def test_with_no_allowance_an_equal_or_better_macro_f1_passes():
    assert macro_f1_check("eval.tsv", CHAMPION, metrics(0.90, {}), 0.0).passed
    better = macro_f1_check("eval.tsv", CHAMPION, metrics(0.93, {}), 0.0)
    assert better.passed and better.drop == pytest.approx(-0.03)


def test_a_recall_drop_equal_to_the_allowance_passes_and_above_fails():
    # 配送: 36 of 40 → 34 of 40 is exactly 0.05; 支払い: 24 of 30 → 22 of 30 is 0.0667.
    challenger = metrics(0.90, {"配送": (34 / 40, 40), "支払い": (22 / 30, 30), "アカウント": (1.0, 20)})
    checks = {check.category: check for check in recall_checks("eval.tsv", CHAMPION, challenger, 0.05, 10)}
    assert list(checks) == ["配送", "支払い", "アカウント"]
    assert checks["配送"].passed and checks["配送"].drop == pytest.approx(0.05)
    assert not checks["支払い"].passed
    assert checks["支払い"].describe() == "recall of 支払い on eval.tsv fell 0.0667 > 0.0500"
    assert checks["アカウント"].passed and checks["アカウント"].describe() == "recall of アカウント on eval.tsv did not fall (0.9500 → 1.0000)"
    assert {name: check.support for name, check in checks.items()} == {"配送": 40, "支払い": 30, "アカウント": 20}


def test_small_categories_are_reported_but_not_gated():
    champion = metrics(0.90, {"配送": (1.0, 9), "支払い": (1.0, 10)})
    challenger = metrics(0.90, {"配送": (0.0, 9), "支払い": (0.9, 10)})
    small, large = recall_checks("recent feedback", champion, challenger, 0.05, 10)
    assert (small.category, small.gated, small.passed, small.drop) == ("配送", False, True, 1.0)
    assert (large.category, large.gated, large.passed) == ("支払い", True, False)


def test_a_category_the_challenger_lost_fails_and_a_new_one_does_not():
    champion = metrics(0.90, {"配送": (0.9, 40), "支払い": (0.8, 30), "新カテゴリ": (0.0, 0)})
    # The challenger no longer has 支払い (its questions go elsewhere: recall 0) but routes a new queue.
    challenger = metrics(0.91, {"配送": (0.9, 40), "請求書": (0.7, 20)})
    challenger["per_category"]["支払い"] = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 30}
    checks = recall_checks("eval.tsv", champion, challenger, 0.05, 10)
    assert [(c.category, c.passed) for c in checks] == [("配送", True), ("支払い", False), ("請求書", True)]
    # A category without questions in the set (新カテゴリ) is not checked at all.
    assert "新カテゴリ" not in {c.category for c in checks}


def test_decide_promotes_only_if_every_rule_passes_on_every_gated_set():
    good = metrics(0.91, {"配送": (0.90, 40), "支払い": (0.80, 30), "アカウント": (0.95, 20)})
    recent_champion = metrics(0.80, {"配送": (0.8, 20), "支払い": (0.8, 20)})
    recent_worse = metrics(0.78, {"配送": (0.8, 20), "支払い": (0.8, 20)})
    policy = GatePolicy()
    promoted = decide({"eval.tsv": (CHAMPION, good), "recent feedback": (recent_champion, recent_champion)}, policy)
    assert promoted.promote and promoted.failed == ()
    assert promoted.reason == "every rule passed on eval.tsv, recent feedback"
    assert [(c.rule, c.evaluation) for c in promoted.checks][:2] == [("macro_f1", "eval.tsv"), ("recall", "eval.tsv")]
    assert len(promoted.checks) == 2 * 1 + 3 + 2
    kept = decide({"eval.tsv": (CHAMPION, good), "recent feedback": (recent_champion, recent_worse)}, policy)
    assert not kept.promote
    assert kept.reason == "kept the champion: macro-F1 on recent feedback fell 0.0200 > 0.0000"
    assert [(c.rule, c.evaluation) for c in kept.failed] == [("macro_f1", "recent feedback")]
    # The same drop is accepted with an allowance of 0.02.
    assert decide({"eval.tsv": (CHAMPION, good), "recent feedback": (recent_champion, recent_worse)}, GatePolicy(max_drop=0.02)).promote


def test_decide_without_a_champion_promotes_and_records_skipped_sets():
    result = decide({}, GatePolicy(), champion=False, skipped={"recent feedback": "12 question(s), fewer than 20"})
    assert result == GateResult(True, "no champion to compare with: the challenger is promoted", (), {"recent feedback": "12 question(s), fewer than 20"})
    assert json.loads(json.dumps(result.to_dict())) == {
        "promote": True, "reason": "no champion to compare with: the challenger is promoted", "checks": [],
        "skipped": {"recent feedback": "12 question(s), fewer than 20"},
    }


def test_result_json_has_every_check_with_drop_and_outcome():
    challenger = metrics(0.88, {"配送": (0.80, 40), "支払い": (0.80, 30), "アカウント": (0.95, 20)})
    result = decide({"eval.tsv": (CHAMPION, challenger)}, GatePolicy(max_drop=0.01))
    document = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert document["promote"] is False
    assert document["reason"] == "kept the champion: macro-F1 on eval.tsv fell 0.0200 > 0.0100; recall of 配送 on eval.tsv fell 0.1000 > 0.0500"
    first = document["checks"][0]
    assert first == {"rule": "macro_f1", "evaluation": "eval.tsv", "category": None, "champion": 0.90, "challenger": 0.88,
                     "allowance": 0.01, "support": 90, "gated": True, "drop": pytest.approx(0.02), "passed": False}


def test_policy_round_trips_through_json_and_rejects_bad_values():
    policy = GatePolicy(max_drop=0.01, max_category_drop=0.1, min_category_support=5, min_recent=50)
    assert GatePolicy.from_dict(json.loads(json.dumps(policy.to_dict()))) == policy
    with pytest.raises(ValueError, match="allowances must be 0 or more"):
        GatePolicy(max_drop=-0.01)
    with pytest.raises(ValueError, match="minimums must be at least 1"):
        GatePolicy(min_recent=0)
    with pytest.raises(TypeError, match="unknown gate settings: max_dorp"):
        GatePolicy.from_dict({"max_dorp": 0.1})
