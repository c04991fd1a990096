"""Reads for the views that run off the GUI thread, newest request wins (issue 11).

On a library of 100,000 videos a filter, a search, a sort or the genre counts take from a
tenth of a second to seconds.  ``QueryWorker.submit(func, show)`` runs ``func`` on the
worker's own thread (its own one-thread pool: an interactive read never waits behind a
correction or an export on the bridge's task thread) and calls ``show(result)`` back on the
GUI thread, but only if no newer request of the same *channel* was submitted meanwhile:
every request gets a generation number, and a result whose generation is not the channel's
newest is dropped.  A request that is already stale when its turn comes is not run at all,
so typing ten letters costs one or two queries, not ten.  ``busyChanged`` drives the view's
"working…" hint.

The reads are Python (SQLAlchemy rows, sorting), so they hold the GIL while they run, and
every call from Qt into Python on the GUI thread (``data``, a paint, a slot) has to wait for
it: at CPython's default switch interval (5 ms) a paint of a few hundred cells waited
seconds behind a big read.  A worker therefore lowers the interval to ``SWITCH_INTERVAL``:
a paint calls into Python about 150 times (once a cell), and each call may wait one interval
for the GIL, so 0.5 ms still cost a paint up to 75 ms; at 0.1 ms it is 15 ms.  The interval
only matters while two threads want the GIL: an idle GUI costs the reads nothing.

Some things hold the GIL without ever offering it, whatever the interval: the cyclic garbage
collector (a full collection over 100,000 rows took 50-150 ms, measured), a C-level
``list.sort`` (250 ms for 100,000 rows) and SQLAlchemy's compiled ``Result.all()`` (150 ms
for 100,000 rows, 500 ms for the 300,000 genre rows of "sort by Genres": measured with
``benchmarks/gui_responsiveness.py --stalls``, whose watchdog thread was late by as long).
So a read runs with the collector paused (``paused_gc``; a read makes no reference cycles
worth collecting) and what it leaves alive is frozen (``gc.freeze``: later collections do
not walk 100,000 rows again), sorting merges sorted chunks of 2,500 (``chunked_sort``, 2 ms
each) and the big reads make their rows in batches (``core.library.queries.bulk_rows``).
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import logging
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)
SWITCH_INTERVAL = 0.0001  # seconds: see the module doc


_gc_lock = threading.Lock()
_gc_paused = 0


@contextmanager
def paused_gc(freeze: bool = False):  # noqa: ANN201 - a context manager
    """The cyclic collector off while any read runs (nested and cross-thread safe); with
    ``freeze``, what the reads left alive is frozen before it comes back on."""
    global _gc_paused
    with _gc_lock:
        _gc_paused += 1
        if _gc_paused == 1:
            was = gc.isenabled()
            gc.disable()
            paused_gc.was_enabled = was  # type: ignore[attr-defined]
    try:
        yield
    finally:
        with _gc_lock:
            _gc_paused -= 1
            if _gc_paused == 0 and getattr(paused_gc, "was_enabled", True):
                # what the reads left alive (a load's 100,000 rows) leaves the collector's
                # generations first: re-enabled, its next collection would walk them all
                # while holding the GIL (measured: 50-150 ms).  Frozen objects are still
                # freed by reference counting; only cycles among them would wait.
                if freeze or getattr(paused_gc, "freeze", False):
                    gc.freeze()
                paused_gc.freeze = False  # type: ignore[attr-defined]
                gc.enable()
            elif freeze:
                paused_gc.freeze = True  # type: ignore[attr-defined]


def chunked_sort(items: list, key, reverse: bool = False, chunk: int = 2_500) -> list:  # noqa: ANN001
    """``sorted(items, key=key, reverse=reverse)``, stable, as a merge of sorted chunks: one
    ``list.sort`` of 100,000 items holds the GIL for a quarter of a second, a chunk for a
    few milliseconds, and the merge runs Python steps (the GUI thread gets its turns)."""
    if len(items) <= chunk:
        return sorted(items, key=key, reverse=reverse)
    sign = -1 if reverse else 1
    keyed = [(key(x), sign * i) for i, x in enumerate(items)]  # index: stable either way
    parts = []
    for i in range(0, len(keyed), chunk):
        parts.append(sorted(keyed[i:i + chunk], reverse=reverse))
        time.sleep(0)  # the GIL offered outright between chunks (the GUI may be painting)
    return [items[sign * i] for _, i in heapq.merge(*parts, reverse=reverse)]


class _Job(QRunnable):
    def __init__(self, worker: QueryWorker, channel: str, generation: int,
                 func: Callable[[], Any]) -> None:
        super().__init__()
        self.worker, self.channel, self.generation, self.func = worker, channel, generation, func
        self.setAutoDelete(True)

    def run(self) -> None:
        w = self.worker
        if w.generation(self.channel) != self.generation or w.closed:
            w._finished.emit(self.channel, self.generation, None, None, True)
            return
        try:
            with paused_gc(w.freeze_after_reads):
                result, err = self.func(), None
        except BaseException as e:  # noqa: BLE001 - handed to the GUI thread
            result, err = None, e
        if not w.closed:
            with contextlib.suppress(RuntimeError):  # the window went away meanwhile
                w._finished.emit(self.channel, self.generation, result, err, False)


class QueryWorker(QObject):
    """See the module doc.  One per window; ``close()`` before the library closes."""

    busyChanged = Signal(bool)
    failed = Signal(str)  # a read that raised (shown in the status bar)
    _finished = Signal(str, int, object, object, bool)  # channel, generation, result, error, skipped

    def __init__(self, parent: QObject | None = None, threads: int = 1) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._generations: dict[str, int] = {}
        self._show: dict[tuple[str, int], tuple[Callable[[Any], None], Callable[[BaseException], None] | None]] = {}
        self._pending = 0
        self.closed = False
        self.dropped = 0  # results thrown away as stale (tests look)
        # freeze what reads leave alive (see the module doc): set for big libraries only, where
        # a collection would walk 100,000 rows; a small one gains nothing from it
        self.freeze_after_reads = False
        self._finished.connect(self._on_finished)
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)

    def generation(self, channel: str) -> int:
        return self._generations.get(channel, 0)

    def submit(self, channel: str, func: Callable[[], Any], show: Callable[[Any], None],
               on_error: Callable[[BaseException], None] | None = None) -> int:
        """Run ``func`` off the GUI thread; ``show(result)`` on it unless superseded."""
        gen = self.generation(channel) + 1
        self._generations[channel] = gen
        if self.closed:  # the window is closing: nothing more is read or shown
            return gen
        self._show[(channel, gen)] = (show, on_error)
        self._pending += 1
        if self._pending == 1:
            self.busyChanged.emit(True)
        self.pool.start(_Job(self, channel, gen, func))
        return gen

    def busy(self) -> bool:
        return self._pending > 0

    @Slot(str, int, object, object, bool)
    def _on_finished(self, channel: str, generation: int, result: Any, err: Any,
                     skipped: bool) -> None:
        show, on_error = self._show.pop((channel, generation), (None, None))
        self._pending -= 1
        try:
            if self.closed or skipped:
                return
            if generation != self.generation(channel):
                self.dropped += 1
                return
            if err is not None:
                log.warning("background read failed: %s", err)
                if on_error is not None:
                    on_error(err)
                else:
                    self.failed.emit(f"reading the library failed: {err}")
            elif show is not None:
                show(result)
        finally:
            if self._pending == 0:
                self.busyChanged.emit(False)

    def wait(self, msecs: int = 30000) -> bool:
        """Wait for the running reads (tests; closing)."""
        return self.pool.waitForDone(msecs)

    def close(self) -> None:
        self.closed = True
        self.pool.clear()
        self.pool.waitForDone(10000)
