"""Fitting kind ``hybrid``: its settings, the linear member, and member temperatures fitted on the holdout."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

from preprocessing.datasets import load_tickets
from preprocessing.pipeline import PreprocessSettings
from routing.calibration import fit_temperature
from routing.ngrams import NgramConfig
from routing.predictor import load_predictor
from tests.paths import SAMPLE_TICKETS
from tests.routing.test_hybrid import FIXTURE_CONFIG
from training.config import TrainConfig
from training.data import prepare_examples, split_holdout
from routing.hybrid import fuse
from training.fit_hybrid import LSTM_WEIGHTS, fit_featurizer, fit_linear, fit_member_weights, holdout_documents


@pytest.fixture(scope="module")
def examples():
    return prepare_examples(load_tickets(str(SAMPLE_TICKETS)), PreprocessSettings(), Counter())


def test_config_round_trips_with_its_ngram_and_linear_settings():
    config = TrainConfig(kind="hybrid", ngrams=NgramConfig(word_ngrams=(1, 3), char_ngrams=None, min_df=1), linear_c=2.0,
                         linear_class_weight=None)
    data = config.to_dict()
    assert data["ngrams"] == {"word_ngrams": [1, 3], "char_ngrams": None, "min_df": 1}
    assert data["linear_c"] == 2.0 and data["linear_class_weight"] is None
    assert TrainConfig.from_dict(data) == config


def test_configs_stored_before_the_hybrid_read_with_its_defaults():
    old = TrainConfig(kind="lstm").to_dict()
    for key in ("ngrams", "linear_c", "linear_class_weight"):
        del old[key]
    config = TrainConfig.from_dict(old)
    assert config.ngrams == NgramConfig() and config.linear_c == 0.5 and config.linear_class_weight == "balanced"
    # Stored before kinds existed: every model was an LSTM, whatever today's default.
    del old["kind"]
    assert TrainConfig().kind == "hybrid" and TrainConfig.from_dict(old).kind == "lstm"


@pytest.mark.parametrize(
    "fields, message",
    [({"linear_c": 0.0}, "linear_c"), ({"linear_class_weight": "auto"}, "linear_class_weight"), ({"lstm_weight": 1.5}, "lstm_weight")],
)
def test_config_rejects_bad_linear_settings(fields, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(kind="hybrid", **fields)


def test_two_categories_get_a_zero_row_and_keep_scikit_learns_decision(examples):
    labels = ["配送" if label == "配送" else "その他" for label in examples.labels]
    featurizer, _, features = fit_featurizer(NgramConfig(), examples.tokens, examples.cleaned)
    coef, intercept = fit_linear(features, labels, ["その他", "配送"], TrainConfig(kind="hybrid", seed=3))
    assert coef.shape == (2, featurizer.n_features) and not coef[0].any() and intercept[0] == 0.0
    svm = LinearSVC(C=0.5, class_weight="balanced", random_state=3).fit(features, labels)
    scores = features @ coef.T.astype(np.float64) + intercept
    np.testing.assert_allclose(scores[:, 1], svm.decision_function(features), atol=1e-5)
    assert (softmax(scores, axis=1).argmax(axis=1) == (svm.predict(features) == "配送")).all()


def test_fitted_classes_must_be_the_categories(examples):
    _, _, features = fit_featurizer(NgramConfig(), examples.tokens, examples.cleaned)
    with pytest.raises(ValueError, match="differ from the categories"):
        fit_linear(features, examples.labels, ["配送", "支払い"], TrainConfig(kind="hybrid"))


def test_holdout_documents_leave_out_unknown_categories_and_empty_questions(examples):
    part = examples.subset([0, 1, 2])
    part.labels = [part.labels[0], "未知のカテゴリ", part.labels[2]]
    part.tokens = [part.tokens[0], part.tokens[1], []]
    documents, labels = holdout_documents(part, sorted(set(examples.labels)))
    assert [d.tokens for d in documents] == [list(examples.tokens[0])]
    assert labels.tolist() == [sorted(set(examples.labels)).index(examples.labels[0])]


@pytest.fixture(scope="module")
def fixture_holdout(hybrid_bundle_dir, examples):
    """(the ``hybrid_bundle_dir`` predictor, its run's holdout documents and label indices), split as ``train`` splits them."""
    config = FIXTURE_CONFIG
    train_idx, _ = train_test_split(np.arange(len(examples)), test_size=config.validation_fraction, stratify=examples.labels,
                                    random_state=config.seed)
    _, holdout = split_holdout(examples.subset(sorted(train_idx)), config.holdout_fraction, config.seed)
    predictor = load_predictor(hybrid_bundle_dir)
    return (predictor, *holdout_documents(holdout, predictor.categories))


def test_member_temperatures_are_fitted_on_the_holdout(fixture_holdout):
    """Each member's temperature minimises its NLL on the run's holdout (as ``train`` splits it)."""
    predictor, documents, labels = fixture_holdout
    assert len(documents) == 54
    refitted = [fit_temperature(scores, labels) for scores in predictor.member_logits(documents)]
    np.testing.assert_allclose(predictor.member_temperatures, refitted, rtol=1e-6)
    # The final temperature is fitted on the fused logits of the same questions.
    assert predictor.temperature == pytest.approx(fit_temperature(predictor.logits(documents), labels), rel=1e-6)


# --- fusion weights -------------------------------------------------------------------------


def _member_scores(rng: np.random.Generator, labels: np.ndarray, strength: float) -> np.ndarray:
    """``[n, 3]`` scores: noise plus ``strength`` on the true category."""
    scores = rng.normal(size=(len(labels), 3))
    scores[np.arange(len(labels)), labels] += strength
    return scores


def test_weights_favour_the_member_that_knows_the_categories():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, size=600)
    informed, noise = _member_scores(rng, labels, 3.0), rng.normal(size=(600, 3))
    weights, tried = fit_member_weights([noise, informed], [1.0, 1.0], labels)
    assert weights == {"lstm": 0.1, "ngram": 0.9} and set(tried) == set(LSTM_WEIGHTS)
    assert tried[0.1] == max(tried.values()) > tried[0.5] > tried[0.9]
    weights, _ = fit_member_weights([informed, noise], [1.0, 1.0], labels)
    assert weights == {"lstm": 0.9, "ngram": pytest.approx(0.1)}


