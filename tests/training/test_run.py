"""End to end: train a small router on data/sample/tickets.tsv and check the bundle it saves."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from preprocessing.datasets import load_tickets
from preprocessing.pipeline import PreprocessSettings
from routing.bundle import PLOTS
from routing.calibration import apply_temperature
from routing.lstm import ModelConfig, RecurrentNetwork
from routing.predictor import load_predictor as load_bundle
from training.config import TrainConfig
from training.data import prepare_examples, split_holdout
from training.evaluate import evaluate_predictor
from training.fit_lstm import sequence_length
from training.run import fingerprint, train
from tests.paths import SAMPLE_TICKETS

SAMPLE = SAMPLE_TICKETS
# Per-category rows of the sample file, as data/sample/README.md states them.
SAMPLE_COUNTS = {"アカウント": 116, "支払い": 112, "配送": 108, "返品・返金": 112, "技術的なトラブル": 110, "その他": 110}
N_SAMPLE = 668

# Small but able to learn in 3 epochs: a higher learning rate and smaller batches than the
# defaults (which need ~10 epochs), so the accuracy check below means something.
CONFIG = TrainConfig(kind="lstm", model=ModelConfig(units=16, embedding_dim=32), epochs=3, batch_size=32, learning_rate=1e-2, seed=7)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One training run for the whole module: (TrainResult, models dir, log lines)."""
    models = tmp_path_factory.mktemp("train-models")
    lines: list[str] = []
    result = train(str(SAMPLE), models, CONFIG, log=lines.append, verbose=0)
    return result, models, lines


@pytest.fixture(scope="module")
def splits(run):
    """(fit, holdout, validation), rebuilt the way train() documents them (stratified, seeded)."""
    from sklearn.model_selection import train_test_split

    examples = prepare_examples(load_tickets(str(SAMPLE)), PreprocessSettings(), Counter())
    train_idx, valid_idx = train_test_split(
        np.arange(len(examples)), test_size=CONFIG.validation_fraction, stratify=examples.labels, random_state=CONFIG.seed
    )
    fit_part, holdout = split_holdout(examples.subset(sorted(train_idx)), CONFIG.holdout_fraction, CONFIG.seed)
    return fit_part, holdout, examples.subset(sorted(valid_idx))


@pytest.fixture(scope="module")
def validation(splits):
    """(the examples the model was fitted on, the validation examples)."""
    return splits[0], splits[2]


def test_bundle_files_exist(run):
    result, models, _ = run
    names = {"bundle.json", "vocabulary.json", "weights.npz", "model.keras", "metrics.json", "history.json",
             "scope_vocabulary.json", "train_questions.npz", *PLOTS}
    assert names == {"bundle.json", "vocabulary.json", "weights.npz", "model.keras", "metrics.json", "history.json",
                     "scope_vocabulary.json", "train_questions.npz", "training_curves.png", "confusion_matrix.png",
                     "reliability_diagram.png", "risk_coverage.png"}
    assert {p.name for p in result.bundle_path.iterdir()} == names | {"similar"}
    # The similar-tickets index (routing.similar): bm25s's files and the masked tickets.
    assert {p.name for p in (result.bundle_path / "similar").iterdir()} == {
        "data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy", "vocab.index.json", "params.index.json", "tickets.json"}
    for name in names:
        assert (result.bundle_path / name).is_file(), name
        assert (result.bundle_path / name).stat().st_size > 0, name
    assert result.bundle_path.parent == models
    assert (models / "current").resolve() == result.bundle_path.resolve()
    # No temporary directory left behind next to the bundle.
    assert sorted(p.name for p in models.iterdir()) == sorted(["current", result.bundle_path.name])


