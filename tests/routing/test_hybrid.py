"""Kind ``hybrid``: n-gram features as scikit-learn computes them, the fusion rule, and a trained
bundle whose served probabilities are those of its Keras network and its scikit-learn SVM, fused."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import expit, logit, softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from preprocessing.pipeline import Document
from routing.bundle import BundleError, resolve_bundle_path
from routing.hybrid import HybridPredictor, fuse
from routing.lstm import ModelConfig
from routing.ngrams import NgramConfig, NgramFeaturizer, PackedTerms, char_ngrams, window_keys
from routing.predictor import load_predictor
from tests.routing.test_bundle import fresh_process_probabilities
from tests.routing.test_tfidf import sample_split
from training.config import TrainConfig
from training.fit_hybrid import fit_featurizer, stacked_features

QUESTIONS = [
    "パスワードを忘れてしまい、ログインできません。",
    "クレジットカードの支払いが二重に請求されています",
    "届いた商品が壊れていたので返品したいです",
    "まったく関係のない未知の単語だらけの質問",
]

#: The configuration of the ``hybrid_bundle_dir`` fixture (tests/conftest.py).
FIXTURE_CONFIG = TrainConfig(kind="hybrid", epochs=2, learning_rate=1e-2, batch_size=32, model=ModelConfig(units=8, embedding_dim=16), lstm_weight=None)


@pytest.fixture(scope="module")
def split():
    """(fit part, validation) of the sample tickets, as ``train`` splits them."""
    return sample_split(FIXTURE_CONFIG)


# --- the n-gram features ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["返品  したい\tです", "ｘｙｚ 注文番号　<ORDER> の件", "あ", "荷物が\n\n届かない"])
def test_char_ngrams_match_scikit_learns_analyzer(text):
    analyzer = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), lowercase=False).build_analyzer()
    assert sorted(char_ngrams(text, 1, 4)) == sorted(analyzer(text))


@pytest.mark.parametrize(
    "config",
    [NgramConfig(), NgramConfig(word_ngrams=(1, 2), char_ngrams=None, min_df=1), NgramConfig(word_ngrams=None, char_ngrams=(2, 3))],
    ids=["word12+char14", "word12", "char23"],
)
def test_featurizer_equals_scikit_learns_tfidf(config, split):
    fit_part, valid = split
    featurizer, vectorizers, train_features = fit_featurizer(config, fit_part.tokens, fit_part.cleaned)
    # The validation questions, one of unknown words only and one with a run of spaces.
    tokens = [*valid.tokens, ["龘龘鱻"], ["返品", "し", "たい"]]
    cleaned = [*valid.cleaned, "龘龘鱻", "返品   したい"]
    documents = [Document(c, list(t)) for c, t in zip(cleaned, tokens)]
    expected = stacked_features(vectorizers, tokens, cleaned).toarray()
    got = featurizer.transform(documents)
    assert got.shape == expected.shape == (len(documents), sum(len(v.idf_) for v in vectorizers.values()))
    np.testing.assert_allclose(got.toarray(), expected, rtol=0, atol=1e-6)
    assert got.nnz > 20 * len(documents)  # the rows are far from empty: the comparison means something
    norms = np.sqrt(np.asarray(got.multiply(got).sum(axis=1)).ravel())
    assert norms[-2] == 0.0  # nothing known in the unknown-words question
    np.testing.assert_allclose(norms[:-2], 1.0, atol=1e-12)  # both blocks (or the one) of unit norm in total
    np.testing.assert_allclose(featurizer.transform(documents[:0]).shape, (0, featurizer.n_features))
    np.testing.assert_allclose(train_features.toarray(), featurizer.transform(
        [Document(c, list(t)) for c, t in zip(fit_part.cleaned, fit_part.tokens)]).toarray(), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "fields, message",
    [({"word_ngrams": None, "char_ngrams": None}, "needs word"), ({"char_ngrams": (3, 2)}, "1 ≤ low ≤ high"), ({"min_df": 0}, "min_df")],
)
def test_ngram_config_rejects_bad_settings(fields, message):
    with pytest.raises(ValueError, match=message):
        NgramConfig(**fields)


def test_ngram_config_round_trips_through_json():
    config = NgramConfig(word_ngrams=(1, 3), char_ngrams=(2, 4), min_df=1)
    assert NgramConfig(**json.loads(json.dumps(config.to_dict()))) == config


# --- fusion -------------------------------------------------------------------------------


def test_fusion_averages_the_temperature_scaled_member_probabilities():
    lstm, linear = np.array([[2.0, 0.0, 0.0]]), np.array([[0.0, np.log(3.0), 0.0]])
    fused = fuse([lstm, linear], [2.0, 1.0])
    # softmax([1, 0, 0]) = [e, 1, 1] / (e + 2); softmax([0, ln 3, 0]) = [0.2, 0.6, 0.2]; their mean:
    np.testing.assert_allclose(np.exp(fused), [[0.38805844238291454, 0.4059707788085427, 0.2059707788085427]], rtol=1e-12)
    # The final temperature 0.5 squares and renormalises the mean.
    np.testing.assert_allclose(softmax(fused / 0.5, axis=1), [[0.42084568, 0.46059387, 0.11856045]], atol=1e-8)


def test_fusion_of_one_member_is_its_calibrated_log_probability():
    scores = np.array([[3.0, -1.0], [0.5, 0.25]])
    np.testing.assert_allclose(np.exp(fuse([scores], [1.5])), softmax(scores / 1.5, axis=1), rtol=1e-12)


@pytest.mark.parametrize("scores, temperatures", [([], []), ([np.zeros((1, 2))], [1.0, 2.0]), ([np.zeros((1, 2))], [0.0])])
def test_fusion_rejects_missing_temperatures(scores, temperatures):
    with pytest.raises(ValueError):
        fuse(scores, temperatures)


def test_weighted_fusion_mixes_the_member_probabilities_by_weight():
    lstm, linear = np.array([[2.0, 0.0, 0.0]]), np.array([[0.0, np.log(3.0), 0.0]])
    fused = fuse([lstm, linear], [2.0, 1.0], [0.3, 0.7])
    # 0.3 · [e, 1, 1] / (e + 2) + 0.7 · [0.2, 0.6, 0.2]
    e = np.e
    expected = [0.3 * e / (e + 2) + 0.14, 0.3 / (e + 2) + 0.42, 0.3 / (e + 2) + 0.14]
    np.testing.assert_allclose(np.exp(fused), [expected], rtol=1e-12)
    np.testing.assert_allclose(np.exp(fused), [[0.3128350654, 0.4835824673, 0.2035824673]], rtol=1e-9)
    # Equal weights are the plain mean; a weight of 1 is that member alone.
    np.testing.assert_array_equal(fuse([lstm, linear], [2.0, 1.0], [0.5, 0.5]), fuse([lstm, linear], [2.0, 1.0]))
    np.testing.assert_allclose(np.exp(fuse([lstm, linear], [2.0, 1.0], [0.0, 1.0])), [[0.2, 0.6, 0.2]], rtol=1e-12)


@pytest.mark.parametrize("weights", [[0.5], [0.6, 0.6], [1.5, -0.5], [0.2, 0.7]])
def test_fusion_rejects_weights_that_are_not_a_mixture(weights):
    with pytest.raises(ValueError, match="summing to 1"):
        fuse([np.zeros((1, 2)), np.zeros((1, 2))], [1.0, 1.0], weights)


# --- a trained bundle ---------------------------------------------------------------------


def test_bundle_describes_a_hybrid_model(hybrid_bundle_dir):
    predictor = load_predictor(hybrid_bundle_dir)
    assert isinstance(predictor, HybridPredictor) and predictor.kind == "hybrid"
    info = json.loads((predictor.path / "bundle.json").read_text(encoding="utf-8"))
    assert set(info["model"]) == {"lstm", "ngrams", "member_temperatures", "member_weights"}
    weights = info["model"]["member_weights"]
    assert weights["lstm"] + weights["ngram"] == pytest.approx(1.0) and predictor.member_weights == [weights["lstm"], weights["ngram"]]
    assert info["model"]["ngrams"] == {"word_ngrams": [1, 2], "char_ngrams": [1, 4], "min_df": 2}
    assert info["model"]["lstm"]["network"] == FIXTURE_CONFIG.model.to_dict()
    assert all(t > 0 for t in predictor.member_temperatures) and predictor.temperature > 0
    assert TrainConfig.from_dict(info["train_config"]) == FIXTURE_CONFIG
    names = {p.name for p in predictor.path.iterdir()}
    assert {"bundle.json", "vocabulary.json", "ngrams.json", "weights.npz", "model.keras", "metrics.json"} <= names
    assert predictor.token_limit is None  # the n-gram member reads the whole question
    assert predictor.metrics["model_kind"] == "hybrid" and predictor.metrics["accuracy"] >= 0.5


def test_served_probabilities_are_keras_and_scikit_learn_fused(hybrid_bundle_dir, split):
    """The NumPy members equal the saved Keras network and a scikit-learn refit; the served
    probabilities are their fusion with the bundle's temperatures."""
    import keras

    from training.fit_lstm import load_keras_model

    fit_part, valid = split
    predictor = load_predictor(hybrid_bundle_dir)
    questions = [t.question for t in valid.tickets]
    documents = [predictor.prepare(q) for q in questions]
    lstm_scores, linear_scores = predictor.member_logits(documents)
    # LSTM member: the saved Keras model on the same ids.
    ids = [predictor.lstm.vocabulary.encode(d.tokens, predictor.lstm.seq_len) for d in documents]
    keras_probabilities = load_keras_model(predictor.path).predict(keras.utils.pad_sequences(ids, padding="post"), verbose=0)
    np.testing.assert_allclose(softmax(lstm_scores, axis=1), keras_probabilities, rtol=0, atol=1e-5)
    # n-gram member: scikit-learn's vectorizers and LinearSVC fitted on the same fit part.
    _, vectorizers, features = fit_featurizer(FIXTURE_CONFIG.ngrams, fit_part.tokens, fit_part.cleaned)
    svm = LinearSVC(C=FIXTURE_CONFIG.linear_c, class_weight="balanced", random_state=FIXTURE_CONFIG.seed).fit(features, fit_part.labels)
    assert list(svm.classes_) == predictor.categories
    decision = svm.decision_function(stacked_features(vectorizers, valid.tokens, valid.cleaned))
    np.testing.assert_allclose(linear_scores, decision, rtol=0, atol=1e-5)
    # Served: softmax(log(sum_m w_m softmax(s_m / T_m)) / T).
    t_lstm, t_linear = predictor.member_temperatures
    w_lstm, w_linear = predictor.member_weights
    mixture = w_lstm * softmax(np.log(keras_probabilities) / t_lstm, axis=1) + w_linear * softmax(decision / t_linear, axis=1)
    expected = softmax(np.log(mixture) / predictor.temperature, axis=1)
    served = predictor.predict_proba(questions)
    assert served.dtype == np.float32
    np.testing.assert_allclose(served, expected, rtol=0, atol=1e-5)
    assert expected.std(axis=0).max() > 0.05  # the rows differ: the comparison means something


