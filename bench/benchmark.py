"""Routing quality, calibration, review, out-of-scope detection and speed on the real data sets.

Usage (``make bench``)::

    .venv/bin/python bench/benchmark.py --data-root ../shared/data --update BENCHMARKS.md

For each data set (``train.tsv`` / ``dev.tsv`` under ``--data-root``; the data never enters the
repository), in one run:

* **quality**: ``toiawase train``'s default configuration (its default kind, ``hybrid``;
  ``--kind lstm`` or ``--kind tfidf`` benchmarks another kind with the same settings) once per seed (``training.run.train``
  with ``--dev``: dev is only scored; early stopping, the temperature and the review threshold
  come from a holdout of the training file), and both baselines of :mod:`training.baselines`
  trained on the whole training file: accuracy, macro-F1, the recall of the five smallest
  categories, training time;
* **calibration**: expected calibration error (15 bins) on dev before and after temperature scaling;
* **review**: the share of dev routed automatically and its accuracy, and the reasons of the rest;
* **out of scope**: each data set's seed-1 model on the other data set's dev questions (foreign)
  and on its own dev questions (in-domain): the share flagged ``out_of_scope``;
* **learning curves**: model and baselines trained on 500, 1,000, 2,000 and 5,000 tickets
  subsampled (stratified, seeded) from the training file, scored on the full dev set;
* **speed**: raw MeCab wakati against clean + tokenize on the same questions; the whole
  ``toiawase predict`` command on 40,000 questions (start-up measured apart and excluded);
  single-question latency in-process; resident memory of a process with a loaded bundle.

Writes ``bench/results/latest.json`` and ``latest.md`` and, with ``--update``, the section between
``<!-- bench:start -->`` and ``<!-- bench:end -->`` of BENCHMARKS.md. Not run in CI.

The speed figures need the machine to themselves; the quality runs take about an hour. To make
them apart: ``--no-speed --out-dir DIR`` first, then ``--speed-only jmultiwoz_routing=BUNDLE
mlit_defects=BUNDLE --merge DIR/latest.json`` with the seed-1 bundles (trained again, or kept).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from preprocessing.datasets import load_tickets  # noqa: E402
from preprocessing.pipeline import PreprocessSettings, prepare  # noqa: E402
from preprocessing.tokenizer import _tagger  # noqa: E402
from routing.predictor import load_predictor  # noqa: E402
from training.baselines import BASELINES, baseline_inputs, make_baseline  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.data import Examples, prepare_examples  # noqa: E402
from training.evaluate import evaluate_predictions  # noqa: E402
from training.run import train  # noqa: E402

SIZES = (500, 1000, 2000, 5000)
GOALS = {"margin_macro_f1": 0.01, "ece": 0.03, "ood_flagged": 0.90, "in_domain_flagged": 0.10, "clean_tokenize_ratio": 0.8,
         "predict_ratio": 0.5, "latency_p50_ms": 3.0, "rss_mb": 150, "train_seconds_jmultiwoz": 300}


def _mean_std(values: list[float]) -> list[float]:
    return [float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0]


def _quiet(line: str) -> None:
    pass


def smallest_recalls(metrics: dict, k: int = 5) -> dict[str, dict]:
    """Recall and dev support of the ``k`` categories with the fewest dev questions (at least one)."""
    rows = sorted(((c, r) for c, r in metrics["per_category"].items() if r["support"] > 0), key=lambda item: (item[1]["support"], item[0]))
    return {c: {"support": r["support"], "recall": r["recall"]} for c, r in rows[:k]}


def baseline_metrics(train: Examples, dev: Examples, categories: list[str]) -> dict[str, dict]:
    """Both baselines trained on ``train``, scored on ``dev``."""
    out = {}
    for name in BASELINES:
        started = time.perf_counter()
        model = make_baseline(name)
        model.fit(baseline_inputs(name, train.tokens, train.cleaned), train.labels)
        seconds = time.perf_counter() - started
        predicted = list(model.predict(baseline_inputs(name, dev.tokens, dev.cleaned)))
        metrics = evaluate_predictions(dev.labels, predicted, categories)
        out[name] = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "train_seconds": seconds,
                     "smallest": smallest_recalls(metrics)}
    return out


def model_run(train_file: str, dev_file: str, models: Path, config: TrainConfig, skip_bad_rows: bool = False) -> dict:
    """Train one model as ``toiawase train --dev`` does; its dev figures."""
    started = time.perf_counter()
    result = train(train_file, models, config, dev=dev_file, skip_bad_rows=skip_bad_rows, log=_quiet, verbose=0)
    seconds = time.perf_counter() - started
    m = result.metrics
    return {"seed": config.seed, "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "train_seconds": seconds,
            "smallest": smallest_recalls(m), "ece_before": m["calibration"]["ece_before"], "ece_after": m["calibration"]["ece_after"],
            "temperature": m["calibration"]["temperature"], "review": m["review"], "bundle": str(result.bundle_path)}


def bench_quality(folder: Path, seeds: list[int], models_root: Path, base: TrainConfig) -> dict:
    """The default model per seed and both baselines on one data set."""
    train_file, dev_file = str(folder / "train.tsv"), str(folder / "dev.tsv")
    runs = []
    for seed in seeds:
        runs.append(model_run(train_file, dev_file, models_root / f"{folder.name}-{seed}", replace(base, seed=seed)))
        r = runs[-1]
        print(f"  {folder.name} seed {seed}: acc {r['accuracy']:.4f} macro-F1 {r['macro_f1']:.4f} ECE {r['ece_before']:.4f}→{r['ece_after']:.4f} "
              f"coverage {r['review']['coverage']:.3f} ({r['train_seconds']:.0f} s)", flush=True)
    settings = PreprocessSettings()
    tr = prepare_examples(load_tickets(train_file), settings, Counter())
    dv = prepare_examples(load_tickets(dev_file), settings, Counter())
    categories = sorted(set(tr.labels))
    baselines = baseline_metrics(tr, dv, categories)
    for name, b in baselines.items():
        print(f"  {folder.name} {name}: acc {b['accuracy']:.4f} macro-F1 {b['macro_f1']:.4f}", flush=True)
    summary = {key: _mean_std([r[key] for r in runs]) for key in ("accuracy", "macro_f1", "train_seconds", "ece_before", "ece_after")}
    summary["coverage"] = _mean_std([r["review"]["coverage"] for r in runs])
    summary["auto_accuracy"] = _mean_std([r["review"]["auto_accuracy"] or 0.0 for r in runs])
    summary["smallest_recall"] = {c: _mean_std([r["smallest"][c]["recall"] for r in runs if c in r["smallest"]]) for c in runs[0]["smallest"]}
    summary["smallest_support"] = {c: v["support"] for c, v in runs[0]["smallest"].items()}
    return {"model": {"runs": runs, **summary}, "baselines": baselines, "train_questions": len(tr), "dev_questions": len(dv),
            "categories": len(categories), "tr": tr, "dv": dv}


def bench_out_of_scope(bundles: dict[str, str], dev_questions: dict[str, list[str]]) -> dict:
    """Each model on its own dev questions and on every other data set's: shares flagged."""
    out = {}
    for name, bundle in bundles.items():
        predictor = load_predictor(bundle)
        for other, questions in dev_questions.items():
            predictions = predictor.predict(questions)
            out[f"{name} model on {other} dev"] = {
                "in_domain": other == name,
                "questions": len(questions),
                "out_of_scope": sum(p.reason == "out_of_scope" for p in predictions) / len(questions),
                "needs_review": sum(p.needs_review for p in predictions) / len(questions),
            }
    return out