def test_plots_are_png_images(run):
    import matplotlib.image

    result, _, _ = run
    for name in PLOTS:
        data = (result.bundle_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        image = matplotlib.image.imread(result.bundle_path / name)
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert image.std() > 0.01  # not a blank canvas


def test_bundle_json_describes_the_run(run, validation):
    result, _, _ = run
    train_part, _ = validation
    info = json.loads((result.bundle_path / "bundle.json").read_text(encoding="utf-8"))
    assert info["format"] == 2 and info["kind"] == "lstm"
    assert info["categories"] == sorted(SAMPLE_COUNTS)
    assert info["version"] == result.bundle_path.name
    assert TrainConfig.from_dict(info["train_config"]) == CONFIG
    assert PreprocessSettings.from_dict(info["preprocessing"]) == PreprocessSettings(token_form=CONFIG.token_form)
    # The split is deterministic: the same seed gives the same training questions.
    assert info["data_fingerprint"] == fingerprint(train_part)
    assert info["version"].endswith("-" + info["data_fingerprint"][:6])
    assert info["model"]["seq_len"] == sequence_length([len(t) for t in train_part.tokens], 99.0, 200)
    assert info["model"]["network"] == CONFIG.model.to_dict()
    vocabulary = json.loads((result.bundle_path / "vocabulary.json").read_text(encoding="utf-8"))
    assert vocabulary[:2] == ["<PAD>", "<OOV>"] and len(vocabulary) == len(set(vocabulary))
    # Fitted on the training split only.
    assert set(vocabulary[2:]) == {t for tokens in train_part.tokens for t in tokens}


def test_split_sizes_and_per_category_support(run, validation):
    result, _, _ = run
    metrics = result.metrics
    n_valid = math.ceil(CONFIG.validation_fraction * N_SAMPLE)  # scikit-learn rounds the test size up: 134
    assert metrics["n"] == metrics["data"]["validation_examples"] == n_valid == 134
    n_holdout = math.ceil(CONFIG.holdout_fraction * (N_SAMPLE - n_valid))  # 54 of the 534 left
    assert metrics["data"]["holdout_examples"] == n_holdout == 54
    assert metrics["data"]["train_examples"] == N_SAMPLE - n_valid - n_holdout
    support = {c: row["support"] for c, row in metrics["per_category"].items()}
    assert sum(support.values()) == n_valid
    # Every sample row is in training, in the holdout or in validation, per category.
    data = metrics["data"]
    assert {c: support[c] + data["train_counts"][c] + data["holdout_counts"][c] for c in SAMPLE_COUNTS} == SAMPLE_COUNTS
    # Stratified: each category's share of validation is within one row of 20%.
    assert all(abs(support[c] - 0.2 * SAMPLE_COUNTS[c]) < 1 for c in SAMPLE_COUNTS)
    assert support == Counter(validation[1].labels)
    assert metrics["data"]["categories_before_merge"] == SAMPLE_COUNTS
    # Every sample question has real text after cleaning: nothing is dropped.
    assert sum(metrics["data"]["dropped"].values()) == 0


def test_metrics_keys_and_consistency(run):
    result, _, _ = run
    metrics = json.loads((result.bundle_path / "metrics.json").read_text(encoding="utf-8"))
    assert {"n", "accuracy", "macro_f1", "weighted_f1", "categories", "per_category", "confusion_matrix", "baselines", "data"} <= set(metrics)
    assert metrics["categories"] == sorted(SAMPLE_COUNTS)
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (6, 6) and matrix.sum() == metrics["n"]
    assert metrics["accuracy"] == pytest.approx(np.trace(matrix) / metrics["n"])
    for i, category in enumerate(metrics["categories"]):
        row = metrics["per_category"][category]
        assert set(row) == {"precision", "recall", "f1", "support"}
        assert matrix[i].sum() == row["support"]
        assert row["recall"] == pytest.approx(matrix[i, i] / row["support"])
    assert metrics["macro_f1"] == pytest.approx(np.mean([r["f1"] for r in metrics["per_category"].values()]))


def test_baseline_metrics_are_reported_beside_the_lstm(run):
    result, _, _ = run
    baseline = result.metrics["baselines"]["tfidf_word_logreg"]
    assert baseline["n"] == result.metrics["n"]
    assert set(baseline["per_category"]) == set(SAMPLE_COUNTS)
    # TF-IDF + logistic regression on these clearly worded tickets is a strong reference:
    # well above the 1/6 of guessing.
    assert baseline["accuracy"] >= 0.5
    lstm_line = next(line for line in result.report.splitlines() if line.startswith("LSTM (toiawase)"))
    base_line = next(line for line in result.report.splitlines() if line.startswith("tfidf_word_logreg"))
    assert lstm_line.split()[-2:] == [f"{result.metrics['accuracy']:.4f}", f"{result.metrics['macro_f1']:.4f}"]
    assert base_line.split()[-2:] == [f"{baseline['accuracy']:.4f}", f"{baseline['macro_f1']:.4f}"]


def test_accuracy_is_well_above_chance(run):
    # Six balanced categories: guessing gets 1/6 ≈ 0.17 (the largest validation class is 24/134
    # ≈ 0.18). Under guessing, 134 questions give 22 ± 4 right; 0.4 (54 right) is ~7 standard
    # deviations above that, so passing means the LSTM learned the categories. This config
    # reaches ~0.6 after 3 epochs; 0.4 leaves room for floating-point differences across CPUs.
    result, _, _ = run
    assert result.metrics["accuracy"] >= 0.4
    assert result.metrics["macro_f1"] >= 0.3


def test_history_and_epochs(run):
    result, _, _ = run
    history = json.loads((result.bundle_path / "history.json").read_text(encoding="utf-8"))
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(history)
    epochs = result.metrics["data"]["epochs_run"]
    assert 1 <= epochs <= CONFIG.epochs and all(len(v) == epochs for v in history.values())
    assert result.metrics["data"]["best_epoch"] == int(np.argmin(history["val_loss"])) + 1
    assert history["loss"][-1] < history["loss"][0]  # it learned something


def test_report_and_progress_lines(run):
    result, _, lines = run
    assert any(line.startswith("vocabulary: ") for line in lines)
    assert "training on 480 examples, validating on 54; up to 3 epochs" in lines
    support = {c: row["support"] for c, row in result.metrics["per_category"].items()}
    held = result.metrics["data"]["holdout_counts"]
    for category, count in SAMPLE_COUNTS.items():
        fit = count - support[category] - held[category]
        assert f"  {category}: {count} → {fit} / {held[category]}" in result.report.splitlines()
    assert "training examples: 480, holdout: 54, validation: 134" in result.report


def test_saved_bundle_reproduces_the_reported_accuracy(run, validation):
    result, _, _ = run
    _, valid = validation
    bundle = load_bundle(result.bundle_path)
    predicted = [bundle.categories[i] for i in bundle.predict_proba([t.question for t in valid.tickets]).argmax(axis=1)]
    assert np.mean([p == t for p, t in zip(predicted, valid.labels)]) == pytest.approx(result.metrics["accuracy"])
    # ...and the one evaluation function gives the reported metrics exactly.
    again = evaluate_predictor(bundle, [t.question for t in valid.tickets], valid.labels)
    assert again["accuracy"] == result.metrics["accuracy"] and again["macro_f1"] == result.metrics["macro_f1"]
    assert again["confusion_matrix"] == result.metrics["confusion_matrix"]


def test_fast_path_equals_the_saved_keras_model(run, validation):
    import keras

    from training.fit_lstm import export_weights, load_keras_model

    result, _, _ = run
    _, valid = validation
    bundle = load_bundle(result.bundle_path)
    encoded = bundle.encode([bundle.prepare(t.question) for t in valid.tickets])
    padded = keras.utils.pad_sequences(encoded, padding="post", dtype="int32")
    keras_model = load_keras_model(bundle.path)
    fast = bundle.network.predict_proba(encoded)  # the network's own softmax, before calibration
    np.testing.assert_allclose(fast, keras_model.predict(padded, verbose=0), rtol=0, atol=1e-5)
    # What is served is the same network's logits divided by the bundle's temperature.
    served = bundle.predict_proba([t.question for t in valid.tickets])
    assert np.array_equal(served, apply_temperature(bundle.network.logits(encoded), bundle.temperature))
    # weights.npz holds exactly the Keras model's weights: the same network, bit for bit.
    again = RecurrentNetwork(bundle.network_config, export_weights(keras_model, bundle.network_config)).predict_proba(encoded)
    assert np.array_equal(again, fast)


def test_same_seed_gives_the_same_model(validation):
    """Two tiny fits with one seed give identical weights (the seed reaches Python, NumPy, TF)."""
    import keras

    from training.fit_lstm import build_model, export_weights, fit

    train_part, valid = validation
    tiny = TrainConfig(kind="lstm", model=ModelConfig(units=4, embedding_dim=8), epochs=1, batch_size=64, seed=11)
    small_train, small_valid = train_part.subset(range(0, len(train_part), 4)), valid.subset(range(0, len(valid), 4))
    categories = sorted(SAMPLE_COUNTS)
    run_a, run_b = [fit(small_train, small_valid, categories, tiny, log=lambda line: None, verbose=0) for _ in range(2)]
    vocab_a, vocab_b = run_a.documents["vocabulary.json"], run_b.documents["vocabulary.json"]
    assert vocab_a == vocab_b and run_a.parameters == run_b.parameters and run_a.history == run_b.history
    weights_a, weights_b = run_a.arrays, run_b.arrays
    assert all(np.array_equal(weights_a[k], weights_b[k]) for k in weights_a)
    # ...while another seed starts from other weights, so the equality above is not vacuous.
    keras.utils.set_random_seed(12)
    other = export_weights(build_model(tiny.model, len(vocab_a), len(categories)), tiny.model)
    keras.utils.set_random_seed(11)
    same = export_weights(build_model(tiny.model, len(vocab_a), len(categories)), tiny.model)
    assert not np.array_equal(other["embedding"], same["embedding"])
    assert not np.array_equal(same["embedding"], weights_a["embedding"])  # and fit changed them


def test_calibration_and_review_are_fitted_on_the_holdout_and_reported_on_validation(run, splits):
    from training.calibrate import fit_confidence

    result, _, _ = run
    _, holdout, valid = splits
    info = json.loads((result.bundle_path / "bundle.json").read_text(encoding="utf-8"))
    bundle = load_bundle(result.bundle_path)
    # Refitting on the same holdout gives the stored sections exactly: they come from the holdout.
    again = fit_confidence(bundle, holdout, CONFIG.target_precision, CONFIG.review_margin)
    assert again["calibration"] == info["calibration"] and again["review"] == info["review"]
    assert info["calibration"]["fitted_on"] == len(holdout) == 54
    assert bundle.temperature == info["calibration"]["temperature"] > 0
    # 54 held-out questions are too few for the top-label scaling's two parameters: identity.
    assert info["calibration"]["top_label"] == {"slope": 1.0, "intercept": 0.0} == result.metrics["calibration"]["top_label"]
    assert info["calibration"]["ece_temperature"] == info["calibration"]["ece_after"]
    assert bundle.review.threshold == info["review"]["threshold"] and bundle.review.target_precision == 0.95
    metrics = result.metrics
    assert metrics["calibration"]["temperature"] == bundle.temperature and metrics["calibration"]["bins"] == 15
    assert sum(b["count"] for b in metrics["calibration"]["reliability"]) == metrics["n"]
    review = metrics["review"]
    assert review["n"] == len(valid) and review["auto_routed"] + sum(review["reasons"].values()) == len(valid)
    routed = [p for p in bundle.predict([t.question for t in valid.tickets]) if not p.needs_review]
    assert len(routed) == review["auto_routed"]
    assert any(line.startswith("calibration: temperature ") for line in result.report.splitlines())


def test_out_of_scope_detector_is_fitted_on_the_fit_part_and_holdout(run, splits):
    from routing.scope import fit_scope

    result, _, _ = run
    fit_part, holdout, _ = splits
    bundle = load_bundle(result.bundle_path)
    expected = fit_scope(fit_part.tokens, holdout.tokens, CONFIG.scope_quantile)
    assert bundle.scope == expected and 0.0 <= bundle.scope.threshold < 1.0
    # A car-defect report shares few words with a web shop's tickets.
    [foreign] = bundle.predict(["走行中にエンジンから異音がし、ブレーキの効きが悪くなった。"])
    assert foreign.needs_review and foreign.reason == "out_of_scope"
