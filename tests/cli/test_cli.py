"""The ``toiawase`` command line: evaluate, predict, train with merged categories, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from preprocessing.datasets import load_tickets
from routing.predictor import load_predictor as load_bundle
from toiawase.cli import main
from tests.paths import REPO_ROOT, SAMPLE_TICKETS

ROOT = REPO_ROOT
SAMPLE = SAMPLE_TICKETS
SAMPLE_COUNTS = {"アカウント": 116, "支払い": 112, "配送": 108, "返品・返金": 112, "技術的なトラブル": 110, "その他": 110}
TOIAWASE = Path(sys.executable).parent / "toiawase"  # the console script of setup.cfg

QUESTIONS = ["パスワードを忘れてログインできません", "クレジットカードの請求が二重になっています", "荷物がまだ届きません"]


def invoke(*args: str, input: str | bytes | None = None):
    return CliRunner().invoke(main, list(args), input=input)


def assert_one_line_error(result, starts: str) -> str:
    """Exit status 2, exactly one line on stderr starting with ``starts``, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit)  # not an escaped Python exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(starts), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


# --- evaluate ----------------------------------------------------------------------------


def test_evaluate_json_prints_one_object(trained_bundle_dir):
    result = invoke("evaluate", "--model", str(trained_bundle_dir), "--data", str(SAMPLE), "--json")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 1
    metrics = json.loads(result.stdout)
    assert {"accuracy", "macro_f1", "n", "per_category", "confusion_matrix", "categories"} <= set(metrics)
    bundle = load_bundle(trained_bundle_dir)
    assert metrics["n"] == 668 and metrics["categories"] == bundle.categories
    assert {c: row["support"] for c, row in metrics["per_category"].items()} == SAMPLE_COUNTS
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (6, 6) and matrix.sum() == 668
    assert [int(r.sum()) for r in matrix] == [SAMPLE_COUNTS[c] for c in metrics["categories"]]
    # The same number computed here from the bundle's own predictions.
    tickets = load_tickets(str(SAMPLE)).tickets
    predicted = bundle.predict([t.question for t in tickets], top_k=1)
    right = sum(p.category == t.category for p, t in zip(predicted, tickets))
    assert metrics["accuracy"] == pytest.approx(right / 668) == pytest.approx(np.trace(matrix) / 668)
    assert metrics["model_version"] == bundle.version
    assert metrics["skipped"] == {"unreadable rows": 0, "empty after cleaning": 0}


def test_evaluate_text_report_and_bundle_directory(trained_bundle_dir):
    bundle = load_bundle(trained_bundle_dir)
    result = invoke("evaluate", "--model", str(bundle.path), "--data", str(SAMPLE))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"model {bundle.version} on {SAMPLE}\n")
    assert "Evaluated on 668 questions" in result.stdout
    assert "confusion matrix (rows: true, columns: predicted" in result.stdout


def test_evaluate_picks_columns_by_name(trained_bundle_dir, tmp_path):
    data = tmp_path / "export.csv"
    data.write_text(
        "queue,body,id\n"
        'アカウント,"パスワードを忘れました、再設定したいです",1\n'
        "配送,荷物が届きません,2\n"
        "支払い,カードが使えません,3\n",
        encoding="utf-8",
    )
    args = ("evaluate", "--model", str(trained_bundle_dir), "--data", str(data), "--json")
    result = invoke(*args, "--text-column", "body", "--label-column", "queue")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 3
    assert {c: r["support"] for c, r in metrics["per_category"].items() if r["support"]} == {"アカウント": 1, "配送": 1, "支払い": 1}
    # A header naming only the text column: the missing label column is an error on line 1.
    data.write_text("body,id\n荷物が届きません,2\n", encoding="utf-8")
    assert_one_line_error(invoke(*args, "--text-column", "body"), f"error: {data}:1: no column named 'category'")


