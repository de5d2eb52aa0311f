"""The model bundle's file format: one directory per version, written atomically, read safely.

A bundle is one directory per version under a models directory::

    models/20261122-101500-ab12cd/
      bundle.json          the manifest: format, kind, version, created_at, categories (output
                           order), preprocessing settings, the kind's parameters ("model"),
                           category merge, training config, data fingerprint
      metrics.json         evaluation on the validation data (and the baselines beside it)
      weights.npz          the kind's arrays (float32), read by its predictor in ``routing``
      ...                  the kind's other files (an LSTM: vocabulary.json, model.keras), plots
      train_questions.npz  fingerprints of the normalized training questions (see
                           :mod:`routing.fingerprints`), for the overlap check of an evaluation
    models/current  →  20261122-101500-ab12cd   (a symlink, switched after a complete write)
    models/previous →  20261121-101500-cd34ef   (what ``current`` pointed at before the last switch)

A bundle is written by :class:`BundleWriter` into a hidden temporary sibling directory and
renamed into place (``rename`` is atomic within one file system, POSIX), then ``current`` is
replaced by an atomic symlink swap, so a reader never sees a half-written bundle and a crash
mid-write leaves the last good one served. The temporary directory is named
``.<version>.<pid>.<random>``: a later run can tell a dead writer's leftovers (its process is
gone) from a live writer's work (:func:`routing.versions.prune`).

Format history (``bundle.json["format"]``):

* 1: the LSTM only; ``seq_len`` at the top level, the network's shape in
  ``train_config["model"]``. Still read: :func:`read_manifest` upgrades it in memory.
* 2: ``kind`` names the model kind; its parameters live under ``model``; ``category_merge``
  records ``--keep-categories``.

This module knows files, not models: :func:`routing.predictor.load_predictor` turns a bundle
directory into a predictor of its kind. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

import numpy as np

#: The format this code writes; :data:`READABLE_FORMATS` are the ones it reads.
BUNDLE_FORMAT = 2
READABLE_FORMATS = (1, 2)
CURRENT = "current"
PREVIOUS = "previous"
MANIFEST = "bundle.json"
METRICS = "metrics.json"
ARRAYS = "weights.npz"
#: The plot files a bundle may hold (each optional; the web app serves only these names).
PLOTS = ("training_curves.png", "confusion_matrix.png", "reliability_diagram.png", "risk_coverage.png")


class BundleError(Exception):
    """A path is not a usable model bundle: missing, incomplete, damaged or of an unknown format.

    The message starts with the directory or file at fault and says what is wrong with it.
    """


def resolve_bundle_path(path: str | os.PathLike) -> Path:
    """Return the bundle directory for ``path``: a bundle itself, or a models directory's ``current``.

    Raises:
        BundleError: if neither is found, with a hint on how to train one.
    """
    path = Path(path)
    if (path / MANIFEST).is_file():
        return path
    current = path / CURRENT
    if (current / MANIFEST).is_file():
        return current.resolve()
    if not path.exists():
        raise BundleError(f"{path}: no such model bundle or models directory; train one with `toiawase train --data FILE --out {path}`")
    raise BundleError(f"{path}: not a model bundle (no {MANIFEST}) and no {CURRENT!r} bundle inside; train one with `toiawase train`")


def is_number(value: object) -> bool:
    """Whether a parsed JSON value is a finite number (``true``/``false`` are not, though Python
    counts ``bool`` as ``int``; ``NaN`` and ``Infinity``, which Python's ``json`` reads, are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_count(value: object) -> bool:
    """Whether a parsed JSON value is an integer ≥ 0 (``true``/``false`` are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_json(directory: Path, name: str) -> object:
    """Parse the JSON file ``directory/name``.

    Raises:
        BundleError: naming the file if it is missing, unreadable or not valid JSON.
    """
    path = directory / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: missing (incomplete or damaged bundle)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"{path}: incomplete or damaged bundle ({type(exc).__name__}: {exc})") from None


def read_arrays(directory: Path, name: str = ARRAYS) -> dict[str, np.ndarray]:
    """Load every array of the ``.npz`` file ``directory/name`` into memory.

    Raises:
        BundleError: naming the file if it is missing or not a readable NumPy archive (an empty
            or truncated file raises ``EOFError``/``BadZipFile`` inside NumPy).
    """
    path = directory / name
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileNotFoundError:
        raise BundleError(f"{path}: missing (incomplete or damaged bundle)") from None
    except Exception as exc:  # zipfile.BadZipFile, EOFError, ValueError, OSError: all mean "damaged"
        raise BundleError(f"{path}: incomplete or damaged bundle ({type(exc).__name__}: {exc})") from None


def read_manifest(directory: Path) -> dict:
    """Read ``bundle.json`` and return it in the current format (a format-1 manifest is upgraded).

    Returns:
        The manifest with at least ``format`` (= :data:`BUNDLE_FORMAT`), ``kind``, ``version``,
        ``created_at``, ``categories``, ``preprocessing`` and ``model``.

    Raises:
        BundleError: naming the file for a missing, damaged or unknown-format manifest.
    """
    manifest = read_json(directory, MANIFEST)
    path = directory / MANIFEST
    if not isinstance(manifest, dict):
        raise BundleError(f"{path}: incomplete or damaged bundle (not a JSON object)")
    found = manifest.get("format")
    if found not in READABLE_FORMATS:
        raise BundleError(f"{path}: bundle format {found!r}, this toiawase reads {', '.join(map(str, READABLE_FORMATS))}; train the model again with this version")
    if found == 1:
        manifest = _upgrade_format_1(manifest)
    missing = [key for key in ("kind", "version", "created_at", "categories", "preprocessing", "model") if key not in manifest]
    if missing:
        raise BundleError(f"{path}: incomplete or damaged bundle (no {', '.join(missing)})")
    for key in ("kind", "version", "created_at"):
        if not isinstance(manifest[key], str):
            raise BundleError(f"{path}: incomplete or damaged bundle ({key} is {manifest[key]!r:.60}, not a text)")
    return manifest


def _upgrade_format_1(manifest: dict) -> dict:
    """Format 1 (LSTM only) → 2: ``kind``, the network and ``seq_len`` under ``model``, ``category_merge``."""
    upgraded = dict(manifest)
    train_config = manifest.get("train_config", {})
    upgraded["format"] = BUNDLE_FORMAT
    upgraded["kind"] = "lstm"
    upgraded["model"] = {"network": train_config.get("model", {}), "seq_len": manifest.get("seq_len")}
    keep = train_config.get("keep_categories") or []
    upgraded["category_merge"] = {"keep": list(keep), "other": train_config.get("other_label", "その他")} if keep else None
    return upgraded


def new_version(fingerprint: str, now: datetime | None = None) -> str:
    """A version name ``YYYYMMDD-HHMMSS-<first 6 hex of the data fingerprint>`` (UTC).

    Example:
        >>> new_version("ab12cd34", datetime(2026, 11, 22, 10, 15, tzinfo=timezone.utc))
        '20261122-101500-ab12cd'
    """
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{fingerprint[:6]}"


def unique_version(models_dir: str | os.PathLike, fingerprint: str) -> str:
    """:func:`new_version`, with ``-2``, ``-3``... appended if that directory already exists
    (the same data retrained within the same second)."""
    base = version = new_version(fingerprint)
    suffix = 2
    while (Path(models_dir) / version).exists():
        version, suffix = f"{base}-{suffix}", suffix + 1
    return version


class BundleWriter:
    """Write one bundle atomically: files go to a hidden temporary directory, :meth:`commit` renames it.

    Use as a context manager; leaving the block without :meth:`commit` (or with an exception)
    removes the temporary directory, so nothing half-written is ever left under a version name::

        with BundleWriter(models, version) as writer:
            writer.write_json("bundle.json", manifest)
            writer.write_arrays("weights.npz", arrays)
            predictor = load_predictor(writer.path)   # the bundle can be read before it is published
            writer.write_json("metrics.json", evaluate(predictor))
            final = writer.commit()

    The temporary directory is named ``.<version>.<pid>.<random>``: the writer's process id, so
    that a later writer can tell the leftovers of a killed one (``kill -9`` skips the clean-up)
    from a live one's and remove them (:func:`remove_dead_leftovers`, run when a writer starts).

    Args:
        models_dir: the models directory (created if missing).
        version: the bundle's directory name (see :func:`new_version`).

    Attributes:
        removed_leftovers: names of dead writers' leftovers removed when this writer started.

    Raises:
        FileExistsError: if that version already exists.
    """

    def __init__(self, models_dir: str | os.PathLike, version: str) -> None:
        self.models_dir = Path(models_dir)
        self.version = version
        self.models_dir.mkdir(parents=True, exist_ok=True)
        if (self.models_dir / version).exists():
            raise FileExistsError(f"{self.models_dir / version} already exists")
        self.removed_leftovers = remove_dead_leftovers(self.models_dir)
        # The writer's pid in the name: a later run can tell a dead writer's leftovers from ours.
        self.path = Path(tempfile.mkdtemp(prefix=f".{version}.{os.getpid()}.", dir=self.models_dir))
        self.committed: Path | None = None

    def write_json(self, name: str, document: object) -> None:
        """Write ``document`` as UTF-8 JSON (Japanese kept readable, indented) to ``name``."""
        (self.path / name).write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    def write_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Write ``arrays`` as an uncompressed NumPy ``.npz`` archive ``name``."""
        np.savez(self.path / name, **arrays)

    def copy_file(self, name: str, source: str | os.PathLike) -> None:
        """Copy an existing file (a plot, ...) into the bundle as ``name``.

        Raises:
            FileNotFoundError: if ``source`` does not exist.
        """
        shutil.copyfile(source, self.path / name)

    def commit(self, make_current: bool = True) -> Path:
        """Publish the bundle under its version name and (by default) point ``current`` at it.

        Returns:
            The bundle directory ``models_dir/version``.

        Raises:
            BundleError: if no ``bundle.json`` was written.
            OSError: if the rename fails (the temporary directory is then removed on exit).
        """
        if not (self.path / MANIFEST).is_file():
            raise BundleError(f"{self.path}: no {MANIFEST} written; refusing to publish an incomplete bundle")
        # bandit B103: a directory (mkdtemp made it 0o700) the serving user must read; only its owner writes.
        os.chmod(self.path, 0o755)  # nosec B103
        final = self.models_dir / self.version
        os.rename(self.path, final)
        self.committed = final
        if make_current:
            set_current(self.models_dir, self.version)
        return final

    def __enter__(self) -> "BundleWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self.committed is None:
            shutil.rmtree(self.path, ignore_errors=True)


def set_current(models_dir: str | os.PathLike, version: str) -> None:
    """Atomically point ``models_dir/current`` at ``version``, recording the old target as ``previous``.

    Two atomic steps, in this order (each a symlink made aside, then renamed over the old one
    with ``os.replace``, atomic on POSIX): ``previous`` → the version ``current`` pointed at
    (when that is another complete bundle), then ``current`` → ``version``. A crash between
    the two leaves ``previous`` = ``current``, both complete bundles; never a dangling pointer.

    Raises:
        BundleError: if ``models_dir/version`` is not a complete bundle.
    """
    models_dir = Path(models_dir)
    if not (models_dir / version / MANIFEST).is_file():
        raise BundleError(f"{models_dir / version}: not a complete bundle")
    old = link_target(models_dir, CURRENT)
    if old is not None and old != version and (models_dir / old / MANIFEST).is_file():
        replace_link(models_dir, PREVIOUS, old)
    replace_link(models_dir, CURRENT, version)


def link_target(models_dir: str | os.PathLike, name: str) -> str | None:
    """The version name a pointer ``models_dir/name`` (``current``, ``previous``) names, or ``None``.

    ``None`` when there is no such symlink; the target is returned as stored (a version
    directory name, relative to ``models_dir``).
    """
    link = Path(models_dir) / name
    return os.readlink(link) if link.is_symlink() else None


def replace_link(models_dir: str | os.PathLike, name: str, target: str) -> None:
    """Atomically make ``models_dir/name`` a symlink to ``target``: made aside as ``.<name>.<pid>``, then ``os.replace``.

    Raises:
        OSError: if the link cannot be made or renamed (the old one is then untouched).
    """
    models_dir = Path(models_dir)
    aside = models_dir / f".{name}.{os.getpid()}"
    if aside.is_symlink() or aside.exists():
        aside.unlink()
    os.symlink(target, aside)
    os.replace(aside, models_dir / name)


#: Hidden leftovers of a writer identified by its process id: a bundle's temporary directory
#: ``.<version>.<pid>.<random>`` (:class:`BundleWriter`), or the temporary link
#: ``.current.<pid>``, ``.previous.<pid>`` (:func:`replace_link`) or file ``.last-good.<pid>`` (the web app's).
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)(?:\.(?P<random>[A-Za-z0-9_]+))?$")
#: Hidden temporary directories of writers from before process ids were in the names
#: (``.<version>.<random>``) are removed once older than this (seconds).
LEGACY_LEFTOVER_AGE = 24 * 3600


