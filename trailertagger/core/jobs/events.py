"""Progress events from the job system, and a tiny thread-safe bus to deliver them.

Events are small frozen dataclasses (picklable: worker processes send them through a pipe).
Consumers either register a callback (the GUI bridge turns each into a Qt signal on the GUI
thread) or iterate ``EventBus.stream()`` (the CLI draws a progress bar).  Core never imports
Qt; the bus never blocks a publisher on a slow consumer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

# kinds
QUEUED = "queued"  # a job was added (or merged into an active one)
STARTED = "started"  # a worker claimed a job's stage
PROGRESS = "progress"  # fraction within the current stage
STAGE_DONE = "stage_done"
DONE = "done"  # the whole job finished
FAILED = "failed"  # the job stopped; ``message`` is the reason
CANCELLED = "cancelled"
REQUEUED = "requeued"  # put back (worker died, file changed, pool stopped)
WORKER_STARTED = "worker_started"
WORKER_EXITED = "worker_exited"
IDLE = "idle"  # nothing queued or running
PAUSED = "paused"
RESUMED = "resumed"
SCAN = "scan"  # a watcher/scanner discovery (message says what)
HALTED = "halted"  # work stopped for a cause every job shares (disk full); ``code`` = exit code

TERMINAL = frozenset({DONE, FAILED, CANCELLED})


@dataclass(frozen=True)
class JobEvent:
    kind: str
    job_id: int | None = None
    video_id: int | None = None
    path: str | None = None
    stage: str | None = None
    fraction: float | None = None  # 0..1 within ``stage``
    message: str = ""
    worker: str | None = None
    time: float = field(default_factory=time.time)
    code: int | None = None  # FAILED: the CLI exit code of the cause (4: a model is missing)

    def describe(self) -> str:
        what = self.path or (f"job {self.job_id}" if self.job_id else "")
        stage = f" [{self.stage}]" if self.stage else ""
        msg = f": {self.message}" if self.message else ""
        return f"{self.kind}{stage} {what}{msg}".strip()


Listener = Callable[[JobEvent], None]


class EventBus:
    """Fan-out of events to callbacks; a failing callback is logged, never propagated."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: JobEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - a broken listener must not stop the pool
                log.exception("event listener failed on %s", event.kind)

    def stream(self, stop: Callable[[JobEvent], bool] | None = None,
               timeout: float | None = None) -> Iterator[JobEvent]:
        """Iterate events as they come; ends after an event for which ``stop`` is true, or
        when ``timeout`` seconds pass with no event at all."""
        q: queue.Queue[JobEvent] = queue.Queue()
        unsubscribe = self.subscribe(q.put)
        try:
            while True:
                try:
                    ev = q.get(timeout=timeout)
                except queue.Empty:
                    return
                yield ev
                if stop is not None and stop(ev):
                    return
        finally:
            unsubscribe()
