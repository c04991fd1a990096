"""The persistent job queue, in the library database.

A job is a request about one video ("process it", "classify it again") that walks through
stages: ``probe`` (signature, hash, streams, identity), ``extract`` (features, heavy) and
``classify`` (genre head, light).  ``jobs.stages`` holds the stages still to run, current
first; each stage is claimed separately, so per-stage concurrency limits decide how many
extractions run at once while light stages keep flowing beside them.

Guarantees, and how:

* **Claimed once.**  ``claim`` runs in one ``BEGIN IMMEDIATE`` transaction: count running jobs
  per stage, pick the best queued job whose stage has room, mark it running with an owner,
  pid and lease.  Two workers can never get the same job.
* **Queued once.**  A partial unique index allows one active job per video; ``enqueue``
  merges new requests into the active job instead of adding another.
* **Crash recovery.**  Running jobs carry a lease renewed by a heartbeat.  ``recover`` puts
  back jobs whose owner process is gone or whose lease expired; a job whose worker died
  ``max_attempts`` times fails with that reason instead of killing workers forever.
* **Failures never block.**  A failed job records ``error_reason`` (short, for people) and
  ``error_detail`` (traceback); other jobs go on.  ``retry`` re-queues failed jobs.
* **Pause, limits** live in ``library_meta`` so every process that shares the library (CLI,
  GUI, a watcher) obeys them at its next claim.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..library.db import Library, get_meta, now, set_meta
from ..library.schema import (
    JOB_ACTIVE,
    JOB_CANCELLED,
    JOB_DONE,
    JOB_FAILED,
    JOB_QUEUED,
    JOB_RUNNING,
    VIDEO_FAILED,
    VIDEO_MISSING,
    Job,
    JobEventRow,
    Video,
)

PROBE, EXTRACT, CLASSIFY = "probe", "extract", "classify"
STAGES: tuple[str, ...] = (PROBE, EXTRACT, CLASSIFY)
PROCESS_PLAN: tuple[str, ...] = (PROBE, EXTRACT, CLASSIFY)
CLASSIFY_PLAN: tuple[str, ...] = (CLASSIFY,)
DEFAULT_LIMITS: dict[str, int] = {PROBE: 2, EXTRACT: 1, CLASSIFY: 2}
PAUSED_KEY = "queue.paused"
LIMIT_KEY = "queue.limits"
HOST = socket.gethostname()

# Why a worker went away while it held a job.  ``CRASH``: it died of a crash signal or exited
# with an error while working (the file may crash the decoder), counted against the job with
# ``max_attempts``.  ``LOST``: killed from outside (SIGKILL/SIGTERM: the user, the OOM killer,
# a shutdown), its lease ran out, or it is found dead at start-up with no way to know why:
# re-queued without using an attempt, and failed only after ``LOST_FACTOR * max_attempts``
# such losses in a row on the same stage, so a good file is never failed by unrelated kills
# spread over several runs, and a file that gets its worker killed every time still ends.
CRASH, LOST = "crash", "lost"
LOST_FACTOR = 3
CRASH_SIGNALS = frozenset(getattr(signal, n) for n in ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE",
                                                       "SIGABRT", "SIGSYS") if hasattr(signal, n))


def death_cause(exitcode: int | None) -> str:
    """``CRASH`` or ``LOST`` for a worker process's exit code (negative: killed by a signal)."""
    if exitcode is None:
        return LOST
    if exitcode < 0:
        return CRASH if -exitcode in CRASH_SIGNALS else LOST
    if exitcode in (0, 128 + signal.SIGTERM, 128 + signal.SIGINT):
        return LOST  # a clean stop, or our own SIGTERM handler
    return CRASH

log = logging.getLogger(__name__)


class LostJob(Exception):
    """The job is no longer ours (recovered and claimed elsewhere, or cancelled)."""


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    video_id: int
    path: str
    stage: str
    plan: tuple[str, ...]
    profile: str
    attempts: int
    kind: str