def test_fresh_process_gives_identical_probabilities(hybrid_bundle_dir):
    here = load_predictor(hybrid_bundle_dir).predict_proba(QUESTIONS)
    assert np.array_equal(fresh_process_probabilities(hybrid_bundle_dir, QUESTIONS), here)


def test_predictions_route_and_review_as_every_kind(hybrid_bundle_dir):
    predictor = load_predictor(hybrid_bundle_dir)
    first, noise = predictor.predict([QUESTIONS[0], "-----"], top_k=2)
    assert first.category in predictor.categories and len(first.top_k) == 2
    assert first.probability == pytest.approx(float(predictor.predict_proba([QUESTIONS[0]])[0].max()), abs=1e-7)
    assert noise.reason == "no_content" and noise.category is None


def test_analysis_marks_words_the_lstm_member_does_not_know(hybrid_bundle_dir):
    predictor = load_predictor(hybrid_bundle_dir)
    analysis = predictor.analyze(predictor.prepare("パスワードを忘れました ｘｙｚｚｙ"))
    assert analysis.tokens == ["パスワード", "を", "忘れ", "まし", "た", "xyzzy"]
    assert analysis.out_of_vocabulary == [False, False, False, False, False, True]
    assert analysis.truncated == 0


def bundle_copy(models: Path, target: Path) -> Path:
    """A copy of the bundle ``models`` points to (its ``current``), at ``target``."""
    shutil.copytree(resolve_bundle_path(models), target)
    return target


