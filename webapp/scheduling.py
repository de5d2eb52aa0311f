"""Batches must not starve single questions: batch work in chunks that give way to other requests.

A worker's threads share one interpreter lock. A 100-question API call is about 50 ms of CPU
(about 0.25 ms of MeCab and 0.25 ms of network per question on the 2-core machine), a
1,000-question one about 0.5 s; run in one go, it holds the interpreter while the worker's other
threads wait for it, and a single question that needs a few milliseconds waited p50 126 ms, p99
1.47 s behind batches (issue 12). Here, per worker (per app, :class:`BatchScheduler` in
``app.extensions``):

* every request counts as *interactive* from its start (``before_request``) to its end
  (``teardown_request``), unless it declares itself a batch (:meth:`BatchScheduler.run_batch`);
* a batch is routed :data:`CHUNK` questions at a time; before each chunk it waits while
  interactive requests are in flight in this worker, at most :data:`MAX_YIELD` seconds per chunk
  so that batches still progress under a steady stream of single questions;
* the worker's interpreter switches threads every :data:`SWITCH_INTERVAL` seconds instead of
  5 ms (``sys.setswitchinterval``, set by :mod:`webapp.serve`), so a single question's thread
  gets the interpreter back sooner from a batch chunk in progress;
* across the workers of one server, each chunk computes under one shared lock
  (:class:`BatchAdmission`, a ``flock`` on a file that ``toiawase serve`` makes before gunicorn
  forks): the per-worker rule cannot see the other worker, whose batch chunks took the core a
  single question of this worker needed. At most one chunk computes at a time, so batches use
  about one core and interactive requests never wait for the lock.

Chosen by measurement over a separate low-priority process per worker for batches (``nice``
+10, the request thread waiting on it): with 4 clients sending 100-question calls back to back,
single questions took p50 12 ms / p99 62 ms here against p50 72 ms / p99 396 ms with the batch
process, for the same batch throughput (8.5 and 9.6 calls/s; ``bench/latency.py --batch-clients
4``, machine load average 10; README, "Load test").
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from flask import Flask, current_app, g

from routing.predictor import Prediction, Predictor

#: Questions routed between two chances for other requests to run (about 5 ms of CPU).
CHUNK = 16
#: Longest wait of one batch chunk for interactive requests to finish, in seconds: short, since a
#: waiting batch holds one of the worker's threads.
MAX_YIELD = 0.02
#: The interpreter's thread switch interval in the workers, in seconds (Python's default: 0.005).
SWITCH_INTERVAL = 0.001

EXTENSION = "toiawase.scheduler"
#: Flask config key: the path of the lock file shared by the workers of one server (``None``:
#: batches are limited per worker only). Set by :func:`webapp.serve.run_gunicorn`.
BATCH_LOCK_CONFIG = "BATCH_LOCK_PATH"

T = TypeVar("T")
R = TypeVar("R")


class BatchAdmission:
    """At most one batch chunk computing at a time across every process that opens ``path``.

    A ``flock(2)`` exclusive lock on the file ``path``, taken on a descriptor opened for each
    chunk: ``flock`` locks belong to the open file description, so two threads of one worker, or
    two workers, exclude each other alike (Linux ``flock(2)``), and the kernel drops the lock of
    a worker that dies while holding it (gunicorn's timeout kills with SIGKILL), so no batch can
    wait forever on a dead worker. Waiting in ``flock`` releases the interpreter lock.

    Args:
        path: the lock file (created if missing; its content is never read or written).

    Raises:
        OSError: from :meth:`admitted` when the file cannot be opened or created.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold the lock for the ``with`` block: blocks while another chunk, in any process, holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the last descriptor of the open file description unlocks it


class BatchScheduler:
    """Interactive requests in flight, and the batches that give way to them (one per app).

    Args:
        chunk: items per chunk of a batch (≥ 1).
        max_yield: seconds a chunk waits at most for interactive requests (≥ 0).
        admission: the lock shared by the server's workers that each chunk computes under
            (:class:`BatchAdmission`); ``None``: chunks of different workers run at once.

    Raises:
        ValueError: for a chunk under 1 or a negative ``max_yield``.
    """

    def __init__(self, chunk: int = CHUNK, max_yield: float = MAX_YIELD, admission: BatchAdmission | None = None) -> None:
        if chunk < 1 or max_yield < 0:
            raise ValueError("chunk must be at least 1 and max_yield at least 0")
        self.chunk = chunk
        self.max_yield = max_yield
        self.admission = admission
        self._idle = threading.Condition()
        self._interactive = 0

    @property
    def interactive(self) -> int:
        """Interactive requests in flight now."""
        return self._interactive

    def begin(self) -> None:
        """An interactive request starts."""
        with self._idle:
            self._interactive += 1

    def end(self) -> None:
        """An interactive request ends (or turns out to be a batch)."""
        with self._idle:
            self._interactive = max(0, self._interactive - 1)
            if self._interactive == 0:
                self._idle.notify_all()

    def give_way(self) -> float:
        """Wait until no interactive request is in flight, at most ``max_yield`` seconds; return the seconds waited."""
        began = time.monotonic()
        with self._idle:
            self._idle.wait_for(lambda: self._interactive == 0, timeout=self.max_yield)
        return time.monotonic() - began

    def run_batch(self, items: Sequence[T], work: Callable[[Sequence[T]], list[R]], interactive: bool = False) -> list[R]:
        """``work`` over ``items`` chunk by chunk, giving way to interactive requests between chunks.

        Args:
            items: the batch (e.g. checked questions).
            work: maps a chunk to one result per item, in order.
            interactive: whether the calling request is counted as interactive now (then it
                stops counting as such while the batch runs, and counts again afterwards).

        Returns:
            The results of every chunk, concatenated in order.
        """
        if interactive:
            self.end()
        try:
            results: list[R] = []
            for start in range(0, len(items), self.chunk):
                self.give_way()
                if self.admission is None:
                    results.extend(work(items[start:start + self.chunk]))
                    continue
                with self.admission.admitted():
                    results.extend(work(items[start:start + self.chunk]))
            return results
        finally:
            if interactive:
                self.begin()


def init_app(app: Flask, scheduler: BatchScheduler | None = None) -> BatchScheduler:
    """Count ``app``'s requests as interactive and keep its scheduler in ``app.extensions``.

    Without a ``scheduler``, a new one whose chunks take the lock file of the config's
    :data:`BATCH_LOCK_CONFIG` if set (:class:`BatchAdmission`).
    """
    if scheduler is None:
        lock_path = app.config.get(BATCH_LOCK_CONFIG)
        scheduler = BatchScheduler(admission=BatchAdmission(lock_path) if lock_path else None)
    app.extensions[EXTENSION] = scheduler
    app.before_request(_begin)
    app.teardown_request(_end)
    return scheduler


def _begin() -> None:
    current_app.extensions[EXTENSION].begin()
    g.counted_interactive = True


def _end(_error: BaseException | None) -> None:
    if g.pop("counted_interactive", False):
        current_app.extensions[EXTENSION].end()


def run_batch(items: Sequence[T], work: Callable[[Sequence[T]], list[R]]) -> list[R]:
    """:meth:`BatchScheduler.run_batch` with the current app's scheduler, for the current request.

    Outside an app with a scheduler (e.g. a script), runs ``work(items)`` at once.
    """
    scheduler: BatchScheduler | None = current_app.extensions.get(EXTENSION)
    if scheduler is None:
        return work(items)
    return scheduler.run_batch(items, work, interactive=bool(g.get("counted_interactive")))


def route_batch(predictor: Predictor, questions: Sequence[str], top_k: int, threshold: float | None) -> list[Prediction]:
    """Route several questions in chunks that give way to interactive requests (:func:`run_batch`).

    The questions are prepared (cleaned, tokenized) chunk by chunk, then routed chunk by chunk in
    the order of their token counts, and the predictions put back in the input order. The
    recurrent member computes questions of one length together
    (:meth:`routing.lstm.RecurrentNetwork.logits`), so a chunk of 16 questions of mixed lengths
    costs about as many passes as it has lengths: profiled on 100-question calls of the load
    test's questions (demo model), the network took half of the request's CPU time in 1105 passes
    for 140 chunks; sorted, chunks hold few lengths.

    Returns:
        One prediction per question, as ``predictor.predict(questions, top_k, threshold)``.
    """
    documents = run_batch(list(questions), lambda chunk: [predictor.prepare(q) for q in chunk])
    order = sorted(range(len(documents)), key=lambda i: len(documents[i].tokens))
    routed = run_batch([documents[i] for i in order], lambda chunk: predictor.predict_documents(chunk, top_k, threshold))
    predictions: list[Prediction | None] = [None] * len(documents)
    for position, index in enumerate(order):
        predictions[index] = routed[position]
    return predictions  # type: ignore[return-value]  # every position is filled
