"""Batches give way to single questions (webapp/scheduling.py)."""

from __future__ import annotations

import threading
import time

import pytest

from webapp.scheduling import BatchScheduler


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
