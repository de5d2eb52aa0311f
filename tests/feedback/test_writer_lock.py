"""SQLite writers queue on one lock across threads and processes (feedback/writer_lock.py)."""

from __future__ import annotations

import multiprocessing
import threading

from feedback import FeedbackStore
from feedback.writer_lock import WriterLock


def _hold(database, held, release) -> None:
    """In a forked process: take the write turn, say so, keep it until ``release`` is set."""
    with WriterLock(database):
        held.set()
        release.wait(10)


def test_a_writer_of_another_process_waits_for_the_holder_and_then_writes(tmp_path):
    database = tmp_path / "feedback.sqlite3"
    store = FeedbackStore.open(f"sqlite:///{database}")
    context = multiprocessing.get_context("fork")  # as gunicorn forks its workers
    held, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(database, held, release))
    holder.start()
    try:
        assert held.wait(10)
        ids: list[str] = []
        writer = threading.Thread(target=lambda: ids.append(store.log_prediction(question="配送はいつですか", model_version="v1", category="配送", probability=0.9)))
        writer.start()
        writer.join(0.5)
        assert ids == [], "the write must wait while another process holds the write turn"
        release.set()
        writer.join(10)
        assert len(ids) == 1 and len(ids[0]) == 32
        assert (tmp_path / "feedback.sqlite3-writelock").exists()
    finally:
        release.set()
        holder.join(10)
        store.close()


def test_a_killed_holder_does_not_block_writers(tmp_path):
    database = tmp_path / "feedback.sqlite3"
    context = multiprocessing.get_context("fork")
    held, release = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(database, held, release))
    holder.start()
    assert held.wait(10)
    holder.kill()
    holder.join(10)
    store = FeedbackStore.open(f"sqlite:///{database}")
    try:
        assert len(store.log_predictions([{"question": "返品したい", "model_version": "v1", "category": "返品", "probability": 0.8}] * 3)) == 3
    finally:
        store.close()


def test_without_a_writable_directory_threads_still_take_turns(tmp_path):
    lock = WriterLock(tmp_path / "missing" / "feedback.sqlite3")  # the lock file cannot be made
    inside: list[int] = []
    most: list[int] = []

    def write() -> None:
        for _ in range(20):
            with lock:
                inside.append(1)
                most.append(len(inside))
                inside.pop()

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(most) == 80 and max(most) == 1
