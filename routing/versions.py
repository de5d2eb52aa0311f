"""The versions in a models directory: listing, promotion, rollback, pruning, and the directory's lock.

A models directory holds one bundle directory per version (:mod:`routing.bundle`) and two
pointers, symlinks to version names::

    models/
      20261121-020000-cd34ef/   20261122-020000-ab12cd/   ...   bundles (name = UTC time + data)
      current  → 20261122-020000-ab12cd                         served
      previous → 20261121-020000-cd34ef                         what current was before
      reports/                                                  re-training reports
      training-data/                                            what re-trained bundles learned from
      .toiawase.lock                                            the lock of retrain/promote/rollback/prune

Every pointer switch goes through :func:`routing.bundle.set_current` (two atomic symlink
swaps, ``previous`` first). Promotion and rollback refuse a bundle that does not load
(:func:`routing.predictor.load_predictor`), so ``current`` never points at a bundle the web app
cannot serve.

The lock (:func:`models_lock`) is an advisory ``fcntl.flock`` on ``.toiawase.lock`` (Linux
``flock(2)``): the kernel releases it when its holder exits, even when killed, so a crash never
leaves the directory locked. It serialises the commands that change the directory
(``toiawase retrain``, ``models promote``, ``rollback``, ``prune``); readers (the web app,
``predict``) never take it: the symlink swaps are atomic for them.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from routing.bundle import CURRENT, MANIFEST, METRICS, PREVIOUS, BundleError, link_target, read_manifest, set_current
from routing.metrics_check import check_metrics

#: The lock file, the reports folder and the re-training data folder inside a models directory.
LOCK_FILE = ".toiawase.lock"
REPORTS_DIR = "reports"
TRAINING_DATA_DIR = "training-data"

#: A writer's temporary bundle directory (``BundleWriter``): ``.<version>.<pid>.<random>``;
#: before pids were recorded: ``.<version>.<random>``.
_PARTIAL = re.compile(r"^\.(?P<version>\d{8}-\d{6}-[0-9a-f]+(?:-\d+)?)\.(?:(?P<pid>\d+)\.)?(?P<random>[A-Za-z0-9_]+)$")
#: A pointer made aside by ``routing.bundle.replace_link``: ``.current.<pid>``, ``.previous.<pid>``.
_ASIDE_LINK = re.compile(rf"^\.(?:{CURRENT}|{PREVIOUS})\.(?P<pid>\d+)$")
#: A version directory being removed by :func:`prune` (renamed first): ``.removing.<version>.<pid>``.
_REMOVING = re.compile(r"^\.removing\..+\.(?P<pid>\d+)$")
#: A partial directory without a pid is left to a writer for this long (seconds) before pruning.
LEGACY_PARTIAL_AGE = 24 * 3600


class VersionError(Exception):
    """A version command cannot be done: no such version, no previous version, nothing to do.

    The message names the models directory or version directory at fault.
    """


class LockBusy(Exception):
    """Another process holds the models directory's lock. The message names the lock file and the holder."""


@contextmanager
def models_lock(models_dir: str | os.PathLike, command: str, wait: bool = False) -> Iterator[Path]:
    """Hold the models directory's exclusive lock for the block (``fcntl.flock`` on :data:`LOCK_FILE`).

    The lock file records the holder (``pid command start-time``) for the message others get.

    Args:
        models_dir: the models directory (created if missing).
        command: what takes the lock (``"retrain"``, ``"promote"``...), for that message.
        wait: block until the lock is free instead of failing.

    Yields:
        The lock file's path.

    Raises:
        LockBusy: the lock is held and ``wait`` is false.
    """
    directory = Path(models_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            holder = path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
            raise LockBusy(f"{path}: locked by another toiawase command ({holder}); try again later or pass --wait") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} {command} since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


def current_version(models_dir: str | os.PathLike) -> str | None:
    """The version ``current`` points at, or ``None``."""
    return link_target(models_dir, CURRENT)


def previous_version(models_dir: str | os.PathLike) -> str | None:
    """The version ``previous`` points at, or ``None``."""
    return link_target(models_dir, PREVIOUS)