def _process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (``kill(pid, 0)``, POSIX)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_dead_leftovers(models_dir: str | os.PathLike, now: float | None = None) -> list[str]:
    """Remove what killed writers left in ``models_dir``; return the names removed.

    Removed: hidden entries whose name carries the id of a process that no longer exists
    (``.<version>.<pid>.<random>`` directories, ``.current.<pid>``/``.previous.<pid>`` links, ``.last-good.<pid>``
    files), and hidden ``.<version>.<random>`` directories of the older naming once they are
    :data:`LEGACY_LEFTOVER_AGE` old. Never touches visible entries (published bundles,
    ``current``) nor a live process's entries. Process ids are this machine's: do not share a
    models directory between machines while they write to it.

    Example:
        >>> import tempfile, pathlib
        >>> models = pathlib.Path(tempfile.mkdtemp())
        >>> (models / ".20261122-101500-ab12cd.999999999.x1y2").mkdir()
        >>> (models / f".20261122-101500-ab12cd.{os.getpid()}.live").mkdir()
        >>> remove_dead_leftovers(models)
        ['.20261122-101500-ab12cd.999999999.x1y2']
    """
    models_dir = Path(models_dir)
    now = time.time() if now is None else now
    removed = []
    try:
        entries = sorted(models_dir.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith(".") or name in (".", ".."):
            continue
        match = _LEFTOVER.match(name)
        dead = bool(match) and not _process_alive(int(match.group("pid")))
        if not match and entry.is_dir() and not entry.is_symlink() and name.count(".") >= 2:
            try:
                dead = now - entry.stat().st_mtime > LEGACY_LEFTOVER_AGE
            except OSError:
                dead = False
        if not dead:
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            continue
        removed.append(name)
    return removed
