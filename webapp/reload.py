"""Live reload: each worker follows ``models/current`` without a signal and without a dropped request.

A :class:`ModelHolder` owns the worker's loaded model (the app's one piece of mutable state). At
the start of each request (:meth:`ModelHolder.state`), at most every ``interval`` seconds (2 s),
one thread looks at where ``current`` points (one ``readlink``; a ``stat`` of ``bundle.json``
when ``current`` is a plain directory). When that changed, the same thread loads the new bundle
(about 30 ms for the demo model) while the other threads keep answering with the old one, then
swaps in the new :class:`ModelState` with one assignment. A request takes its state once, at its
start (``g.model_state``), so it uses one predictor from start to end.

A new bundle that does not load (missing or damaged file, unknown kind: ``BundleError``) is
refused: the last good model keeps serving, the error is logged once per bad target (not every
2 s), and the state says ``degraded`` with the reason, which ``/healthz`` answers with status
200 so that load balancers keep the instance. When ``current`` later points to a good bundle,
it is loaded and the state is ``ok`` again.

The last good version survives a restart of the workers (``kill -HUP`` to gunicorn's master,
or a worker that gunicorn replaces): after every successful load from a models directory, the
worker writes the version's name into ``models/.last-good`` (:data:`LAST_GOOD`; a temporary file
renamed over it, atomic on POSIX). A worker that starts while ``current`` is broken loads that
version instead and reports ``degraded``. Writing is best effort: on a read-only models directory
a warning is logged once and a restart onto a broken ``current`` serves the "no model" answers
(503), but nothing crashes.

Reasons shown to clients (``/healthz``, the pages) never contain absolute server paths: the
models directory is cut from them (``20261123-101500-ab12cd/weights.npz: ...``) and any other
absolute path is shortened to its last part (:func:`public_reason`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from routing.bundle import CURRENT, MANIFEST, BundleError
from routing.predictor import Predictor, load_predictor

#: Seconds between two looks at ``current`` in one worker.
CHECK_INTERVAL = 2.0
#: File in the models directory naming the last bundle a worker loaded successfully.
LAST_GOOD = ".last-good"

_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/(?:[^\s/:'\"()]+/)*([^\s/:'\"()]+)")


@dataclass(frozen=True)
class ModelState:
    """What one worker serves at one moment (immutable; a reload swaps in a new one).

    Attributes:
        path: the ``MODEL_PATH`` (models or bundle directory) as configured.
        predictor: the model answering questions, or ``None`` (then the API answers 503).
        error: why no model is loaded (for people: no absolute paths), or ``None``.
        refused: why the bundle ``current`` points to now is not served although a model is
            (degraded; no absolute paths), or ``None``.
    """

    path: str
    predictor: Predictor | None
    error: str | None = None
    refused: str | None = None

    @property
    def status(self) -> str:
        """``"ok"``, ``"degraded"`` (a model serves, but not the one ``current`` names) or ``"no_model"``."""
        if self.predictor is None:
            return "no_model"
        return "degraded" if self.refused else "ok"

    @property
    def display_path(self) -> str:
        """The configured directory's own name (``models``), for pages: no absolute server path."""
        return Path(self.path).name or self.path


def public_reason(message: str, root: str | os.PathLike) -> str:
    """``message`` without absolute server paths: ``root`` (the models directory) and its
    parent are cut from paths under them, other absolute paths keep only their last part.

    Example:
        >>> public_reason("/srv/m/20261123-1/weights.npz: incomplete or damaged bundle", "/srv/m")
        '20261123-1/weights.npz: incomplete or damaged bundle'
        >>> public_reason("/etc/x/y.json: missing", "/srv/m")
        'y.json: missing'
    """
    text = str(message)
    roots = {str(Path(root)), str(Path(root).resolve())}
    for base in sorted(roots, key=len, reverse=True):
        if base not in ("/", "."):
            text = text.replace(base.rstrip("/") + "/", "").replace(base, Path(base).name)
    return _ABSOLUTE_PATH.sub(lambda match: match.group(1), text)


def _target(path: Path) -> tuple[str, ...] | None:
    """Where ``path`` (a models directory) has ``current`` pointing, cheaply; ``None``: no ``current``.

    A symlink gives ``("link", target)``; a plain directory ``("dir", inode, mtime_ns)`` of its
    ``bundle.json``. Raises nothing: an unreadable ``current`` is ``("unreadable", reason)``.
    """
    current = path / CURRENT
    try:
        return ("link", os.readlink(current))
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:
        stat = os.stat(current / MANIFEST)
    except FileNotFoundError:
        return ("dir", "no manifest")
    except OSError as exc:
        return ("unreadable", f"{type(exc).__name__}: {exc.strerror}")
    return ("dir", str(stat.st_ino), str(stat.st_mtime_ns))


