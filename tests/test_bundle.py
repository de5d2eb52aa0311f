"""The model bundle: atomic save, ``current`` pointer, loading, prediction and analysis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from preprocessing.pipeline import PreprocessSettings, preprocess
from training.bundle import (
    CURRENT,
    Bundle,
    BundleError,
    EmptyQuestionError,
    load_bundle,
    resolve_bundle_path,
    save_bundle,
    set_current,
)
from training.config import ModelConfig, TrainConfig
from training.fastpath import RecurrentRouter
from training.vocabulary import Vocabulary

TRAINING = [
    ("パスワードを忘れました", "アカウント"),
    ("ログインできません", "アカウント"),
    ("カードが使えません", "支払い"),
    ("請求書が欲しいです", "支払い"),
    ("荷物が届きません", "配送"),
    ("配送日を変更したい", "配送"),
]
CATEGORIES = ["アカウント", "支払い", "配送"]
QUESTIONS = [
    "パスワードを忘れてログインできません",
    "ｶｰﾄﾞの請求書を送ってください yamada@example.com",
    "荷物はいつ届きますか？ ----- 山田",
    "まったく関係のない未知の単語だらけの質問",
]
SEQ_LEN = 6


def random_weights(config: ModelConfig, vocab_size: int, n_classes: int, seed: int) -> dict[str, np.ndarray]:
    """Weights in training.model.export_weights' layout (LSTM), random, float32."""
    rng = np.random.default_rng(seed)
    g, h, d = 4, config.units, 2 if config.bidirectional else 1

    def r(*shape):
        return rng.normal(0.0, 0.8, size=shape).astype(np.float32)

    weights = {"embedding": r(vocab_size, config.embedding_dim)}
    for i in range(config.layers):
        width = config.embedding_dim if i == 0 else d * h
        for direction in range(d):
            weights[f"rnn_{i}_{direction}_kernel"] = r(width, g * h)
            weights[f"rnn_{i}_{direction}_recurrent"] = r(h, g * h)
            weights[f"rnn_{i}_{direction}_bias"] = r(g * h)
    weights["output_kernel"] = r(d * h, n_classes)
    weights["output_bias"] = r(n_classes)
    return weights


def build(models_dir: Path, version: str, seed: int, make_current: bool = True, extra_files=None):
    """Return (in-memory Bundle, its predictions on QUESTIONS before saving, saved path)."""
    settings = PreprocessSettings()
    config = TrainConfig(model=ModelConfig(embedding_dim=8, units=4, layers=1, bidirectional=True, pooling="mean"), seed=seed)
    vocabulary = Vocabulary.fit([preprocess(q, settings) for q, _ in TRAINING])
    weights = random_weights(config.model, len(vocabulary), len(CATEGORIES), seed)
    info = {
        "format": 1,
        "version": version,
        "created_at": "2026-11-22T10:15:00+00:00",
        "categories": CATEGORIES,
        "seq_len": SEQ_LEN,
        "preprocessing": settings.to_dict(),
        "train_config": config.to_dict(),
    }
    in_memory = Bundle(
        path=models_dir / version, version=version, categories=list(CATEGORIES), vocabulary=vocabulary,
        settings=settings, config=config, seq_len=SEQ_LEN, router=RecurrentRouter(config.model, weights),
        created_at=info["created_at"],
    )
    before = in_memory.predict_proba(QUESTIONS)
    path = save_bundle(
        models_dir, version=version,
        files={"bundle.json": info, "vocabulary.json": vocabulary.tokens, "metrics.json": {"accuracy": 0.5}},
        weights=weights, make_current=make_current, extra_files=extra_files,
    )
    return in_memory, before, path


@pytest.fixture
def models(tmp_path) -> Path:
    return tmp_path / "models"


def test_round_trip_gives_identical_probabilities(models):
    in_memory, before, path = build(models, "20261122-101500-aaaaaa", seed=1)
    loaded = load_bundle(path)
    after = loaded.predict_proba(QUESTIONS)
    assert before.dtype == after.dtype == np.float32
    assert np.array_equal(before, after)
    # And the rows really differ between questions (the check is not comparing constants).
    assert np.abs(before[0] - before[1]).max() > 1e-3
    assert loaded.categories == CATEGORIES
    assert loaded.vocabulary.tokens == in_memory.vocabulary.tokens
    assert loaded.settings == in_memory.settings and loaded.config == in_memory.config
    assert loaded.seq_len == SEQ_LEN and loaded.metrics == {"accuracy": 0.5}
    assert [p.to_dict() for p in loaded.predict(QUESTIONS)] == [p.to_dict() for p in in_memory.predict(QUESTIONS)]


