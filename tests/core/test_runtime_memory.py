"""Freed heap pages go back to the OS between extractors (``runtime.memory``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trailertagger.core.runtime.memory import release_free_memory


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim")
def test_fragmented_free_memory_is_returned():
    # 60 KB blocks stay below glibc's mmap threshold, so they live in the heap; keeping every
    # 16th alive pins the heap's top, so glibc cannot shrink it by itself after the free
    blocks = [bytearray(60_000) for _ in range(3000)]
    for b in blocks:
        b[::4096] = b"\1" * len(b[::4096])  # touch every page
    keep = blocks[::16]
    del blocks
    before = _rss_mb()
    assert release_free_memory()
    after = _rss_mb()
    assert before - after > 60, (before, after)  # ~170 MB were freed but still resident
    assert keep  # alive until here