@dataclass(frozen=True)
class Recovered:
    """One job ``recover`` acted on."""

    job_id: int
    path: str | None
    failed: bool  # True: it ended failed (``reason`` says why); False: re-queued or cancelled
    reason: str


@dataclass(frozen=True)
class HeartbeatReply:
    cancel: bool  # the user asked to cancel this job
    lost: bool  # the job is not ours any more: stop working on it


def plan_str(plan: Sequence[str]) -> str:
    return ",".join(plan)


def merge_plans(active: Sequence[str], wanted: Sequence[str], running: bool) -> list[str]:
    """The plan of an active job asked to also do ``wanted``.

    A queued job simply does the union, in pipeline order.  A running job keeps its current
    stage; the wanted stages follow it unless its remaining stages already cover them (a new
    ``probe`` always re-runs: the file changed after the running probe looked at it).
    """
    if not running:
        want = set(active) | set(wanted)
        return [s for s in STAGES if s in want]
    current, rest = list(active[:1]), list(active[1:])
    if PROBE in wanted or not set(wanted) <= set(rest):
        if PROBE not in wanted:
            return current + [s for s in STAGES if s in set(rest) | set(wanted)]
        return current + list(wanted)
    return current + rest


def pid_alive(pid: int | None) -> bool:
    """Is a process with this pid running here (zombies count as dead)?"""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # pragma: no cover - e.g. Windows semantics
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
        return state != b"Z"
    except (OSError, IndexError):
        return True


