"""Concurrent-write load test of the feedback store (used by the tests; runnable by hand).

Each of ``threads`` threads performs ``writes`` iterations of what the web app does for one
question an agent reviews: :meth:`~feedback.FeedbackStore.log_prediction` then
:meth:`~feedback.FeedbackStore.record_feedback` with a unique idempotency key. It counts the
calls that returned (acknowledged), the errors, and the latency of each feedback write. After
the run, rows stored must equal calls acknowledged.

Several processes (as several gunicorn workers) can share one run: start each with the same
``--barrier DIR --parties N``; each opens its own store only once all N are ready, so the
schema creation races too.

Usage::

    python -m feedback.loadtest --url sqlite:////tmp/fb/feedback.sqlite3 --threads 32 --writes 50
    python -m feedback.loadtest --url postgresql+psycopg://user@127.0.0.1:5432/db --synchronous NORMAL

Prints one JSON object (see :class:`LoadResult`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from feedback.config import StoreConfig
from feedback.store import FeedbackStore

QUESTIONS: tuple[tuple[str, str, str], ...] = (
    # (masked question, predicted category, the agents' category)
    ("注文した商品がまだ届きません", "配送", "配送"),
    ("クレジットカードの請求が二重になっています", "支払い", "支払い"),
    ("パスワードを忘れてログインできません", "アカウント", "アカウント"),
    ("届いた商品が壊れていたので返金してほしい", "配送", "返品・返金"),
    ("アプリが起動直後に落ちます", "技術的なトラブル", "技術的なトラブル"),
)


@dataclass
class LoadResult:
    """Outcome of :func:`run_load`.

    Attributes:
        threads, writes: the load (iterations per thread).
        predictions_acknowledged: ``log_prediction`` calls that returned an id.
        feedback_acknowledged: ``record_feedback`` calls that returned a new row.
        errors: one ``"ExceptionType: message"`` per failed call (first 20 kept), and
            ``error_count`` the total.
        seconds: wall-clock time of the whole run.
        feedback_ms_p50, feedback_ms_p95, feedback_ms_max: latency of ``record_feedback`` (ms).
    """

    threads: int
    writes: int
    predictions_acknowledged: int = 0
    feedback_acknowledged: int = 0
    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    feedback_ms_p50: float = 0.0
    feedback_ms_p95: float = 0.0
    feedback_ms_max: float = 0.0

    @property
    def transactions_per_second(self) -> float:
        """Write transactions (predictions + feedback) acknowledged per second."""
        return (self.predictions_acknowledged + self.feedback_acknowledged) / self.seconds if self.seconds else 0.0

    def to_json(self) -> str:
        """The result as one line of JSON (with ``transactions_per_second``)."""
        data = asdict(self)
        data["transactions_per_second"] = round(self.transactions_per_second, 1)
        return json.dumps(data, ensure_ascii=False)


def run_load(store: FeedbackStore, threads: int = 32, writes: int = 50, tag: str = "load") -> LoadResult:
    """Run ``threads`` × ``writes`` (log_prediction + record_feedback) against ``store``.

    Args:
        tag: prefix of the idempotency keys (``<tag>-<thread>-<i>``); must differ between
            runs and processes sharing a database, or the feedback is (correctly) deduplicated.

    Returns:
        A :class:`LoadResult`; errors are counted, never raised.
    """
    result = LoadResult(threads=threads, writes=writes)
    lock = threading.Lock()
    latencies: list[float] = []
    start = threading.Barrier(threads)

    def worker(number: int) -> None:
        mine: list[float] = []
        predictions = feedback = 0
        errors: list[str] = []
        start.wait()
        for i in range(writes):
            question, predicted, actual = QUESTIONS[(number + i) % len(QUESTIONS)]
            try:
                prediction_id = store.log_prediction(
                    question=question, model_version="loadtest", category=predicted, probability=0.8312,
                    top_k=[(predicted, 0.8312), ("その他", 0.1688)], source="api",
                )
                predictions += 1
                began = time.perf_counter()
                stored = store.record_feedback(
                    prediction_id=prediction_id, action="confirm" if actual == predicted else "correct",
                    agent_category=actual, idempotency_key=f"{tag}-{number}-{i}", agent=f"agent{number}",
                )
                mine.append((time.perf_counter() - began) * 1000)
                feedback += int(stored.created)
            except Exception as error:  # counted and reported: the point of a load test
                errors.append(f"{type(error).__name__}: {error}"[:300])
        with lock:
            result.predictions_acknowledged += predictions
            result.feedback_acknowledged += feedback
            result.error_count += len(errors)
            result.errors.extend(errors[: max(0, 20 - len(result.errors))])
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(n,), name=f"load-{n}") for n in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    result.seconds = round(time.perf_counter() - began, 3)
    if latencies:
        ordered = sorted(latencies)
        result.feedback_ms_p50 = round(statistics.median(ordered), 2)
        result.feedback_ms_p95 = round(ordered[int(0.95 * (len(ordered) - 1))], 2)
        result.feedback_ms_max = round(ordered[-1], 2)
    return result


def wait_for_parties(directory: Path, parties: int, timeout: float = 120.0) -> None:
    """A barrier across processes: create ``directory/<pid>``, wait until ``parties`` files exist.

    Raises:
        TimeoutError: fewer than ``parties`` processes arrived within ``timeout`` seconds.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / str(os.getpid())).touch()
    deadline = time.monotonic() + timeout
    while len(list(directory.iterdir())) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(list(directory.iterdir()))} of {parties} processes reached {directory}")
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    """Command line: see the module docstring. Exit status 0 when no call failed, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m feedback.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the store")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--writes", type=int, default=50, help="iterations per thread")
    parser.add_argument("--tag", default=f"load{os.getpid()}", help="idempotency key prefix (unique per process)")
    parser.add_argument("--synchronous", default=StoreConfig.sqlite_synchronous, help="SQLite PRAGMA synchronous (FULL, NORMAL)")
    parser.add_argument("--barrier", type=Path, help="directory used as a barrier between processes")
    parser.add_argument("--parties", type=int, default=1, help="processes to wait for at --barrier")
    args = parser.parse_args(argv)
    if args.barrier is not None:
        wait_for_parties(args.barrier, args.parties)
    config = StoreConfig(sqlite_synchronous=args.synchronous)
    with FeedbackStore.open(args.url, config) as store:
        result = run_load(store, args.threads, args.writes, args.tag)
    print(result.to_json(), flush=True)
    return 0 if result.error_count == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
