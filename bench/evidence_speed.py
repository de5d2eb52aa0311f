"""Time of the words behind a prediction (occlusion, :mod:`routing.evidence`) for a long question.

Usage::

    .venv/bin/python bench/evidence_speed.py MODEL [--data FILE] [--tokens 100] [--repeats 200]

A question of exactly ``--tokens`` MeCab tokens is made from the questions of ``--data`` (default
the sample tickets), joined in file order and prepared with the bundle's settings, its tokens
then cut to that length. ``routing.evidence.occlusion`` on it (one batched call of the
predictor with the whole question and each of its one-token-shorter versions) is timed
``--repeats`` times after 5 warm-up calls, in wall time (``time.perf_counter``) and in this
process's CPU time (``time.process_time``: on a shared machine the wall clock also counts the
time other processes hold the cores); p50, p99 (and the wall mean) are printed in milliseconds
(goal: p50 ≤ 20 ms for 100 tokens). The model reads at most its
``token_limit`` tokens (an LSTM's sequence length): tokens beyond it are not re-scored, which
the output says. ``--blas-threads 1`` runs with one BLAS thread (as ``toiawase predict``'s
workers do): on a busy 2-core machine OpenBLAS's own two threads cost an LSTM several times the
CPU time. Not run in CI.
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
from preprocessing.pipeline import Document  # noqa: E402
from routing.evidence import occlusion  # noqa: E402
from routing.predictor import load_predictor  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="bundle or models directory")
    parser.add_argument("--data", default=str(REPO / "data" / "sample" / "tickets.tsv"), help="ticket file the question is made from")
    parser.add_argument("--tokens", type=int, default=100, help="tokens of the question (default 100)")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls (default 200)")
    parser.add_argument("--blas-threads", type=int, default=None, help="limit BLAS threads (threadpoolctl; default: the library's own)")
    args = parser.parse_args()
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.blas_threads)

    predictor = load_predictor(args.model)
    tokens: list[str] = []
    cleaned: list[str] = []
    for ticket in load_tickets(args.data).tickets:
        document = predictor.prepare(ticket.question)
        tokens.extend(document.tokens)
        cleaned.append(document.cleaned)
        if len(tokens) >= args.tokens:
            break
    if len(tokens) < args.tokens:
        sys.exit(f"{args.data}: only {len(tokens)} tokens in the whole file")
    document = Document(" ".join(cleaned), tokens[: args.tokens])
    category = predictor.predict_documents([document])[0].category
    for _ in range(5):
        occlusion(predictor, document, category)
    times, cpu = [], []
    for _ in range(args.repeats):
        started, started_cpu = time.perf_counter_ns(), time.process_time_ns()
        evidence = occlusion(predictor, document, category)
        times.append(time.perf_counter_ns() - started)
        cpu.append(time.process_time_ns() - started_cpu)
    ms = np.asarray(times, dtype=np.float64) / 1e6
    cpu_ms = np.asarray(cpu, dtype=np.float64) / 1e6
    limit = predictor.token_limit
    rescored = args.tokens if limit is None else min(args.tokens, limit)
    top = max(evidence, key=lambda e: e.effect or 0.0)
    print(f"model {predictor.version} ({predictor.kind}); question of {args.tokens} tokens routed to {category}; "
          f"{rescored} occlusions re-scored in one call ({'no token limit' if limit is None else f'token limit {limit}'})")
    print(f"occlusion wall time: p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms, mean {ms.mean():.2f} ms over {args.repeats} calls")
    print(f"occlusion CPU time of this process: p50 {np.percentile(cpu_ms, 50):.2f} ms, p99 {np.percentile(cpu_ms, 99):.2f} ms "
          f"(the wall time also counts other processes holding the cores; load average {os.getloadavg()[0]:.1f})")
    from threadpoolctl import threadpool_info

    print("BLAS threads: " + ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()))
    print(f"largest positive effect: {top.token!r} {top.effect:+.4f}")


if __name__ == "__main__":
    main()
