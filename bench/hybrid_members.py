"""Dev quality of a ``hybrid`` bundle's members alone and fused.

Usage::

    .venv/bin/python bench/hybrid_members.py --model /tmp/hy_jm --data ../shared/data/jmultiwoz_routing/dev.tsv

Routes every question of the labeled ticket file with the LSTM member alone (argmax of its
scores: what kind ``lstm`` trained with the same seed and settings would answer, temperature
changes no argmax), the n-gram member alone (the linear SVM), and the fusion as served (with the
bundle's member weights); prints accuracy and macro-F1 of each
(:func:`training.evaluate.evaluate_predictions`). With ``--weights 0.1 0.3 0.5``, also the fusion
with each of those LSTM weights (the n-gram member gets the rest; the argmax, which the final
temperature does not change): how the weight the holdout chose compares on this file. Questions
with no content get no category, as when served.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from preprocessing.datasets import load_tickets  # noqa: E402
from routing.hybrid import fuse  # noqa: E402
from routing.predictor import load_predictor  # noqa: E402
from training.evaluate import evaluate_predictions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="Bundle directory or models directory of kind hybrid.")
    parser.add_argument("--data", required=True, help="Labeled ticket file (e.g. dev.tsv).")
    parser.add_argument("--weights", nargs="*", type=float, default=[], help="LSTM weights of extra fusions to score (each in [0, 1]).")
    args = parser.parse_args()
    predictor = load_predictor(args.model)
    if predictor.kind != "hybrid":
        parser.error(f"{args.model} is of kind {predictor.kind}, not hybrid")
    tickets = load_tickets(args.data).tickets
    documents = [predictor.prepare(t.question) for t in tickets]
    rows = [i for i, d in enumerate(documents) if d.has_content]
    scored = [documents[i] for i in rows]
    lstm, linear = predictor.member_logits(scored)
    fused = predictor.probabilities(scored)
    labels = [t.category for t in tickets]
    print(f"{args.data}: {len(tickets)} questions ({len(tickets) - len(rows)} without content)")
    print(f"member temperatures {predictor.member_temperatures}, member weights {predictor.member_weights}, "
          f"final temperature {predictor.temperature:.3f}")
    extra = [(f"fused, lstm {w:g}", fuse([lstm, linear], predictor.member_temperatures, [w, 1.0 - w])) for w in args.weights]
    for name, scores in (("lstm member", lstm), ("n-gram member", linear), ("fused (served)", fused), *extra):
        predicted: list[str | None] = [None] * len(tickets)
        for i, j in zip(rows, scores.argmax(axis=1)):
            predicted[i] = predictor.categories[j]
        metrics = evaluate_predictions(labels, [p or "" for p in predicted], predictor.categories)
        print(f"{name:16s} accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}")


if __name__ == "__main__":
    main()
