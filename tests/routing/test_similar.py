"""Similar past tickets (routing.similar): BM25 over MeCab tokens, the category preference, the bundle part."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from feedback.errors import UnmaskedQuestionError
from feedback.privacy import check_masked
from preprocessing.datasets import load_tickets
from preprocessing.pipeline import PreprocessSettings, prepare
from routing.bundle import MANIFEST, BundleError
from routing.predictor import load_predictor
from routing.similar import CATEGORY_BOOST, SIMILAR_DIR, TICKETS, SimilarIndex, SimilarTicket
from tests.paths import SAMPLE_TICKETS

SETTINGS = PreprocessSettings()

#: (id, question, answer, category): a handful of past tickets.
TICKETS_ROWS = [
    ("D1", "注文した荷物がまだ届きません", "配送状況をお調べします。", "配送"),
    ("A1", "パスワードを忘れてログインできません", "パスワード再設定のメールをお送りします。", "アカウント"),
    ("P1", "クレジットカードの支払いが二重に請求されました", "二重請求分は返金いたします。", "支払い"),
    ("R1", "届いた商品が壊れていたので返品したい", "返品を承ります。着払いでお送りください。", "返品・返金"),
    ("D2", "お届け先の住所を変更したい", None, "配送"),
]


def tokens(text: str) -> list[str]:
    """The question's tokens as the model reads them (default settings)."""
    return prepare(text, SETTINGS).tokens


def build(rows=TICKETS_ROWS, boost: float = CATEGORY_BOOST) -> SimilarIndex:
    ids, questions, answers, categories = zip(*rows)
    return SimilarIndex.build([tokens(q) for q in questions], ids, questions, answers, categories, boost)


def test_a_delivery_question_finds_the_delivery_ticket_first():
    index = build()
    question = tokens("荷物が届きません")
    assert question == ["荷物", "が", "届き", "ませ", "ん"]
    found = index.search(question, "配送", 3)
    # D1 shares 荷物, が, 届き, ませ, ん; A1 ませ, ん; P1 and R1 only が (equal scores: index order).
    assert [(t.id, t.category, t.score) for t in found] == [("D1", "配送", 2.1556), ("A1", "アカウント", 0.7455), ("P1", "支払い", 0.1938)]
    assert found[0].to_dict() == {"id": "D1", "question": "注文した荷物がまだ届きません", "answer": "配送状況をお調べします。", "category": "配送", "score": 2.1556}
    # The scores are bm25s's own BM25 scores for those tokens (its retriever's get_scores), rounded.
    library = index.retriever.get_scores(question)
    assert [t.score for t in found] == [round(float(library[0]), 4), round(float(library[1]), 4), round(float(library[2]), 4)]


def test_scores_are_those_of_bm25s():
    index = build()
    for question in ("パスワードを変更したい", "支払いが二重になっています", "返品の送料は？", "荷物の荷物の荷物"):
        np.testing.assert_allclose(index.scores(tokens(question)), index.retriever.get_scores(tokens(question)), rtol=1e-6)


def test_the_predicted_category_is_preferred_within_the_boost():
    index = build()
    question = tokens("荷物を返品したい")
    # Plain BM25: D2 1.0221 (配送), R1 1.0070 (返品・返金), D1 0.8198 (配送), A1 0.3728.
    assert [(t.id, t.score) for t in index.search(question, None, 4)] == [("D2", 1.0221), ("R1", 1.007), ("D1", 0.8198), ("A1", 0.3728)]
    # Routed to 返品・返金: R1 counts 1.007 × 1.5 = 1.51 and comes first; the scores shown stay plain.
    assert [(t.id, t.score) for t in index.search(question, "返品・返金", 3)] == [("R1", 1.007), ("D2", 1.0221), ("D1", 0.8198)]
    # Routed to 配送: both delivery tickets before the return ticket.
    assert [t.id for t in index.search(question, "配送", 3)] == ["D2", "D1", "R1"]
    # Without a boost (factor 1) the prediction changes nothing.
    assert [t.id for t in build(boost=1.0).search(question, "返品・返金", 3)] == ["D2", "R1", "D1"]


def test_a_much_closer_ticket_of_another_category_still_comes_first():
    index = build()
    question = tokens("届いた荷物の住所を変更したい")
    # D2 2.5002 against R1 1.4859 × 1.5 = 2.23: the address ticket stays first though 返品・返金 is predicted.
    assert [(t.id, t.score) for t in index.search(question, "返品・返金", 2)] == [("D2", 2.5002), ("R1", 1.4859)]


