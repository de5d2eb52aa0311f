"""Throughput of cleaning and tokenization against raw MeCab wakati, on the real questions.

Usage::

    .venv/bin/python bench/pipeline_speed.py --data-root ../shared/data

For each data set folder under ``--data-root`` (its ``dev.tsv`` and ``train.tsv``, see its
README), on the raw questions of both files, in this one process:

* raw MeCab wakati: ``MeCab.Tagger('-r /dev/null -d <unidic_lite.DICDIR> -Owakati').parse(q)``
  (the reference: the C tokenizer alone, no Python around it);
* clean only: ``preprocessing.pipeline.clean_text`` with the default settings;
* clean + tokenize: ``preprocessing.pipeline.preprocess`` with the default settings (what
  training and serving run per question);
* the ratio of clean + tokenize to raw MeCab (goal: at least 0.8).

Each figure is the best of ``--repeats`` passes over all questions (the least disturbed by other
processes on a shared machine), in questions per second. Not run in CI.
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
from preprocessing.pipeline import PreprocessSettings, clean_text, preprocess  # noqa: E402


def best_rate(function, questions: list[str], repeats: int) -> float:
    """Questions per second of ``function`` over ``questions``: the best of ``repeats`` passes."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for question in questions:
            function(question)
        best = min(best, time.perf_counter() - started)
    return len(questions) / best


def measure(questions: list[str], repeats: int) -> dict[str, float]:
    """Throughputs (questions/s) of raw MeCab, clean only and clean + tokenize, and the ratio."""
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
    rates["ratio"] = rates["clean_tokenize"] / rates["mecab"]
    return rates


def main() -> None:
    """Parse arguments, measure each data set, print one table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="*", default=["jmultiwoz_routing", "mlit_defects"])
    parser.add_argument("--repeats", type=int, default=5, help="Passes over the questions per measure (best one kept).")
    args = parser.parse_args()
    print(f"{'data set':<20} {'questions':>9} {'MeCab wakati/s':>15} {'clean/s':>10} {'clean+tokenize/s':>17} {'ratio':>6}")
    for name in args.datasets:
        folder = Path(args.data_root) / name
        questions = [t.question for f in ("dev.tsv", "train.tsv") for t in load_tickets(str(folder / f)).tickets]
        rates = measure(questions, args.repeats)
        print(
            f"{name:<20} {len(questions):>9,} {rates['mecab']:>15,.0f} {rates['clean']:>10,.0f} "
            f"{rates['clean_tokenize']:>17,.0f} {rates['ratio']:>6.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
