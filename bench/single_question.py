"""In-process single-question latency, load time, memory and size of one bundle (any kind).

Usage::

    .venv/bin/python bench/single_question.py --model /tmp/hy_jm --questions ../shared/data/jmultiwoz_routing/dev.tsv

Loads the bundle with :func:`routing.predictor.load_predictor`, warms up on 200 questions, then
times ``predictor.predict([question], top_k=3)`` (cleaning, MeCab, the kind's forward pass,
calibration, review, scope) once per question for ``--n`` questions of the ticket file, and prints
p50 / p90 / p99 in milliseconds. For kind ``hybrid`` it also times each member's forward pass
alone on the prepared questions. Reports the bundle's size on disk (every file, ``model.keras``
apart since serving never reads it), the load time, and the process's resident memory after
loading and after predicting (VmRSS / VmHWM of /proc/self/status). Not a test: the numbers depend
on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from preprocessing.datasets import load_tickets  # noqa: E402
from routing.bundle import resolve_bundle_path  # noqa: E402
from routing.predictor import load_predictor  # noqa: E402


def _memory_mb() -> tuple[float, float]:
    status = {line.split(":")[0]: line.split()[1] for line in open("/proc/self/status") if line.startswith("Vm")}
    return int(status["VmRSS"]) / 1024, int(status["VmHWM"]) / 1024


def _percentiles(ms: list[float]) -> str:
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"p50 {p50:.2f} / p90 {p90:.2f} / p99 {p99:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="Bundle directory or models directory.")
    parser.add_argument("--questions", required=True, help="Ticket file whose questions are routed one at a time.")
    parser.add_argument("--n", type=int, default=1000, help="Questions timed (default 1000).")
    args = parser.parse_args()

    directory = resolve_bundle_path(args.model)
    files = {p.name: p.stat().st_size for p in directory.iterdir() if p.is_file()}
    total, served = sum(files.values()), sum(size for name, size in files.items() if name != "model.keras")
    questions = [t.question for t in load_tickets(args.questions).tickets]
    started = time.perf_counter()
    predictor = load_predictor(directory)
    load_seconds = time.perf_counter() - started
    rss_loaded, _ = _memory_mb()
    for q in questions[:200]:
        predictor.predict([q], top_k=3)
    timed = questions[200 : 200 + args.n] or questions[: args.n]
    single = []
    for q in timed:
        t = time.perf_counter()
        predictor.predict([q], top_k=3)
        single.append((time.perf_counter() - t) * 1000)
    rss, peak = _memory_mb()
    print(f"bundle {directory} (kind {predictor.kind})")
    print(f"size on disk: {total / 1e6:.1f} MB ({served / 1e6:.1f} MB without model.keras); "
          + ", ".join(f"{name} {size / 1e6:.1f}" for name, size in sorted(files.items(), key=lambda kv: -kv[1])[:5]))
    print(f"load: {load_seconds:.2f} s; resident memory after load {rss_loaded:.0f} MB, after predicting {rss:.0f} MB (peak {peak:.0f} MB)")
    print(f"single question predict, {len(single)} questions, in-process: {_percentiles(single)}")
    if predictor.kind == "hybrid":
        documents = [predictor.prepare(q) for q in timed]
        documents = [d for d in documents if d.has_content]
        for name, member in (("lstm member", predictor.lstm), ("n-gram member", predictor.linear)):
            ms = []
            for d in documents:
                t = time.perf_counter()
                member.logits([d])
                ms.append((time.perf_counter() - t) * 1000)
            print(f"  {name} forward pass alone: {_percentiles(ms)}")
    print(f"pid {os.getpid()}")


if __name__ == "__main__":
    main()