class ModelHolder:
    """The loaded model of one app (one gunicorn worker) and its live reload.

    Args:
        path: ``MODEL_PATH``: a models directory (its ``current`` is followed) or a bundle
            directory (loaded once, never reloaded).
        logger: where loads, refusals and fallbacks are logged.
        interval: seconds between two looks at ``current`` (:data:`CHECK_INTERVAL`).
        clock: monotonic seconds (tests may pass another clock).
    """

    def __init__(self, path: str | os.PathLike, logger: logging.Logger, interval: float = CHECK_INTERVAL, clock=time.monotonic) -> None:
        self.path = str(path)
        self.root = Path(path)
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.follows_current = not (self.root / MANIFEST).is_file()
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._target: tuple[str, ...] | None = None
        self._logged: set[tuple[str, ...] | None] = set()
        self._warned_last_good = False
        self._state = self._load_at_start()

    # --- reading --------------------------------------------------------------------------

    def state(self) -> ModelState:
        """The state to serve a request with; looks at ``current`` first if ``interval`` has passed.

        Only one thread looks (and loads) at a time; the others get the state in force at once.
        """
        if self.follows_current and self.clock() >= self._next_check and self._lock.acquire(blocking=False):
            try:
                self._next_check = self.clock() + self.interval
                self._check()
            finally:
                self._lock.release()
        return self._state

    def peek(self) -> ModelState:
        """The state in force, without looking at ``current``."""
        return self._state

    @property
    def predictor(self) -> Predictor | None:
        """The predictor in force (``None`` without a model)."""
        return self._state.predictor

    # --- loading --------------------------------------------------------------------------

    def _load_at_start(self) -> ModelState:
        if not self.follows_current:
            try:
                predictor = load_predictor(self.root)
            except BundleError as exc:
                self.logger.warning("no model: %s", exc)
                return ModelState(self.path, None, public_reason(str(exc), self.root))
            self._loaded(predictor)
            return ModelState(self.path, predictor)
        self._target = _target(self.root)
        if self._target is None:
            message = f"{self.root}: no {CURRENT!r} bundle; train one with `toiawase train --data FILE --out {self.root}`"
            self.logger.warning("no model: %s", message)
            self._logged.add(None)
            return ModelState(self.path, None, public_reason(message, self.root))
        try:
            predictor = self._load_target(self._target)
        except BundleError as exc:
            return self._fall_back(exc)
        self._loaded(predictor)
        return ModelState(self.path, predictor)

    def _load_target(self, target: tuple[str, ...]) -> Predictor:
        """Load the bundle ``target`` names (the link's own target, not ``current`` again, so a
        flip between the look and the load cannot mix two bundles)."""
        if target[0] == "link":
            directory = Path(target[1]) if os.path.isabs(target[1]) else self.root / target[1]
            if not (directory / MANIFEST).is_file() and not directory.is_dir():
                raise BundleError(f"{self.root / CURRENT} → {target[1]}: no such bundle directory")
            return load_predictor(directory)
        if target[0] == "unreadable":
            raise BundleError(f"{self.root / CURRENT}: unreadable ({target[1]})")
        return load_predictor(self.root / CURRENT)

    def _check(self) -> None:
        target = _target(self.root)
        if target == self._target:
            return
        self._target = target
        old = self._state
        if target is None:
            if target not in self._logged:
                self._logged.add(target)
                self.logger.warning("%s: %r was removed; still serving %s", self.root, CURRENT, old.predictor.version if old.predictor else "no model")
            if old.predictor is not None:
                self._state = ModelState(self.path, old.predictor, refused=f"{CURRENT!r} is missing from the models directory")
            return
        try:
            predictor = self._load_target(target)
        except BundleError as exc:
            reason = public_reason(str(exc), self.root)
            if target not in self._logged:
                self._logged.add(target)
                serving = old.predictor.version if old.predictor else "no model"
                self.logger.error("refused the new bundle, still serving %s: %s", serving, exc)
            if old.predictor is None:
                self._state = ModelState(self.path, None, reason)
            else:
                self._state = ModelState(self.path, old.predictor, refused=reason)
            return
        self._loaded(predictor, replacing=old.predictor.version if old.predictor else "no model")
        self._state = ModelState(self.path, predictor)

    def _fall_back(self, error: BundleError) -> ModelState:
        """Start-up with a broken ``current``: serve the last good version if there is one."""
        reason = public_reason(str(error), self.root)
        self._logged.add(self._target)
        try:
            version = (self.root / LAST_GOOD).read_text(encoding="utf-8").strip()
        except OSError:
            version = ""
        if version and "/" not in version and not version.startswith("."):
            try:
                predictor = load_predictor(self.root / version)
            except BundleError as exc:
                self.logger.error("the bundle %s refers to is not usable either: %s", LAST_GOOD, exc)
            else:
                self.logger.error("refused the bundle %r points to, serving the last good %s: %s", CURRENT, version, error)
                return ModelState(self.path, predictor, refused=reason)
        self.logger.error("no model: %s", error)
        return ModelState(self.path, None, reason)

    def _loaded(self, predictor: Predictor, replacing: str | None = None) -> None:
        """Log the load and remember the version as the last good one (best effort)."""
        if replacing is None:
            self.logger.info("model bundle %s (%s) loaded from %s", predictor.version, predictor.kind, predictor.path)
        else:
            self.logger.info("model bundle %s (%s) loaded from %s, replacing %s", predictor.version, predictor.kind, predictor.path, replacing)
        if not self.follows_current:
            return
        marker = self.root / LAST_GOOD
        name = Path(predictor.path).name
        if name == CURRENT:
            return  # ``current`` is a plain directory: there is no version name to fall back to
        try:
            if marker.read_text(encoding="utf-8").strip() == name:
                return
        except OSError:
            pass
        temporary = self.root / f"{LAST_GOOD}.{os.getpid()}"
        try:
            temporary.write_text(name + "\n", encoding="utf-8")
            os.replace(temporary, marker)
        except OSError as exc:
            if not self._warned_last_good:
                self._warned_last_good = True
                self.logger.warning("cannot record the last good bundle in %s (%s); a restart onto a broken bundle will serve no model", marker, exc)