def bench_curves(folder: Path, tr: Examples, dv: Examples, sizes: tuple[int, ...], seeds: list[int], models_root: Path, base: TrainConfig) -> dict:
    """Model and baselines trained on stratified subsamples of the training file, scored on dev."""
    from sklearn.model_selection import train_test_split

    categories = sorted(set(tr.labels))
    out = {}
    for size in sizes:
        if size >= len(tr):
            continue
        rows = {"model": [], "baselines": {name: [] for name in BASELINES}}
        for seed in seeds:
            picked, _ = train_test_split(np.arange(len(tr)), train_size=size, stratify=tr.labels, random_state=seed)
            part = tr.subset(sorted(picked))
            with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False, encoding="utf-8") as handle:
                for ticket, label in zip(part.tickets, part.labels):
                    handle.write(f"{ticket.id}\t{' '.join(ticket.question.split())}\t{label}\n")
            try:
                run = model_run(handle.name, str(folder / "dev.tsv"), models_root / f"{folder.name}-n{size}-{seed}", replace(base, seed=seed), skip_bad_rows=True)
            finally:
                os.unlink(handle.name)
            rows["model"].append(run)
            for name, b in baseline_metrics(part, dv, categories).items():
                rows["baselines"][name].append(b)
        out[size] = {
            "model": {k: _mean_std([r[k] for r in rows["model"]]) for k in ("accuracy", "macro_f1")},
            "baselines": {name: {k: _mean_std([r[k] for r in runs]) for k in ("accuracy", "macro_f1")} for name, runs in rows["baselines"].items()},
        }
        best = max(v["macro_f1"][0] for v in out[size]["baselines"].values())
        print(f"  {folder.name} n={size}: model macro-F1 {out[size]['model']['macro_f1'][0]:.4f}, best baseline {best:.4f}", flush=True)
    return out


