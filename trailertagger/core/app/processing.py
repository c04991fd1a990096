"""Working off the queue: run until idle (``scan``, ``rerun``, ``jobs run``) or keep going
in the background while folders are watched (``watch``, the desktop app).

``drain`` is what a command does after queueing work: run a pool until the queue is empty,
then say truthfully how it ended (``Outcome.exit_code``).  ``Background`` owns a worker pool
and a folder watcher for as long as a front end wants them; every event they produce is
published on one ``EventBus`` (the app's bridge re-emits them as Qt signals).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..jobs import events as ev
from ..jobs.queue import JobQueue
from ..jobs.stages import DEFAULT_SERVICES
from ..jobs.watcher import FolderWatcher
from ..jobs.worker import PoolOptions, RunSummary, WorkerPool
from ..library.db import Library

log = logging.getLogger(__name__)


def pool_options(cfg: dict[str, Any], *, cluster: str | None = None, device: str | None = None,
                 **overrides: Any) -> PoolOptions:
    """The ``[jobs]`` settings with the caller's overrides (``workers=``, ``settle_seconds=``).

    ``cluster``: a Dask scheduler address; extraction then runs there (``jobs.cluster``) and
    this machine's pool only dispatches, probes, classifies and writes.  Its size defaults to
    the cluster's width (one local dispatcher per cluster thread), and that many extractions
    may run at once whatever the library's ``jobs limits`` say for local runs."""
    if cluster is None:
        opts = PoolOptions.from_config(cfg, **overrides)
        if device is not None and opts.services == DEFAULT_SERVICES:  # --device for this run
            run_cfg = {**cfg, "extract": {**cfg.get("extract", {}), "device": device}}
            opts.services_kwargs = {**opts.services_kwargs, "cfg": run_cfg}
        return opts
    from ..jobs.cluster import ClusterServices, cluster_slots
    from ..jobs.queue import EXTRACT

    if overrides.get("workers") is None:
        overrides["workers"] = cluster_slots(cluster)
    opts = PoolOptions.from_config(cfg, **overrides)
    opts.workers = max(1, opts.workers)
    opts.services = f"{ClusterServices.__module__}:{ClusterServices.__name__}"
    opts.services_kwargs = {"address": cluster, "device": device}
    opts.forced_limits = {EXTRACT: opts.workers}
    return opts


def extract_on_cluster(address: str, paths: list, profile: str, device: str,
                       cfg: dict[str, Any], on_result: Callable[[Any, Any], None]) -> None:
    """``extract --cluster``: features of ``paths`` computed on a Dask cluster, written to
    this machine's feature cache; ``on_result(path, ExtractionResult or error)`` in the
    order they finish (``jobs.cluster.extract_many``)."""
    from ..features.cache import FeatureCache
    from ..jobs.cluster import extract_many
    from ..paths import app_dirs

    extract_many(address, paths, profile, device, cfg, FeatureCache(app_dirs().features),
                 on_result)


@dataclass
class Outcome:
    """How a drain ended."""

    summary: RunSummary = field(default_factory=RunSummary)
    queued: int = 0  # jobs waiting when it started
    left: int = 0  # jobs still waiting when it ended
    paused: bool = False

    @property
    def stuck_reason(self) -> str:
        return "; ".join(self.summary.worker_problems[-3:]) or \
            "a stage limit of 0, or another program holds them; see 'trailertagger status'"

    @property
    def exit_code(self) -> int:
        """0 all done; 1 some failed or could not run; 4 every failure was a missing model
        (the setup, not the videos); 5 the disk filled up (work stopped, the rest waits)."""
        if self.summary.halted:
            return self.summary.halted_code
        if self.left and not self.paused:
            return 1
        failed = self.summary.failed
        if failed and all(c == 4 for c in self.summary.failed_codes):
            return 4
        return 1 if failed else 0


def drain(lib: Library, options: PoolOptions,
          on_event: Callable[[ev.JobEvent], None] | None = None,
          on_stopping: Callable[[], None] | None = None,
          on_start: Callable[[int], None] | None = None) -> Outcome:
    """Process the queue until it is empty (or paused).  ``on_start(n)`` is told how many
    jobs wait before anything runs (a progress bar's total); nothing runs while paused."""
    queue = JobQueue(lib)
    out = Outcome(queued=queue.active_count(), paused=queue.is_paused())
    if out.queued == 0 or out.paused:
        out.left = out.queued
        return out
    if on_start is not None:
        on_start(out.queued)
    pool = WorkerPool(lib.path, options)
    try:
        out.summary = pool.run_until_idle(on_event, on_stopping=on_stopping)
    finally:
        pool.stop()
    out.left, out.paused = queue.active_count(), queue.is_paused()
    return out


