"""Kind ``tfidf``: the baseline trained, saved, loaded and predicting exactly as scikit-learn does."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from preprocessing.datasets import load_tickets
from preprocessing.pipeline import PreprocessSettings, prepare
from preprocessing.sampling import merge_categories
from routing.calibration import apply_temperature
from routing.predictor import load_predictor
from routing.tfidf import TfidfPredictor, word_ngrams
from tests.paths import SAMPLE_TICKETS
from tests.routing.test_bundle import fresh_process_probabilities
from training.baselines import baseline_inputs, make_baseline
from training.config import TrainConfig
from training.data import prepare_examples, split_holdout
from training.run import train

QUESTIONS = [
    "パスワードを忘れてしまい、ログインできません。",
    "クレジットカードの支払いが二重に請求されています",
    "届いた商品が壊れていたので返品したいです",
    "まったく関係のない未知の単語だらけの質問",
]


def sample_split(config: TrainConfig):
    """(fit part, validation) of the sample tickets, split as ``train`` does without ``--dev``
    (merged, stratified 20 % for validation, then a stratified 10 % holdout, seeded)."""
    from sklearn.model_selection import train_test_split

    examples = prepare_examples(load_tickets(str(SAMPLE_TICKETS)), PreprocessSettings(), Counter())
    if config.keep_categories:
        examples.labels = merge_categories(examples.labels, config.keep_categories, config.other_label)
    train_idx, valid_idx = train_test_split(
        np.arange(len(examples)), test_size=config.validation_fraction, stratify=examples.labels, random_state=config.seed
    )
    fit_part, _ = split_holdout(examples.subset(sorted(train_idx)), config.holdout_fraction, config.seed)
    return fit_part, examples.subset(sorted(valid_idx))


@pytest.fixture(scope="module")
def split():
    """:func:`sample_split` with the default configuration."""
    return sample_split(TrainConfig())


def test_bundle_describes_a_tfidf_model(tfidf_bundle_dir):
    predictor = load_predictor(tfidf_bundle_dir)
    assert isinstance(predictor, TfidfPredictor) and predictor.kind == "tfidf"
    info = json.loads((predictor.path / "bundle.json").read_text(encoding="utf-8"))
    assert info["kind"] == "tfidf" and info["model"] == {"ngram_range": [1, 2], "sublinear_tf": True}
    names = {p.name for p in predictor.path.iterdir()}
    assert names == {"bundle.json", "terms.json", "weights.npz", "metrics.json", "confusion_matrix.png", "reliability_diagram.png",
                     "risk_coverage.png", "scope_vocabulary.json", "train_questions.npz", "similar"}
    assert predictor.token_limit is None


def uncalibrated(predictor, questions: list[str]) -> np.ndarray:
    """The model's softmax at temperature 1 (scikit-learn's ``predict_proba``)."""
    return apply_temperature(predictor.logits([predictor.prepare(q) for q in questions]), 1.0)


def test_probabilities_equal_scikit_learns(tfidf_bundle_dir, split):
    train_part, valid = split
    pipeline = make_baseline("tfidf_word_logreg", TrainConfig().seed)
    pipeline.fit(baseline_inputs("tfidf_word_logreg", train_part.tokens, train_part.cleaned), train_part.labels)
    expected = pipeline.predict_proba(baseline_inputs("tfidf_word_logreg", valid.tokens, valid.cleaned))
    predictor = load_predictor(tfidf_bundle_dir)
    assert list(pipeline.classes_) == predictor.categories
    got = uncalibrated(predictor, [t.question for t in valid.tickets])
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert expected.std(axis=0).max() > 0.05  # the rows differ: the comparison means something
    # What is served is calibrated: the same ranking, another temperature.
    served = predictor.predict_proba([t.question for t in valid.tickets])
    assert predictor.temperature != 1.0 and np.array_equal(served.argmax(axis=1), expected.argmax(axis=1))


def test_its_metrics_are_the_reported_baselines(tfidf_bundle_dir):
    """The served tfidf model is the baseline reported beside every model: same numbers."""
    metrics = load_predictor(tfidf_bundle_dir).metrics
    baseline = metrics["baselines"]["tfidf_word_logreg"]
    assert metrics["model_kind"] == "tfidf"
    assert metrics["accuracy"] == baseline["accuracy"] and metrics["macro_f1"] == baseline["macro_f1"]
    assert metrics["confusion_matrix"] == baseline["confusion_matrix"]
    assert metrics["accuracy"] >= 0.5  # six balanced categories: guessing gets 1/6


def test_fresh_process_gives_identical_probabilities(tfidf_bundle_dir):
    here = load_predictor(tfidf_bundle_dir).predict_proba(QUESTIONS)
    assert np.array_equal(fresh_process_probabilities(tfidf_bundle_dir, QUESTIONS), here)


def test_analysis_marks_unknown_words(tfidf_bundle_dir):
    predictor = load_predictor(tfidf_bundle_dir)
    analysis = predictor.analyze(predictor.prepare("パスワードを忘れました ｘｙｚｚｙ"))
    assert analysis.tokens == ["パスワード", "を", "忘れ", "まし", "た", "xyzzy"]
    assert analysis.out_of_vocabulary == [False, False, False, False, False, True]
    assert analysis.truncated == 0


def test_two_categories_use_scikit_learns_binary_form(tmp_path):
    """With two categories scikit-learn keeps one weight vector (a sigmoid); the bundle still softmaxes."""
    config = TrainConfig(kind="tfidf", keep_categories=("配送",), other_label="その他")
    result = train(str(SAMPLE_TICKETS), tmp_path, config, log=lambda line: None, verbose=0)
    predictor = load_predictor(result.bundle_path)
    assert predictor.categories == ["その他", "配送"]
    train_part, valid = sample_split(config)
    pipeline = make_baseline("tfidf_word_logreg", config.seed)
    pipeline.fit(baseline_inputs("tfidf_word_logreg", train_part.tokens, train_part.cleaned), train_part.labels)
    expected = pipeline.predict_proba(baseline_inputs("tfidf_word_logreg", valid.tokens, valid.cleaned))
    np.testing.assert_allclose(uncalibrated(predictor, [t.question for t in valid.tickets]), expected, rtol=0, atol=1e-6)


def test_word_ngrams_match_scikit_learns_analyzer():
    tokens = prepare("荷物がまだ届かないので、配送状況を確認したいです", PreprocessSettings()).tokens
    analyzer = make_baseline("tfidf_word_logreg")[0].build_analyzer()
    assert sorted(word_ngrams(tokens, 1, 2)) == sorted(analyzer(" ".join(tokens)))
