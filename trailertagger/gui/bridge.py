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
* Processing: the application layer's ``Background`` (worker processes or an inline runner,
  and the folder watcher); the bridge only forwards its events and calls.
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

from ..core.app import (
    Background,
    LibrarySession,
    Selection,
    pool_options,  # noqa: F401 - re-exported for the app's start-up
)
from ..core.errors import TrailerTaggerError

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
    """Owns the background processing of one window; core events in, Qt signals out."""

    jobEvent = Signal(object)  # ev.JobEvent (a watcher batch arrives as SCAN), GUI thread
    taskError = Signal(str)  # a background task failed without its own handler
    _posted = Signal(object, object)  # (callable, argument): run on the GUI thread
    _event = Signal(object)

    def __init__(self, app: LibrarySession, options: Any, *, watch: bool = True,
                 rescan_seconds: float | None = 1800.0, profile: str = "default",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.app = app
        self.options = options
        self.profile = profile
        self.background = Background(app.lib, options, watch=watch,
                                     rescan_seconds=rescan_seconds, profile=profile)
        self.bus = self.background.bus
        self._tasks = QThreadPool(self)
        self._tasks.setMaxThreadCount(1)
        self._pending_tasks = 0
        self._task_lock = threading.Lock()
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
        self.taskError.emit(str(err) if isinstance(err, TrailerTaggerError)
                            else f"{type(err).__name__}: {err}")

    # -- processing -------------------------------------------------------------------------
    @property
    def watcher(self) -> Any:
        return self.background.watcher

    def start(self) -> None:
        """Start the workers (and, as a background task, the watcher); jobs left running by
        a crash are re-queued."""
        if self.started:
            return
        self.started = True
        self.background.start_workers()
        if self.background.watch:
            # off the GUI thread: OS notifications are set up by walking every watched tree
            self.run_task(lambda: self.background.start_watcher(initial_scan=True))

    def restart_watcher(self) -> None:
        """Watch the current folder list (blocking: call it from ``run_task``)."""
        self.background.restart_watcher()

    def wake(self) -> None:
        self.background.wake()

    def pause(self) -> None:
        self.background.pause()

    def resume(self) -> None:
        self.background.resume()

    def is_paused(self) -> bool:
        return self.background.is_paused()

    def retry_failed(self) -> list[int]:
        jobs = self.app.retry(None).jobs
        self.wake()
        return jobs

    def rerun(self, video_ids: list[int]) -> list[int]:
        """Queue classification again (the application layer's rule: missing files are
        skipped, only automatic genre rows are replaced)."""
        jobs = self.app.rerun(Selection.of_ids(video_ids), profile=self.profile).jobs
        self.wake()
        return jobs

    def cancel_videos(self, video_ids: list[int]) -> int:
        return self.app.cancel_videos(video_ids)

    def rescan(self) -> None:
        self.background.rescan()

    # -- shutdown ---------------------------------------------------------------------------
    def shutdown(self, timeout: float | None = None) -> None:
        """Stop the watcher and the workers; running jobs go back to the queue.  Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        self._tasks.waitForDone(30000)
        self.background.stop(timeout)
        self._unsubscribe()