def test_equal_members_keep_equal_weights():
    """With identical members every weight scores the same, and the grid's first (0.5) wins."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, size=200)
    scores = _member_scores(rng, labels, 1.0)
    weights, tried = fit_member_weights([scores, scores.copy()], [1.0, 1.0], labels)
    assert weights == {"lstm": 0.5, "ngram": 0.5} and len(set(tried.values())) == 1


def test_the_chosen_weight_scores_its_holdout_macro_f1():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(11)
    labels = rng.integers(0, 3, size=300)
    lstm, ngram = _member_scores(rng, labels, 1.2), _member_scores(rng, labels, 1.5)
    weights, tried = fit_member_weights([lstm, ngram], [0.8, 1.3], labels, grid=(0.5, 0.25, 0.75))
    for w, score in tried.items():
        assert score == f1_score(labels, fuse([lstm, ngram], [0.8, 1.3], [w, 1 - w]).argmax(axis=1), average="macro")
    assert tried[weights["lstm"]] == max(tried.values())


@pytest.mark.parametrize("grid, n, message", [((), 5, "weights to try"), ((0.5,), 0, "holdout questions"), ((1.2,), 5, "between 0 and 1")])
def test_weight_search_rejects_bad_grids(grid, n, message):
    with pytest.raises(ValueError, match=message):
        fit_member_weights([np.zeros((n, 2)), np.zeros((n, 2))], [1.0, 1.0], np.zeros(n, dtype=np.int64), grid=grid)


def test_member_weights_are_chosen_on_the_holdout(fixture_holdout):
    """The bundle's weights are the holdout macro-F1's choice (as ``train`` splits the data)."""
    predictor, documents, labels = fixture_holdout
    weights, _ = fit_member_weights(predictor.member_logits(documents), predictor.member_temperatures, labels)
    assert predictor.member_weights == [weights["lstm"], weights["ngram"]]
