"""Where ``Predictor.predict`` spends its CPU time on a batch of real questions, and the memory a
loaded bundle takes.

Usage::

    .venv/bin/python bench/predict_stages.py --model /tmp/hy_ml --questions ../shared/data/mlit_defects/dev.tsv

In this one process, with OpenBLAS limited to one thread (threadpoolctl; as each worker of
``toiawase predict`` runs, :mod:`routing.batch`):

* resident memory (VmRSS of /proc/self/status, MB) before and after
  :func:`routing.predictor.load_predictor`, and after predicting;
* raw MeCab wakati over the questions (``preprocessing.tokenizer._tagger("surface").parse``, as
  bench/benchmark.py measures it), in questions per CPU second;
* ``predictor.predict(questions)`` on the first ``--n`` questions in one batch, whole, in
  questions per CPU second and as a ratio to raw MeCab (the goal of issue 9: at least 0.5);
* the same batch stage by stage, in CPU milliseconds per question: cleaning + MeCab
  (``prepare``), for kind ``hybrid`` each member's forward pass and the fusion (else the kind's
  ``logits``), and top-k, review and scope
  (``decide``).

Each figure is the best of ``--repeats`` passes in CPU time (``time.process_time``), so that
other processes on a shared machine do not count. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from threadpoolctl import threadpool_limits  # noqa: E402

from preprocessing.datasets import load_tickets  # noqa: E402
from preprocessing.tokenizer import _tagger  # noqa: E402
from routing.bundle import resolve_bundle_path  # noqa: E402
from routing.hybrid import fuse  # noqa: E402
from routing.predictor import load_predictor  # noqa: E402


def _rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def best_cpu_seconds(function, repeats: int) -> float:
    """The least CPU time (``time.process_time``, seconds) of ``repeats`` calls of ``function()``."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="Bundle directory or models directory.")
    parser.add_argument("--questions", required=True, help="Ticket file (id, question, category).")
    parser.add_argument("--n", type=int, default=2000, help="Questions in the batch (default 2000).")
    parser.add_argument("--repeats", type=int, default=3, help="Passes; the best is reported (default 3).")
    args = parser.parse_args()
    threadpool_limits(limits=1)

    questions = [t.question for t in load_tickets(args.questions).tickets][: args.n]
    rss_before = _rss_mb()
    started = time.process_time()
    predictor = load_predictor(resolve_bundle_path(args.model))
    load_cpu = time.process_time() - started
    rss_loaded = _rss_mb()

    tagger = _tagger("surface")
    mecab = best_cpu_seconds(lambda: [tagger.parse(q).split() for q in questions], args.repeats)
    predictor.predict(questions[:100])  # warm up
    whole = best_cpu_seconds(lambda: predictor.predict(questions), args.repeats)

    n = len(questions)
    documents = [predictor.prepare(q) for q in questions]
    scored = [d for d in documents if d.has_content]
    stages = {"clean + MeCab (prepare)": best_cpu_seconds(lambda: [predictor.prepare(q) for q in questions], args.repeats)}
    if predictor.kind == "hybrid":
        stages["lstm member"] = best_cpu_seconds(lambda: predictor.lstm.logits(scored), args.repeats)
        stages["n-gram member"] = best_cpu_seconds(lambda: predictor.linear.logits(scored), args.repeats)
        members = predictor.member_logits(scored)
        stages["fusion"] = best_cpu_seconds(lambda: fuse(members, predictor.member_temperatures), args.repeats)
    else:
        stages[f"{predictor.kind} logits"] = best_cpu_seconds(lambda: predictor.logits(scored), args.repeats)
    probabilities = predictor.calibration.probabilities(predictor.logits(scored))
    stages["top-k, review, scope (decide)"] = best_cpu_seconds(lambda: predictor.decide(documents, probabilities), args.repeats)

    print(f"bundle {predictor.path} (kind {predictor.kind}); {n} questions of {args.questions}; load average {os.getloadavg()}")
    print(f"resident memory: {rss_before:.0f} MB before load, {rss_loaded:.0f} MB after load "
          f"(+{rss_loaded - rss_before:.0f} MB, {load_cpu:.2f} CPU s), {_rss_mb():.0f} MB after predicting")
    print(f"raw MeCab wakati: {n / mecab:,.0f} questions/CPU s")
    print(f"predict (one batch): {n / whole:,.0f} questions/CPU s = {mecab / whole:.3f}× raw MeCab; {1000 * whole / n:.3f} ms/question")
    for name, seconds in stages.items():
        print(f"  {name}: {1000 * seconds / n:.3f} ms/question")


if __name__ == "__main__":
    main()