@dataclass(frozen=True)
class VersionInfo:
    """One bundle of a models directory, as ``toiawase models list`` shows it.

    Attributes:
        version: the directory name.
        kind: the model kind, or ``None`` if the manifest cannot be read.
        created_at: ISO 8601 training time (UTC), or ``None``.
        train_file: the training ticket file recorded in the bundle (as given to training), or ``None``.
        train_rows: usable rows of that file (after dropping bad rows and merging), or ``None``.
        macro_f1, accuracy: on the bundle's own validation data (``metrics.json``), or ``None``.
        ece: expected calibration error after calibration on that data, or ``None``.
        validation: what those metrics were measured on (``"dev file"``...), or ``None``.
        current, previous: what the pointers name.
        error: why the bundle cannot be read (``BundleError`` message), else ``None``.
    """

    version: str
    kind: str | None
    created_at: str | None
    train_file: str | None
    train_rows: int | None
    macro_f1: float | None
    accuracy: float | None
    ece: float | None
    validation: str | None
    current: bool
    previous: bool
    error: str | None = None

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of the attributes."""
        return asdict(self)


def bundle_versions(models_dir: str | os.PathLike) -> list[str]:
    """Names of the bundle directories (with a ``bundle.json``, not hidden, not a pointer), oldest first.

    Version names start with the UTC time of training, so name order is time order.
    """
    directory = Path(models_dir)
    if not directory.is_dir():
        return []
    return sorted(
        entry.name for entry in directory.iterdir()
        if not entry.name.startswith(".") and not entry.is_symlink() and entry.is_dir() and (entry / MANIFEST).is_file()
    )


def version_info(models_dir: str | os.PathLike, version: str) -> VersionInfo:
    """Read one bundle's :class:`VersionInfo` (a damaged bundle gets ``error``, not an exception)."""
    directory = Path(models_dir)
    marks = {"current": current_version(directory) == version, "previous": previous_version(directory) == version}
    try:
        manifest = read_manifest(directory / version)
        metrics_path = directory / version / METRICS
        metrics = check_metrics(json.loads(metrics_path.read_text(encoding="utf-8")), metrics_path) if metrics_path.is_file() else {}
    except BundleError as error:
        return VersionInfo(version, None, None, None, None, None, None, None, None, **marks, error=str(error))
    except (OSError, ValueError) as error:
        return VersionInfo(version, None, None, None, None, None, None, None, None, **marks,
                           error=f"{directory / version / METRICS}: damaged ({type(error).__name__}: {error})")
    data = metrics.get("data") or {}
    counts = data.get("file_counts")
    calibration = metrics.get("calibration") or {}
    return VersionInfo(
        version=version,
        kind=manifest.get("kind"),
        created_at=manifest.get("created_at"),
        train_file=manifest.get("train_file") or data.get("train_file"),
        train_rows=int(sum(counts.values())) if isinstance(counts, dict) else None,
        macro_f1=metrics.get("macro_f1"),
        accuracy=metrics.get("accuracy"),
        ece=calibration.get("ece_after"),
        validation=data.get("dev_file") or data.get("validation"),
        **marks,
    )


def list_versions(models_dir: str | os.PathLike) -> list[VersionInfo]:
    """Every bundle of ``models_dir``, newest first (see :class:`VersionInfo`)."""
    return [version_info(models_dir, version) for version in reversed(bundle_versions(models_dir))]


@dataclass(frozen=True)
class Switch:
    """A change of ``current``: what it pointed at before, and what now."""

    before: str | None
    current: str
    previous: str | None


def promote(models_dir: str | os.PathLike, version: str) -> Switch:
    """Point ``current`` at ``version`` (``previous`` then names the old current).

    Raises:
        VersionError: ``models_dir/version`` is not a bundle directory of ``models_dir``.
        BundleError: it does not load (:func:`routing.predictor.load_predictor`; names the file).
    """
    from routing.predictor import load_predictor

    directory = Path(models_dir)
    if not version or "/" in version or version.startswith(".") or version in (CURRENT, PREVIOUS):
        raise VersionError(f"{version!r} is not a version name (see `toiawase models list --models {directory}`)")
    if not (directory / version).is_dir():
        raise VersionError(f"{directory / version}: no such version (see `toiawase models list --models {directory}`)")
    load_predictor(directory / version)
    before = current_version(directory)
    set_current(directory, version)
    return Switch(before, version, previous_version(directory))


def rollback(models_dir: str | os.PathLike) -> Switch:
    """Swap ``current`` and ``previous``: serve the version served before the last switch.

    Raises:
        VersionError: there is no ``previous``, or it is the current version already.
        BundleError: the previous version does not load (names the file).
    """
    directory = Path(models_dir)
    target = previous_version(directory)
    if target is None:
        raise VersionError(f"{directory}: no previous version to roll back to")
    if target == current_version(directory):
        raise VersionError(f"{directory}: previous and current are both {target}; nothing to roll back")
    return promote(directory, target)


