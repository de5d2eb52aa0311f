"""Do the e-mail convention rules hurt routing? TF-IDF baseline with and without them.

Usage::

    .venv/bin/python bench/email_rules_effect.py --data-root ../shared/data

Trains ``training.baselines.make_baseline("tfidf_word_logreg")`` (TF-IDF word 1-2-grams on the
MeCab tokens of the shared preprocessing + LogisticRegression(C=10)) twice per data set: with the
first bundles' rules (``RULES_V1``) and with today's ``DEFAULT_RULES`` (the e-mail rules added),
everything else equal. Real data: train.tsv → dev.tsv. Sample tickets: 5-fold stratified cross
validation (shuffled, seed 0), mean over the folds. Prints accuracy and macro-F1, and how many
questions the new rules changed. Not run in CI (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402

from preprocessing.cleaning import DEFAULT_RULES, RULES_V1  # noqa: E402
from preprocessing.datasets import load_tickets  # noqa: E402
from preprocessing.pipeline import PreprocessSettings  # noqa: E402
from training.baselines import baseline_inputs, make_baseline  # noqa: E402
from training.data import prepare_examples  # noqa: E402

NAME = "tfidf_word_logreg"
RULE_LISTS = {"without e-mail rules (RULES_V1)": RULES_V1, "with e-mail rules (DEFAULT_RULES)": DEFAULT_RULES}


def examples(path: str, rules):
    """Cleaned and tokenized examples of ``path`` (rows without words dropped, as training does)."""
    return prepare_examples(load_tickets(path), PreprocessSettings(rules=rules), Counter(), skip_bad_rows=True)


def fit_score(train, dev) -> tuple[float, float]:
    """(accuracy, macro-F1) on ``dev`` of the baseline fitted on ``train``."""
    model = make_baseline(NAME).fit(baseline_inputs(NAME, train.tokens, train.cleaned), train.labels)
    predicted = model.predict(baseline_inputs(NAME, dev.tokens, dev.cleaned))
    return accuracy_score(dev.labels, predicted), f1_score(dev.labels, predicted, average="macro")


def main() -> None:
    """Parse arguments, train and print one line per data set and rule list."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--datasets", nargs="*", default=["jmultiwoz_routing", "mlit_defects"])
    args = parser.parse_args()
    print(f"{'data set':<28} {'rules':<36} {'accuracy':>8} {'macro-F1':>8} {'changed':>8}")
    for name in args.datasets:
        folder = Path(args.data_root) / name
        base = {split: examples(str(folder / f"{split}.tsv"), RULES_V1) for split in ("train", "dev")}
        for label, rules in RULE_LISTS.items():
            data = {split: examples(str(folder / f"{split}.tsv"), rules) for split in ("train", "dev")}
            changed = sum(a != b for split in data for a, b in zip(base[split].cleaned, data[split].cleaned))
            accuracy, macro_f1 = fit_score(data["train"], data["dev"])
            print(f"{name + ' (dev)':<28} {label:<36} {accuracy:>8.4f} {macro_f1:>8.4f} {changed:>8}", flush=True)
    sample = str(REPO / "data" / "sample" / "tickets.tsv")
    base = examples(sample, RULES_V1)
    for label, rules in RULE_LISTS.items():
        data = examples(sample, rules)
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0).split(np.zeros(len(data)), data.labels)
        scores = [fit_score(data.subset(train), data.subset(test)) for train, test in folds]
        accuracy, macro_f1 = np.mean(scores, axis=0)
        changed = sum(a != b for a, b in zip(base.cleaned, data.cleaned))
        print(f"{'sample tickets (5-fold CV)':<28} {label:<36} {accuracy:>8.4f} {macro_f1:>8.4f} {changed:>8}", flush=True)


if __name__ == "__main__":
    main()