def fresh_process_probabilities(path: Path, questions: list[str]) -> np.ndarray:
    """Load the bundle in a new Python process and return its probabilities (exactly, via repr)."""
    code = (
        "import json, sys\n"
        "from training.bundle import load_bundle\n"
        "questions = json.load(sys.stdin)\n"
        "print(json.dumps(load_bundle(sys.argv[1]).predict_proba(questions).tolist()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], input=json.dumps(questions), capture_output=True,
        text=True, timeout=120, check=True,
    )
    # float32 → Python float → JSON (shortest repr) → float → float32 is lossless.
    return np.asarray(json.loads(done.stdout), dtype=np.float32)


def test_fresh_process_load_gives_identical_probabilities(models):
    _, before, path = build(models, "20261122-101500-bbbbbb", seed=2)
    assert np.array_equal(fresh_process_probabilities(models, QUESTIONS), before)


def test_trained_bundle_predicts_identically_in_a_fresh_process(trained_bundle_dir):
    bundle = load_bundle(trained_bundle_dir)
    here = bundle.predict_proba(QUESTIONS)
    assert np.array_equal(fresh_process_probabilities(trained_bundle_dir, QUESTIONS), here)


def test_current_points_to_the_newest_after_a_second_save(models):
    _, _, first = build(models, "20261122-101500-aaaaaa", seed=1)
    assert os.readlink(models / CURRENT) == first.name
    _, before_second, second = build(models, "20261122-111500-cccccc", seed=3)
    assert (models / CURRENT).is_symlink() and os.readlink(models / CURRENT) == second.name
    assert resolve_bundle_path(models) == second.resolve()
    loaded = load_bundle(models)
    assert loaded.version == "20261122-111500-cccccc"
    assert np.array_equal(loaded.predict_proba(QUESTIONS), before_second)
    # The older bundle is still there and loadable by its own path.
    assert load_bundle(first).version == "20261122-101500-aaaaaa"
    assert resolve_bundle_path(first) == first


def test_save_without_make_current_leaves_current_alone(models):
    _, _, first = build(models, "20261122-101500-aaaaaa", seed=1)
    build(models, "20261122-111500-cccccc", seed=3, make_current=False)
    assert load_bundle(models).version == first.name
    set_current(models, "20261122-111500-cccccc")
    assert load_bundle(models).version == "20261122-111500-cccccc"


def test_half_written_bundle_is_not_picked(models):
    _, before, good = build(models, "20261122-101500-aaaaaa", seed=1)
    # A newer directory with everything but bundle.json (as a crash mid-copy would leave).
    half = models / "20991231-235959-ffffff"
    half.mkdir()
    for name in ("vocabulary.json", "weights.npz"):
        (half / name).write_bytes((good / name).read_bytes())
    with pytest.raises(BundleError, match="not a complete bundle"):
        set_current(models, half.name)
    assert os.readlink(models / CURRENT) == good.name
    assert np.array_equal(load_bundle(models).predict_proba(QUESTIONS), before)
    with pytest.raises(BundleError, match=r"not a model bundle \(no bundle.json\)"):
        load_bundle(half)


def test_failed_save_leaves_no_directory_and_current_unchanged(models):
    _, _, good = build(models, "20261122-101500-aaaaaa", seed=1)
    with pytest.raises(FileNotFoundError):
        build(models, "20261122-121500-dddddd", seed=4, extra_files={"training_curves.png": models / "missing.png"})
    assert sorted(p.name for p in models.iterdir()) == sorted([CURRENT, good.name])  # no temp dir left behind
    assert load_bundle(models).version == good.name


def test_saving_an_existing_version_is_refused(models):
    build(models, "20261122-101500-aaaaaa", seed=1)
    with pytest.raises(FileExistsError):
        build(models, "20261122-101500-aaaaaa", seed=5)


def test_load_bundle_on_an_empty_directory_gives_a_hint(tmp_path):
    with pytest.raises(BundleError) as info:
        load_bundle(tmp_path)
    message = str(info.value)
    assert message.startswith(str(tmp_path)) and "no bundle.json" in message and "toiawase train" in message


def test_load_bundle_on_a_missing_path_gives_a_hint(tmp_path):
    missing = tmp_path / "no-models"
    with pytest.raises(BundleError, match=r"no such model bundle.*toiawase train --data FILE --out"):
        load_bundle(missing)


