"""Batches give way to single questions (webapp/scheduling.py)."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from webapp.scheduling import BatchAdmission, BatchScheduler


def test_a_batch_chunk_waits_while_an_interactive_request_is_in_flight():
    scheduler = BatchScheduler(chunk=2, max_yield=5.0)
    scheduler.begin()  # a single question is being answered
    done: list[list[int]] = []
    worker = threading.Thread(target=lambda: done.append(scheduler.run_batch([1, 2, 3], lambda chunk: [x * 10 for x in chunk])))
    worker.start()
    time.sleep(0.3)
    assert done == [], "the batch must not start while the single question is in flight"
    scheduler.end()
    worker.join(timeout=5)
    assert done == [[10, 20, 30]]


def test_a_batch_waits_at_most_max_yield_per_chunk():
    scheduler = BatchScheduler(chunk=1, max_yield=0.05)
    scheduler.begin()  # never ends
    began = time.monotonic()
    assert scheduler.run_batch([1, 2, 3], lambda chunk: list(chunk)) == [1, 2, 3]
    assert 0.15 <= time.monotonic() - began < 3.0


def test_a_batch_request_does_not_wait_for_itself():
    scheduler = BatchScheduler(chunk=1, max_yield=5.0)
    scheduler.begin()  # the batch request itself, counted at its start
    began = time.monotonic()
    assert scheduler.run_batch([1, 2], lambda chunk: list(chunk), interactive=True) == [1, 2]
    assert time.monotonic() - began < 2.0
    assert scheduler.interactive == 1  # counted again afterwards, until its teardown


@pytest.mark.parametrize("arguments", [{"chunk": 0}, {"max_yield": -1}])
def test_bad_scheduler_settings_are_refused(arguments):
    with pytest.raises(ValueError):
        BatchScheduler(**arguments)


def _hold_admission(path, held, release) -> None:
    """In a forked process: take the admission lock, say so, and keep it until ``release`` is set."""
    with BatchAdmission(path).admitted():
        held.set()
        release.wait(10)


def test_the_batch_admission_is_held_by_one_process_at_a_time(tmp_path):
    context = multiprocessing.get_context("fork")  # as gunicorn forks its workers
    held, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_admission, args=(tmp_path / "batch.lock", held, release))
    holder.start()
    try:
        assert held.wait(10)
        scheduler = BatchScheduler(chunk=2, max_yield=0.0, admission=BatchAdmission(tmp_path / "batch.lock"))
        done: list[list[str]] = []
        batch = threading.Thread(target=lambda: done.append(scheduler.run_batch(["配送", "返品", "請求"], lambda chunk: [q + "について" for q in chunk])))
        batch.start()
        batch.join(0.5)
        assert done == [], "a chunk must not compute while another process holds the admission"
        release.set()
        batch.join(10)
        assert done == [["配送について", "返品について", "請求について"]]
    finally:
        release.set()
        holder.join(10)


def test_a_dead_holder_does_not_block_batches(tmp_path):
    context = multiprocessing.get_context("fork")
    held, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_admission, args=(tmp_path / "batch.lock", held, release))
    holder.start()
    assert held.wait(10)
    holder.kill()  # SIGKILL while holding it, as gunicorn kills a timed-out worker
    holder.join(10)
    scheduler = BatchScheduler(chunk=1, max_yield=0.0, admission=BatchAdmission(tmp_path / "batch.lock"))
    assert scheduler.run_batch([1, 2], lambda chunk: [x * 2 for x in chunk]) == [2, 4]


def test_two_threads_of_one_process_do_not_hold_the_admission_at_once(tmp_path):
    admission = BatchAdmission(tmp_path / "batch.lock")
    inside: list[int] = []
    most: list[int] = []
    lock = threading.Lock()

    def chunk(_items):
        with lock:
            inside.append(1)
            most.append(len(inside))
        time.sleep(0.02)
        with lock:
            inside.pop()
        return [0] * len(_items)

    scheduler = BatchScheduler(chunk=1, max_yield=0.0, admission=admission)
    threads = [threading.Thread(target=scheduler.run_batch, args=(list(range(5)), chunk)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(most) == 20 and max(most) == 1
