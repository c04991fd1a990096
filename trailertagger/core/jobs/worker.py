"""Worker processes that drain the queue, and the pool that owns them.

Why processes: extractors are heavy (torch, ONNX Runtime, ffmpeg) and must not stall the GUI
or each other; a decoder that crashes or leaks takes one worker down, not the app.  Workers
are started with the ``spawn`` method (no forked locks, same behaviour on every OS) and each
keeps its extraction session warm across jobs.

Talking to workers: one pipe each way per worker.  A worker killed in the middle of a send
can only damage its own pipe, never a queue shared with the others.  The parent's monitor
thread reads events, notices dead workers (their jobs are re-queued at once, counting the
attempt), renews nothing itself (workers heartbeat their own leases), re-queues jobs whose
lease expired elsewhere, and kills a worker that ignores a cancel for too long.

Ctrl-C: workers ignore SIGINT; the parent's ``stop()`` asks them to stop, the job in hand is
given back to the queue untouched at its next progress report (or after a grace period the
worker is terminated and the job is given back by the parent).  Nothing is half-written:
every stage ends in a single transaction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from ..config import is_auto
from ..errors import DiskFullError
from ..library.db import Library, get_meta, open_library
from ..library.schema import JOB_QUEUED, JOB_RUNNING, Job
from ..runtime.memory import WORKER_BUDGET_MB, limit_malloc_arenas, workers_that_fit
from ..runtime.priority import DEFAULT_NICE, lower_priority
from ..runtime.threads import limit_native_pools, machine_cores, set_cpu_share, share_for
from . import events as ev
from .queue import (
    CLASSIFY,
    DEFAULT_LIMITS,
    EXTRACT,
    HOST,
    PAUSED_KEY,
    PROBE,
    STAGES,
    JobQueue,
    Recovered,
    death_cause,
)
from .stages import DEFAULT_SERVICES, StageContext, load_services, owner_name, run_claimed

log = logging.getLogger(__name__)


#: ``[jobs] workers = "auto"`` (the default): one worker per core, at most this many.  Each
#: worker holds its own models (~0.7 GB of the ~1.5 GB budget), so more would cost memory
#: for little: beyond 4 the extract stage limit (half the workers) already gives each
#: extraction two or more cores.
AUTO_MAX_WORKERS = 4


#: Seconds a pool sits idle before the workers beyond the first stop (``_park_idle``).
PARK_IDLE_S = 300.0


def resolve_workers(value: Any, cores: int | None = None) -> int:
    """The worker count ``[jobs] workers`` asks for: a number as given (0: in the caller's
    process), ``"auto"`` one per core up to ``AUTO_MAX_WORKERS``.

    Why one per core rather than one: a single extraction keeps only part of the machine
    busy (its last extractor runs alone; measured 163% of 200% on 2 cores), and two
    workers of one lane each did 8.0-8.6 videos/min there against 6.4-7.0 for one worker
    (README, "Throughput of a folder scan").  The pool still starts fewer when that many
    would not fit in the memory available (``runtime.memory.workers_that_fit``), so a small
    laptop runs one."""
    if is_auto(value):
        cores = machine_cores() if cores is None else max(1, int(cores))
        return max(1, min(AUTO_MAX_WORKERS, cores))
    return max(0, int(value))


@dataclass
class PoolOptions:
    """How the pool runs; ``from_config`` reads the ``[jobs]`` settings."""

    workers: int = 1
    stage_limits: dict[str, int] | None = None  # None: what the library says (or defaults)
    forced_limits: dict[str, int] | None = None  # this pool's own, over the library's; not stored
    services: str = DEFAULT_SERVICES
    services_kwargs: dict[str, Any] = field(default_factory=dict)
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 2.0
    poll_seconds: float = 0.5
    max_attempts: int = 3
    settle_seconds: float = 2.0
    stop_grace_seconds: float = 5.0
    cancel_grace_seconds: float = 10.0
    busy_timeout: float = 10.0
    log_verbose: int = 0
    # the pool starts fewer workers than asked when this many MB each would not fit in the
    # memory available (0: no such check); see ``runtime.memory.workers_that_fit``
    memory_per_worker_mb: int = WORKER_BUDGET_MB
    # worker processes run this much below the app's priority (``runtime.priority``)
    nice: int = DEFAULT_NICE
    # workers beyond the first stop after this long with nothing to do and start again when
    # work is queued (``WorkerPool._park_idle``); 0: never
    park_idle_seconds: float = PARK_IDLE_S

    @classmethod
    def from_config(cls, cfg: dict[str, Any], **overrides: Any) -> PoolOptions:
        jobs = dict(cfg.get("jobs", {}))
        opts = cls(
            workers=resolve_workers(jobs.get("workers", "auto")),
            settle_seconds=float(jobs.get("settle_seconds", 2.0)),
            max_attempts=int(jobs.get("max_attempts", 3)),
            services=str(jobs.get("services", DEFAULT_SERVICES) or DEFAULT_SERVICES),
            memory_per_worker_mb=int(jobs.get("memory_per_worker_mb", WORKER_BUDGET_MB)),
            nice=int(jobs.get("nice", DEFAULT_NICE)),
        )
        kwargs = jobs.get("services_kwargs")
        if isinstance(kwargs, dict):
            opts.services_kwargs = dict(kwargs)
        limits = jobs.get("stage_limits")
        if isinstance(limits, dict):
            opts.stage_limits = {k: int(v) for k, v in limits.items() if k in STAGES}
        for k, v in overrides.items():
            if v is not None:
                setattr(opts, k, v)
        return opts

    def default_limits(self) -> dict[str, int]:
        base = dict(DEFAULT_LIMITS)
        if self.workers > 0:
            # extraction is the heavy stage: by default at most half the workers, but two
            # as soon as there are two workers: concurrent extractions share the cores
            # (``extraction_share``), and on 2 cores two extractions of one thread each did
            # more per CPU second than one extraction of two lanes (issue 13, README
            # "Throughput of a folder scan"); one worker: one
            base[EXTRACT] = max(2, self.workers // 2) if self.workers >= 2 else 1
            base[PROBE] = max(1, self.workers)
            base[CLASSIFY] = max(1, self.workers)
        if self.stage_limits:
            base.update(self.stage_limits)
        return base

    def extraction_share(self, limits: dict[str, int] | None = None,
                         cores: int | None = None) -> int | None:
        """Cores one extraction of this pool may use, ``None`` for all of them.

        ``min(workers, extract limit)`` extractions run at once (``limits``: the effective
        stage limits, the library's and forced ones included; default ``default_limits``),
        and each sizes its lanes, torch/ONNX Runtime/BLAS threads and ffmpeg decode threads
        for ``cores // that`` (``runtime.threads.share_for``), so the pool's threads add up to
        the machine instead of each worker's.  One extraction at a time (one worker, or an
        extract limit of 1): ``None``, every count as for a single process."""
        limit = (limits or self.default_limits()).get(EXTRACT, 1)
        concurrent = min(max(1, self.workers), max(1, int(limit)))
        return share_for(concurrent, cores) if concurrent > 1 else None


@dataclass
class RunSummary:
    """What happened while a caller waited for the queue to drain."""

    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    failed_codes: list[int] = field(default_factory=list)  # exit code of each failure's cause
    cancelled: int = 0
    requeued: int = 0
    paused: bool = False
    interrupted: bool = False
    worker_problems: list[str] = field(default_factory=list)  # workers that could not run
    halted: str | None = None  # work stopped for everyone (disk full): the message
    halted_code: int = 0  # its exit code

    def observe(self, e: ev.JobEvent) -> None:
        if e.kind == ev.HALTED:
            if self.halted is None:
                self.halted, self.halted_code = e.message, int(e.code or 1)
        elif e.kind == ev.DONE:
            self.done += 1
        elif e.kind == ev.FAILED:
            self.failed.append((e.path or f"job {e.job_id}", e.message))
            self.failed_codes.append(e.code or 1)
        elif e.kind == ev.CANCELLED:
            self.cancelled += 1
        elif e.kind == ev.REQUEUED:
            self.requeued += 1
        elif e.kind == ev.WORKER_EXITED and e.message not in ("stopped", "") \
                and e.message not in self.worker_problems:
            self.worker_problems.append(e.message)


# -- the worker process ------------------------------------------------------------------
_TERMINATING = [False]  # set by the SIGTERM handler: whatever fails from now on was cut short
PARENT_CHECK_SECONDS = 0.25  # how often a worker looks for its parent (beside the pipe's EOF)


def _worker_main(db_path: str, index: int, opts: PoolOptions, events: Connection,
                 control: Connection) -> None:  # pragma: no cover - runs in a child process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    from ..logsetup import setup_logging

    setup_logging(opts.log_verbose)
    lower_priority(opts.nice)  # the window and the desktop go first when the cores are busy
    limit_malloc_arenas()  # before any of this worker's threads allocates (runtime.memory)
    owner = owner_name(index)
    send_lock = threading.Lock()

    def send(e: ev.JobEvent) -> None:
        with send_lock:
            try:
                events.send(e)
            except (OSError, EOFError, BrokenPipeError):
                stop.set()

    stop = threading.Event()
    wake = threading.Event()
    cancel = threading.Event()
    current: list[Any] = [None]
    hand_lock = threading.Lock()
    lib = Library(Path(db_path), busy_timeout=opts.busy_timeout)
    queue = JobQueue(lib, max_attempts=opts.max_attempts)

    def hand_back(reason: str) -> None:
        """Release the job in hand now, from this thread (the main one may be deep in a
        model); the main thread's own writes then find the job gone and drop it."""
        with hand_lock:
            job = current[0]
            if job is None:
                return
            try:
                queue.release(job.id, owner, reason)
                log.info("worker %s handed job %s back: %s", owner, job.id, reason)
            except Exception as err:  # noqa: BLE001 - recovered by the next start then
                log.info("worker %s could not hand job %s back: %s", owner, job.id, err)

    def control_loop() -> None:
        parent = os.getppid()
        last_beat = time.monotonic()
        stop_at: float | None = None
        handed = False
        while True:
            gone = False
            try:
                if control.poll(PARENT_CHECK_SECONDS):
                    msg = control.recv()
                    if msg == "stop":
                        stop.set()
                    elif msg == "wake":
                        wake.set()
                    elif msg == "cancel":
                        # the pool saw a cancel request for our job: the heartbeat below
                        # reads it now instead of at the next interval
                        last_beat = 0.0
            except (EOFError, OSError):
                gone = True  # the parent is gone: its end of the pipe closed with it
            if gone or os.getppid() != parent:
                # nobody will read our results: give the job back at once and leave, rather
                # than hold a fresh lease until the work in hand ends (seconds to minutes)
                stop.set()
                hand_back("its app stopped (parent process gone); will resume")
                with contextlib.suppress(Exception):
                    lib.close()
                os._exit(0)
            if stop.is_set():
                if stop_at is None:
                    stop_at = time.monotonic()
                if current[0] is None:
                    break
                # the parent terminates us after its grace period; hand the job back first so
                # whatever the cut-short work raises cannot be recorded as the file's failure
                if not handed and time.monotonic() - stop_at > max(0.5, opts.stop_grace_seconds - 1.5):
                    handed = True
                    hand_back("the worker pool stopped; will resume")
            job = current[0]
            if job is not None and time.monotonic() - last_beat >= opts.heartbeat_seconds:
                last_beat = time.monotonic()
                try:
                    reply = queue.heartbeat(job.id, owner, opts.lease_seconds)
                    if reply.cancel or reply.lost:
                        with hand_lock:  # about this job, not the next one the main thread took
                            if current[0] is job:
                                cancel.set()
                except Exception as err:  # noqa: BLE001 - a locked DB must not kill the heartbeat
                    log.warning("heartbeat for job %s failed: %s", job.id, err)
            elif job is None:
                last_beat = 0.0
        wake.set()

    try:
        services = load_services(opts.services, opts.services_kwargs)
    except Exception as err:  # noqa: BLE001
        log.exception("worker %s cannot start its services", owner)
        send(ev.JobEvent(ev.WORKER_EXITED, message=f"cannot start: {err}", worker=owner))
        return
    ctx = StageContext(lib, queue, services, owner, opts.settle_seconds, emit=send,
                       should_stop=lambda: stop.is_set() or _TERMINATING[0],
                       should_cancel=cancel.is_set)
    threading.Thread(target=control_loop, name="tt-control", daemon=True).start()
    send(ev.JobEvent(ev.WORKER_STARTED, message=f"pid {os.getpid()}", worker=owner))
    limits = opts.default_limits()
    share: int | None = None  # the CPU share in force; None: the whole machine
    claim_errors = 0
    while not stop.is_set():
        try:
            job = queue.claim(owner, os.getpid(), opts.lease_seconds, defaults=limits,
                              forced=opts.forced_limits) \
                if queue.has_claimable() else None
            claim_errors = 0
        except DiskFullError as err:
            send(ev.JobEvent(ev.HALTED, message=str(err), worker=owner, code=err.exit_code))
            break
        except Exception as err:  # noqa: BLE001 - e.g. locked longer than the deadline: try later
            claim_errors += 1
            if claim_errors == 1 or claim_errors % 50 == 0:  # one line, not a traceback a poll
                log.warning("worker %s could not claim a job (%d tries): %s: %s", owner,
                            claim_errors, type(err).__name__, str(err).splitlines()[0][:200])
            log.debug("claim failed", exc_info=True)
            job = None
        if job is None:
            wake.wait(opts.poll_seconds)
            wake.clear()
            continue
        with hand_lock:
            cancel.clear()
            current[0] = job
        if job.stage == EXTRACT:  # before the session (and its models) load, if first
            share = size_for_extraction(opts, queue, limits, share, owner)
        try:
            final = run_claimed(ctx, job)
        finally:
            with hand_lock:
                current[0] = None
        send(final)
        if final.kind == ev.HALTED:
            break
    stop.set()
    lib.close()
    send(ev.JobEvent(ev.WORKER_EXITED, message="stopped", worker=owner))