def rewrite_json(path: Path, change: Callable[[Any], None]) -> None:
    """Read the JSON file ``path``, let ``change`` edit it in place, write it back (UTF-8)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_bundle_without_weights_fuses_with_equal_weights(hybrid_bundle_dir, tmp_path):
    """Bundles written before the weights existed serve the plain mean, as they were evaluated."""
    old = bundle_copy(hybrid_bundle_dir, tmp_path / "old")
    rewrite_json(old / "bundle.json", lambda info: info["model"].pop("member_weights"))
    predictor = load_predictor(old)
    assert predictor.member_weights == [0.5, 0.5]
    documents = [predictor.prepare(q) for q in QUESTIONS]
    np.testing.assert_array_equal(predictor.logits(documents), fuse(predictor.member_logits(documents), predictor.member_temperatures))


def test_weights_that_are_not_a_mixture_are_a_damaged_bundle(hybrid_bundle_dir, tmp_path):
    broken = bundle_copy(hybrid_bundle_dir, tmp_path / "broken")
    rewrite_json(broken / "bundle.json", lambda info: info["model"].update(member_weights={"lstm": 0.9, "ngram": 0.9}))
    with pytest.raises(BundleError, match="summing to 1"):
        load_predictor(broken)


def test_missing_ngram_file_is_named(hybrid_bundle_dir, tmp_path):
    broken = bundle_copy(hybrid_bundle_dir, tmp_path / "broken")
    (broken / "ngrams.json").unlink()
    with pytest.raises(BundleError, match=r"ngrams\.json: missing"):
        load_predictor(broken)


def test_weights_that_do_not_fit_the_ngrams_are_a_damaged_bundle(hybrid_bundle_dir, tmp_path):
    broken = bundle_copy(hybrid_bundle_dir, tmp_path / "broken")
    rewrite_json(broken / "ngrams.json", lambda terms: terms["char"].pop())
    with pytest.raises(BundleError, match="incomplete or damaged hybrid bundle .*char block"):
        load_predictor(broken)



def test_top_label_scaling_in_the_bundle_is_served_everywhere(hybrid_bundle_dir, tmp_path):
    """A bundle with ``calibration.top_label`` serves σ(a · logit(c) + b) as the top probability,
    the same in a fresh process; the ranking, the answer and the other categories' proportions stay."""
    scaled = bundle_copy(hybrid_bundle_dir, tmp_path / "scaled")
    rewrite_json(scaled / "bundle.json", lambda info: info["calibration"].update(top_label={"slope": 0.7, "intercept": 0.25}))
    plain, predictor = load_predictor(hybrid_bundle_dir), load_predictor(scaled)
    before, after = plain.predict_proba(QUESTIONS), predictor.predict_proba(QUESTIONS)
    top = before.argmax(axis=1)
    rows = np.arange(len(QUESTIONS))
    c = before[rows, top].astype(np.float64)
    np.testing.assert_allclose(after[rows, top], expit(0.7 * logit(c) + 0.25), rtol=1e-5)
    others = np.ones_like(before, dtype=bool)
    others[rows, top] = False  # the others keep their shares of what the top leaves
    np.testing.assert_allclose((after / (1 - after[rows, top])[:, None])[others], (before / (1 - c)[:, None])[others], rtol=1e-4)
    assert np.array_equal(after.argmax(axis=1), top) and not np.allclose(after, before, atol=1e-3)
    assert np.array_equal(fresh_process_probabilities(scaled, QUESTIONS), after)
    assert [p.category for p in predictor.predict(QUESTIONS)] == [p.category for p in plain.predict(QUESTIONS)]