def test_damaged_bundles_raise_bundle_error(models):
    _, _, path = build(models, "20261122-101500-aaaaaa", seed=1)
    info = json.loads((path / "bundle.json").read_text(encoding="utf-8"))
    (path / "bundle.json").write_text(json.dumps({**info, "format": 99}), encoding="utf-8")
    with pytest.raises(BundleError, match="bundle format 99"):
        load_bundle(path)
    (path / "bundle.json").write_text(json.dumps(info), encoding="utf-8")
    (path / "weights.npz").unlink()
    with pytest.raises(BundleError, match="incomplete or damaged bundle"):
        load_bundle(path)


def test_prediction_top_k_is_sorted_and_clipped(models):
    in_memory, before, path = build(models, "20261122-101500-aaaaaa", seed=1)
    bundle = load_bundle(path)
    for k in (1, 2, 3, 10):
        predictions = bundle.predict(QUESTIONS, top_k=k)
        assert len(predictions) == len(QUESTIONS)
        for row, prediction in zip(before, predictions):
            assert len(prediction.top_k) == min(k, len(CATEGORIES))
            probabilities = [p for _, p in prediction.top_k]
            assert probabilities == sorted(probabilities, reverse=True)
            assert prediction.category == CATEGORIES[int(np.argmax(row))]
            assert (prediction.category, prediction.probability) == prediction.top_k[0]
            assert prediction.probability == float(row.max())
            assert all(p == float(row[CATEGORIES.index(c)]) for c, p in prediction.top_k)
    full = bundle.predict(QUESTIONS, top_k=10)
    assert all(sorted(c for c, _ in p.top_k) == sorted(CATEGORIES) for p in full)
    assert all(abs(sum(p for _, p in pred.top_k) - 1.0) < 1e-5 for pred in full)
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        bundle.predict(QUESTIONS, top_k=0)


def test_prediction_to_dict(models):
    _, _, path = build(models, "20261122-101500-aaaaaa", seed=1)
    (prediction,) = load_bundle(path).predict(["カードが使えません"], top_k=2)
    data = json.loads(json.dumps(prediction.to_dict(), ensure_ascii=False))
    assert data["category"] == prediction.category and data["probability"] == prediction.probability
    assert data["top_k"] == [{"category": c, "probability": p} for c, p in prediction.top_k]


def test_empty_question_error_for_noise_only_questions(models):
    _, _, path = build(models, "20261122-101500-aaaaaa", seed=1)
    bundle = load_bundle(path)
    with pytest.raises(EmptyQuestionError) as info:
        bundle.predict(["荷物が届きません", "-----", "version: 1.2.3"])
    assert info.value.indices == [1, 2]
    with pytest.raises(EmptyQuestionError):
        bundle.predict(["-----"])
    assert bundle.predict_proba([]).shape == (0, len(CATEGORIES))
    # For files: None in place of the empty ones, the others exactly as when routed alone.
    tolerant = bundle.predict(["荷物が届きません", "-----", "version: 1.2.3"], allow_empty=True)
    assert tolerant[1:] == [None, None]
    assert tolerant[0] == bundle.predict(["荷物が届きません"])[0]
    assert bundle.predict(["-----"], allow_empty=True) == [None]


def test_analyze_shows_cleaned_text_tokens_and_oov_flags(models):
    _, _, path = build(models, "20261122-101500-aaaaaa", seed=1)
    bundle = load_bundle(path)
    analysis = bundle.analyze("ﾊﾟｽﾜｰﾄﾞを忘れました yamada@example.com ｘｙｚ")
    assert analysis.cleaned == "パスワードを忘れました <EMAIL> xyz"
    # 7 tokens, cut to the bundle's sequence length of 6; "xyz" is the one cut off.
    assert analysis.tokens == ["パスワード", "を", "忘れ", "まし", "た", "<EMAIL>"]
    assert analysis.truncated == 1
    # The training questions had the first five tokens but never an e-mail address.
    assert analysis.out_of_vocabulary == [False, False, False, False, False, True]
    short = bundle.analyze("配送日")
    assert short.truncated == 0 and len(short.out_of_vocabulary) == len(short.tokens)


def test_plot_path(models, trained_bundle_dir):
    _, _, path = build(models, "20261122-101500-aaaaaa", seed=1)
    assert load_bundle(path).plot_path("training_curves.png") is None  # this bundle has no plots
    trained = load_bundle(trained_bundle_dir)
    assert trained.plot_path("confusion_matrix.png") == trained.path / "confusion_matrix.png"
    assert trained.plot_path("bundle.json") is None  # only the plots are served
