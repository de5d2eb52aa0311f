"""A tiny, loadable TF-IDF bundle written in milliseconds, for tests of the versions of a models directory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from preprocessing.pipeline import PreprocessSettings
from routing.bundle import BundleWriter

TERMS = ["荷物", "届き", "パスワード", "ログイン"]
CATEGORIES = ["アカウント", "配送"]


def write_bundle(models: Path, version: str, *, make_current: bool = True, metrics: dict | None = None,
                 train_file: str = "/srv/toiawase/tickets.tsv") -> Path:
    """Write bundle ``version`` (荷物/届き → 配送, パスワード/ログイン → アカウント) and return its directory.

    ``created_at`` is 02:00 UTC of the day the version name starts with.
    """
    manifest = {
        "format": 2, "kind": "tfidf", "version": version, "created_at": f"{version[:4]}-{version[4:6]}-{version[6:8]}T02:00:00+00:00",
        "categories": CATEGORIES, "preprocessing": PreprocessSettings().to_dict(),
        "model": {"ngram_range": [1, 1], "sublinear_tf": False}, "category_merge": None, "train_config": {"kind": "tfidf"},
        "train_file": train_file,
    }
    coef = np.array([[0.0, 2.0], [0.0, 2.0], [2.0, 0.0], [2.0, 0.0]])
    with BundleWriter(models, version) as writer:
        writer.write_json("bundle.json", manifest)
        writer.write_json("terms.json", TERMS)
        writer.write_arrays("weights.npz", {"idf": np.ones(4), "coef": coef, "intercept": np.zeros(2)})
        if metrics is not None:
            writer.write_json("metrics.json", metrics)
        return writer.commit(make_current=make_current)