class Background:
    """A worker pool plus (optionally) a folder watcher, for as long as a front end runs.

    * ``workers > 0``: a ``WorkerPool`` of processes; ``workers == 0``: an inline runner
      thread that processes one stage at a time and checks for a stop request between
      stages (tests, tiny libraries).
    * ``stop()``: watcher stopped, workers asked to stop; jobs in hand go back to the queue
      untouched (each stage ends in one transaction, so nothing is half-written).
    """

    def __init__(self, lib: Library, options: PoolOptions, *, watch: bool = True,
                 rescan_seconds: float | None = 1800.0, profile: str = "default",
                 polling: bool = False, bus: ev.EventBus | None = None) -> None:
        self.lib = lib
        self.options = options
        self.watch = watch
        self.rescan_seconds = rescan_seconds
        self.profile = profile
        self.polling = polling
        self.queue = JobQueue(lib, max_attempts=options.max_attempts)
        self.bus = bus or ev.EventBus()
        self.pool: WorkerPool | None = None
        self.watcher: FolderWatcher | None = None
        self._inline_thread: threading.Thread | None = None
        self._inline_wake = threading.Event()
        self._stop = threading.Event()
        self._watcher_lock = threading.Lock()
        self.started = False
        self.stopped = False

    def start_workers(self) -> None:
        """Start the workers; jobs left running by a crash are re-queued."""
        if self.started:
            return
        self.started = True
        self.pool = WorkerPool(self.lib.path, self.options, bus=self.bus)
        if self.options.workers > 0:
            self.pool.start()
        else:
            self._inline_thread = threading.Thread(target=self._inline_loop,
                                                   name="tt-inline-worker", daemon=True)
            self._inline_thread.start()

    def start_watcher(self, initial_scan: bool = True) -> None:
        """Watch the library's folders (blocking: OS notifications are set up by walking
        every watched tree; a front end calls it off its main thread).  Falls back to
        polling when the OS limit on notifications is reached."""
        if not self.watch:
            return

        def started(polling: bool) -> FolderWatcher:
            return FolderWatcher(
                self.lib, settle_seconds=self.options.settle_seconds,
                rescan_seconds=self.rescan_seconds, profile=self.profile, bus=self.bus,
                on_change=lambda _result: self.wake(), polling=polling,
            ).start(initial_scan=initial_scan)

        with self._watcher_lock:
            if self._stop.is_set():
                return
            try:
                self.watcher = started(polling=self.polling)
            except OSError as err:  # e.g. the inotify limit: poll instead
                if self.polling:
                    raise
                log.warning("cannot watch with OS notifications (%s); polling", err)
                self.watcher = started(polling=True)

    def restart_watcher(self) -> None:
        """Watch the current folder list (after a folder was added or removed).  Blocking."""
        if not self.watch or self._stop.is_set():
            return
        with self._watcher_lock:
            old, self.watcher = self.watcher, None
        if old is not None:
            old.stop()
        self.start_watcher(initial_scan=False)

    def wake(self) -> None:
        """New work was queued: tell the workers now instead of at their next poll."""
        if self.pool is not None and self.options.workers > 0 and not self._stop.is_set():
            self.pool.wake()
        self._inline_wake.set()

    def rescan(self) -> None:
        if self.watcher is not None:
            self.watcher.rescan()

    def pause(self) -> None:
        self.queue.pause()
        self.bus.publish(ev.JobEvent(ev.PAUSED))

    def resume(self) -> None:
        self.queue.resume()
        self.bus.publish(ev.JobEvent(ev.RESUMED))
        self.wake()

    def is_paused(self) -> bool:
        return self.queue.is_paused()

    def _inline_loop(self) -> None:
        assert self.pool is not None
        while not self._stop.is_set():
            try:
                if self.queue.has_claimable():
                    self.pool.run_until_idle(on_event=self._inline_event, timeout=0.2)
                    continue
            except Exception:  # noqa: BLE001 - e.g. the library locked for long: next tick
                log.warning("inline processing step failed", exc_info=True)
            self._inline_wake.wait(0.5)
            self._inline_wake.clear()

    def _inline_event(self, e: ev.JobEvent) -> None:
        if e.kind == ev.HALTED:  # disk full: no more work until a restart
            self._stop.set()
        if e.kind == ev.IDLE and self.queue.has_claimable():
            return  # the end of a slice, not of the work
        self.bus.publish(e)

    def stop(self, timeout: float | None = None) -> None:
        """Stop the watcher and the workers; running jobs go back to the queue.  Idempotent;
        safe after a second Ctrl-C (the pool always hands its jobs back)."""
        if self.stopped:
            return
        self.stopped = True
        self._stop.set()
        self._inline_wake.set()
        with self._watcher_lock:
            watcher, self.watcher = self.watcher, None
        try:
            if watcher is not None:
                watcher.stop()
        finally:
            if self._inline_thread is not None:
                self._inline_thread.join(60.0)
            if self.pool is not None:
                self.pool.stop(timeout)