def test_evaluate_drops_and_counts_noise_only_questions(trained_bundle_dir, tmp_path):
    data = tmp_path / "eval.tsv"
    data.write_text("T1\tパスワードを忘れました\t回答\tアカウント\nT2\t-----\t回答\t配送\nT3\t荷物が届きません\t回答\t配送\n", encoding="utf-8")
    result = invoke("evaluate", "--model", str(trained_bundle_dir), "--data", str(data), "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 2 and metrics["skipped"]["empty after cleaning"] == 1


# --- predict -----------------------------------------------------------------------------


def test_predict_tsv_from_a_file(trained_bundle_dir, tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text("\n".join([QUESTIONS[0], "", QUESTIONS[1], QUESTIONS[2]]) + "\n", encoding="utf-8")
    result = invoke("predict", "--model", str(trained_bundle_dir), str(path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "line\tquestion\tcategory\tprobability\tneeds_review\treason\ttop_k"
    expected = load_bundle(trained_bundle_dir).predict(QUESTIONS, top_k=3)
    # One row per input line: the blank line 2 is a no_content row, so the output lines up.
    assert len(lines) == 1 + 4
    assert lines[2] == "2\t\t\t\ttrue\tno_content\t"
    for line, number, question, prediction in zip(lines[1:2] + lines[3:], (1, 3, 4), QUESTIONS, expected):
        fields = line.split("\t")
        assert fields[:4] == [str(number), question, prediction.category, f"{prediction.probability:.4f}"]
        assert fields[4:6] == ["true" if prediction.needs_review else "false", prediction.reason or ""]
        assert fields[6] == "|".join(f"{c}:{p:.4f}" for c, p in prediction.top_k)
        assert len(fields[6].split("|")) == 3
    assert result.stderr == ""


def test_predict_cp932_csv_with_a_japanese_header_and_blank_lines(trained_bundle_dir, tmp_path):
    path = tmp_path / "問い合わせ.csv"
    path.write_bytes(f"番号,質問,カテゴリ\r\n1,{QUESTIONS[0]},\r\n\r\n2,{QUESTIONS[1]},\r\n3,,\r\n".encode("cp932"))
    expected = load_bundle(trained_bundle_dir).predict(QUESTIONS[:2], top_k=1)
    for options in ([], ["--encoding", "cp932"]):
        result = invoke("predict", "--model", str(trained_bundle_dir), "--top-k", "1", *options, str(path))
        assert result.exit_code == 0, result.output
        rows = [line.split("\t") for line in result.stdout.splitlines()[1:]]
        # The header (line 1) is not a question; lines 3 (blank) and 5 (no question) are no_content rows.
        assert [r[0] for r in rows] == ["2", "3", "4", "5"]
        assert [(r[1], r[2], r[3]) for r in (rows[0], rows[2])] == [
            (q, p.category, f"{p.probability:.4f}") for q, p in zip(QUESTIONS, expected)
        ]
        assert [r[4:6] for r in (rows[1], rows[3])] == [["true", "no_content"]] * 2
    result = invoke("predict", "--model", str(trained_bundle_dir), "--encoding", "utf-8", str(path))
    assert_one_line_error(result, f"error: {path}:1: bytes that are not utf-8")
    assert_one_line_error(invoke("predict", "--model", str(trained_bundle_dir), "--encoding", "klingon", str(path)),
                          "error: unknown --encoding 'klingon'")


def test_predict_jsonl_from_stdin_with_top_k(trained_bundle_dir):
    result = invoke("predict", "--model", str(trained_bundle_dir), "--jsonl", "--top-k", "2", input="\n".join(QUESTIONS) + "\n")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = load_bundle(trained_bundle_dir).predict(QUESTIONS, top_k=2)
    assert [r["question"] for r in rows] == QUESTIONS
    for row, prediction in zip(rows, expected):
        # JSON carries the float exactly: the CLI and the library agree to the last bit.
        assert row["category"] == prediction.category and row["probability"] == prediction.probability
        assert row["needs_review"] == prediction.needs_review and row["reason"] == prediction.reason
        assert row["top_k"] == [{"category": c, "probability": p} for c, p in prediction.top_k]
        assert len(row["top_k"]) == 2 and row["top_k"][0]["probability"] >= row["top_k"][1]["probability"]


def test_predict_top_k_is_clipped_to_the_number_of_categories(trained_bundle_dir):
    result = invoke("predict", "--model", str(trained_bundle_dir), "--jsonl", "--top-k", "10", input=QUESTIONS[0] + "\n")
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(item["category"] for item in row["top_k"]) == sorted(SAMPLE_COUNTS)
    assert sum(item["probability"] for item in row["top_k"]) == pytest.approx(1.0, abs=1e-5)


def test_predict_noise_only_question_gets_a_no_content_row(trained_bundle_dir):
    result = invoke("predict", "--model", str(trained_bundle_dir), input=f"-----\n{QUESTIONS[2]}\n")
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and lines[1] == "1\t-----\t\t\ttrue\tno_content\t"
    assert lines[2].split("\t")[2] in SAMPLE_COUNTS
    result = invoke("predict", "--model", str(trained_bundle_dir), "--jsonl", input="＝＝＝＝＝\n")
    assert json.loads(result.stdout) == {
        "line": 1, "question": "＝＝＝＝＝", "category": None, "probability": None, "needs_review": True, "reason": "no_content", "top_k": [],
    }


def test_predict_a_ticket_file_uses_its_question_column(trained_bundle_dir, tmp_path):
    data = tmp_path / "tickets.tsv"
    data.write_text("".join(f"T{i}\t{q}\t回答\tその他\n" for i, q in enumerate(QUESTIONS)), encoding="utf-8")
    result = invoke("predict", "--model", str(trained_bundle_dir), str(data))
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[1] for line in result.stdout.splitlines()[1:]] == QUESTIONS


# --- train with --keep-categories ------------------------------------------------------------


@pytest.fixture(scope="module")
def merged_bundle(tmp_path_factory):
    """A tiny router trained through the CLI with two kept categories (the rest → その他),
    capped at 100 examples per category and oversampled up to the cap, the LSTM member's fusion
    weight set to 0.25."""
    out = tmp_path_factory.mktemp("merged-models")
    result = invoke(
        "train", "--data", str(SAMPLE), "--out", str(out), "--epochs", "1", "--units", "8", "--embedding-dim", "16",
        "--keep-categories", "支払い, 配送", "--cap", "100", "--oversample", "--seed", "3", "--lstm-weight", "0.25", "--quiet",
    )
    return result, out


def test_train_keep_categories_merges_the_rest_into_sonota(merged_bundle):
    result, out = merged_bundle
    assert result.exit_code == 0, result.output
    assert "LSTM + n-grams (toiawase)" in result.stdout and "tfidf_word_logreg" in result.stdout  # the default kind
    bundle = load_bundle(out)
    assert bundle.kind == "hybrid"
    assert result.stdout.rstrip().endswith(f"model bundle: {bundle.path}")
    assert bundle.categories == ["その他", "支払い", "配送"]
    assert bundle.category_merge == {"keep": ["支払い", "配送"], "other": "その他"}
    assert json.loads((bundle.path / "bundle.json").read_text(encoding="utf-8"))["model"]["member_weights"] == {"lstm": 0.25, "ngram": 0.75}
    assert "fusion weight of the LSTM member: 0.25 (set)" in result.stdout
    data = bundle.metrics["data"]
    assert data["categories_before_merge"] == SAMPLE_COUNTS
    merged = {"その他": 110 + 116 + 112 + 110, "支払い": 112, "配送": 108}  # その他 + アカウント + 返品・返金 + 技術的なトラブル
    support = {c: row["support"] for c, row in bundle.metrics["per_category"].items()}
    assert {c: data["train_counts"][c] + data["holdout_counts"][c] + support[c] for c in merged} == merged
    assert bundle.metrics["n"] == 134
    # The cap and oversampling apply to what the model is fitted on, and the report shows it:
    # その他 (322 in the fit part) is cut to 100, 支払い and 配送 (81 and 77) are oversampled to 100.
    assert data["train_counts"]["その他"] > 100 > max(data["train_counts"]["支払い"], data["train_counts"]["配送"])
    assert data["sampled_counts"] == {"その他": 100, "支払い": 100, "配送": 100}
    for category in merged:
        line = f"  {category}: {merged[category]} → {data['train_counts'][category]} / {data['holdout_counts'][category]} → 100"
        assert line in result.stdout.splitlines()


def test_evaluate_merges_labels_like_training(merged_bundle, tmp_path):
    _, out = merged_bundle
    result = invoke("evaluate", "--model", str(out), "--data", str(SAMPLE), "--json")
    metrics = json.loads(result.stdout)
    assert metrics["categories"] == ["その他", "支払い", "配送"]
    assert {c: r["support"] for c, r in metrics["per_category"].items()} == {"その他": 448, "支払い": 112, "配送": 108}
    # A file without one of the kept categories (no 配送 here) is still evaluable.
    data = tmp_path / "part.tsv"
    data.write_text("T1\tパスワードを忘れました\t回答\tアカウント\nT2\tカードが使えません\t回答\t支払い\n", encoding="utf-8")
    result = invoke("evaluate", "--model", str(out), "--data", str(data), "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 2
    assert {c: r["support"] for c, r in metrics["per_category"].items()} == {"その他": 1, "支払い": 1, "配送": 0}


# --- broken input: exit 2, one line, no traceback ---------------------------------------------


def broken_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name → (file, expected start of the error after "error: ")."""
    good = "".join(f"T{i}\t{q}\t回答\t{c}\n" for i, (q, c) in enumerate(
        [("パスワードを忘れました", "アカウント"), ("ログインできません", "アカウント"), ("カードが使えません", "支払い"), ("請求書が欲しい", "支払い")], start=1))
    files = {
        "empty": ("empty.tsv", b"", "1: the file is empty"),
        "missing label column": ("header.tsv", "id\tquestion\tanswer\nT1\t返品したい\t承知しました\n".encode(), "1: no column named 'category'"),
        "non-UTF-8": ("sjis.tsv", good.encode() + "T5\t文字化け\t回答\t支払い\n".encode("shift_jis"), "5: bytes that are not UTF-8"),
        "one example": ("lonely.tsv", (good + "T5\t荷物が届きません\t回答\t配送\n").encode(), "5: category '配送' has only 1 example"),
        "only symbols": ("symbols.tsv", (good + "T5\t？？？！！\t回答\t支払い\n").encode(), "5: question has no words"),
    }
    out = {}
    for name, (filename, content, message) in files.items():
        path = tmp_path / filename
        path.write_bytes(content)
        out[name] = (path, f"error: {path}:{message}")
    return out


@pytest.mark.parametrize(
    "option, message",
    [
        (["--holdout-groups", "(turn"], "error: holdout_groups '(turn' is not a regular expression: missing ), unterminated subpattern"),
        (["--holdout-groups", "_turn_"], "error: holdout_groups '_turn_' needs a group"),
    ],
)
def test_train_bad_setting_is_one_line_before_any_work(option, message, tmp_path):
    result = invoke("train", "--data", str(SAMPLE), "--out", str(tmp_path / "models"), "--quiet", *option)
    assert_one_line_error(result, message)
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("case", ["empty", "missing label column", "non-UTF-8", "one example", "only symbols"])
def test_train_broken_input(case, tmp_path):
    path, starts = broken_files(tmp_path)[case]
    result = invoke("train", "--data", str(path), "--out", str(tmp_path / "models"), "--quiet")
    assert_one_line_error(result, starts)
    assert result.stdout == ""
    assert not (tmp_path / "models").exists()


@pytest.mark.parametrize("case", ["empty", "missing label column", "non-UTF-8"])
def test_evaluate_broken_input(case, trained_bundle_dir, tmp_path):
    path, starts = broken_files(tmp_path)[case]
    assert_one_line_error(invoke("evaluate", "--model", str(trained_bundle_dir), "--data", str(path), "--json"), starts)


def test_evaluate_file_of_only_noise(trained_bundle_dir, tmp_path):
    path = tmp_path / "noise.tsv"
    path.write_text("T1\t-----\t回答\t配送\nT2\tversion: 1.2.3\t回答\t支払い\n", encoding="utf-8")
    result = invoke("evaluate", "--model", str(trained_bundle_dir), "--data", str(path))
    assert_one_line_error(result, f"error: {path}: no question with words left after cleaning")


def test_predict_broken_input(trained_bundle_dir, tmp_path):
    path = tmp_path / "q.txt"
    path.write_bytes("返品したい\n".encode() + "配送について\n".encode("euc_jp"))
    assert_one_line_error(invoke("predict", "--model", str(trained_bundle_dir), str(path)), f"error: {path}:2: bytes that are not UTF-8")
    assert_one_line_error(invoke("predict", "--model", str(trained_bundle_dir), input="\n\n"), "error: <stdin>: no questions")


def test_missing_model_is_a_one_line_error(tmp_path):
    line = assert_one_line_error(invoke("predict", "--model", str(tmp_path / "nothing"), input="返品したい\n"), f"error: {tmp_path / 'nothing'}")
    assert "toiawase train" in line


def run_toiawase(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    assert TOIAWASE.is_file(), "the console script is installed with the project (pip install -e .)"
    return subprocess.run([str(TOIAWASE), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("case", ["non-UTF-8", "one example"])
def test_broken_input_in_a_real_process_shows_no_traceback(case, tmp_path):
    path, starts = broken_files(tmp_path)[case]
    done = run_toiawase("train", "--data", str(path), "--out", str(tmp_path / "models"))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith(starts)
    assert "Traceback" not in done.stderr + done.stdout


def test_evaluate_and_predict_in_new_processes(trained_bundle_dir, tmp_path):
    done = run_toiawase("evaluate", "--model", str(trained_bundle_dir), "--data", str(SAMPLE), "--json")
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    assert metrics["n"] == 668 and len(metrics["confusion_matrix"]) == 6
    questions = tmp_path / "q.txt"
    questions.write_text("\n".join(QUESTIONS) + "\n", encoding="utf-8")
    done = run_toiawase("predict", "--model", str(trained_bundle_dir), "--top-k", "1", str(questions))
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    expected = load_bundle(trained_bundle_dir).predict(QUESTIONS, top_k=1)
    assert rows[0] == ["line", "question", "category", "probability", "needs_review", "reason", "top_k"]
    assert [(r[2], r[3]) for r in rows[1:]] == [(p.category, f"{p.probability:.4f}") for p in expected]
    assert Counter(len(r) for r in rows) == {7: 4}


def test_train_kind_tfidf_then_predict_and_evaluate_through_it(tmp_path):
    out = tmp_path / "models"
    result = invoke("train", "--kind", "tfidf", "--data", str(SAMPLE), "--out", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    assert "TF-IDF (toiawase)" in result.stdout and "tfidf_word_logreg" in result.stdout
    predictor = load_bundle(out)
    assert predictor.kind == "tfidf"
    done = invoke("predict", "--model", str(out), "--top-k", "1", input="\n".join(QUESTIONS) + "\n")
    assert done.exit_code == 0, done.output
    expected = predictor.predict(QUESTIONS, top_k=1)
    rows = [line.split("\t") for line in done.stdout.splitlines()[1:]]
    assert [(r[2], r[3]) for r in rows] == [(p.category, f"{p.probability:.4f}") for p in expected]
    metrics = json.loads(invoke("evaluate", "--model", str(out), "--data", str(SAMPLE), "--json").stdout)
    assert metrics["model_kind"] == "tfidf" and metrics["n"] == 668


def test_train_kind_hybrid_then_predict_through_it(tmp_path):
    out = tmp_path / "models"
    result = invoke("train", "--kind", "hybrid", "--data", str(SAMPLE), "--out", str(out), "--epochs", "1", "--units", "8",
                    "--embedding-dim", "16", "--quiet")
    assert result.exit_code == 0, result.output
    assert "LSTM + n-grams (toiawase)" in result.stdout and "n-gram member:" in result.stdout
    predictor = load_bundle(out)
    assert predictor.kind == "hybrid"
    done = invoke("predict", "--model", str(out), "--jsonl", "--top-k", "2", input="\n".join(QUESTIONS) + "\n")
    assert done.exit_code == 0, done.output
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    expected = predictor.predict(QUESTIONS, top_k=2)
    # JSON carries the float exactly: the command and the library agree to the last bit.
    assert [(r["category"], r["probability"], r["reason"]) for r in rows] == [(p.category, p.probability, p.reason) for p in expected]
    assert [r["top_k"] for r in rows] == [[{"category": c, "probability": q} for c, q in p.top_k] for p in expected]


def test_a_damaged_bundle_is_named_by_every_command(trained_bundle_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(load_bundle(trained_bundle_dir).path, broken)
    (broken / "weights.npz").write_bytes(b"")
    starts = f"error: {broken / 'weights.npz'}: incomplete or damaged bundle (EOFError"
    assert_one_line_error(invoke("predict", "--model", str(broken), input="返品したい\n"), starts)
    assert_one_line_error(invoke("evaluate", "--model", str(broken), "--data", str(SAMPLE)), starts)


def test_train_writes_tensorboard_logs(tmp_path):
    logs = tmp_path / "tb"
    result = invoke("train", "--data", str(SAMPLE), "--out", str(tmp_path / "models"), "--epochs", "1", "--units", "4",
                    "--embedding-dim", "8", "--tensorboard", str(logs), "--quiet")
    assert result.exit_code == 0, result.output
    events = sorted(p.relative_to(logs).parts[0] for p in logs.rglob("events.out.tfevents.*"))
    assert events == ["train", "validation"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(logs / "validation"))
    accumulator.Reload()
    assert "epoch_loss" in accumulator.Tags()["tensors"]


def test_tensorflow_start_up_lines_only_with_verbose(tmp_path):
    """TensorFlow's C++/absl lines ("Could not find cuda drivers", "cpu_feature_guard") never reach stderr without --verbose."""
    from toiawase.quiet import is_library_log_line

    quick = ["--data", str(SAMPLE), "--epochs", "1", "--units", "8", "--embedding-dim", "8", "--quiet"]
    done = run_toiawase("train", *quick, "--out", str(tmp_path / "quiet"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and "model bundle:" in done.stdout
    done = run_toiawase("evaluate", "--model", str(tmp_path / "quiet"), "--data", str(SAMPLE), "--json")
    assert done.returncode == 0 and not any(is_library_log_line(line) for line in done.stderr.splitlines()), done.stderr
    loud = run_toiawase("--verbose", "train", *quick, "--out", str(tmp_path / "loud"))
    assert loud.returncode == 0 and any(is_library_log_line(line) for line in loud.stderr.splitlines()), loud.stderr


@pytest.mark.parametrize("value", ["1.5", "-0.1", "lstm", "nan"])
def test_train_lstm_weight_must_be_a_weight_or_auto(value, tmp_path):
    result = invoke("train", "--data", str(SAMPLE), "--out", str(tmp_path / "models"), "--quiet", "--lstm-weight", value)
    assert result.exit_code == 2 and f"{value!r} is neither a number between 0 and 1 nor 'auto'" in result.output
    assert not (tmp_path / "models").exists()


def test_train_lstm_weight_auto_means_chosen_on_the_holdout():
    from toiawase.cli import train

    option = next(p for p in train.params if p.name == "lstm_weight")
    assert option.default == 0.3 and option.type.convert("auto", option, None) is None
    assert option.type.convert("AUTO", option, None) is None and option.type.convert("0.25", option, None) == 0.25
