"""``toiawase models list|promote|rollback|prune`` (exact outputs) and the overlap report of ``toiawase evaluate``."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from preprocessing.datasets import load_tickets
from preprocessing.pipeline import PreprocessSettings, clean_text
from routing.predictor import load_predictor
from routing.versions import current_version, models_lock, previous_version
from tests.paths import SAMPLE_TICKETS, TEST_DATA
from tests.tiny_bundle import write_bundle
from toiawase.cli import main
from training.config import TrainConfig
from training.run import train

V1, V2, V3 = "20261120-020000-aaaaaa", "20261121-020000-bbbbbb", "20261122-020000-cccccc"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def models(tmp_path) -> Path:
    """V1 (previous), V2 (current), V3 (newest, not served), each with metrics."""
    models = tmp_path / "models"
    write_bundle(models, V1, metrics={"macro_f1": 0.9012, "accuracy": 0.91, "calibration": {"ece_after": 0.0312},
                                      "data": {"file_counts": {"配送": 300, "アカウント": 1368}}})
    write_bundle(models, V2, train_file=str(models / "training-data" / "20261121-015500.tsv"),
                 metrics={"macro_f1": 0.9050, "accuracy": 0.9175, "calibration": {"ece_after": 0.0211},
                          "data": {"file_counts": {"配送": 310, "アカウント": 1400}}})
    write_bundle(models, V3, make_current=False, train_file="配送チケット.tsv",
                 metrics={"macro_f1": 0.8, "accuracy": 0.85, "data": {"file_counts": {"配送": 10, "アカウント": 10}}})
    return models


def test_models_list_prints_a_table_newest_first(models):
    result = invoke("models", "list", "--models", str(models))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "VERSION                 KIND   CREATED (UTC)        TRAINING DATA                     MACRO-F1  ACCURACY     ECE",
        "20261122-020000-cccccc  tfidf  2026-11-22 02:00:00  配送チケット.tsv (20 rows)          0.8000    0.8500       –",
        "20261121-020000-bbbbbb  tfidf  2026-11-21 02:00:00  20261121-015500.tsv (1,710 rows)    0.9050    0.9175  0.0211  current",
        "20261120-020000-aaaaaa  tfidf  2026-11-20 02:00:00  tickets.tsv (1,668 rows)            0.9012    0.9100  0.0312  previous",
    ]
    rows = [json.loads(line) for line in invoke("models", "list", "--models", str(models), "--json").stdout.splitlines()]
    assert [(r["version"], r["current"], r["previous"], r["train_rows"]) for r in rows] == [
        (V3, False, False, 20), (V2, True, False, 1710), (V1, False, True, 1668)]


def test_models_list_of_an_empty_directory_and_a_damaged_bundle(models, tmp_path):
    assert invoke("models", "list", "--models", str(tmp_path / "none")).stdout == f"no model versions in {tmp_path / 'none'}\n"
    (models / V3 / "bundle.json").write_text("{", encoding="utf-8")
    lines = invoke("models", "list", "--models", str(models)).stdout.splitlines()
    assert lines[1].startswith(f"{V3}  damaged: {models / V3 / 'bundle.json'}: incomplete or damaged bundle (JSONDecodeError")
    assert lines[2].startswith(f"{V2}  tfidf  ")


def test_promote_rollback_and_their_outputs(models):
    result = invoke("models", "promote", V3, "--models", str(models))
    assert (result.exit_code, result.stdout) == (0, f"promoted {V3} (previous: {V2})\n")
    assert load_predictor(models).version == V3
    assert invoke("models", "promote", V3, "--models", str(models)).stdout == f"{V3} is already current\n"
    result = invoke("models", "rollback", "--models", str(models))
    assert (result.exit_code, result.stdout) == (0, f"rolled back to {V2} (previous: {V3})\n")
    assert (current_version(models), previous_version(models)) == (V2, V3)


def test_promotion_of_a_bundle_that_does_not_load_is_refused(models):
    (models / V3 / "terms.json").write_text("[", encoding="utf-8")
    result = invoke("models", "promote", V3, "--models", str(models))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: {models / V3 / 'terms.json'}: incomplete or damaged bundle (JSONDecodeError: Expecting value: line 1 column 2 (char 1))"]
    assert current_version(models) == V2
    result = invoke("models", "promote", "20990101-000000-ffffff", "--models", str(models))
    assert result.exit_code == 2
    assert result.stderr == (f"error: {models / '20990101-000000-ffffff'}: no such version "
                             f"(see `toiawase models list --models {models}`)\n")


def test_rollback_without_previous_is_exit_2(tmp_path):
    models = tmp_path / "models"
    write_bundle(models, V1)
    result = invoke("models", "rollback", "--models", str(models))
    assert (result.exit_code, result.stderr) == (2, f"error: {models}: no previous version to roll back to\n")


def test_prune_output(models):
    (models / "training-data").mkdir()
    for name in ("20261121-015500.tsv", "20261122-015500.tsv"):
        (models / "training-data" / name).write_text("id\tquestion\tcategory\tsource\n", encoding="utf-8")
    result = invoke("models", "prune", "--keep", "0", "--models", str(models))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"removed {V3}",
        "removed training-data/20261122-015500.tsv",
        f"kept 2 version(s): {V2} (current), {V1} (previous)",
    ]
    assert sorted(p.name for p in models.iterdir()) == sorted([".toiawase.lock", V1, V2, "current", "previous", "training-data"])
    assert invoke("models", "prune", "--keep", "5", "--models", str(models)).stdout == f"kept 2 version(s): {V2} (current), {V1} (previous)\n"


def test_models_commands_respect_the_lock(models):
    with models_lock(models, "retrain"):
        result = invoke("models", "rollback", "--models", str(models))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {models / '.toiawase.lock'}: locked by another toiawase command (pid {os.getpid()} retrain since ")
    assert current_version(models) == V2
    # With --wait the command runs once the lock is released.
    held = threading.Event()

    def hold():
        with models_lock(models, "retrain"):
            held.set()
            time.sleep(1.0)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    started = time.monotonic()
    result = invoke("models", "rollback", "--models", str(models), "--wait")
    waited = time.monotonic() - started
    thread.join()
    assert result.exit_code == 0 and result.stdout == f"rolled back to {V1} (previous: {V2})\n"
    assert waited > 0.5


# --- evaluate: overlap with the training data ---------------------------------------------------


@pytest.fixture(scope="module")
def half_trained(tmp_path_factory):
    """A TF-IDF model trained on the even lines of the sample (all of them: --dev given), and a
    file of 50 of those questions and 50 of the odd lines' questions that no even line repeats."""
    folder = tmp_path_factory.mktemp("overlap")
    lines = SAMPLE_TICKETS.read_text(encoding="utf-8").splitlines()
    even, odd = lines[0::2], lines[1::2]
    (folder / "even.tsv").write_text("\n".join(even) + "\n", encoding="utf-8")
    (folder / "dev.tsv").write_text("\n".join(odd[:100]) + "\n", encoding="utf-8")
    settings = PreprocessSettings()
    seen = {clean_text(line.split("\t")[1], settings) for line in even}
    unseen = [line for line in odd if clean_text(line.split("\t")[1], settings) not in seen]
    assert len(unseen) > 300  # the sample's few repeats are left out of the "new" half
    half = folder / "half.tsv"
    half.write_text("\n".join(even[:50] + unseen[:50]) + "\n", encoding="utf-8")
    models = folder / "models"
    train(str(folder / "even.tsv"), models, TrainConfig(kind="tfidf"), dev=str(folder / "dev.tsv"), log=lambda line: None, verbose=0)
    return models, half