def size_for_extraction(opts: PoolOptions, queue: JobQueue, defaults: dict[str, int],
                        current: int | None, owner: str = "") -> int | None:
    """Before an extract job: this worker's CPU share (``PoolOptions.extraction_share``)
    from the pool's limits as they are now (the library's may have changed since the start),
    applied to this process when it changed; returns the share in force.  A worker that only
    ever has the whole machine (one worker, an extract limit of 1) changes nothing."""
    try:
        now = queue.stage_limits(defaults=defaults, forced=opts.forced_limits)
    except Exception as err:  # noqa: BLE001 - a locked library: keep the share we have
        log.debug("stage limits unreadable, CPU share kept: %s", err)
        return current
    new = opts.extraction_share(now)
    if new == current:
        return current
    log.info("worker %s: CPU share %s of %d cores", owner, new or "all", machine_cores())
    set_cpu_share(new)
    limit_native_pools(new or machine_cores())
    return new


# -- the pool ----------------------------------------------------------------------------------
@dataclass
class _Worker:
    index: int
    process: Any
    events: Connection
    control: Connection
    owner: str = ""
    job_id: int | None = None
    events_open: bool = True
    started: float = field(default_factory=time.monotonic)


class WorkerPool:
    """Owns the worker processes of one app instance (CLI command, GUI, watcher).

    ``workers=0`` runs jobs in the calling thread (``run_until_idle``), which tests and tiny
    libraries use; the GUI always uses processes.
    """

    def __init__(self, lib_path: Path | str | None = None, options: PoolOptions | None = None,
                 bus: ev.EventBus | None = None) -> None:
        self.options = options or PoolOptions()
        self.lib = open_library(lib_path, busy_timeout=self.options.busy_timeout)
        self.queue = JobQueue(self.lib, max_attempts=self.options.max_attempts)
        self.bus = bus or ev.EventBus()
        self._workers: dict[int, _Worker] = {}
        self._stopping = False
        self._started = False
        self._monitor: threading.Thread | None = None
        self._cond = threading.Condition()
        self._check_gen = 0
        self._idle = False
        self._paused = False
        self._exits: list[float] = []
        self._cancel_seen: dict[int, float] = {}
        self._inline_services: Any = None
        self._halted: ev.JobEvent | None = None  # a HALTED event: no more work this run
        self._parked: set[int] = set()  # worker indexes stopped while idle (``_park_idle``)
        self._idle_since: float | None = None
        self.capacity_note = ""  # why fewer workers started than asked (memory), else ""
        self._mp = mp.get_context("spawn")

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> WorkerPool:
        if self._started:
            return self
        self._started = True
        self._publish_recovered(self.queue.recover_outcomes(), "recovered at start")
        if self.options.stage_limits:
            self.queue.set_stage_limits(self.options.stage_limits)
        fit, why = workers_that_fit(self.options.workers, self.options.memory_per_worker_mb)
        if why:  # four workers on a small laptop would swap, or be killed by the OOM killer
            log.warning("%s", why)
            self.options = dataclasses.replace(self.options, workers=fit)
            self.capacity_note = why
        for i in range(self.options.workers):
            self._spawn(i)
        self._monitor = threading.Thread(target=self._monitor_loop, name="tt-pool-monitor", daemon=True)
        self._monitor.start()
        return self

    def _spawn(self, index: int) -> None:
        ev_r, ev_w = self._mp.Pipe(duplex=False)
        ctl_r, ctl_w = self._mp.Pipe(duplex=False)
        proc = self._mp.Process(target=_worker_main, name=f"trailertagger-worker-{index}",
                                args=(str(self.lib.path), index, self.options, ev_w, ctl_r),
                                daemon=True)
        with _sigint_ignored():
            proc.start()
        ev_w.close()
        ctl_r.close()
        w = _Worker(index, proc, ev_r, ctl_w)
        w.owner = f"{HOST}:{proc.pid}:{index}"
        self._workers[index] = w

    def stop(self, timeout: float | None = None) -> None:
        """Stop workers; jobs in hand go back to the queue (not counted as attempts)."""
        if self._stopping:
            return
        if not self._started:
            self.lib.close()
            return
        self._stopping = True
        grace = self.options.stop_grace_seconds if timeout is None else timeout
        for w in self._workers.values():
            with contextlib.suppress(OSError, BrokenPipeError):
                w.control.send("stop")
        deadline = time.monotonic() + grace
        forced = False
        try:
            for w in self._workers.values():
                w.process.join(max(0.0, deadline - time.monotonic()))
        except KeyboardInterrupt:
            # Ctrl-C again while waiting: stop waiting, but still hand the jobs back below
            # (otherwise they stay "running" and the next start counts a failed attempt)
            forced = True
        with _sigint_deferred() as deferred:  # a few seconds at most; must not be cut short
            stragglers = [w for w in self._workers.values() if w.process.is_alive()]
            for w in stragglers:
                w.process.terminate()
            for w in stragglers:
                w.process.join(2.0)
                if w.process.is_alive():
                    w.process.kill()
                    w.process.join(2.0)
            owners = [w.owner for w in self._workers.values()]
            for _ in range(2):  # a full disk releases the library's reserve: the retry fits
                try:
                    if owners:
                        self.queue.recover(owners=owners, count_attempt=False,
                                           reason="the worker pool stopped; will resume")
                    break
                except DiskFullError:
                    continue
                except Exception as err:  # noqa: BLE001 - the next start recovers them
                    log.warning("could not hand back the jobs of stopped workers: %s", err)
                    break
        forced = forced or deferred[0]
        if self._monitor is not None:
            self._monitor.join(2.0)
        for w in self._workers.values():
            for c in (w.events, w.control):
                with contextlib.suppress(OSError):
                    c.close()
        self._workers.clear()
        self.lib.close()
        if forced:
            raise KeyboardInterrupt

    def __enter__(self) -> WorkerPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- controls --------------------------------------------------------------------------
    def wake(self) -> None:
        """Tell idle workers there is new work (they also poll, this is just faster)."""
        for w in list(self._workers.values()):
            with contextlib.suppress(OSError, BrokenPipeError):
                w.control.send("wake")
        with self._cond:
            self._idle = False
            self._cond.notify_all()

    def pause(self) -> None:
        self.queue.pause()
        self.bus.publish(ev.JobEvent(ev.PAUSED))

    def resume(self) -> None:
        self.queue.resume()
        self.bus.publish(ev.JobEvent(ev.RESUMED))
        self.wake()

    def cancel(self, job_ids: list[int] | None = None) -> int:
        """Cancel queued jobs; running ones within about 0.3 s: the monitor sees the request
        and sends the worker a "cancel", which reads it and sets the job's cancel token."""
        return self.queue.cancel(job_ids)

    def retry_failed(self, job_ids: list[int] | None = None) -> list[int]:
        ids = self.queue.retry(job_ids)
        if ids:
            self.wake()
        return ids

    def set_stage_limits(self, limits: dict[str, int]) -> dict[str, int]:
        out = self.queue.set_stage_limits(limits)
        self.wake()
        return out

    # -- waiting ---------------------------------------------------------------------------
    def events(self, stop: Callable[[ev.JobEvent], bool] | None = None,
               timeout: float | None = None) -> Iterator[ev.JobEvent]:
        return self.bus.stream(stop, timeout)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until a fresh check finds nothing queued or running (or the queue paused)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            gen = self._check_gen
            while not (self._idle and self._check_gen > gen + 1):
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(0.5 if left is None else min(0.5, left))
                if not self._started:
                    return True
        return True

    def run_until_idle(self, on_event: Callable[[ev.JobEvent], None] | None = None,
                       timeout: float | None = None,
                       on_stopping: Callable[[], None] | None = None) -> RunSummary:
        """Process everything queued; the caller sees each event.  Ctrl-C stops the pool
        cleanly (jobs go back to the queue) and re-raises ``KeyboardInterrupt``;
        ``on_stopping`` is called first, so a user knows why the stop takes a moment (a
        busy worker gets ``stop_grace_seconds`` to give its job back)."""
        summary = RunSummary()

        def listen(e: ev.JobEvent) -> None:
            summary.observe(e)
            if on_event is not None:
                on_event(e)

        if self.options.workers == 0:
            self._run_inline(listen, timeout)
            summary.paused = self.queue.is_paused()
            return summary
        unsubscribe = self.bus.subscribe(listen)
        try:
            self.start()
            self.wake()
            self.wait_idle(timeout)
        except KeyboardInterrupt:
            summary.interrupted = True
            if on_stopping is not None:
                on_stopping()
            self.stop()
            raise
        finally:
            unsubscribe()
        summary.paused = self._paused
        return summary

    def _run_inline(self, listen: Callable[[ev.JobEvent], None], timeout: float | None) -> None:
        if self._inline_services is None:
            self._inline_services = load_services(self.options.services, self.options.services_kwargs)
        owner = owner_name("inline")
        interrupted = [False]
        current: list[Any] = [None]
        beat = [0.0, False]  # last heartbeat (monotonic), whether it asked to stop

        def should_cancel() -> bool:
            """The worker processes' heartbeat, inline: at most every heartbeat interval, at
            the stage's progress reports, renew the lease and read a user's cancel."""
            job = current[0]
            if job is None:
                return False
            t = time.monotonic()
            if not beat[1] and t - beat[0] >= self.options.heartbeat_seconds:
                beat[0] = t
                try:
                    reply = self.queue.heartbeat(job.id, owner, self.options.lease_seconds)
                    beat[1] = reply.cancel or reply.lost
                except Exception as err:  # noqa: BLE001 - a locked DB: the next report tries again
                    log.debug("inline heartbeat for job %s failed: %s", job.id, err)
            return beat[1]

        ctx = StageContext(self.lib, self.queue, self._inline_services, owner,
                           self.options.settle_seconds, emit=listen,
                           should_stop=lambda: interrupted[0], should_cancel=should_cancel)
        if not self._started:
            self._started = True
            for r in self.queue.recover_outcomes():
                listen(ev.JobEvent(ev.FAILED if r.failed else ev.REQUEUED, r.job_id, path=r.path,
                                   message=r.reason if r.failed else "recovered at start"))
        limits = {s: 1 for s in STAGES}
        deadline = None if timeout is None else time.monotonic() + timeout
        with _sigint_noted(interrupted):
            while deadline is None or time.monotonic() < deadline:
                try:
                    job = self.queue.claim(owner, os.getpid(), self.options.lease_seconds,
                                           defaults=limits)
                except DiskFullError as err:
                    listen(ev.JobEvent(ev.HALTED, message=str(err), code=err.exit_code))
                    return
                if job is None:
                    if self._queued_waiting():
                        time.sleep(0.1)  # delayed (settling) jobs
                        continue
                    break
                current[0], beat[0], beat[1] = job, time.monotonic(), False
                try:
                    final = run_claimed(ctx, job)
                except KeyboardInterrupt:
                    self.queue.release(job.id, owner, "interrupted")
                    raise
                finally:
                    current[0] = None
                if interrupted[0]:  # Ctrl-C turned into a stage's own error: handed back
                    listen(final)
                    raise KeyboardInterrupt
                listen(final)
                if final.kind == ev.HALTED:
                    return
        listen(ev.JobEvent(ev.IDLE))

    def _queued_waiting(self) -> bool:
        """Jobs this loop may still get: queued in a stage whose limit is not 0 (settling,
        or waiting for a slot another process holds).  A stage set to 0 is on hold: waiting
        for it would never end."""
        limits = self.queue.stage_limits(defaults={s: 1 for s in STAGES})
        open_stages = [st for st in STAGES if limits.get(st, 1) > 0]
        with self.lib.read() as s:
            if get_meta(s, PAUSED_KEY) == "1":
                return False
            return s.execute(select(func.count()).select_from(Job).where(
                Job.status == JOB_QUEUED, Job.stage.in_(open_stages))).scalar_one() > 0

    # -- monitor thread --------------------------------------------------------------------
    def _monitor_loop(self) -> None:
        last_check = 0.0
        last_recover = time.monotonic()
        while not self._stopping:
            conns: list[Any] = []
            for w in list(self._workers.values()):
                if w.events_open:
                    conns.append(w.events)
                conns.append(w.process.sentinel)
            ready = wait(conns, timeout=0.25) if conns else (time.sleep(0.25) or [])
            for obj in ready:
                w = self._worker_for(obj)
                if w is None:
                    continue
                if obj is w.events:
                    self._read_events(w)
                elif not w.process.is_alive() and not self._stopping:
                    self._drain(w)
                    self._worker_exited(w)
            t = time.monotonic()
            if t - last_recover > self.options.lease_seconds / 2:
                last_recover = t
                try:
                    self._publish_recovered(self.queue.recover_outcomes(only_expired=True),
                                            "lease expired")
                except Exception as err:  # noqa: BLE001 - one line: this repeats
                    log.warning("lease recovery failed: %s", str(err).splitlines()[0][:200])
            if t - last_check > 0.3:
                last_check = t
                try:
                    self._check_state()
                except Exception as err:  # noqa: BLE001 - e.g. locked for long: check next time
                    log.warning("queue state check failed: %s", str(err).splitlines()[0][:200])

    def _park_idle(self, idle: bool, work_waiting: bool) -> None:
        """Stop the workers beyond the first after ``park_idle_seconds`` of idleness; start
        them again as soon as work is queued.

        Why: every worker process holds the extraction libraries and models, ~0.8-0.9 GB
        resident after a video (freeing the models alone gives back only ~0.15 GB: the
        rest is torch, ONNX Runtime and CTranslate2 themselves).  With ``workers = "auto"``
        an app left watching folders would keep one such process per core for nothing;
        parked, it keeps one, which also picks up a new video at once (a restarted worker
        needs a few seconds to load).  Called from the monitor thread only."""
        t = time.monotonic()
        if not idle:
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = t
        if self._stopping or self._halted is not None:
            return
        if work_waiting and self._parked:
            for i in sorted(self._parked):
                if i < self.options.workers and i not in self._workers:
                    self._spawn(i)
            # one still shutting down is restarted by ``_worker_exited`` (no longer parked)
            self._parked.clear()
            return
        wait_s = self.options.park_idle_seconds
        if not idle or wait_s <= 0 or self._idle_since is None or t - self._idle_since < wait_s:
            return
        for w in list(self._workers.values()):
            if w.index == 0 or w.index in self._parked:
                continue
            self._parked.add(w.index)
            log.info("worker %s stops after %.0f s idle; it starts again with new work",
                     w.owner, t - self._idle_since)
            with contextlib.suppress(OSError, BrokenPipeError):
                w.control.send("stop")

    def _worker_for(self, obj: Any) -> _Worker | None:
        for w in self._workers.values():
            if obj is w.events or obj == w.process.sentinel:
                return w
        return None

    def _read_events(self, w: _Worker) -> None:
        try:
            while w.events.poll():
                e = w.events.recv()
                if e.kind == ev.STARTED:
                    w.job_id = e.job_id
                elif (e.kind in ev.TERMINAL or e.kind in (ev.STAGE_DONE, ev.REQUEUED, ev.HALTED)) \
                        and e.job_id == w.job_id:
                    w.job_id = None
                if e.kind == ev.HALTED:
                    self._halt(e)
                self.bus.publish(e)
        except (EOFError, OSError):
            w.events_open = False
        except Exception:  # noqa: BLE001 - a message cut short by a killed worker
            log.warning("unreadable message from worker %s", w.owner, exc_info=True)
            w.events_open = False

    def _halt(self, e: ev.JobEvent) -> None:
        """The first disk-full report stops new work everywhere; jobs in hand go back."""
        if self._halted is not None:
            return
        self._halted = e
        log.info("work stopped: %s", e.message)  # the front end shows the message
        for other in list(self._workers.values()):
            with contextlib.suppress(OSError, BrokenPipeError):
                other.control.send("stop")
        with self._cond:
            self._cond.notify_all()

    def _publish_recovered(self, outcomes: list[Recovered], why: str, worker: str | None = None) -> None:
        for r in outcomes:
            if r.failed:
                self.bus.publish(ev.JobEvent(ev.FAILED, r.job_id, path=r.path, message=r.reason,
                                             worker=worker, code=1))
            else:
                self.bus.publish(ev.JobEvent(ev.REQUEUED, r.job_id, path=r.path,
                                             message=why, worker=worker))

    def _drain(self, w: _Worker) -> None:
        if w.events_open:
            self._read_events(w)

    def _worker_exited(self, w: _Worker) -> None:
        code = w.process.exitcode
        self._workers.pop(w.index, None)
        reason = (f"its worker process died (signal {-code})" if code is not None and code < 0
                  else f"its worker process exited with code {code}")
        try:
            # a worker that halted (disk full) or stopped has handed its job back already
            outcomes = self.queue.recover_outcomes(owners=[w.owner], reason=reason,
                                                   cause=death_cause(code))
        except Exception as err:  # noqa: BLE001 - recovered at the next start instead
            log.warning("could not recover jobs of %s: %s", w.owner, err)
            outcomes = []
        self._publish_recovered(outcomes, reason, w.owner)
        parked = w.index in self._parked  # stopped while idle: not news, not to restart
        if not parked:
            self.bus.publish(ev.JobEvent(ev.WORKER_EXITED, message=reason, worker=w.owner))
        for c in (w.events, w.control):
            with contextlib.suppress(OSError):
                c.close()
        if (parked or self._stopping or w.index >= self.options.workers
                or self._halted is not None):
            return
        t = time.monotonic()
        self._exits = [x for x in self._exits if t - x < 60] + [t]
        if len(self._exits) > max(5, 3 * self.options.workers):
            log.error("workers keep dying (%d exits in a minute); not restarting", len(self._exits))
            self.bus.publish(ev.JobEvent(ev.WORKER_EXITED, message="workers keep dying; pool halted"))
            return
        self._spawn(w.index)

    def _check_state(self) -> None:
        with self.lib.read() as s:
            paused = get_meta(s, PAUSED_KEY) == "1"
            rows = s.execute(select(Job.status, Job.stage, func.count())
                             .where(Job.status.in_([JOB_QUEUED, JOB_RUNNING]))
                             .group_by(Job.status, Job.stage)).all()
            cancels = s.execute(select(Job.id, Job.owner).where(
                Job.status == JOB_RUNNING, Job.cancel_requested == True)).all()  # noqa: E712
        limits = self.queue.stage_limits(defaults=self.options.default_limits(),
                                         forced=self.options.forced_limits)
        running = sum(n for st, _, n in rows if st == JOB_RUNNING)
        claimable = sum(n for st, stage, n in rows if st == JOB_QUEUED and limits.get(stage, 1) > 0)
        idle = running == 0 and (claimable == 0 or paused)
        if self.options.workers > 0 and not self._workers and claimable and not paused:
            idle = True  # nobody left to do the work (pool halted): do not wait forever
        if self._halted is not None and not any(w.process.is_alive() for w in self._workers.values()):
            idle = True  # disk full: what is left waits for the next run
        self._park_idle(idle, bool(claimable) and not paused)
        with self._cond:
            if idle and not self._idle:
                self.bus.publish(ev.JobEvent(ev.IDLE, message="paused" if paused else ""))
            self._idle = idle
            self._paused = paused
            self._check_gen += 1
            self._cond.notify_all()
        # a cancel that a busy worker does not honour in time: kill that worker
        t = time.monotonic()
        mine = {w.owner: w for w in self._workers.values()}
        seen = set()
        for job_id, owner in cancels:
            seen.add(job_id)
            w = mine.get(owner or "")
            if job_id not in self._cancel_seen and w is not None:
                # first sight: wake the worker's heartbeat so its cancel token is set now,
                # not up to ``heartbeat_seconds`` later (a long ASR stage then stops within
                # one chunk)
                with contextlib.suppress(OSError, BrokenPipeError):
                    w.control.send("cancel")
            first = self._cancel_seen.setdefault(job_id, t)
            if w is not None and t - first > self.options.cancel_grace_seconds:
                log.warning("worker %s ignored cancel of job %s; terminating it", owner, job_id)
                w.process.kill()
        for job_id in list(self._cancel_seen):
            if job_id not in seen:
                del self._cancel_seen[job_id]