@dataclass(frozen=True)
class PruneResult:
    """What :func:`prune` removed and kept.

    Attributes:
        removed: version directories removed, oldest first.
        partials: hidden leftovers removed (temporary bundle directories and pointer links of
            dead processes), by name.
        training_data: files of ``training-data/`` no remaining bundle was trained on.
        kept: versions kept, newest first.
    """

    removed: list[str]
    partials: list[str]
    training_data: list[str]
    kept: list[str]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (``kill(pid, 0)``; a process of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_leftovers(models_dir: str | os.PathLike, now: float | None = None) -> list[str]:
    """Hidden entries a killed writer left behind, by name, sorted.

    * ``.<version>.<pid>.<random>`` directories of a :class:`routing.bundle.BundleWriter`
      whose process is gone (a live writer's directory is never listed);
    * ``.<version>.<random>`` directories (written before the pid was recorded) not modified
      for :data:`LEGACY_PARTIAL_AGE` seconds;
    * ``.current.<pid>`` / ``.previous.<pid>`` links of a pointer switch whose process is gone;
    * ``.removing.<version>.<pid>`` directories of a :func:`prune` whose process is gone.
    """
    directory = Path(models_dir)
    now = time.time() if now is None else now
    found = []
    for entry in directory.iterdir() if directory.is_dir() else ():
        partial, link, removing = _PARTIAL.match(entry.name), _ASIDE_LINK.match(entry.name), _REMOVING.match(entry.name)
        if removing and entry.is_dir() and not entry.is_symlink() and not _alive(int(removing.group("pid"))):
            found.append(entry.name)
        elif partial and entry.is_dir() and not entry.is_symlink():
            pid = partial.group("pid")
            if (pid is not None and not _alive(int(pid))) or (pid is None and now - entry.stat().st_mtime > LEGACY_PARTIAL_AGE):
                found.append(entry.name)
        elif link and entry.is_symlink() and not _alive(int(link.group("pid"))):
            found.append(entry.name)
    return sorted(found)


def _remove_tree(path: Path) -> None:
    """Remove a directory: renamed to a hidden name first, so it never looks like a half version."""
    hidden = path.with_name(f".removing.{path.name}.{os.getpid()}")
    os.rename(path, hidden)
    shutil.rmtree(hidden)


def prune(models_dir: str | os.PathLike, keep: int) -> PruneResult:
    """Remove all but the ``keep`` newest versions, never ``current`` nor ``previous``, and dead leftovers.

    Also removes the files of ``training-data/`` that no remaining bundle names as its
    training file (``toiawase retrain`` writes one per run). Reports are kept. Call it under
    :func:`models_lock` so that no retrain is writing meanwhile.

    Raises:
        ValueError: if ``keep`` is negative.
    """
    if keep < 0:
        raise ValueError(f"keep must be 0 or more, not {keep}")
    directory = Path(models_dir)
    versions = bundle_versions(directory)
    protected = {current_version(directory), previous_version(directory)}
    kept = set(versions[max(0, len(versions) - keep):] if keep else []) | (protected & set(versions))
    removed = [version for version in versions if version not in kept]
    for version in removed:
        _remove_tree(directory / version)
    partials = dead_leftovers(directory)
    for name in partials:
        path = directory / name
        if path.is_symlink():
            path.unlink()
        else:
            shutil.rmtree(path)
    training_data = _unused_training_data(directory, [v for v in versions if v in kept])
    for name in training_data:
        (directory / TRAINING_DATA_DIR / name).unlink()
    return PruneResult(removed, partials, training_data, sorted(kept, reverse=True))


def _unused_training_data(directory: Path, versions: list[str]) -> list[str]:
    """Files of ``training-data/`` that none of ``versions`` was trained on, sorted."""
    folder = directory / TRAINING_DATA_DIR
    if not folder.is_dir():
        return []
    used = set()
    for version in versions:
        try:
            train_file = read_manifest(directory / version).get("train_file")
        except BundleError:
            continue
        if train_file:
            used.add(Path(train_file).name)
    return sorted(entry.name for entry in folder.iterdir() if entry.is_file() and entry.name not in used)
