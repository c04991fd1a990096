"""Freed heap pages go back to the OS between extractors (``runtime.memory``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trailertagger.core.runtime.memory import (
    available_memory_mb,
    release_free_memory,
    workers_that_fit,
)


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


def test_workers_are_sized_from_the_memory_available():
    # 4 GB free, 1 GB kept back, 1.5 GB a worker: two fit
    n, why = workers_that_fit(4, budget_mb=1500, available_mb=4096)
    assert n == 2 and "2 of 4 workers" in why and "4096 MB" in why
    assert workers_that_fit(4, budget_mb=1500, available_mb=64_000) == (4, "")
    assert workers_that_fit(3, budget_mb=1500, available_mb=500)[0] == 1  # never none
    assert workers_that_fit(1, budget_mb=1500, available_mb=500) == (1, "")
    assert workers_that_fit(4, budget_mb=0, available_mb=500) == (4, "")  # check off
    assert available_memory_mb() is None or available_memory_mb() > 0


def test_the_pool_starts_the_workers_that_fit(tmp_path):
    from tests.core.test_jobs_support import SPEC
    from trailertagger.core.jobs.worker import PoolOptions, WorkerPool

    budget = (available_memory_mb() or 10**6) // 2  # room for one worker, not three
    opts = PoolOptions(workers=3, services=SPEC, memory_per_worker_mb=budget)
    with WorkerPool(tmp_path / "lib.sqlite3", opts) as pool:
        assert pool.options.workers == 1 and len(pool._workers) == 1
        assert "starting 1 of 3 workers" in pool.capacity_note


_COUNT_ARENAS = r"""
import ctypes, ctypes.util, os, sys, tempfile, threading
from trailertagger.core.runtime.memory import limit_malloc_arenas
took = limit_malloc_arenas(2) if sys.argv[1] == "limit" else None
hold, ready, go = [], threading.Barrier(9), threading.Event()
def work():
    hold.append([bytearray(60_000) for _ in range(20)])  # heap blocks, below mmap's threshold
    ready.wait()
    go.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
ready.wait()
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.fopen.restype = ctypes.c_void_p
path = os.path.join(tempfile.mkdtemp(), "info.xml")
fp = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(fp))
libc.fclose(ctypes.c_void_p(fp))
go.set()
for t in threads: t.join()
print(took, os.environ.get("MALLOC_ARENA_MAX"), open(path).read().count("<heap nr="))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc arenas")
def test_extracting_processes_keep_two_malloc_arenas_and_pass_the_limit_on():
    """Eight threads allocating at once get their own arenas unless limited; with the limit
    (what ``ExtractionSession`` and every pool worker set) they share two, and the setting
    is in the environment for the processes they start."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}

    def run(mode: str) -> list[str]:
        out = subprocess.run([sys.executable, "-c", _COUNT_ARENAS, mode], env=env, check=True,
                             capture_output=True, text=True, timeout=60)
        return out.stdout.split()

    free, limited = run("free"), run("limit")
    assert free[:2] == ["None", "None"] and int(free[2]) >= 5, free
    assert limited[:2] == ["True", "2"] and int(limited[2]) <= 2, limited