def test_evaluate_warns_when_half_of_the_file_was_trained_on(half_trained):
    models, half = half_trained
    version = load_predictor(models).version
    result = invoke("evaluate", "--model", str(models), "--data", str(half), "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 100 and metrics["overlap"] == {"questions": 50, "share": 0.5}
    assert result.stderr == (f"warning: 50 of the 100 questions of {half} (50.0%) are training questions of model {version}: "
                             "these metrics overstate how it does on new questions\n")
    text = invoke("evaluate", "--model", str(models), "--data", str(half))
    assert "overlap with the training data: 50 of 100 questions (50.0%)" in text.stdout.splitlines()
    # The training file itself is all training questions; its validation file none.
    assert json.loads(invoke("evaluate", "--model", str(models), "--data", str(half.parent / "dev.tsv"), "--json").stdout)["overlap"] == {"questions": 0, "share": 0.0}
    assert json.loads(invoke("evaluate", "--model", str(models), "--data", str(half.parent / "even.tsv"), "--json").stdout)["overlap"] == {"questions": 334, "share": 1.0}
    assert len(load_tickets(str(half.parent / "even.tsv")).tickets) == 334


def test_evaluate_says_the_overlap_is_unknown_for_a_bundle_without_fingerprints():
    bundle = TEST_DATA / "format1_bundle"
    result = invoke("evaluate", "--model", str(bundle), "--data", str(SAMPLE_TICKETS), "--json")
    assert result.exit_code == 0 and result.stderr == ""
    assert json.loads(result.stdout)["overlap"] is None
    text = invoke("evaluate", "--model", str(bundle), "--data", str(SAMPLE_TICKETS))
    assert text.stdout.rstrip().endswith("overlap with the training data: unknown (the bundle has no training fingerprints)")
