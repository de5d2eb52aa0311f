"""A small configuration sweep: train variants on one data set, print dev metrics.

Usage::

    .venv/bin/python bench/sweep.py --data-root ../shared/data --dataset jmultiwoz_routing \\
        --configs '[{}, {"model": {"pooling": "max"}}, {"class_weight": true}]'

Each config is a JSON object of :class:`training.config.TrainConfig` fields overriding the
defaults (``"model"`` overrides :class:`routing.lstm.ModelConfig` fields). Each config is trained
with :func:`training.run.train` on ``train.tsv`` with early stopping on ``dev.tsv`` (as
``toiawase train --dev`` does) into a temporary models directory, so the metrics are those of
the saved bundle, evaluated by :func:`training.evaluate.evaluate_predictor`. Prints one JSON line
per config: accuracy, macro-F1, epochs, training seconds. Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from routing.lstm import ModelConfig  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.run import train  # noqa: E402


def main() -> None:
    """Parse arguments and run each config in turn."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default="../shared/data")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--configs", default="[{}]", help="JSON list of config overrides.")
    args = parser.parse_args()
    folder = Path(args.data_root) / args.dataset
    for spec in json.loads(args.configs):
        spec = dict(spec)
        model = replace(ModelConfig(), **spec.pop("model", {}))
        config = replace(TrainConfig(), model=model, **spec)
        with tempfile.TemporaryDirectory() as models:
            result = train(str(folder / "train.tsv"), models, config, dev=str(folder / "dev.tsv"), log=lambda line: None, verbose=0)
        data = result.metrics["data"]
        print(json.dumps({"dataset": args.dataset, "config": config.to_dict(), "accuracy": round(result.metrics["accuracy"], 4),
                          "macro_f1": round(result.metrics["macro_f1"], 4), "epochs": data.get("epochs_run"),
                          "seconds": round(result.seconds, 1)}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
