"""Making bundle versions for reload tests: copies of a real bundle under a new version, and broken ones."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path

from routing.bundle import MANIFEST, set_current

#: What serving writes into a models directory (the last good version, the feedback database):
#: left out when a test copies the session's models directory, which other tests serve.
RUNTIME_FILES = shutil.ignore_patterns(".last-good", ".last-good.*", "feedback.sqlite3*")


def copy_models(source: Path, target: Path) -> Path:
    """Copy a models directory (bundles and ``current``) without :data:`RUNTIME_FILES`; return ``target``."""
    shutil.copytree(source, target, symlinks=True, ignore=RUNTIME_FILES, dirs_exist_ok=True)
    return target


def copy_bundle(models: Path, version: str, source: str | None = None) -> Path:
    """Copy the bundle ``source`` (default: the one ``current`` points to) to ``models/version``,
    with ``version`` written into its ``bundle.json``: a second good bundle, same predictions."""
    source_dir = models / (source or os.readlink(models / "current"))
    target = models / version
    shutil.copytree(source_dir, target)
    manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    manifest["version"] = version
    (target / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return target


def broken_bundle(models: Path, version: str, damage: str = "empty-weights", source: str | None = None) -> Path:
    """A copy of a good bundle, then damaged: ``empty-weights`` (``weights.npz`` of 0 bytes, as in
    issue 12), ``no-vocabulary`` (``vocabulary.json`` removed), ``bad-manifest`` (not JSON) or
    ``bad-metrics`` (valid JSON, but the accuracy as a text: a hand edit of ``metrics.json``)."""
    target = copy_bundle(models, version, source)
    if damage == "empty-weights":
        (target / "weights.npz").write_bytes(b"")
    elif damage == "no-vocabulary":
        (target / "vocabulary.json").unlink()
    elif damage == "bad-manifest":
        (target / MANIFEST).write_text("{not json", encoding="utf-8")
    elif damage == "bad-metrics":
        metrics = json.loads((target / "metrics.json").read_text(encoding="utf-8"))
        metrics["accuracy"] = "91.2%"
        (target / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False), encoding="utf-8")
    else:
        raise ValueError(f"unknown damage {damage!r}")
    return target


def with_field(document: dict, field: str, value: object) -> dict:
    """A deep copy of a parsed JSON ``document`` with the dotted ``field`` (``"review.reasons"``)
    set to ``value``: a bundle file damaged in one place."""
    changed = copy.deepcopy(document)
    *parents, last = field.split(".")
    target = changed
    for key in parents:
        target = target[key]
    target[last] = value
    return changed


def point_current(models: Path, version: str) -> None:
    """Flip ``models/current`` to ``version`` atomically, even to a broken bundle (what
    ``set_current`` refuses only when ``bundle.json`` is missing)."""
    link = models / f".current.flip.{os.getpid()}"
    if link.is_symlink():
        link.unlink()
    os.symlink(version, link)
    os.replace(link, models / "current")


__all__ = ["broken_bundle", "copy_bundle", "point_current", "set_current", "with_field"]
