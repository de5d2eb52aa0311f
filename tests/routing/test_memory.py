"""Giving freed heap pages back to the system after a load (glibc's malloc_trim)."""

from __future__ import annotations

import ctypes.util
import sys

import pytest

from routing.memory import release_free_heap


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


@pytest.mark.skipif(not sys.platform.startswith("linux") or not ctypes.util.find_library("c"), reason="glibc's malloc_trim is Linux-only")
def test_freed_heap_blocks_are_returned_to_the_system():
    # 1,600 blocks of 64 KiB (below glibc's 128 KiB mmap threshold: they come from the heap),
    # then one small block above them, so that freeing them cannot shrink the heap from the top.
    blocks = [bytearray(64 * 1024) for _ in range(1600)]
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])  # touch every page
    pin = bytearray(1000)
    before = _rss_mb()
    del blocks
    freed = _rss_mb()
    assert release_free_heap() is True
    after = _rss_mb()
    assert before - after > 80  # of the 100 MB freed, most goes back to the system
    assert freed - after > 0.5 * (before - after)  # and it is the trim that returns it
    assert len(pin) == 1000