class JobQueue:
    """Operations on the queue; every method is one short write transaction."""

    def __init__(self, lib: Library, *, max_attempts: int = 3) -> None:
        self.lib = lib
        self.max_attempts = max_attempts

    # -- adding ----------------------------------------------------------------------------
    def enqueue(self, video_ids: Iterable[int], plan: Sequence[str] = PROCESS_PLAN, *,
                profile: str = "default", priority: int = 0, reason: str = "") -> list[int]:
        """Queue ``plan`` for each video (merged into an active job if there is one)."""
        with self.lib.session() as s:
            return [jid for vid in video_ids
                    if (jid := enqueue_in(s, vid, plan, profile=profile, priority=priority,
                                          reason=reason)) is not None]

    # -- claiming --------------------------------------------------------------------------
    def stage_limits(self, session: Session | None = None,
                     defaults: dict[str, int] | None = None,
                     forced: dict[str, int] | None = None) -> dict[str, int]:
        """``defaults``, then what the library stores (``jobs limits``), then ``forced`` (this
        pool's own, e.g. a cluster's width for ``extract``; never stored)."""
        limits = dict(DEFAULT_LIMITS if defaults is None else defaults)

        def read(s: Session) -> None:
            raw = get_meta(s, LIMIT_KEY)
            if raw:
                try:
                    limits.update({k: int(v) for k, v in json.loads(raw).items() if k in STAGES})
                except (ValueError, AttributeError, TypeError):
                    log.warning("ignoring malformed %s: %r", LIMIT_KEY, raw)

        if session is not None:
            read(session)
        else:
            with self.lib.read() as s:
                read(s)
        limits.update(forced or {})
        return limits

    def set_stage_limits(self, limits: dict[str, int]) -> dict[str, int]:
        """Change per-stage concurrency for every process sharing the library, now."""
        bad = [k for k in limits if k not in STAGES]
        if bad:
            raise ValueError(f"unknown stage(s) {bad}; stages are {', '.join(STAGES)}")
        with self.lib.session() as s:
            # only what was ever set is stored: a stage nobody set keeps following the
            # pool's default (which depends on its number of workers)
            stored = self.stage_limits(s, defaults={})
            stored.update({k: max(0, int(v)) for k, v in limits.items()})
            set_meta(s, LIMIT_KEY, json.dumps(stored, sort_keys=True))
            return {**DEFAULT_LIMITS, **stored}

    def has_claimable(self) -> bool:
        """Cheap read-only probe so idle workers do not take the write lock every poll."""
        with self.lib.read() as s:
            if get_meta(s, PAUSED_KEY) == "1":
                return False
            t = now()
            return s.execute(
                select(Job.id).where(Job.status == JOB_QUEUED,
                                     (Job.not_before.is_(None)) | (Job.not_before <= t)).limit(1)
            ).first() is not None

    def claim(self, owner: str, pid: int, lease_seconds: float = 30.0,
              stages: Sequence[str] = STAGES, defaults: dict[str, int] | None = None,
              forced: dict[str, int] | None = None) -> ClaimedJob | None:
        """Atomically take the next job whose stage has a free slot (None: nothing to do)."""
        with self.lib.session() as s:
            if get_meta(s, PAUSED_KEY) == "1":
                return None
            limits = self.stage_limits(s, defaults, forced)
            running = dict(s.execute(
                select(Job.stage, func.count()).where(Job.status == JOB_RUNNING).group_by(Job.stage)
            ).all())
            free = [st for st in stages if running.get(st, 0) < limits.get(st, 1)]
            if not free:
                return None
            t = now()
            job = s.execute(
                select(Job).where(Job.status == JOB_QUEUED, Job.stage.in_(free),
                                  (Job.not_before.is_(None)) | (Job.not_before <= t))
                .order_by(Job.priority.desc(), Job.id).limit(1)
            ).scalar_one_or_none()
            if job is None:
                return None
            job.status = JOB_RUNNING
            job.owner, job.owner_pid = owner, pid
            job.lease_until = t + lease_seconds
            job.attempts += 1
            job.started_at = job.started_at or t
            job.updated_at = t
            job.progress = 0.0
            job.not_before = None
            _event(s, job.id, "started", job.stage, f"{owner} (attempt {job.attempts})")
            path = s.execute(select(Video.path).where(Video.id == job.video_id)).scalar_one()
            return ClaimedJob(job.id, job.video_id, path, job.stage, tuple(job.stage_list),
                              job.profile, job.attempts, job.kind)

    def heartbeat(self, job_id: int, owner: str, lease_seconds: float = 30.0,
                  progress: float | None = None, message: str | None = None) -> HeartbeatReply:
        with self.lib.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.status != JOB_RUNNING or job.owner != owner:
                return HeartbeatReply(cancel=False, lost=True)
            t = now()
            job.lease_until = t + lease_seconds
            job.updated_at = t
            if progress is not None:
                job.progress = float(progress)
            if message is not None:
                job.message = message
            return HeartbeatReply(cancel=bool(job.cancel_requested), lost=False)

    # -- finishing a stage -----------------------------------------------------------------
    def complete_stage(self, job_id: int, owner: str | None, next_plan: Sequence[str] | None = None,
                       message: str | None = None) -> bool:
        """Pop the current stage (or replace what follows with ``next_plan``).

        Returns True when the whole job is done.
        """
        with self.lib.session() as s:
            job = owned_in(s, job_id, owner)
            return complete_stage_in(s, job, next_plan, message)

    def restart(self, job_id: int, owner: str | None, plan: Sequence[str], reason: str,
                delay: float = 0.0, count_attempt: bool = False) -> None:
        """Put a running job back in the queue with a new plan (e.g. the file changed)."""
        with self.lib.session() as s:
            job = owned_in(s, job_id, owner)
            _requeue(s, job, reason, plan=plan, delay=delay, count_attempt=count_attempt)

    def release(self, job_id: int, owner: str | None, reason: str = "worker stopped") -> None:
        """Give a running job back untouched (pool shutting down): not an attempt."""
        with self.lib.session() as s:
            try:
                job = owned_in(s, job_id, owner)
            except LostJob:
                return
            _requeue(s, job, reason, count_attempt=False)

    def fail(self, job_id: int, owner: str | None, reason: str, detail: str | None = None) -> None:
        with self.lib.session() as s:
            job = owned_in(s, job_id, owner)
            fail_in(s, job, reason, detail)

    def mark_cancelled(self, job_id: int, owner: str | None, reason: str = "cancelled by user") -> None:
        with self.lib.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.status not in JOB_ACTIVE or (
                    owner is not None and job.status == JOB_RUNNING and job.owner != owner):
                return
            _finish(s, job, JOB_CANCELLED, reason)

    # -- user controls ---------------------------------------------------------------------
    def cancel(self, job_ids: Iterable[int] | None = None) -> int:
        """Cancel queued jobs now; ask running ones to stop.  ``None`` = every active job."""
        with self.lib.session() as s:
            q = select(Job).where(Job.status.in_(JOB_ACTIVE))
            if job_ids is not None:
                q = q.where(Job.id.in_(list(job_ids)))
            n = 0
            for job in s.execute(q).scalars():
                if job.status == JOB_QUEUED:
                    _finish(s, job, JOB_CANCELLED, "cancelled by user")
                else:
                    job.cancel_requested = True
                    _event(s, job.id, "cancel_requested", job.stage, None)
                n += 1
            return n

    def retry(self, job_ids: Iterable[int] | None = None, include_cancelled: bool = False) -> list[int]:
        """Queue failed (and optionally cancelled) jobs again from the stage that stopped.

        A job whose video already has another active job is left alone (that job covers it).
        """
        states = [JOB_FAILED] + ([JOB_CANCELLED] if include_cancelled else [])
        with self.lib.session() as s:
            q = select(Job).where(Job.status.in_(states))
            if job_ids is not None:
                q = q.where(Job.id.in_(list(job_ids)))
            busy = set(s.execute(select(Job.video_id).where(Job.status.in_(JOB_ACTIVE))).scalars())
            out = []
            for job in s.execute(q.order_by(Job.id)).scalars():
                if job.video_id in busy:
                    continue
                video = s.get(Video, job.video_id)
                if video is None or video.status == VIDEO_MISSING:
                    continue
                busy.add(job.video_id)
                t = now()
                job.status = JOB_QUEUED
                job.attempts = 0
                job.error_reason = job.error_detail = None
                job.cancel_requested = False
                job.finished_at = None
                job.not_before = None
                job.updated_at = t
                if not job.stage_list:
                    job.stages, job.stage = plan_str(PROCESS_PLAN), PROBE
                if video.status == VIDEO_FAILED:
                    video.error_reason = None
                _event(s, job.id, "retried", job.stage, None)
                out.append(job.id)
            return out

    def pause(self) -> None:
        with self.lib.session() as s:
            set_meta(s, PAUSED_KEY, "1")

    def resume(self) -> None:
        with self.lib.session() as s:
            set_meta(s, PAUSED_KEY, "0")

    def is_paused(self) -> bool:
        with self.lib.read() as s:
            return get_meta(s, PAUSED_KEY) == "1"

    # -- recovery --------------------------------------------------------------------------
    def recover(self, *, only_expired: bool = False, owners: Iterable[str] | None = None,
                reason: str | None = None, count_attempt: bool = True,
                cause: str | None = None) -> list[int]:
        """Put back running jobs whose worker is gone; returns their ids (see
        :meth:`recover_outcomes`, which also says which ones ended failed)."""
        return [r.job_id for r in self.recover_outcomes(
            only_expired=only_expired, owners=owners, reason=reason,
            count_attempt=count_attempt, cause=cause)]

    def recover_outcomes(self, *, only_expired: bool = False, owners: Iterable[str] | None = None,
                         reason: str | None = None, count_attempt: bool = True,
                         cause: str | None = None) -> list[Recovered]:
        """Put back running jobs whose worker is gone.

        Default (at start-up): jobs whose owner pid is dead on this host, or whose lease
        expired.  ``only_expired``: lease expiry alone (periodic check while other pools run).
        ``owners``: exactly these owners' jobs (a pool knows its dead worker).
        ``count_attempt=False``: a deliberate stop (nothing is counted).  Otherwise the loss
        is recorded as a ``cause`` event (``CRASH`` or ``LOST``, default ``LOST``: unknown) and
        the job fails once this stage has seen ``max_attempts`` crashes (the file probably
        crashes the decoder) or ``LOST_FACTOR * max_attempts`` other losses.
        """
        t = now()
        out: list[Recovered] = []
        kind = cause or LOST
        with self.lib.session() as s:
            q = select(Job).where(Job.status == JOB_RUNNING)
            if owners is not None:
                q = q.where(Job.owner.in_(list(owners)))
            for job in s.execute(q).scalars():
                expired = job.lease_until is None or job.lease_until < t
                local = bool(job.owner) and job.owner.startswith(HOST + ":")
                dead = local and not pid_alive(job.owner_pid)
                if owners is None and not (expired or (dead and not only_expired)):
                    continue
                why = reason or ("its worker process is gone" if dead or owners is not None
                                 else "its worker stopped sending heartbeats")
                path = s.execute(select(Video.path).where(Video.id == job.video_id)).scalar()
                if job.cancel_requested:
                    _finish(s, job, JOB_CANCELLED, "cancelled by user")
                    out.append(Recovered(job.id, path, False, "cancelled by user"))
                    continue
                if not count_attempt:
                    _requeue(s, job, f"recovered: {why}", count_attempt=False)
                    out.append(Recovered(job.id, path, False, why))
                    continue
                _event(s, job.id, kind, job.stage, why)
                n = losses_in(s, job.id, kind)
                limit = self.max_attempts if kind == CRASH else LOST_FACTOR * self.max_attempts
                if n >= limit:
                    if kind == CRASH:
                        msg = (f"{why}: the worker crashed {n} times on this file at stage "
                               f"{job.stage}; the file may crash the decoder")
                    else:
                        msg = (f"{why}: its worker was stopped {n} times in a row while "
                               f"processing this file at stage {job.stage}")
                    fail_in(s, job, msg, None)
                    out.append(Recovered(job.id, path, True, msg))
                else:
                    _requeue(s, job, f"recovered: {why}", count_attempt=False)
                    out.append(Recovered(job.id, path, False, why))
        return out

    def counts(self) -> dict[str, int]:
        with self.lib.read() as s:
            return dict(s.execute(select(Job.status, func.count()).group_by(Job.status)).all())

    def active_count(self) -> int:
        with self.lib.read() as s:
            return s.execute(
                select(func.count()).select_from(Job).where(Job.status.in_(JOB_ACTIVE))
            ).scalar_one()

    def purge_finished(self, older_than_s: float = 0.0) -> int:
        """Drop done/cancelled jobs (and their history) older than ``older_than_s``."""
        from sqlalchemy import delete

        with self.lib.session() as s:
            r = s.execute(delete(Job).where(Job.status.in_([JOB_DONE, JOB_CANCELLED]),
                                            Job.updated_at < now() - older_than_s))
            return int(r.rowcount or 0)


