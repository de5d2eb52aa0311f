"""A small configuration sweep: train variants of the LSTM on one data set, print dev metrics.

Usage::

    .venv/bin/python bench/sweep.py --data-root ../shared/data --dataset jmultiwoz_routing \\
        --configs '[{}, {"model": {"pooling": "max"}}, {"class_weight": true}]'

Each config is a JSON object of :class:`training.config.TrainConfig` fields overriding the
defaults (``"model"`` overrides :class:`training.config.ModelConfig` fields). The questions are
cleaned and tokenized once per token form; each config is trained on ``train.tsv`` with early
stopping on ``dev.tsv`` (as ``toiawase train --dev`` does) and evaluated on ``dev.tsv`` through
the fast path. Prints one JSON line per config: accuracy, macro-F1, epochs, training seconds.
This is how the defaults in BENCHMARKS.md were chosen; not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from preprocessing.datasets import load_tickets  # noqa: E402
from preprocessing.pipeline import PreprocessSettings  # noqa: E402
from training.config import ModelConfig, TrainConfig  # noqa: E402
from training.data import prepare_examples  # noqa: E402
from training.evaluate import evaluate_predictions  # noqa: E402
from training.fastpath import RecurrentRouter  # noqa: E402
from training.model import export_weights  # noqa: E402
from training.train import fit_router  # noqa: E402


def main() -> None:
    """Parse arguments and run each config in turn."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--configs", default="[{}]", help="JSON list of config overrides.")
    args = parser.parse_args()
    folder = Path(args.data_root) / args.dataset
    prepared: dict[str, tuple] = {}
    for spec in json.loads(args.configs):
        spec = dict(spec)
        model = replace(ModelConfig(), **spec.pop("model", {}))
        config = replace(TrainConfig(), model=model, **spec)
        if config.token_form not in prepared:
            settings = PreprocessSettings(token_form=config.token_form)
            prepared[config.token_form] = tuple(
                prepare_examples(load_tickets(str(folder / name)), settings, Counter()) for name in ("train.tsv", "dev.tsv")
            )
        train, dev = prepared[config.token_form]
        categories = sorted(set(train.labels))
        started = time.perf_counter()
        keras_model, vocabulary, seq_len, history, _ = fit_router(train, dev, categories, config, log=lambda line: None, verbose=0)
        seconds = time.perf_counter() - started
        router = RecurrentRouter(config.model, export_weights(keras_model, config.model))
        ids = [vocabulary.encode(tokens, seq_len) or [1] for tokens in dev.tokens]
        predicted = [categories[i] for i in router.predict_proba(ids).argmax(axis=1)]
        metrics = evaluate_predictions(dev.labels, predicted, categories)
        print(json.dumps({"dataset": args.dataset, "config": config.to_dict(), "accuracy": round(metrics["accuracy"], 4),
                          "macro_f1": round(metrics["macro_f1"], 4), "epochs": len(history["loss"]),
                          "seconds": round(seconds, 1), "seq_len": seq_len}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
