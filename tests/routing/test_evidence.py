"""The words behind a prediction (routing.evidence): occlusion of MeCab tokens through the predictor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from preprocessing.datasets import load_tickets
from preprocessing.pipeline import Document
from routing.evidence import MAX_OCCLUDED, Evidence, occlusion
from routing.predictor import Predictor, load_predictor
from tests.paths import SAMPLE_TICKETS


@pytest.fixture(scope="module")
def tfidf(tfidf_bundle_dir: Path) -> Predictor:
    return load_predictor(tfidf_bundle_dir)


@pytest.fixture(scope="module")
def lstm(trained_bundle_dir: Path) -> Predictor:
    return load_predictor(trained_bundle_dir)


def test_the_deciding_word_has_the_largest_positive_effect(tfidf: Predictor):
    # Trained on the sample tickets: パスワード routes to アカウント, 返品 to 返品・返金.
    for question, category, word in (("パスワードを忘れました", "アカウント", "パスワード"), ("商品を返品したいのですが", "返品・返金", "返品")):
        document = tfidf.prepare(question)
        prediction = tfidf.predict_documents([document])[0]
        assert prediction.category == category
        evidence = occlusion(tfidf, document, category)
        assert max(evidence, key=lambda e: e.effect).token == word
        assert max(e.effect for e in evidence) > 0.1


def test_effects_are_the_probability_with_minus_without_each_token(tfidf: Predictor, lstm: Predictor):
    for predictor in (tfidf, lstm):
        document = predictor.prepare("荷物がまだ届きません。いつ届きますか？")
        category = predictor.predict_documents([document])[0].category
        column = predictor.categories.index(category)
        tokens = document.tokens
        whole = float(predictor.probabilities([document])[0, column])
        expected = [whole - float(predictor.probabilities([Document(document.cleaned, tokens[:i] + tokens[i + 1 :])])[0, column]) for i in range(len(tokens))]
        evidence = occlusion(predictor, document, category)
        assert [e.token for e in evidence] == tokens  # question order, repeats (届き twice) kept
        np.testing.assert_allclose([e.effect for e in evidence], expected, atol=2e-6)


def test_deterministic(tfidf: Predictor, lstm: Predictor):
    for predictor in (tfidf, lstm):
        document = predictor.prepare("クレジットカードの支払いが二重に請求されています")
        category = predictor.predict_documents([document])[0].category
        assert occlusion(predictor, document, category) == occlusion(predictor, document, category)


def test_the_tfidf_fast_path_equals_the_batched_default(tfidf: Predictor):
    questions = [t.question for t in load_tickets(str(SAMPLE_TICKETS)).tickets[:80]]
    for question in questions + ["荷物 荷物 荷物 届き 荷物 荷物"]:
        document = tfidf.prepare(question)
        if len(document.tokens) < 2:
            continue
        positions = range(len(document.tokens))
        fast = tfidf.occlusion_logits(document, positions)
        default = Predictor.occlusion_logits(tfidf, document, positions)
        np.testing.assert_allclose(fast, default, atol=1e-12)


def test_one_token_and_other_categories(tfidf: Predictor):
    document = tfidf.prepare("返品")
    assert document.tokens == ["返品"]
    whole = float(tfidf.probabilities([document])[0, tfidf.categories.index("返品・返金")])
    [evidence] = occlusion(tfidf, document, "返品・返金")
    assert evidence == Evidence("返品", round(whole - 1 / len(tfidf.categories), 6))  # without it: uniform
    # The effect on another category than the predicted one: 返品 lowers 配送.
    assert occlusion(tfidf, document, "配送")[0].effect < 0
    with pytest.raises(ValueError, match="not one of the model's"):
        occlusion(tfidf, document, "天気")
    assert occlusion(tfidf, Document("", []), "配送") == []
    assert Evidence("返品", 0.5).to_dict() == {"token": "返品", "effect": 0.5}


def test_tokens_the_model_does_not_read(tfidf: Predictor, lstm: Predictor):
    tokens = []
    for ticket in load_tickets(str(SAMPLE_TICKETS)).tickets:
        tokens.extend(tfidf.prepare(ticket.question).tokens)
        if len(tokens) > MAX_OCCLUDED + 10:
            break
    long = Document("長い質問", tokens[: MAX_OCCLUDED + 10])
    category = tfidf.predict_documents([long])[0].category
    evidence = occlusion(tfidf, long, category)
    assert [e.effect for e in evidence[MAX_OCCLUDED:]] == [None] * 10  # not measured
    assert all(e.effect is not None for e in evidence[:MAX_OCCLUDED])
    # An LSTM reads its first seq_len tokens: the others have effect 0, exactly.
    limit = lstm.token_limit
    cut = Document("長い質問", tokens[: limit + 5])
    evidence = occlusion(lstm, cut, lstm.predict_documents([cut])[0].category)
    assert len(evidence) == limit + 5 and [e.effect for e in evidence[limit:]] == [0.0] * 5