# -- helpers usable inside an existing transaction ----------------------------------------
def _event(s: Session, job_id: int, event: str, stage: str | None, message: str | None) -> None:
    s.add(JobEventRow(job_id=job_id, time=now(), event=event, stage=stage, message=message))


def losses_in(s: Session, job_id: int, kind: str) -> int:
    """``kind`` events (``CRASH``/``LOST``) of the job's current stage since it last moved on
    (a finished stage or a user's retry starts the count again)."""
    job = s.get(Job, job_id)
    stage = job.stage if job is not None else None
    last = s.execute(select(func.max(JobEventRow.id)).where(
        JobEventRow.job_id == job_id,
        JobEventRow.event.in_(["stage_done", "retried"]))).scalar() or 0
    return int(s.execute(select(func.count()).select_from(JobEventRow).where(
        JobEventRow.job_id == job_id, JobEventRow.event == kind, JobEventRow.stage == stage,
        JobEventRow.id > last)).scalar_one())


def owned_in(s: Session, job_id: int, owner: str | None) -> Job:
    """The running job ``job_id`` held by ``owner`` (None: by anyone); else ``LostJob``."""
    job = s.get(Job, job_id)
    if job is None or job.status != JOB_RUNNING or (owner is not None and job.owner != owner):
        raise LostJob(f"job {job_id} is no longer owned by {owner}")
    return job


