"""Routing quality and speed of toiawase against classical baselines on the real data sets.

Usage (documented in BENCHMARKS.md)::

    .venv/bin/python bench/benchmark.py --data-root ../shared/data --update BENCHMARKS.md

For each data set folder under ``--data-root`` (``train.tsv`` and ``dev.tsv``, see its README):

* toiawase's LSTM with the default configuration of ``toiawase train`` (the real training path,
  bundle saved to a temporary models directory), once per seed: dev accuracy and macro-F1,
  training time (wall clock, loading to saved bundle);
* baselines trained in the same run on the same training file: TF-IDF word 1–2-grams on MeCab
  tokens + LogisticRegression(C=10), TF-IDF char_wb 1–3-grams + LinearSVC(C=0.5);
* speed, each beside a reference measured in the same run: clean+tokenize throughput vs raw
  MeCab wakati on the same questions; batch prediction throughput over ≥ 10,000 questions
  (whole pipeline: clean, tokenize, encode, network) in one process, in one process per core,
  and through the ``toiawase predict`` command; single-question latency p50/p99 through the bundle's fast path
  vs ``keras.Model.predict()``; resident memory of a process that loaded a bundle.

Writes ``bench/results/latest.json`` and ``bench/results/latest.md`` and, with ``--update FILE``,
replaces the table between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in FILE.
Not run in CI: it takes about half an hour on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from preprocessing.datasets import load_tickets  # noqa: E402
from preprocessing.pipeline import PreprocessSettings, preprocess  # noqa: E402
from preprocessing.tokenizer import _tagger  # noqa: E402
from training.baselines import BASELINES, baseline_inputs, make_baseline  # noqa: E402
from routing.batch import predict_many  # noqa: E402
from routing.predictor import load_predictor  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.data import prepare_examples  # noqa: E402
from training.evaluate import evaluate_predictions  # noqa: E402
from training.fit_lstm import load_keras_model  # noqa: E402
from training.run import train  # noqa: E402

GOALS = {"latency_p50_ms": 3.0, "batch_qps": 10_000, "train_seconds_jmultiwoz": 300, "rss_mb": 800}


def _mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def bench_quality(folder: Path, seeds: list[int], models_root: Path) -> dict:
    """Train the default LSTM per seed and both baselines; return their dev metrics and times."""
    train_file, dev_file = str(folder / "train.tsv"), str(folder / "dev.tsv")
    runs = []
    for seed in seeds:
        config = TrainConfig(seed=seed)
        started = time.perf_counter()
        result = train(train_file, models_root / f"{folder.name}-{seed}", config, dev=dev_file, log=lambda s: None, verbose=0)
        seconds = time.perf_counter() - started
        runs.append({"seed": seed, "accuracy": result.metrics["accuracy"], "macro_f1": result.metrics["macro_f1"],
                     "train_seconds": seconds, "epochs": result.metrics["data"]["epochs_run"], "bundle": str(result.bundle_path)})
        print(f"  {folder.name} seed {seed}: acc {runs[-1]['accuracy']:.4f} macro-F1 {runs[-1]['macro_f1']:.4f} ({seconds:.0f} s)", flush=True)
    settings = PreprocessSettings()
    tr = prepare_examples(load_tickets(train_file), settings, Counter())
    dv = prepare_examples(load_tickets(dev_file), settings, Counter())
    categories = sorted(set(tr.labels))
    baselines = {}
    for name in BASELINES:
        started = time.perf_counter()
        model = make_baseline(name)
        model.fit(baseline_inputs(name, tr.tokens, tr.cleaned), tr.labels)
        seconds = time.perf_counter() - started
        metrics = evaluate_predictions(dv.labels, list(model.predict(baseline_inputs(name, dv.tokens, dv.cleaned))), categories)
        baselines[name] = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "train_seconds": seconds}
        print(f"  {folder.name} {name}: acc {metrics['accuracy']:.4f} macro-F1 {metrics['macro_f1']:.4f}", flush=True)
    acc, f1 = [r["accuracy"] for r in runs], [r["macro_f1"] for r in runs]
    return {
        "lstm": {"runs": runs, "accuracy": _mean_std(acc), "macro_f1": _mean_std(f1),
                 "train_seconds": _mean_std([r["train_seconds"] for r in runs])},
        "baselines": baselines,
        "train_questions": len(tr), "dev_questions": len(dv), "categories": len(categories),
    }


def _percentiles(samples_ms: list[float]) -> dict:
    return {"p50": float(np.percentile(samples_ms, 50)), "p99": float(np.percentile(samples_ms, 99)), "n": len(samples_ms)}


def bench_speed(bundle_path: str, questions: list[str], n_batch: int, n_single: int, n_keras: int) -> dict:
    """Throughput and latency of one bundle on ``questions`` (repeated to ``n_batch`` if needed)."""
    batch = (questions * (n_batch // len(questions) + 1))[:n_batch]
    settings = PreprocessSettings()
    tagger = _tagger("surface")
    for q in batch[:200]:  # warm up both paths
        tagger.parse(q)
        preprocess(q, settings)
    started = time.perf_counter()
    for q in batch:
        tagger.parse(q).split()
    mecab_qps = len(batch) / (time.perf_counter() - started)
    started = time.perf_counter()
    for q in batch:
        preprocess(q, settings)
    pipeline_qps = len(batch) / (time.perf_counter() - started)

    bundle = load_predictor(bundle_path)
    bundle.predict(batch[:100])
    started = time.perf_counter()
    bundle.predict(batch)
    batch_qps = len(batch) / (time.perf_counter() - started)
    jobs = os.cpu_count() or 1
    started = time.perf_counter()
    for _ in predict_many(bundle, batch, top_k=3, jobs=jobs):
        pass
    parallel_qps = len(batch) / (time.perf_counter() - started)

    single = []
    for q in batch[:n_single]:
        t = time.perf_counter()
        bundle.predict([q], top_k=3)
        single.append((time.perf_counter() - t) * 1000)

    model = load_keras_model(bundle.path)
    keras_ms = []
    for q in batch[:n_keras]:
        t = time.perf_counter()
        ids = np.asarray(bundle.encode([bundle.prepare(q)]), dtype=np.int32)
        model.predict(ids, verbose=0)
        keras_ms.append((time.perf_counter() - t) * 1000)

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as handle:
        handle.write("\n".join(" ".join(q.split()) for q in batch) + "\n")
        lines_file = handle.name
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "toiawase", "predict", "--model", bundle_path, lines_file],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    cli_seconds = time.perf_counter() - started
    os.unlink(lines_file)

    probe = ("import json,sys; from routing.predictor import load_predictor; b=load_predictor(sys.argv[1]); "
             "b.predict(['パスワードを忘れました']); status={l.split(':')[0]: l.split()[1] for l in open('/proc/self/status') if l.startswith('Vm')}; "
             "print(json.dumps({'rss_kb': int(status['VmRSS']), 'peak_kb': int(status['VmHWM'])}))")
    memory = json.loads(subprocess.run([sys.executable, "-c", probe, bundle_path], cwd=REPO, check=True,
                                       capture_output=True, text=True).stdout)
    return {
        "questions": len(batch),
        "mecab_wakati_qps": mecab_qps,
        "clean_tokenize_qps": pipeline_qps,
        "batch_predict_qps": batch_qps,
        "batch_predict_parallel_qps": parallel_qps,
        "parallel_jobs": jobs,
        "cli_predict_seconds": cli_seconds,
        "cli_predict_qps": len(batch) / cli_seconds,
        "single_fast_ms": _percentiles(single),
        "single_keras_predict_ms": _percentiles(keras_ms),
        "rss_mb": memory["rss_kb"] / 1024,
        "peak_rss_mb": memory["peak_kb"] / 1024,
    }


def _machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0) / 1024**2
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def markdown(results: dict) -> str:
    """The Markdown tables of BENCHMARKS.md from a results dict."""
    out = [f"Run {results['date']} on {results['machine']}; seeds {results['seeds']}.", ""]
    out += ["### Quality on dev (mean ± std over seeds for the LSTM)", "",
            "| data set | model | accuracy | macro-F1 | training time (s) |", "|---|---|---|---|---|"]
    for name, q in results["quality"].items():
        lstm = q["lstm"]
        out.append(f"| {name} | **toiawase LSTM** (default) | **{lstm['accuracy'][0]:.4f} ± {lstm['accuracy'][1]:.4f}** | "
                   f"**{lstm['macro_f1'][0]:.4f} ± {lstm['macro_f1'][1]:.4f}** | {lstm['train_seconds'][0]:.0f} ± {lstm['train_seconds'][1]:.0f} |")
        for bname, b in q["baselines"].items():
            out.append(f"| {name} | {bname} | {b['accuracy']:.4f} | {b['macro_f1']:.4f} | {b['train_seconds']:.0f} |")
    out += ["", "### Speed", "",
            "| data set | measure | toiawase | reference | ratio | goal |", "|---|---|---|---|---|---|"]
    for name, s in results["speed"].items():
        ratio = s["clean_tokenize_qps"] / s["mecab_wakati_qps"]
        out.append(f"| {name} | clean+tokenize (questions/s) | {s['clean_tokenize_qps']:,.0f} | raw MeCab wakati {s['mecab_wakati_qps']:,.0f} | {ratio:.2f} | — |")
        ratio = s["batch_predict_qps"] / s["mecab_wakati_qps"]
        out.append(f"| {name} | batch predict, 1 process, {s['questions']:,} questions (questions/s) | {s['batch_predict_qps']:,.0f} | raw MeCab wakati {s['mecab_wakati_qps']:,.0f} | {ratio:.2f} | — |")
        ratio = s["batch_predict_parallel_qps"] / s["mecab_wakati_qps"]
        out.append(f"| {name} | batch predict, {s['parallel_jobs']} processes, {s['questions']:,} questions (questions/s) | {s['batch_predict_parallel_qps']:,.0f} | raw MeCab wakati {s['mecab_wakati_qps']:,.0f} | {ratio:.2f} | ≥ 10,000 |")
        out.append(f"| {name} | `toiawase predict` command, {s['questions']:,} questions incl. start-up (questions/s) | {s['cli_predict_qps']:,.0f} | — | — | — |")
        fast, keras = s["single_fast_ms"], s["single_keras_predict_ms"]
        out.append(f"| {name} | single question p50 / p99 (ms) | {fast['p50']:.2f} / {fast['p99']:.2f} | model.predict() {keras['p50']:.1f} / {keras['p99']:.1f} | {keras['p50'] / fast['p50']:.0f}× faster | p50 ≤ 3 |")
        out.append(f"| {name} | resident memory of a loaded bundle (MB) | {s['rss_mb']:.0f} (peak {s['peak_rss_mb']:.0f}) | — | — | < 800 |")
    return "\n".join(out)


def main() -> None:
    """Parse arguments, run the benchmark, write results and (optionally) update BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="*", default=["jmultiwoz_routing", "mlit_defects"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3])
    parser.add_argument("--batch-questions", type=int, default=20_000)
    parser.add_argument("--single-questions", type=int, default=2_000)
    parser.add_argument("--keras-questions", type=int, default=100)
    parser.add_argument("--out-dir", default=str(REPO / "bench" / "results"))
    parser.add_argument("--update", help="Markdown file whose bench:start/bench:end section is replaced.")
    args = parser.parse_args()
    root = Path(args.data_root)
    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": _machine(),
               "seeds": args.seeds, "command": " ".join(sys.argv), "quality": {}, "speed": {}}
    with tempfile.TemporaryDirectory() as models_root:
        for name in args.datasets:
            folder = root / name
            print(f"== {name}", flush=True)
            results["quality"][name] = bench_quality(folder, args.seeds, Path(models_root))
            questions = [t.question for t in load_tickets(str(folder / "train.tsv")).tickets]
            bundle_path = results["quality"][name]["lstm"]["runs"][0]["bundle"]
            results["speed"][name] = bench_speed(bundle_path, questions, args.batch_questions, args.single_questions, args.keras_questions)
            print(json.dumps(results["speed"][name], indent=1), flush=True)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = markdown(results)
    (out_dir / "latest.json").write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out_dir / "latest.md").write_text(table + "\n", encoding="utf-8")
    if args.update:
        path = Path(args.update)
        text = path.read_text(encoding="utf-8")
        start, end = "<!-- bench:start -->", "<!-- bench:end -->"
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        path.write_text(f"{head}{start}\n{table}\n{end}{tail}", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