def test_equal_scores_put_the_predicted_category_first_then_index_order():
    rows = [("X1", "荷物が届きません", "a", "配送"), ("X2", "荷物が届きません", "b", "返品・返金"), ("X3", "パスワード", "c", "アカウント")]
    index = build(rows)
    question = tokens("荷物が届きません")
    assert [t.id for t in index.search(question, None, 3)] == ["X1", "X2"]
    assert [t.id for t in index.search(question, "返品・返金", 3)] == ["X2", "X1"]
    assert [t.id for t in build(rows, boost=1.0).search(question, "返品・返金", 3)] == ["X1", "X2"]


def test_n_bounds_unknown_words_and_no_answer():
    index = build()
    assert index.search(tokens("荷物が届きません"), "配送", 0) == []
    assert index.search(tokens("量子コンピュータ"), "配送", 3) == []  # no shared token
    assert index.search([], None, 3) == []
    assert index.search(tokens("住所を変更したい"), "配送", 1)[0].answer is None  # D2 had no answer
    with pytest.raises(ValueError, match="between 0 and 10"):
        index.search(tokens("荷物"), None, 11)
    with pytest.raises(ValueError, match="between 0 and 10"):
        index.search(tokens("荷物"), None, -1)


def test_build_refuses_mismatched_lists():
    with pytest.raises(ValueError, match="differ in length"):
        SimilarIndex.build([["荷物"], ["返品"]], ["a", "b"], ["q"], [None, None], ["配送", "返品"])
    with pytest.raises(ValueError, match="no tickets"):
        SimilarIndex.build([], [], [], [], [])


def test_save_and_load_give_the_same_results(tmp_path: Path):
    index = build()
    entry = index.save(tmp_path)
    assert entry == {"tickets": 5, "boost": CATEGORY_BOOST}
    loaded = SimilarIndex.load(tmp_path, entry)
    for question, category in (("荷物が届きません", "配送"), ("届いた荷物を返品したい", "返品・返金"), ("カードの支払い", None)):
        assert loaded.search(tokens(question), category, 5) == index.search(tokens(question), category, 5)


def test_a_trained_bundle_holds_the_masked_training_tickets(tfidf_bundle_dir: Path):
    predictor = load_predictor(tfidf_bundle_dir)
    index = predictor.similar
    assert index is not None
    metrics = predictor.metrics["data"]
    assert len(index) == metrics["train_examples"] + metrics["holdout_examples"] == predictor.manifest["similar"]["tickets"]
    document = predictor.prepare("荷物がまだ届きません。いつ届きますか？")
    found = index.search(document.tokens, "配送", 3)
    assert len(found) == 3 and found[0].category == "配送"
    raw = {t.id: t for t in load_tickets(str(SAMPLE_TICKETS)).tickets}
    assert found[0].answer == raw[found[0].id].answer  # the team's reply, from the file's answer column
    # No e-mail address or phone number at rest: every stored text passes the feedback store's check.
    stored = json.loads((predictor.path / SIMILAR_DIR / TICKETS).read_text(encoding="utf-8"))
    for text in stored["question"] + [a for a in stored["answer"] if a]:
        check_masked(text)
    # Tickets with a phone number in the sample file are kept with <TEL> in its place, still readable.
    with_phone = [i for i, ticket_id in enumerate(stored["id"]) if "TEL" in raw[ticket_id].question]
    assert len(with_phone) >= 5
    for i in with_phone:
        with pytest.raises(UnmaskedQuestionError, match="phone number"):
            check_masked(raw[stored["id"][i]].question)
        assert "TEL" in stored["question"][i] and "<TEL>" in stored["question"][i]


def test_a_bundle_without_the_index_loads_with_no_similar_tickets(tfidf_bundle_dir: Path, tmp_path: Path):
    source = load_predictor(tfidf_bundle_dir).path
    old = tmp_path / "old"
    shutil.copytree(source, old)
    shutil.rmtree(old / SIMILAR_DIR)
    manifest = json.loads((old / MANIFEST).read_text(encoding="utf-8"))
    del manifest["similar"]
    (old / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    predictor = load_predictor(old)
    assert predictor.similar is None
    assert predictor.predict(["荷物が届きません"])[0].category == load_predictor(source).predict(["荷物が届きません"])[0].category


def test_a_missing_index_named_in_the_manifest_is_a_damaged_bundle(tfidf_bundle_dir: Path, tmp_path: Path):
    broken = tmp_path / "broken"
    shutil.copytree(load_predictor(tfidf_bundle_dir).path, broken)
    (broken / SIMILAR_DIR / TICKETS).unlink()
    with pytest.raises(BundleError, match="tickets.json: missing"):
        load_predictor(broken)
    shutil.copytree(load_predictor(tfidf_bundle_dir).path / SIMILAR_DIR, broken / "similar2")
    shutil.rmtree(broken / SIMILAR_DIR)
    (broken / "similar2").rename(broken / SIMILAR_DIR)
    (broken / SIMILAR_DIR / "vocab.index.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(BundleError, match="damaged similar-tickets index"):
        load_predictor(broken)