def enqueue_in(s: Session, video_id: int, plan: Sequence[str] = PROCESS_PLAN, *,
               profile: str = "default", priority: int = 0, reason: str = "") -> int | None:
    """Queue ``plan`` for one video inside the caller's transaction; returns the job id."""
    plan = [p for p in plan if p in STAGES]
    if not plan:
        return None
    job = s.execute(
        select(Job).where(Job.video_id == video_id, Job.status.in_(JOB_ACTIVE))
    ).scalar_one_or_none()
    t = now()
    if job is not None:
        merged = merge_plans(job.stage_list, plan, running=job.status == JOB_RUNNING)
        if merged != job.stage_list:
            job.stages = plan_str(merged)
            job.stage = merged[0]
            job.updated_at = t
            job.priority = max(job.priority, priority)
            _event(s, job.id, "merged", job.stage, f"now {job.stages}" + (f" ({reason})" if reason else ""))
        return job.id
    job = Job(video_id=video_id, kind="process" if PROBE in plan else "classify",
              stages=plan_str(plan), stage=plan[0], status=JOB_QUEUED, priority=priority,
              profile=profile, attempts=0, progress=0.0, cancel_requested=False,
              created_at=t, updated_at=t)
    s.add(job)
    s.flush()
    _event(s, job.id, "queued", job.stage, reason or None)
    return job.id