def test_a_negative_top_label_slope_is_a_damaged_bundle(hybrid_bundle_dir, tmp_path):
    broken = bundle_copy(hybrid_bundle_dir, tmp_path / "broken")
    rewrite_json(broken / "bundle.json", lambda info: info["calibration"].update(top_label={"slope": -1.0, "intercept": 0.0}))
    with pytest.raises(BundleError, match="positive temperature and slope"):
        load_predictor(broken)

# --- packed term tables and batches -------------------------------------------------------

#: Questions that exercise the lookups: repeated n-grams, runs of white space, a character in
#: no term (an emoji far above the code point table), unknown words, a single character.
ODD_QUESTIONS = [
    "パスワード パスワード パスワードを忘れました",
    "返品   したい\t\tです 🦜",
    "龘龘鱻",
    "あ",
]


def test_window_keys_pack_each_window_inside_its_sequence():
    # Two sequences [1, 2, 3] and [4, 0]: windows of 1–2 symbols in base 10, none across the
    # boundary, none holding the unknown symbol 0.
    rows, keys = window_keys([(np.array([1, 2, 3, 4, 0]), np.array([3, 2]))], 1, 2, 10)
    assert rows.tolist() == [0, 0, 0, 0, 0, 1]
    assert keys.tolist() == [1, 12, 2, 23, 3, 4]
    rows, keys = window_keys([(np.array([1, 2, 3]), np.array([3]))], 2, 3, 10)
    assert rows.tolist() == [0, 0, 0] and keys.tolist() == [12, 123, 23]
    # Two streams (characters, tokens) of two items: item 0 is [1, 2] and [5], item 1 is [3]
    # and [6, 7]; no window joins a character and a token.
    rows, keys = window_keys([(np.array([1, 2, 3]), np.array([2, 1])), (np.array([5, 6, 7]), np.array([1, 2]))], 1, 2, 10)
    assert rows.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert keys.tolist() == [1, 12, 2, 5, 3, 6, 67, 7]


