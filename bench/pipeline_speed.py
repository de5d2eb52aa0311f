"""Throughput of cleaning and tokenization against raw MeCab wakati, on the real questions.

Usage::

    .venv/bin/python bench/pipeline_speed.py --data-root ../shared/data

For each data set folder under ``--data-root`` (its ``dev.tsv`` and ``train.tsv``, see its
README), on the raw questions of both files, in this one process:

* raw MeCab wakati: ``MeCab.Tagger('-r /dev/null -d <unidic_lite.DICDIR> -Owakati').parse(q)``
  (the reference: the C tokenizer alone, no Python around it);
* clean only: ``preprocessing.pipeline.clean_text`` with the default settings;
* clean + tokenize: ``preprocessing.pipeline.preprocess`` with the default settings (what
  serving runs per question);
* clean + tokenize in batches: ``preprocessing.pipeline.preprocess_batch`` over chunks of
  ``--batch`` questions (same tokens; for files and training);
* the ratios of the two clean + tokenize measures to raw MeCab (goal: at least 0.8).

Each figure is the best of ``--repeats`` passes over all questions, the three measures interleaved,
in questions per second of this process's CPU time (``time.process_time``): on a shared machine
the wall clock also counts the time other processes hold the cores, which would make the ratio a
measure of the neighbours. Not run in CI.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import MeCab  # noqa: E402
import unidic_lite  # noqa: E402

from preprocessing.datasets import load_tickets  # noqa: E402
from preprocessing.pipeline import PreprocessSettings, clean_text, preprocess, preprocess_batch  # noqa: E402


def best_rate(function, questions: list[str], repeats: int) -> float:
    """Questions per CPU second of ``function`` over ``questions``: the best of ``repeats`` passes."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for question in questions:
            function(question)
        best = min(best, time.process_time() - started)
    return len(questions) / best


def batch_rate(questions: list[str], settings: PreprocessSettings, batch: int) -> float:
    """Questions per CPU second of ``preprocess_batch`` over ``questions`` in chunks of ``batch``."""
    chunks = [questions[i : i + batch] for i in range(0, len(questions), batch)]
    started = time.process_time()
    for chunk in chunks:
        preprocess_batch(chunk, settings)
    return len(questions) / (time.process_time() - started)


def measure(questions: list[str], repeats: int, batch: int) -> dict[str, float]:
    """Throughputs (questions/s) of raw MeCab, clean only and clean + tokenize, and the ratios."""
    tagger = MeCab.Tagger(f'-r /dev/null -d "{unidic_lite.DICDIR}" -Owakati')
    settings = PreprocessSettings()
    preprocess(questions[0], settings)  # builds this thread's Tagger and compiles the rules
    rates = {}
    # Interleaved so that a slow phase of the machine hits all three alike.
    for _ in range(repeats):
        for name, function in (
            ("mecab", tagger.parse),
            ("clean", lambda q: clean_text(q, settings)),
            ("clean_tokenize", lambda q: preprocess(q, settings)),
        ):
            rates[name] = max(rates.get(name, 0.0), best_rate(function, questions, 1))
        rates["batch"] = max(rates.get("batch", 0.0), batch_rate(questions, settings, batch))
    rates["ratio"] = rates["clean_tokenize"] / rates["mecab"]
    rates["batch_ratio"] = rates["batch"] / rates["mecab"]
    return rates


def main() -> None:
    """Parse arguments, measure each data set, print one table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="*", default=["jmultiwoz_routing", "mlit_defects"])
    parser.add_argument("--repeats", type=int, default=5, help="Passes over the questions per measure (best one kept).")
    parser.add_argument("--batch", type=int, default=2048, help="Questions per preprocess_batch call.")
    args = parser.parse_args()
    print(
        f"{'data set':<18} {'questions':>9} {'MeCab wakati/s':>15} {'clean/s':>9} {'clean+tokenize/s':>17} {'ratio':>6} "
        f"{'batched/s':>10} {'ratio':>6}"
    )
    for name in args.datasets:
        folder = Path(args.data_root) / name
        questions = [t.question for f in ("dev.tsv", "train.tsv") for t in load_tickets(str(folder / f)).tickets]
        rates = measure(questions, args.repeats, args.batch)
        print(
            f"{name:<18} {len(questions):>9,} {rates['mecab']:>15,.0f} {rates['clean']:>9,.0f} "
            f"{rates['clean_tokenize']:>17,.0f} {rates['ratio']:>6.2f} {rates['batch']:>10,.0f} {rates['batch_ratio']:>6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
