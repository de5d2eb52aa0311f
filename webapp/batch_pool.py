"""Batch questions routed in a separate process at a lower CPU priority, so they never starve single ones.

Within one gunicorn worker, every thread shares one interpreter lock: a 100-question batch
(about 50 ms of CPU on the 2-core machine; a 1,000-question one about 0.5 s) delays every single
question that arrives meanwhile, and no cooperative scheme in the same process removes that
(measured in the README, "Load test"). Here each worker owns a :class:`BatchPool`: one child
process (``multiprocessing`` *spawn*: a fresh interpreter, nothing inherited from the threaded
worker) that runs at ``nice`` +10 (``os.nice``), so the kernel's scheduler runs the workers'
single questions first whenever both want a core, and batches use what is left. The request
thread that waits for the batch releases the interpreter lock, so the worker's other threads go on
serving.

The child routes with the very bundle the request started with: the request passes its
predictor's directory, and the child (re)loads that directory when it differs from the one it
holds (:func:`_route`), so a live reload (:mod:`webapp.reload`) never mixes two models in one
answer. If the child cannot do it (it died, or the bundle cannot be loaded there), the batch is
routed in the worker itself, so no request fails because of the pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from routing.bundle import BundleError
from routing.predictor import Prediction, Predictor, load_predictor

#: CPU niceness added to the batch process (Linux: +10 gives it about a tenth of a core's share
#: next to a busy process of niceness 0).
NICENESS = 10
#: Seconds a batch may take in the child before the worker routes it itself.
TIMEOUT = 25.0

# The child process's one loaded model: (bundle directory, predictor). Lives only in the child.
_child_model: list[tuple[str, Predictor]] = []


def _start_child(niceness: int) -> None:
    """Initializer of the child process: lower its CPU priority."""
    os.nice(niceness)


def _route(bundle: str, questions: list[str], top_k: int, threshold: float | None) -> list[Prediction]:
    """In the child: route ``questions`` with the bundle at ``bundle`` (loaded on first use or change).

    Raises:
        BundleError: if that bundle cannot be loaded.
    """
    if not _child_model or _child_model[0][0] != bundle:
        _child_model[:] = [(bundle, load_predictor(Path(bundle)))]
    return _child_model[0][1].predict(questions, top_k, threshold=threshold)


def _warm(bundle: str) -> str:
    """In the child: import everything and load ``bundle`` before the first batch."""
    _route(bundle, ["起動時の確認です"], 1, None)
    return bundle


class BatchPool:
    """One low-priority child process routing batches for one worker (see the module docstring).

    Args:
        logger: where a failing child is reported.
        processes: child processes (1 per worker is enough on 2 cores).
        niceness: added to the children's niceness.
    """

    def __init__(self, logger: logging.Logger, processes: int = 1, niceness: int = NICENESS) -> None:
        self.logger = logger
        self.processes = processes
        self.niceness = niceness
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_child, initargs=(self.niceness,),
                )
            return self._executor

    def warm(self, predictor: Predictor | None) -> None:
        """Start the child and load ``predictor``'s bundle there, without waiting."""
        if predictor is not None:
            self._pool().submit(_warm, str(predictor.path))

    def route(self, predictor: Predictor, questions: list[str], top_k: int, threshold: float | None) -> list[Prediction]:
        """Route ``questions`` with ``predictor``'s bundle in the child; in this process if the child fails.

        Returns:
            One prediction per question, as ``predictor.predict(questions, top_k, threshold)``.
        """
        try:
            return self._pool().submit(_route, str(predictor.path), list(questions), top_k, threshold).result(timeout=TIMEOUT)
        except BrokenProcessPool:
            self.logger.error("the batch process died; routing this batch in the worker and starting a new one")
            with self._lock:
                self._executor = None
        except BundleError as exc:
            self.logger.warning("the batch process cannot load the bundle (%s); routing this batch in the worker", exc)
        except TimeoutError:
            self.logger.warning("the batch process took over %.0f s; routing this batch in the worker", TIMEOUT)
        return predictor.predict(questions, top_k, threshold=threshold)

    def close(self) -> None:
        """Stop the child (at worker exit)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