def test_packed_terms_find_each_term_and_nothing_else():
    # Terms [1, 2], [2], [2, 1] in base 3: keys 5, 2, 7.
    table = PackedTerms(np.array([1, 2, 2, 2, 1]), np.array([2, 1, 2]), symbols=2)
    assert table.keys.tolist() == [2, 5, 7] and table.columns.tolist() == [1, 0, 2]
    assert table.lookup(np.array([7, 5, 6, 2, 7, 0])).tolist() == [2, 0, -1, 1, 2, -1]
    with pytest.raises(ValueError, match="same"):
        PackedTerms(np.array([1, 1]), np.array([1, 1]), symbols=1)
    with pytest.raises(OverflowError):
        PackedTerms(np.array([1]), np.array([1]), symbols=20, high=16)  # windows of 16: 21^16 > 2^63


@pytest.mark.parametrize(
    "config", [NgramConfig(), NgramConfig(word_ngrams=(1, 3), char_ngrams=(2, 3), min_df=1)], ids=["word12+char14", "word13+char23"]
)
def test_packed_lookup_gives_the_dict_lookups_features(config, split):
    fit_part, valid = split
    featurizer, vectorizers, _ = fit_featurizer(config, fit_part.tokens, fit_part.cleaned)
    terms = {b: v.get_feature_names_out().tolist() for b, v in vectorizers.items()}
    reference = NgramFeaturizer(config, terms, featurizer.idf, packed=False)
    assert featurizer.lookup == "packed" and reference.lookup == "dict"
    prepared = [load_ready(q) for q in ODD_QUESTIONS]
    # A token holding a space (MeCab's never do) is looked up by its joined n-grams, as the dict does:
    # "パスワード を" is a word bigram of the training questions.
    assert "パスワード を" in terms["word"]
    spaced = Document("パスワードを忘れました", ["パスワード を", "忘れ", "まし", "た"])
    documents = [*(Document(c, list(t)) for c, t in zip(valid.cleaned, valid.tokens)), *prepared, spaced]
    got, expected = featurizer.transform(documents), reference.transform(documents)
    assert got.nnz == expected.nnz > 20 * len(documents)
    np.testing.assert_allclose(got.toarray(), expected.toarray(), rtol=0, atol=1e-15)
    assert expected[len(documents) - 1, featurizer.offsets["word"] + terms["word"].index("パスワード を")] > 0
    # scikit-learn's tokenizer would split the spaced token: the rest equals its features.
    sklearn = stacked_features(vectorizers, [d.tokens for d in documents[:-1]], [d.cleaned for d in documents[:-1]])
    np.testing.assert_allclose(got[:-1].toarray(), sklearn.toarray(), rtol=0, atol=1e-6)


def test_terms_that_do_not_pack_keep_a_dict(split):
    fit_part, _ = split
    # Word n-grams up to 20 tokens: (distinct symbols + 1)^20 is far above 2^63.
    config = NgramConfig(word_ngrams=(1, 20), char_ngrams=(1, 2), min_df=2)
    featurizer, vectorizers, train_features = fit_featurizer(config, fit_part.tokens, fit_part.cleaned)
    assert featurizer.lookup == "dict"
    documents = [Document(c, list(t)) for c, t in zip(fit_part.cleaned, fit_part.tokens)]
    np.testing.assert_allclose(featurizer.transform(documents).toarray(), train_features.toarray(), rtol=0, atol=1e-6)


def load_ready(question: str) -> Document:
    """``question`` cleaned and tokenized with the default settings."""
    from preprocessing.pipeline import PreprocessSettings, prepare

    return prepare(question, PreprocessSettings())


def test_a_batch_gives_each_question_its_own_ngram_scores(hybrid_bundle_dir):
    predictor = load_predictor(hybrid_bundle_dir)
    documents = [predictor.prepare(q) for q in [*QUESTIONS, *ODD_QUESTIONS]]
    batch = predictor.linear.logits(documents)
    alone = np.concatenate([predictor.linear.logits([d]) for d in documents])
    assert np.array_equal(batch, alone)
    features = predictor.linear.featurizer.transform(documents)
    for i, document in enumerate(documents):
        columns, values = predictor.linear.featurizer.row(document)
        assert np.array_equal(columns, features[i].indices) and np.array_equal(values, features[i].data)
    assert batch.std(axis=0).max() > 0.05  # the questions score differently: the comparison means something
    # The scores are the sparse product in float64 (the float32 weights read exactly).
    weights = predictor.linear.weights.astype(np.float64)
    np.testing.assert_allclose(batch, features @ weights + predictor.linear.intercept, rtol=0, atol=1e-12)
