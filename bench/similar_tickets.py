"""Similar past tickets on a dev file: same-category share, added time per question, index size.

Usage::

    .venv/bin/python bench/similar_tickets.py MODEL DEV.tsv [--size 50000 --pad FILE ...]

``MODEL`` is a bundle (or models directory) trained with the similar-tickets index
(:mod:`routing.similar`). For every dev question with content, in this one process:

* the question is prepared and routed as the API routes it (``predict_documents``), then the
  time of ``predictor.similar.search(tokens, predicted category, --n)`` alone is measured
  (``time.perf_counter``): what ``"similar"`` adds to a question already routed (the tokens are
  the routing's own);
* same-category share: how often the first similar ticket has the dev question's *true*
  category, with the bundle's rule (the predicted category boosted) and with plain BM25 (no
  preference), and, for comparison, the model's accuracy on the same questions;
* the index size on disk: the files under the bundle's ``similar/`` (the ``bm25s`` arrays and
  vocabulary, and ``tickets.json`` with the masked texts).

With ``--size N`` larger than the bundle's index, a second, timing-only index of ``N`` tickets
is built in memory: the bundle's own tickets (their stored masked questions, tokenized again
with the bundle's settings) followed by the questions of the ``--pad`` files in order, cut at
``N``; the search time is measured on it too (its same-category share is not meaningful when the
pad files include the dev file, so it is not printed). Not run in CI.
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
from routing.predictor import load_predictor  # noqa: E402
from routing.similar import SIMILAR_DIR, SimilarIndex  # noqa: E402


def percentile_ms(samples_ns: list[int], q: float) -> float:
    """The ``q``-th percentile of durations in nanoseconds, in milliseconds."""
    return float(np.percentile(np.asarray(samples_ns, dtype=np.float64), q)) / 1e6


def time_search(index: SimilarIndex, queries: list[tuple[list[str], str]], n: int) -> tuple[list[int], list[int], list]:
    """Each query's search wall time and CPU time of this process (ns), and result; 50 warm-up queries first."""
    for tokens, category in queries[:50]:
        index.search(tokens, category, n)
    times, cpu, results = [], [], []
    for tokens, category in queries:
        started, started_cpu = time.perf_counter_ns(), time.process_time_ns()
        found = index.search(tokens, category, n)
        times.append(time.perf_counter_ns() - started)
        cpu.append(time.process_time_ns() - started_cpu)
        results.append(found)
    return times, cpu, results


def timing(times: list[int], cpu: list[int]) -> str:
    """``p50 … ms, p99 … ms (CPU p50 … ms, p99 … ms)``."""
    return (f"p50 {percentile_ms(times, 50):.3f} ms, p99 {percentile_ms(times, 99):.3f} ms wall "
            f"(CPU of this process p50 {percentile_ms(cpu, 50):.3f} ms, p99 {percentile_ms(cpu, 99):.3f} ms; load average {os.getloadavg()[0]:.1f})")


def directory_bytes(path: Path) -> int:
    """Total size of the files directly under ``path``."""
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="bundle or models directory")
    parser.add_argument("dev", help="dev ticket file (with categories)")
    parser.add_argument("--n", type=int, default=3, help="similar tickets asked per question (default 3)")
    parser.add_argument("--size", type=int, default=0, help="also time a padded index of this many tickets")
    parser.add_argument("--pad", nargs="*", default=[], help="ticket files whose questions pad the timing index")
    args = parser.parse_args()

    predictor = load_predictor(args.model)
    index = predictor.similar
    if index is None:
        sys.exit(f"{args.model}: this bundle has no similar-tickets index (trained before it existed); train it again")
    tickets = load_tickets(args.dev).tickets
    documents = [predictor.prepare(t.question) for t in tickets]
    kept = [i for i, d in enumerate(documents) if d.has_content]
    predictions = predictor.predict_documents([documents[i] for i in kept])
    truth = [tickets[i].category for i in kept]
    queries = [(documents[i].tokens, p.category) for i, p in zip(kept, predictions)]

    times, cpu, results = time_search(index, queries, args.n)
    plain = [index.search(tokens, None, 1) for tokens, _ in queries]
    def share(found: list) -> float:
        return sum(bool(r) and r[0].category == t for r, t in zip(found, truth)) / len(truth)
    accuracy = sum(p.category == t for p, t in zip(predictions, truth)) / len(truth)
    empty = sum(not r for r in results)
    on_disk = predictor.path / SIMILAR_DIR
    print(f"model {predictor.version} ({predictor.kind}), index of {len(index):,} tickets, dev {args.dev}: {len(queries):,} questions with content")
    print(f"same category as the first similar ticket: {share(results):.4f} (predicted category boosted x{index.boost:g}), "
          f"{share(plain):.4f} (plain BM25); model accuracy {accuracy:.4f}; {empty} question(s) with no similar ticket")
    print(f"added time per question (search of {args.n}): {timing(times, cpu)}")
    print(f"index on disk: {directory_bytes(on_disk) / 1e6:.2f} MB under {on_disk} "
          f"(tickets.json {(on_disk / 'tickets.json').stat().st_size / 1e6:.2f} MB)")

    if args.size > len(index):
        texts = list(index.questions)
        for path in args.pad:
            texts.extend(t.question for t in load_tickets(path).tickets)
        padded_docs = [d for d in (predictor.prepare(q) for q in texts) if d.tokens][: args.size]
        if len(padded_docs) < args.size:
            print(f"warning: only {len(padded_docs):,} tickets available for the timing index (asked {args.size:,})")
        started = time.perf_counter()
        names = [str(i) for i in range(len(padded_docs))]
        categories = (index.categories * (len(padded_docs) // len(index) + 1))[: len(padded_docs)]
        padded = SimilarIndex.build([d.tokens for d in padded_docs], names, names, [None] * len(names), categories)
        built = time.perf_counter() - started
        times, cpu, _ = time_search(padded, queries, args.n)
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            padded.save(scratch)
            size = directory_bytes(Path(scratch) / SIMILAR_DIR)
        print(f"timing index of {len(padded):,} tickets ({len(index):,} of the bundle + {len(padded) - len(index):,} from {', '.join(args.pad)}; "
              f"built in {built:.1f} s): added time {timing(times, cpu)}; "
              f"on disk {size / 1e6:.2f} MB with question texts only")


if __name__ == "__main__":
    main()