def _percentiles(samples_ms: list[float]) -> dict:
    return {"p50": float(np.percentile(samples_ms, 50)), "p99": float(np.percentile(samples_ms, 99)), "n": len(samples_ms)}


def _cli_seconds(bundle: str, lines: list[str]) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "toiawase", "predict", "--model", bundle, handle.name], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started
    finally:
        os.unlink(handle.name)


def bench_speed(bundle: str, questions: list[str], n_predict: int, n_single: int) -> dict:
    """Pipeline and prediction speed of one bundle on ``questions`` (repeated to ``n_predict`` if needed)."""
    predictor = load_predictor(bundle)
    settings = predictor.settings
    tagger = _tagger("surface")
    for q in questions[:300]:  # warm up both paths
        tagger.parse(q)
        prepare(q, settings)
    best_mecab = best_pipeline = 0.0
    for _ in range(3):  # best of three: the machine is shared
        started = time.perf_counter()
        for q in questions:
            tagger.parse(q).split()
        best_mecab = max(best_mecab, len(questions) / (time.perf_counter() - started))
        started = time.perf_counter()
        for q in questions:
            prepare(q, settings)
        best_pipeline = max(best_pipeline, len(questions) / (time.perf_counter() - started))
    lines = [" ".join(q.split()) for q in (questions * (n_predict // len(questions) + 1))[:n_predict]]
    startup = min(_cli_seconds(bundle, lines[:1]) for _ in range(2))
    whole = _cli_seconds(bundle, lines)
    single = []
    for q in questions[:n_single]:
        t = time.perf_counter()
        predictor.predict([q], top_k=3)
        single.append((time.perf_counter() - t) * 1000)
    probe = ("import json,sys; from routing.predictor import load_predictor; b=load_predictor(sys.argv[1]); "
             "b.predict(['パスワードを忘れました']); s={l.split(':')[0]: l.split()[1] for l in open('/proc/self/status') if l.startswith('Vm')}; "
             "print(json.dumps({'rss_kb': int(s['VmRSS']), 'peak_kb': int(s['VmHWM'])}))")
    memory = json.loads(subprocess.run([sys.executable, "-c", probe, bundle], cwd=REPO, check=True, capture_output=True, text=True).stdout)
    return {
        "questions": len(questions), "mecab_wakati_qps": best_mecab, "clean_tokenize_qps": best_pipeline,
        "predict_questions": n_predict, "predict_startup_seconds": startup, "predict_seconds": whole,
        "predict_qps": n_predict / max(whole - startup, 1e-9), "jobs": os.cpu_count(),
        "single_ms": _percentiles(single), "rss_mb": memory["rss_kb"] / 1024, "peak_rss_mb": memory["peak_kb"] / 1024,
    }


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0) / 1024**2
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def _ms(pair: list[float], digits: int = 4) -> str:
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def markdown(results: dict) -> str:
    """The Markdown tables of BENCHMARKS.md from a results dict."""
    out = [f"Run {results['date']} on {results['machine']}; model kind `{results['kind']}`, seeds {results['seeds']}.",
           f"Command: `{results['command']}`", ""]
    out += ["### Quality on dev (model: mean ± std over seeds; baselines trained on the whole training file)", "",
            "| data set | model | accuracy | macro-F1 | training time (s) |", "|---|---|---|---|---|"]
    for name, q in results["quality"].items():
        m = q["model"]
        out.append(f"| {name} | **toiawase {results['kind']}** | **{_ms(m['accuracy'])}** | **{_ms(m['macro_f1'])}** | {m['train_seconds'][0]:.0f} ± {m['train_seconds'][1]:.0f} |")
        for bname, b in q["baselines"].items():
            out.append(f"| {name} | {bname} | {b['accuracy']:.4f} | {b['macro_f1']:.4f} | {b['train_seconds']:.0f} |")
    out += ["", "Goal: macro-F1 ≥ best baseline + 1.0 point, accuracy ≥ best baseline's.", "",
            "| data set | macro-F1 − best baseline (points) | accuracy − best baseline (points) | met? |", "|---|---|---|---|"]
    for name, q in results["quality"].items():
        f1 = 100 * (q["model"]["macro_f1"][0] - max(b["macro_f1"] for b in q["baselines"].values()))
        acc = 100 * (q["model"]["accuracy"][0] - max(b["accuracy"] for b in q["baselines"].values()))
        out.append(f"| {name} | {f1:+.2f} | {acc:+.2f} | {'yes' if f1 >= 100 * GOALS['margin_macro_f1'] and acc >= 0 else 'no'} |")
    out += ["", "### The five smallest categories of dev: recall (model mean over seeds; baselines)", "",
            "| data set | category | dev questions | toiawase | " + " | ".join(BASELINES) + " |", "|---|---|---|---|" + "---|" * len(BASELINES)]
    for name, q in results["quality"].items():
        for c, support in q["model"]["smallest_support"].items():
            base = " | ".join(f"{q['baselines'][b]['smallest'].get(c, {}).get('recall', 0):.3f}" for b in BASELINES)
            out.append(f"| {name} | {c} | {support} | {q['model']['smallest_recall'][c][0]:.3f} | {base} |")
    out += ["", "### Calibration and review on dev (mean ± std over seeds)", "",
            "| data set | ECE before | ECE after (goal ≤ 0.03) | routed automatically | accuracy of those |", "|---|---|---|---|---|"]
    for name, q in results["quality"].items():
        m = q["model"]
        out.append(f"| {name} | {_ms(m['ece_before'])} | {_ms(m['ece_after'])} | {_ms(m['coverage'], 3)} | {_ms(m['auto_accuracy'], 3)} |")
    if results.get("out_of_scope"):
        out += ["", "### Out of scope (seed-1 models; goal: ≥ 90 % of foreign questions flagged, ≤ 10 % of in-domain)", "",
                "| model on questions | questions | flagged out_of_scope | needs review (any reason) |", "|---|---|---|---|"]
        for label, r in results["out_of_scope"].items():
            out.append(f"| {label}{' (in-domain)' if r['in_domain'] else ' (foreign)'} | {r['questions']:,} | {r['out_of_scope']:.1%} | {r['needs_review']:.1%} |")
    if results.get("curves"):
        out += ["", "### Learning curves: macro-F1 on the full dev set (mean over seeds)", "",
                "| data set | training tickets | toiawase | " + " | ".join(BASELINES) + " | model ≥ best baseline? |", "|---|---|---|" + "---|" * len(BASELINES) + "---|"]
        for name, curve in results["curves"].items():
            for size, row in curve.items():
                best = max(v["macro_f1"][0] for v in row["baselines"].values())
                base = " | ".join(f"{row['baselines'][b]['macro_f1'][0]:.4f}" for b in BASELINES)
                out.append(f"| {name} | {int(size):,} | {row['model']['macro_f1'][0]:.4f} | {base} | {'yes' if row['model']['macro_f1'][0] >= best else 'no'} |")
    if results.get("speed"):
        out += ["", "### Speed", ""]
        if results.get("speed_command"):
            out += [f"Measured {results['speed_date']} apart from the rest, on the seed-1 bundles of the run above: `{results['speed_command']}`", ""]
        out += ["| data set | measure | toiawase | reference | ratio | goal |", "|---|---|---|---|---|---|"]
        for name, s in results["speed"].items():
            out.append(f"| {name} | clean + tokenize (questions/s, 1 process) | {s['clean_tokenize_qps']:,.0f} | raw MeCab wakati {s['mecab_wakati_qps']:,.0f} | "
                       f"{s['clean_tokenize_qps'] / s['mecab_wakati_qps']:.2f} | ≥ 0.8 |")
            out.append(f"| {name} | `toiawase predict`, {s['predict_questions']:,} questions, start-up ({s['predict_startup_seconds']:.1f} s) excluded (questions/s, {s['jobs']} processes) | "
                       f"{s['predict_qps']:,.0f} | raw MeCab wakati {s['mecab_wakati_qps']:,.0f} | {s['predict_qps'] / s['mecab_wakati_qps']:.2f} | ≥ 0.5 |")
            out.append(f"| {name} | single question in-process p50 / p99 (ms) | {s['single_ms']['p50']:.2f} / {s['single_ms']['p99']:.2f} | — | — | p50 ≤ 3 |")
            out.append(f"| {name} | resident memory with a loaded bundle (MB) | {s['rss_mb']:.0f} (peak {s['peak_rss_mb']:.0f}) | — | — | ≤ 150 |")
    return "\n".join(out)


def main() -> None:
    """Parse arguments, run the benchmark, write results and (optionally) update BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="*", default=["jmultiwoz_routing", "mlit_defects"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3])
    parser.add_argument("--kind", help="Model kind (default: toiawase train's default).")
    parser.add_argument("--sizes", nargs="*", type=int, default=list(SIZES), help="Learning-curve sizes (none: skip).")
    parser.add_argument("--curve-seeds", nargs="*", type=int, default=[1, 2, 3])
    parser.add_argument("--predict-questions", type=int, default=40_000)
    parser.add_argument("--single-questions", type=int, default=2_000)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--out-dir", default=str(REPO / "bench" / "results"))
    parser.add_argument("--models-dir", help="Train the bundles here and keep them (default: a temporary directory, removed), "
                                             "e.g. for a later --speed-only run on the seed-1 bundles.")
    parser.add_argument("--update", help="Markdown file whose bench:start/bench:end section is replaced.")
    parser.add_argument("--speed-only", nargs="+", metavar="NAME=BUNDLE",
                        help="Only the speed part, with these trained bundles (data set name = bundle or models directory), "
                             "added to the results of --merge.")
    parser.add_argument("--merge", metavar="JSON", help="With --speed-only: a latest.json of a --no-speed run whose quality, "
                                                         "curves and out-of-scope results are kept.")
    args = parser.parse_args()
    if args.speed_only:
        speed_only(args)
        return
    base = TrainConfig() if args.kind is None else TrainConfig(kind=args.kind)
    root = Path(args.data_root)
    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": _machine(), "kind": base.kind,
               "seeds": args.seeds, "command": "python bench/benchmark.py " + " ".join(sys.argv[1:]), "quality": {}, "curves": {}, "speed": {}}
    with contextlib.ExitStack() as stack:
        models_root = args.models_dir or stack.enter_context(tempfile.TemporaryDirectory())
        dev_questions, bundles = {}, {}
        for name in args.datasets:
            folder = root / name
            print(f"== {name}", flush=True)
            quality = bench_quality(folder, args.seeds, Path(models_root), base)
            tr, dv = quality.pop("tr"), quality.pop("dv")
            results["quality"][name] = quality
            bundles[name] = quality["model"]["runs"][0]["bundle"]
            dev_questions[name] = [t.question for t in load_tickets(str(folder / "dev.tsv")).tickets]
            if args.sizes:
                results["curves"][name] = bench_curves(folder, tr, dv, tuple(args.sizes), args.curve_seeds, Path(models_root), base)
            if not args.no_speed:
                questions = [t.question for t in load_tickets(str(folder / "train.tsv")).tickets] + dev_questions[name]
                results["speed"][name] = bench_speed(bundles[name], questions, args.predict_questions, args.single_questions)
                print(json.dumps(results["speed"][name]), flush=True)
        if len(bundles) > 1:
            results["out_of_scope"] = bench_out_of_scope(bundles, dev_questions)
    write_results(results, args)


def speed_only(args: argparse.Namespace) -> None:
    """The speed part alone on given bundles (``--speed-only``), merged into an earlier run's results.

    Raises:
        SystemExit: for a ``NAME=BUNDLE`` without ``=``.
    """
    results = json.loads(Path(args.merge).read_text(encoding="utf-8")) if args.merge else {
        "date": "", "machine": _machine(), "kind": TrainConfig().kind, "seeds": [], "command": "", "quality": {}, "curves": {}}
    results["speed"] = {}
    results["speed_command"] = "python bench/benchmark.py " + " ".join(sys.argv[1:])
    results["speed_date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for item in args.speed_only:
        name, sep, bundle = item.partition("=")
        if not sep:
            sys.exit(f"error: --speed-only takes NAME=BUNDLE, not {item!r}")
        folder = Path(args.data_root) / name
        questions = [t.question for t in load_tickets(str(folder / "train.tsv")).tickets]
        questions += [t.question for t in load_tickets(str(folder / "dev.tsv")).tickets]
        results["speed"][name] = bench_speed(str(load_predictor(bundle).path), questions, args.predict_questions, args.single_questions)
        print(json.dumps(results["speed"][name]), flush=True)
    write_results(results, args)


def write_results(results: dict, args: argparse.Namespace) -> None:
    """Write ``latest.json`` and ``latest.md`` under ``--out-dir``, update ``--update``'s section, print the tables."""
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