def complete_stage_in(s: Session, job: Job, next_plan: Sequence[str] | None = None,
                      message: str | None = None) -> bool:
    done_stage = job.stage
    rest = list(next_plan) if next_plan is not None else job.stage_list[1:]
    _event(s, job.id, "stage_done", done_stage, message)
    t = now()
    job.updated_at = t
    job.owner = job.owner_pid = job.lease_until = None
    job.attempts = 0
    if message:
        job.message = message
    if not rest:
        job.stages = ""
        job.status = JOB_DONE
        job.progress = 1.0
        job.finished_at = t
        _event(s, job.id, "done", done_stage, None)
        return True
    job.stages = plan_str(rest)
    job.stage = rest[0]
    job.status = JOB_QUEUED
    job.progress = 0.0
    return False


def _requeue(s: Session, job: Job, reason: str, plan: Sequence[str] | None = None,
             delay: float = 0.0, count_attempt: bool = False) -> None:
    t = now()
    if plan is not None:
        job.stages, job.stage = plan_str(plan), plan[0]
    if not count_attempt:
        job.attempts = max(0, job.attempts - 1)
    job.status = JOB_QUEUED
    job.owner = job.owner_pid = job.lease_until = None
    job.not_before = t + delay if delay else None
    job.message = reason
    job.updated_at = t
    job.progress = 0.0
    _event(s, job.id, "requeued", job.stage, reason)


def _finish(s: Session, job: Job, status: str, reason: str | None) -> None:
    t = now()
    job.status = status
    job.owner = job.owner_pid = job.lease_until = None
    job.finished_at = job.updated_at = t
    if status != JOB_DONE:
        job.error_reason = reason
    _event(s, job.id, status, job.stage, reason)


def fail_in(s: Session, job: Job, reason: str, detail: str | None) -> None:
    _finish(s, job, JOB_FAILED, reason)
    job.error_detail = detail
    video = s.get(Video, job.video_id)
    if video is not None and video.status != VIDEO_MISSING:
        video.status = VIDEO_FAILED
        video.error_reason = reason
        video.updated_at = now()


def active_job_ids(s: Session, video_ids: Iterable[int]) -> dict[int, int]:
    ids = list(video_ids)
    if not ids:
        return {}
    return dict(s.execute(select(Job.video_id, Job.id).where(
        Job.video_id.in_(ids), Job.status.in_(JOB_ACTIVE))).all())


def cancel_for_videos(s: Session, video_ids: Iterable[int], reason: str) -> int:
    r = s.execute(update(Job).where(Job.video_id.in_(list(video_ids)), Job.status == JOB_QUEUED)
                  .values(status=JOB_CANCELLED, error_reason=reason, finished_at=now(), updated_at=now())
                  .execution_options(synchronize_session=False))
    return int(r.rowcount or 0)
