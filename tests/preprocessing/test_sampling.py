"""Class-balanced sampling: caps, oversampling, seeds, merged categories, class weights."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from preprocessing.sampling import balance, category_counts, class_weights, merge_categories

# 10 + 4 + 1 examples, interleaved so that indices of one category are not contiguous.
LABELS = ["支払い"] * 10 + ["配送"] * 4 + ["返品・返金"]
LABELS = [LABELS[i] for i in np.random.default_rng(123).permutation(len(LABELS))]


def counts(indices) -> Counter:
    return Counter(LABELS[i] for i in indices)


def test_cap_limits_each_category_and_keeps_smaller_ones_whole():
    picked = balance(LABELS, cap=5, seed=0)
    assert counts(picked) == {"支払い": 5, "配送": 4, "返品・返金": 1}
    assert len(set(picked.tolist())) == len(picked)  # no repeats without oversampling
    # The small categories keep every one of their examples.
    assert {i for i in picked if LABELS[i] != "支払い"} == {i for i, l in enumerate(LABELS) if l != "支払い"}
    assert picked.dtype == np.int64 and list(picked) == sorted(picked)


def test_cap_and_oversample_bring_every_category_to_the_cap():
    picked = balance(LABELS, cap=5, oversample=True, seed=0)
    assert counts(picked) == {"支払い": 5, "配送": 5, "返品・返金": 5}
    # Oversampling takes each original example once before repeating any.
    haisou = [i for i, l in enumerate(LABELS) if l == "配送"]
    assert set(haisou) <= set(picked.tolist())
    (lone,) = [i for i, l in enumerate(LABELS) if l == "返品・返金"]
    assert picked.tolist().count(lone) == 5
    assert list(picked) == sorted(picked)


def test_oversample_without_cap_raises_every_category_to_the_largest():
    picked = balance(LABELS, oversample=True, seed=0)
    assert counts(picked) == {"支払い": 10, "配送": 10, "返品・返金": 10}
    # The largest category is untouched: each of its examples exactly once.
    shiharai = sorted(i for i, l in enumerate(LABELS) if l == "支払い")
    assert sorted(i for i in picked if LABELS[i] == "支払い") == shiharai


def test_no_cap_no_oversample_keeps_everything():
    assert balance(LABELS).tolist() == list(range(len(LABELS)))


def test_cap_larger_than_every_category_changes_nothing():
    assert balance(LABELS, cap=700, seed=1).tolist() == list(range(len(LABELS)))


def test_classic_cap_of_700_on_a_large_category():
    labels = ["技術的なトラブル"] * 1500 + ["アカウント"] * 300
    picked = balance(labels, cap=700, oversample=True, seed=42)
    assert Counter(labels[i] for i in picked) == {"技術的なトラブル": 700, "アカウント": 700}


def test_same_seed_same_indices_different_seed_different_indices():
    labels = ["支払い"] * 200 + ["配送"] * 30
    a = balance(labels, cap=50, oversample=True, seed=7)
    b = balance(labels, cap=50, oversample=True, seed=7)
    c = balance(labels, cap=50, oversample=True, seed=8)
    assert np.array_equal(a, b)
    # 50 of 200 (and 20 draws from 30): two seeds agreeing would be astronomically unlikely.
    assert not np.array_equal(a, c)
    assert Counter(labels[i] for i in c) == Counter(labels[i] for i in a) == {"支払い": 50, "配送": 50}


def test_result_does_not_depend_on_dict_order_of_labels():
    # Categories are processed in sorted order, so the same multiset in another first-seen
    # order draws the same per-category random numbers.
    labels_a = ["配送"] * 20 + ["支払い"] * 20
    labels_b = ["支払い"] * 20 + ["配送"] * 20
    pick_a = balance(labels_a, cap=5, seed=3)
    pick_b = balance(labels_b, cap=5, seed=3)
    # Map b's indices onto a's layout (category blocks swapped) and compare per category.
    shift = {i: (i + 20) % 40 for i in range(40)}
    assert sorted(shift[i] for i in pick_b) == pick_a.tolist()


@pytest.mark.parametrize("cap", [0, -3])
def test_cap_must_be_positive(cap):
    with pytest.raises(ValueError, match="cap must be a positive"):
        balance(LABELS, cap=cap)


def test_balance_of_nothing_is_empty():
    assert balance([], cap=3).tolist() == []


def test_merge_categories_keeps_the_named_ones_and_merges_the_rest():
    labels = ["アカウント", "支払い", "配送", "返品・返金", "技術的なトラブル", "支払い"]
    merged = merge_categories(labels, ["支払い", "配送"])
    assert merged == ["その他", "支払い", "配送", "その他", "その他", "支払い"]
    assert labels[0] == "アカウント"  # input untouched


def test_merge_categories_into_an_existing_other_category_and_custom_label():
    labels = ["その他", "支払い", "配送"]
    assert merge_categories(labels, ["支払い"]) == ["その他", "支払い", "その他"]
    assert merge_categories(labels, ["支払い"], other_label="一般") == ["一般", "支払い", "一般"]
    # The other label may itself be listed as kept (a no-op for it).
    assert merge_categories(labels, ["支払い", "その他"]) == ["その他", "支払い", "その他"]


def test_merge_categories_rejects_unknown_or_empty_keep_lists():
    with pytest.raises(ValueError, match="not in the data: 請求"):
        merge_categories(["支払い", "配送"], ["支払い", "請求"])
    with pytest.raises(ValueError, match="at least one"):
        merge_categories(["支払い"], [])


def test_merge_categories_for_validation_data_may_lack_a_kept_category():
    # A dev or evaluation file need not contain every kept category.
    assert merge_categories(["支払い", "アカウント"], ["支払い", "配送"], require_present=False) == ["支払い", "その他"]
    with pytest.raises(ValueError, match="not in the data: 配送"):
        merge_categories(["支払い", "アカウント"], ["支払い", "配送"])


def test_class_weights_are_n_over_k_times_count():
    labels = ["支払い"] * 6 + ["配送"] * 3 + ["返品・返金"]
    weights = class_weights(labels, ["配送", "支払い", "返品・返金"])
    # n = 10, k = 3: 10/(3*3), 10/(3*6), 10/(3*1), indexed by position in `categories`.
    assert weights == {0: 10 / 9, 1: 10 / 18, 2: 10 / 3}
    # Balanced: every class contributes the same total weight, n / k.
    totals = [weights[i] * labels.count(c) for i, c in enumerate(["配送", "支払い", "返品・返金"])]
    assert totals == pytest.approx([10 / 3] * 3)


def test_class_weights_of_balanced_data_are_one():
    assert class_weights(["a", "b", "a", "b"], ["a", "b"]) == {0: 1.0, 1: 1.0}


def test_class_weights_need_an_example_per_category():
    with pytest.raises(ValueError, match="no training example for categories: 配送"):
        class_weights(["支払い", "支払い"], ["支払い", "配送"])


def test_category_counts_largest_first_ties_by_name():
    labels = ["配送", "支払い", "支払い", "アカウント", "配送", "その他"]
    assert list(category_counts(labels).items()) == [("支払い", 2), ("配送", 2), ("その他", 1), ("アカウント", 1)]