@contextlib.contextmanager
def _sigint_handler(handler: Any) -> Iterator[bool]:
    """SIGINT handled by ``handler`` inside the block, restored after it.

    Yields whether the handler is in place: only the main thread may change handlers (a
    worker re-spawned by the monitor thread is started as is), and some platforms have no
    signals at all.
    """
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    try:
        old = signal.signal(signal.SIGINT, handler)
    except (ValueError, OSError):  # pragma: no cover - no signals here
        yield False
        return
    try:
        yield True
    finally:
        signal.signal(signal.SIGINT, old)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Start children with SIGINT ignored (an ignored signal stays ignored across exec).

    Ctrl-C goes to the whole process group: a worker still importing torch when it arrives
    would print a KeyboardInterrupt traceback before ``_worker_main`` could ignore it.  Only
    the main thread may change handlers; a worker re-spawned by the monitor thread is started
    as is (it ignores SIGINT from its first line on).  The price: a Ctrl-C landing in the
    few milliseconds of fork+exec is dropped (pressing it again works); a traceback on every
    Ctrl-C in the first seconds of a run was the worse deal.
    """
    with _sigint_handler(signal.SIG_IGN):
        yield


@contextlib.contextmanager
def _sigint_noted(flag: list[bool]) -> Iterator[None]:
    """Inline jobs: Ctrl-C sets ``flag`` and interrupts as usual, so a stage whose library
    turns the KeyboardInterrupt into its own error is handed back, not failed."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield  # Ctrl-C is ignored or someone else's to handle here
        return

    def note(signum: int, frame: Any) -> None:
        flag[0] = True
        raise KeyboardInterrupt

    with _sigint_handler(note):
        yield


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[list[bool]]:
    """Hold Ctrl-C back during a short critical section; the flag says one arrived."""
    seen = [False]

    def note(signum: int, frame: Any) -> None:
        seen[0] = True

    with _sigint_handler(note):
        yield seen


def _exit_on_sigterm(signum: int, frame: Any) -> None:  # pragma: no cover - in a worker
    """The pool terminates a worker that does not stop in time: exit through Python, so
    transactions roll back and multiprocessing cleans up (no leaked-semaphore warnings).
    A library that catches the SystemExit (say, mid-import) and raises its own error instead
    cannot fail the job: ``should_stop`` is true from here on."""
    _TERMINATING[0] = True
    raise SystemExit(128 + signum)
