"""The out-of-scope detector: out-of-vocabulary share against a threshold fitted on held-out questions."""

from __future__ import annotations

import numpy as np
import pytest

from routing.scope import VocabularyScope, fit_scope

TRAIN = [["荷物", "が", "届か", "ない"], ["荷物", "の", "配送", "日"], ["返品", "し", "たい"], ["返品", "の", "送料"], ["配送", "が", "遅い"]]


def test_known_tokens_need_min_count_and_placeholders_are_ignored():
    scope = fit_scope(TRAIN, [["荷物", "が", "届か", "ない"]], quantile=1.0, min_count=2)
    assert scope.known == frozenset({"荷物", "が", "の", "配送", "返品"})
    scores = scope.scores([["荷物", "が", "届か", "ない"], ["<URL>", "返品"], ["<EMAIL>"], ["ブレーキ", "が", "効か", "ない"], []])
    assert scores.tolist() == [0.5, 0.0, 0.0, 0.75, 0.0]


def test_threshold_is_the_holdout_quantile():
    holdout = [["荷物", "が"], ["返品", "の", "送料"], ["配送", "の", "未知"], ["まったく", "知らない", "語"]]
    scope = fit_scope(TRAIN, holdout, quantile=0.5)
    # Holdout scores 0, 1/3, 1/3, 1: the median is 1/3, so only questions above a third unknown are flagged.
    assert scope.threshold == pytest.approx(1 / 3)
    assert scope.flags([["配送", "の", "未知"], ["未知", "未知", "配送"]]).tolist() == [False, True]


def test_round_trip_through_the_bundle_form():
    scope = fit_scope(TRAIN, [["荷物", "が"], ["未知", "が"]], quantile=0.9)
    again = VocabularyScope.from_parts(scope.to_dict(), sorted(scope.known))
    assert again == scope and scope.to_dict()["method"] == "oov_share"
    with pytest.raises(ValueError, match="unknown out-of-scope method"):
        VocabularyScope.from_parts({"method": "energy", "threshold": 0.1}, [])
    with pytest.raises(ValueError, match="quantile"):
        fit_scope(TRAIN, [], quantile=1.5)
    assert fit_scope(TRAIN, [], quantile=0.9).threshold == 1.0
    assert np.all(fit_scope(TRAIN, [], 0.9).flags([["未知"]]) == [False])
