"""The token vocabulary: id layout, caps, ordering, encoding."""

from __future__ import annotations

import pytest

from routing.vocabulary import OOV, OOV_ID, PAD, PAD_ID, Vocabulary

DOCS = [
    ["返品", "し", "たい"],
    ["配送", "が", "遅い"],
    ["返品", "でき", "ます", "か"],
    ["配送", "し", "たい"],
    ["返品", "<EMAIL>"],
]
# Counts: 返品 3; し 2, たい 2, 配送 2; が, 遅い, でき, ます, か, <EMAIL> 1 each.
# Ties are broken by first appearance: し and たい (doc 1) come before 配送 (doc 2).


def test_ids_zero_is_padding_one_is_oov():
    vocab = Vocabulary.fit(DOCS)
    assert (PAD_ID, OOV_ID) == (0, 1)
    assert vocab.tokens[:2] == [PAD, OOV] == ["<PAD>", "<OOV>"]
    assert vocab.index["<PAD>"] == 0 and vocab.index["<OOV>"] == 1


def test_tokens_ordered_by_frequency_then_first_appearance():
    vocab = Vocabulary.fit(DOCS)
    assert vocab.tokens == [
        "<PAD>", "<OOV>",
        "返品",  # 3
        "し", "たい", "配送",  # 2 each, first seen in docs 1, 1, 2
        "が", "遅い", "でき", "ます", "か", "<EMAIL>",  # 1 each, in order of appearance
    ]
    assert len(vocab) == 12


def test_fit_is_deterministic():
    assert Vocabulary.fit(DOCS).tokens == Vocabulary.fit([list(d) for d in DOCS]).tokens


def test_max_tokens_caps_the_vocabulary_excluding_pad_and_oov():
    vocab = Vocabulary.fit(DOCS, max_tokens=3)
    assert vocab.tokens == ["<PAD>", "<OOV>", "返品", "し", "たい"]
    assert len(vocab) == 3 + 2


def test_min_count_drops_rare_tokens():
    vocab = Vocabulary.fit(DOCS, min_count=2)
    assert vocab.tokens == ["<PAD>", "<OOV>", "返品", "し", "たい", "配送"]
    assert vocab.encode(["でき"]) == [OOV_ID]


def test_special_tokens_in_documents_are_not_duplicated():
    vocab = Vocabulary.fit([["<OOV>", "<PAD>", "返品"], ["<OOV>"]])
    assert vocab.tokens == ["<PAD>", "<OOV>", "返品"]


def test_encode_maps_unknown_tokens_to_oov_and_truncates():
    vocab = Vocabulary.fit(DOCS)
    assert vocab.encode(["返品", "し", "たい", "未知語"]) == [2, 3, 4, 1]
    assert vocab.encode(["返品", "し", "たい", "未知語"], max_len=2) == [2, 3]
    assert vocab.encode([]) == []


def test_a_vocabulary_must_start_with_pad_and_oov():
    with pytest.raises(ValueError, match="starts with <PAD> and <OOV>"):
        Vocabulary(["返品", "<PAD>", "<OOV>"])
    assert Vocabulary(["<PAD>", "<OOV>", "返品"]).encode(["返品"]) == [2]
