"""The one bridge between the core's background machinery and the GUI thread.

Why one object: the worker pool, the folder watcher and short interactive tasks all report
from threads that must never touch a widget.  Everything they say comes through here and is
re-emitted as a Qt signal on the GUI thread (a signal emitted from another thread is queued
to the receiver's thread), so widgets only ever see ``jobEvent``, ``taskError`` and
task callbacks on their own thread.

* ``run_task(func, callback, on_error)``: Picard's pattern.  ``func`` runs on a small pool
  (one thread: interactive writes such as corrections stay in the order the user made them
  and are never stuck behind bulk extraction, which runs in worker *processes*); its result
  is posted back and ``callback(result)`` runs on the GUI thread.
* Processing: ``WorkerPool`` with ``workers`` processes (the default) or, with
  ``workers=0``, an inline runner thread that processes one stage at a time and checks for a
  stop request between stages (tests, tiny libraries).
* ``shutdown()``: watcher stopped, workers asked to stop; jobs in hand go back to the queue
  untouched (each stage ends in one transaction, so nothing is half-written).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from ..core.jobs import events as ev
from ..core.jobs.queue import CLASSIFY_PLAN, JobQueue, active_job_ids
from ..core.jobs.watcher import FolderWatcher
from ..core.jobs.worker import PoolOptions, WorkerPool
from ..core.library.db import Library
from ..core.library.queries import CHUNK

log = logging.getLogger(__name__)


class _Runnable(QRunnable):
    def __init__(self, bridge: JobBridge, func: Callable[[], Any],
                 callback: Callable[[Any], None] | None,
                 on_error: Callable[[BaseException], None] | None) -> None:
        super().__init__()
        self.bridge, self.func, self.callback, self.on_error = bridge, func, callback, on_error
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result = self.func()
        except Exception as err:  # noqa: BLE001 - reported on the GUI thread
            log.warning("background task failed:\n%s", traceback.format_exc())
            self.bridge._posted.emit(self.on_error or self.bridge._default_error, err)
        else:
            if self.callback is not None:
                self.bridge._posted.emit(self.callback, result)
        finally:
            self.bridge._task_finished()


class JobBridge(QObject):
    """Owns pool + watcher of one window; core events in, Qt signals out (GUI thread)."""

    jobEvent = Signal(object)  # ev.JobEvent (a watcher batch arrives as SCAN), GUI thread
    taskError = Signal(str)  # a background task failed without its own handler
    _posted = Signal(object, object)  # (callable, argument): run on the GUI thread
    _event = Signal(object)

    def __init__(self, lib: Library, options: PoolOptions, *, watch: bool = True,
                 settle_seconds: float = 2.0, rescan_seconds: float | None = 1800.0,
                 profile: str = "default", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lib = lib
        self.options = options
        self.profile = profile
        self.watch = watch
        self.settle_seconds = settle_seconds
        self.rescan_seconds = rescan_seconds
        self.queue = JobQueue(lib, max_attempts=options.max_attempts)
        self.bus = ev.EventBus()
        self.pool: WorkerPool | None = None
        self.watcher: FolderWatcher | None = None
        self._tasks = QThreadPool(self)
        self._tasks.setMaxThreadCount(1)
        self._pending_tasks = 0
        self._task_lock = threading.Lock()
        self._inline_thread: threading.Thread | None = None
        self._inline_wake = threading.Event()
        self._stop = threading.Event()
        self._watcher_lock = threading.Lock()
        self._posted.connect(self._run_posted)
        self._event.connect(self.jobEvent)
        self._unsubscribe = self.bus.subscribe(self._event.emit)  # any thread -> queued
        self.started = False
        self.stopped = False

    # -- Picard's run_task ------------------------------------------------------------------
    def run_task(self, func: Callable[[], Any], callback: Callable[[Any], None] | None = None,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        """Run ``func()`` off the GUI thread; ``callback(result)`` then runs on the GUI thread."""
        with self._task_lock:
            self._pending_tasks += 1
        self._tasks.start(_Runnable(self, func, callback, on_error))

    def _task_finished(self) -> None:
        with self._task_lock:
            self._pending_tasks -= 1

    @property
    def busy(self) -> bool:
        """True while an interactive task is queued or running."""
        with self._task_lock:
            return self._pending_tasks > 0

    @Slot(object, object)
    def _run_posted(self, func: Callable[[Any], None], arg: Any) -> None:
        func(arg)

    def _default_error(self, err: BaseException) -> None:
        self.taskError.emit(f"{type(err).__name__}: {err}")

    # -- processing -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the workers (and, as a background task, the watcher); jobs left running by
        a crash are re-queued."""
        if self.started:
            return
        self.started = True
        self.pool = WorkerPool(self.lib.path, self.options, bus=self.bus)
        if self.options.workers > 0:
            self.pool.start()
        else:
            self._inline_thread = threading.Thread(target=self._inline_loop,
                                                   name="tt-gui-inline", daemon=True)
            self._inline_thread.start()
        if self.watch:
            # off the GUI thread: OS notifications are set up by walking every watched tree
            self.run_task(lambda: self._start_watcher(initial_scan=True))

    def _start_watcher(self, initial_scan: bool) -> None:
        def started(polling: bool) -> FolderWatcher:
            return FolderWatcher(
                self.lib, settle_seconds=self.settle_seconds, rescan_seconds=self.rescan_seconds,
                profile=self.profile, bus=self.bus, on_change=lambda _result: self.wake(),
                polling=polling).start(initial_scan=initial_scan)

        with self._watcher_lock:
            if self._stop.is_set():
                return
            try:
                self.watcher = started(polling=False)
            except OSError as err:  # e.g. the inotify limit: poll instead
                log.warning("cannot watch with OS notifications (%s); polling", err)
                self.watcher = started(polling=True)

    def restart_watcher(self) -> None:
        """Watch the current folder list (after a folder was added or removed).  Blocking:
        call it from ``run_task``."""
        if not self.watch or self._stop.is_set():
            return
        with self._watcher_lock:
            old, self.watcher = self.watcher, None
        if old is not None:
            old.stop()
        self._start_watcher(initial_scan=False)

    def wake(self) -> None:
        """New work was queued: tell the workers now instead of at their next poll."""
        if self.pool is not None and self.options.workers > 0 and not self._stop.is_set():
            self.pool.wake()
        self._inline_wake.set()

    def _inline_loop(self) -> None:
        """workers=0: run stages in this thread, one ``run_until_idle`` slice at a time, so a
        stop request waits for one stage at most."""
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
        if e.kind == ev.IDLE and self.queue.has_claimable():
            return  # the end of a slice, not of the work
        self.bus.publish(e)

    def pause(self) -> None:
        self.queue.pause()
        self.bus.publish(ev.JobEvent(ev.PAUSED))

    def resume(self) -> None:
        self.queue.resume()
        self.bus.publish(ev.JobEvent(ev.RESUMED))
        self.wake()

    def is_paused(self) -> bool:
        return self.queue.is_paused()

    def retry_failed(self) -> list[int]:
        ids = self.queue.retry(None)
        self.wake()
        return ids

    def rerun(self, video_ids: list[int]) -> list[int]:
        """Queue classification again (what ``trailertagger rerun`` does): only automatic
        genre rows are replaced; manual corrections stay."""
        jobs = self.queue.enqueue(video_ids, CLASSIFY_PLAN, profile=self.profile,
                                  reason="re-run requested")
        self.wake()
        return jobs

    def cancel_videos(self, video_ids: list[int]) -> int:
        """Cancel the active jobs of these videos (queued now, running at their next step)."""
        with self.lib.read() as s:
            jobs: list[int] = []
            for start in range(0, len(video_ids), CHUNK):
                jobs.extend(active_job_ids(s, video_ids[start:start + CHUNK]).values())
        return self.queue.cancel(jobs) if jobs else 0

    def rescan(self) -> None:
        if self.watcher is not None:
            self.watcher.rescan()

    # -- shutdown ---------------------------------------------------------------------------
    def shutdown(self, timeout: float | None = None) -> None:
        """Stop the watcher and the workers; running jobs go back to the queue.  Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        self._stop.set()
        self._inline_wake.set()
        self._tasks.waitForDone(30000)
        with self._watcher_lock:
            watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher.stop()
        if self._inline_thread is not None:
            self._inline_thread.join(60.0)
        if self.pool is not None:
            self.pool.stop(timeout)
        self._unsubscribe()
