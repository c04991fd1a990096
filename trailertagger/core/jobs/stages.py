"""The three stages a video goes through, and the one function that runs a claimed stage.

* ``probe``: signature, content hash, streams, thumbnail; identity (moved → the old row is
  adopted with its tags; copied → manual corrections are inherited; edited → auto rows go
  stale).  It also trims the plan: cached features skip ``extract``; a current
  classification skips ``classify`` (an unchanged file costs one hash).
* ``extract``: ``ExtractionSession.run`` in a warm worker.  The file's signature is checked
  before and after: a file changed mid-way is re-queued (after the settle delay); a vanished
  file is marked missing and the job fails saying so.  When the feature cache cannot be
  written the features still in memory are classified right there, and the job says why
  they were not cached.
* ``classify``: cached features → active head → auto rows (manual rows untouched).

Heavy work happens *outside* transactions; each stage ends with one transaction that writes
its results and advances the job together, so a crash at any point leaves either the old or
the new state, never half of one, and the job simply runs that stage again.

Everything with side effects outside the database goes through a ``Services`` object (real:
``DefaultServices``; tests inject fakes by import path, since worker processes are spawned).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import Cancelled, DiskFullError, MediaError, TrailerTaggerError
from ..features.types import FeatureSet
from ..library import identity, queries
from ..library.classification import (
    active_head_key,
    note_active_head,
    register_head,
    store_predictions,
)
from ..library.db import Library, now
from ..library.schema import (
    VIDEO_MISSING,
    VIDEO_PENDING,
    VIDEO_READY,
    FeatureCacheEntry,
    Job,
    JobEventRow,
    Video,
)
from ..progress import CancelToken, Progress, fraction
from . import events as ev
from .queue import (
    CLASSIFY,
    EXTRACT,
    HOST,
    PROBE,
    PROCESS_PLAN,
    ClaimedJob,
    JobQueue,
    LostJob,
    complete_stage_in,
    fail_in,
    owned_in,
)

log = logging.getLogger(__name__)

DEFAULT_SERVICES = "trailertagger.core.jobs.stages:DefaultServices"


# -- services ------------------------------------------------------------------------------
class Services(Protocol):
    """Everything a stage needs from the outside world."""

    def signature(self, path: Path) -> tuple[int, int]: ...
    def content_hash(self, path: Path) -> str: ...
    def probe(self, path: Path) -> Any: ...  # ProbeInfo
    def thumbnail(self, path: Path, content_hash: str, duration: float) -> Path | None: ...
    def extraction_session(self, profile: str) -> Any: ...  # .run(path, progress) -> ExtractionResult
    def features_cached(self, content_hash: str, profile: str) -> bool: ...
    def load_features(self, content_hash: str, profile: str) -> FeatureSet | None: ...
    def head(self) -> Any: ...  # GenreHead: model_id, version, kind, thresholds, predict(fs)


class DefaultServices:
    """The real thing: PyAV probe, the feature pipeline, the active ONNX/zero-shot head.

    Imports are lazy so a worker that only probes never loads torch, and a GUI process that
    only reads the library never loads anything heavy.
    """

    def __init__(self, cfg: dict[str, Any] | None = None) -> None:
        from ..config import load_config

        self.cfg = cfg if cfg is not None else load_config()
        self._sessions: dict[str, Any] = {}
        self._head: Any = None
        self._head_key: object = object()
        self._store: Any = None

    def signature(self, path: Path) -> tuple[int, int]:
        from ..media.identity import file_signature

        return file_signature(path)

    def content_hash(self, path: Path) -> str:
        from ..media.identity import content_hash

        return content_hash(path)

    def probe(self, path: Path) -> Any:
        from ..media.probe import probe

        return probe(path)

    def thumbnail(self, path: Path, content_hash: str, duration: float) -> Path | None:
        from ..library.thumbnails import make_thumbnail
        from ..paths import app_dirs

        return make_thumbnail(path, content_hash, duration, app_dirs().cache / "thumbnails")

    def extraction_session(self, profile: str) -> Any:
        if profile not in self._sessions:
            from ..pipeline import ExtractionSession

            device = str(self.cfg.get("extract", {}).get("device", "cpu"))
            self._sessions[profile] = ExtractionSession(profile, self.cfg, device,
                                                        store=self.store)
        return self._sessions[profile]

    @property
    def store(self) -> Any:
        if self._store is None:
            from ..models.store import ModelStore

            self._store = ModelStore.from_config(self.cfg)
        return self._store

    def _cache(self) -> Any:
        from ..features.cache import FeatureCache
        from ..paths import app_dirs

        return FeatureCache(app_dirs().features)

    def features_cached(self, content_hash: str, profile: str) -> bool:
        fs = self.load_features(content_hash, profile)
        if fs is None:
            return False

        from ..extractors.base import profile_extractors
        from ..pipeline import stale_extractors

        return not stale_extractors(fs, profile_extractors(profile), self.cfg.get("media", {}))

    def load_features(self, content_hash: str, profile: str) -> FeatureSet | None:
        fs = self._cache().load(content_hash)
        if fs is None:
            return None
        from ..extractors.base import profile_extractors
        from ..pipeline import profile_view

        return profile_view(fs, profile_extractors(profile), profile)

    def head(self) -> Any:
        """The active head, reloaded only when the activation pointer or the settings file
        changes (``[classify] max_genres`` saved in the app applies to the next
        classification, not to the next start of the workers)."""
        from ..classify import runtime
        from ..paths import app_dirs

        dirs = app_dirs()
        pointer = Path(dirs.heads) / runtime.ACTIVE_FILE
        try:
            st = pointer.stat()
            key: object = (st.st_mtime_ns, st.st_size, pointer.read_text(encoding="utf-8"))
        except OSError:
            key = None
        try:
            cst = Path(dirs.config_file).stat()
            key = (key, cst.st_ino, cst.st_mtime_ns, cst.st_size)  # saved atomically: a new inode
        except OSError:
            key = (key, None)
        if self._head is None or key != self._head_key:
            self._head = runtime.active_head(dirs, self.store)
            self._head_key = key
        return self._head


def load_services(spec: str, kwargs: dict[str, Any] | None = None) -> Services:
    """``"package.module:factory"`` → ``factory(**kwargs)`` (importable in a spawned worker)."""
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"services spec must be 'module:callable', got {spec!r}")
    return getattr(importlib.import_module(module), name)(**(kwargs or {}))


# -- control flow between a stage and the runner -----------------------------------------
class JobCancelled(Exception):
    """The user cancelled the job while it ran."""


class JobInterrupted(Exception):
    """The pool is stopping: give the job back untouched."""


class StageFailed(Exception):
    def __init__(self, reason: str, detail: str | None = None, missing: bool = False,
                 code: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.missing = missing  # also mark the video's file missing
        self.code = code  # the CLI exit code this cause maps to (4: a model is missing)


class Restart(Exception):
    """Put the job back with ``plan`` (the file changed under us)."""

    def __init__(self, reason: str, plan: tuple[str, ...] = PROCESS_PLAN, delay: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.plan = plan
        self.delay = delay


Apply = Callable[[Session, Job], "tuple[list[str] | None, str | None]"]


@dataclass
class StageContext:
    lib: Library
    queue: JobQueue
    services: Services
    owner: str
    settle_seconds: float = 2.0
    emit: Callable[[ev.JobEvent], None] = lambda e: None
    should_stop: Callable[[], bool] = lambda: False
    should_cancel: Callable[[], bool] = lambda: False
    progress_interval: float = 0.2

    def cancel_token(self) -> CancelToken:
        """The token a stage passes down (pipeline, extractors): cancelled when the user
        cancels the job or the pool is stopping; ``stop_reason`` tells which."""
        return CancelToken(checks=(self.should_cancel, self.should_stop))

    def stop_reason(self) -> Exception:
        """``JobCancelled`` when the user asked, else ``JobInterrupted`` (pool stopping)."""
        return JobCancelled() if self.should_cancel() else JobInterrupted()

    def reporter(self, job: ClaimedJob) -> Progress:
        """A ``Progress`` for ``job`` that also stops work when asked to (``JobCancelled``,
        ``JobInterrupted``); events at most every ``progress_interval`` seconds."""
        last = [0.0]
        fold = StageFraction()

        def report(stage: str, done: float, total: float | None) -> None:
            if self.should_cancel():
                raise JobCancelled()
            if self.should_stop():
                raise JobInterrupted()
            value = fold.update(str(stage), fraction(done, total))
            t = time.monotonic()
            if t - last[0] >= self.progress_interval:
                last[0] = t
                self.emit(ev.JobEvent(ev.PROGRESS, job.id, job.video_id, job.path, job.stage,
                                      value, str(stage), self.owner))

        return report


class StageFraction:
    """One rising 0..1 for a stage from its sub-steps' own fractions.

    A stage reports several sub-steps, each with its own done/total: the extraction loads
    models ("load ..."), decodes the soundtrack ("audio") *while* it decodes pictures
    ("frames", "scenes"), then runs the extractors ("extract", one label per extractor).
    Sent as they came, the fractions of interleaved sub-steps made the app's percentage jump
    (37, 99, 20, 80).  Known sub-steps get a share of the stage (weights below, by their
    usual cost); any other label is the stage's own fraction.  The result never goes down.
    """

    WEIGHTS = {"load": 0.05, "audio": 0.15, "pictures": 0.30, "extract": 0.50}

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}
        self.value = 0.0

    @staticmethod
    def group(label: str) -> str:
        if label.startswith("load"):
            return "load"
        if label == "audio":
            return "audio"
        if label in ("frames", "scenes"):
            return "pictures"
        return "extract"

    def update(self, label: str, frac: float) -> float:
        group = self.group(label)
        if group == "extract" and not self.parts and label != "extract":
            # a stage without sub-steps (probe, classify): its own fraction
            self.value = max(self.value, frac)
            return self.value
        self.parts[group] = max(self.parts.get(group, 0.0), frac)
        if group == "extract" and frac >= 1.0:  # the extractors end the stage: all read
            self.value = 1.0
            return 1.0
        total = sum(self.WEIGHTS[g] * f for g, f in self.parts.items())
        self.value = max(self.value, min(1.0, total))
        return self.value


def _video_facts(lib: Library, video_id: int) -> Video:
    with lib.read() as s:
        v = s.get(Video, video_id)
        if v is None:
            raise LostJob(f"video {video_id} was removed from the library")
        s.expunge(v)
        return v


def _missing_fail(reason: str) -> StageFailed:
    return StageFailed(reason, missing=True)


def _media_reason(err: MediaError) -> str:
    return f"{err.reason}" + (f": {err.detail}" if err.detail else "")


# -- probe -----------------------------------------------------------------------------------
def stage_probe(ctx: StageContext, job: ClaimedJob, report: Progress) -> Apply:
    v = _video_facts(ctx.lib, job.video_id)
    path = Path(v.path)
    svc = ctx.services
    if not path.is_file():
        raise _missing_fail("file not found (deleted or moved before it was processed)")
    try:
        sig = svc.signature(path)
        report("hash", 0.1, 1.0)
        chash = svc.content_hash(path)
        sig2 = svc.signature(path)
    except FileNotFoundError:
        raise _missing_fail("file vanished while it was being read") from None
    except OSError as err:
        raise StageFailed(f"cannot read the file: {err.strerror or err}") from None
    if sig != sig2:
        raise Restart("the file is still being written; will look again once it settles",
                      tuple(job.plan), delay=ctx.settle_seconds)
    report("probe", 0.5, 1.0)
    probe_error: str | None = None
    info = None
    try:
        info = svc.probe(path)
    except MediaError as err:
        if err.reason == "not_found":
            raise _missing_fail("file vanished while it was being probed") from None
        probe_error = _media_reason(err)
    thumb = None
    if info is not None and (v.thumbnail is None or v.content_hash != chash):
        report("thumbnail", 0.8, 1.0)
        thumb = svc.thumbnail(path, chash, float(info.duration or 0.0))
    want_extract = EXTRACT in job.plan[1:] and probe_error is None
    features_cached = want_extract and svc.features_cached(chash, job.profile)

    def apply(s: Session, job_row: Job) -> tuple[list[str] | None, str | None]:
        video = s.get(Video, job_row.video_id)
        assert video is not None
        notes: list[str] = []
        # the library's identity rules: moved → adopt the old row, copy → inherit
        # corrections, edited → auto rows stale, returned → present again
        video, outcome = identity.apply_content_hash(s, video, chash, sig, job_row)
        if outcome.moved_from:
            notes.append(f"moved from {outcome.moved_from}")
        if outcome.copied_from:
            notes.append(f"copy of {outcome.copied_from}: corrections copied")
        if outcome.content_changed:
            notes.append("content changed")
        hash_changed = outcome.content_changed
        if info is not None:
            video.duration = float(info.duration or 0.0) or None
            video.container = info.container or None
            video.streams = json.dumps([asdict(st) for st in info.streams])
        if thumb is not None:
            video.thumbnail = str(thumb)
        video.updated_at = now()
        if probe_error is not None:
            raise StageFailed(f"not a usable video: {probe_error}")
        rest = list(job_row.stage_list[1:])
        if EXTRACT in rest and features_cached:
            rest.remove(EXTRACT)
            notes.append("features cached")
        if CLASSIFY in rest and not hash_changed and _classification_current(s, video):
            rest.remove(CLASSIFY)
            notes.append("classification current")
        if not rest:
            video.status = VIDEO_READY if video.classified_head_id is not None else VIDEO_PENDING
            video.error_reason = None
        return rest, "; ".join(notes) or None

    return apply


def _classification_current(s: Session, video: Video) -> bool:
    key = active_head_key(s)
    if key is None or video.classified_head_id is None:
        return False
    head = register_head(s, *key)
    if video.classified_head_id != head.id:
        return False
    stale = s.execute(select(Video.id).where(Video.id == video.id, queries.stale_clause())).first()
    return stale is None


# -- extract -----------------------------------------------------------------------------------
def stage_extract(ctx: StageContext, job: ClaimedJob, report: Progress) -> Apply:
    v = _video_facts(ctx.lib, job.video_id)
    path = Path(v.path)
    svc = ctx.services
    if not path.is_file():
        raise _missing_fail("file not found (deleted or moved before extraction)")
    try:
        sig = svc.signature(path)
    except FileNotFoundError:
        raise _missing_fail("file vanished before extraction") from None
    if sig != (v.size, v.mtime_ns):
        raise Restart("the file changed after it was probed; re-queued", delay=ctx.settle_seconds)
    session = svc.extraction_session(job.profile)
    try:
        result = session.run(path, progress=report, cancel=ctx.cancel_token())
    except (JobCancelled, JobInterrupted, DiskFullError):
        raise
    except Cancelled:  # seen by an extractor between its chunks
        raise ctx.stop_reason() from None
    except MediaError as err:
        if err.reason == "changed_during_processing":
            raise Restart("the file was modified while it was being read; re-queued",
                          delay=ctx.settle_seconds) from None
        if not path.exists():
            raise _missing_fail("file deleted while it was being processed") from None
        raise StageFailed(f"cannot decode the video: {_media_reason(err)}") from None
    except TrailerTaggerError as err:  # read-only cache, missing model weights, ...
        raise StageFailed(str(err), traceback.format_exc(), code=err.exit_code) from None
    except MemoryError:
        raise StageFailed("out of memory while extracting features") from None
    except Exception as err:  # noqa: BLE001 - an extractor bug must fail one job, not the pool
        if not path.exists():
            raise _missing_fail("file deleted while it was being processed") from None
        raise StageFailed(f"feature extraction failed: {type(err).__name__}: {err}",
                          traceback.format_exc()) from None
    if not path.is_file():
        raise _missing_fail("file deleted while it was being processed")
    try:
        after = svc.signature(path)
    except FileNotFoundError:
        raise _missing_fail("file deleted while it was being processed") from None
    if after != sig or result.content_hash != v.content_hash:
        raise Restart("the file was replaced while it was being processed; re-queued",
                      delay=ctx.settle_seconds)
    feature_path = getattr(result, "feature_path", None)
    cached = feature_path is not None and Path(feature_path).exists()
    warnings = list(getattr(result, "warnings", []) or [])
    inline = None
    if not cached and CLASSIFY in job.plan[1:]:
        # the cache could not be written: classify what we hold now rather than lose it
        head = svc.head()
        inline = (head, _predict(head, result.features))
    fs: FeatureSet = result.features

    def apply(s: Session, job_row: Job) -> tuple[list[str] | None, str | None]:
        rest = list(job_row.stage_list[1:])
        notes = [w for w in warnings]
        if cached:
            _record_features(s, result.content_hash, job.profile, Path(feature_path), fs)
        else:
            notes.append("features not cached" + ("" if warnings else " (cache not writable)"))
        if inline is not None:
            head, probs = inline
            video = s.get(Video, job_row.video_id)
            assert video is not None
            _store(s, video, head, probs)
            rest = [r for r in rest if r != CLASSIFY]
            notes.append(f"classified in memory by {head.model_id}")
        if fs.missing:
            notes.append("missing: " + ", ".join(f"{k} ({w})" for k, w in sorted(fs.missing.items())))
        return rest, "; ".join(notes) or None

    return apply


def _record_features(s: Session, chash: str, profile: str, path: Path, fs: FeatureSet) -> None:
    entry = s.execute(select(FeatureCacheEntry).where(
        FeatureCacheEntry.content_hash == chash, FeatureCacheEntry.profile == profile)
    ).scalar_one_or_none()
    if entry is None:
        entry = FeatureCacheEntry(content_hash=chash, profile=profile, path=str(path), created_at=now())
        s.add(entry)
    entry.path = str(path)
    try:
        entry.size = path.stat().st_size
    except OSError:
        entry.size = 0
    entry.created_at = now()
    entry.modalities = json.dumps(fs.lengths())
    entry.missing = json.dumps(fs.missing)


def _predict(head: Any, fs: FeatureSet) -> Any:
    """The head's ``runtime.Prediction`` (probabilities, emitted genres, state, why)."""
    from ..classify.runtime import predict_detail

    try:
        return predict_detail(head, fs)
    except Exception as err:  # noqa: BLE001
        raise StageFailed(f"the genre head {getattr(head, 'model_id', '?')} failed: "
                          f"{type(err).__name__}: {err}", traceback.format_exc()) from None


def _store(s: Session, video: Video, head: Any, pred: Any) -> list[str]:
    """Record ``head``'s prediction for ``video``; returns the genres that are on."""
    head_row, stale = note_active_head(s, str(head.model_id), str(getattr(head, "version", "") or ""),
                                       str(getattr(head, "kind", "") or ""))
    if stale:
        log.info("head changed to %s: %d auto rows marked stale", head.model_id, stale)
    return store_predictions(s, video, head_row, pred.probs,
                             dict(getattr(head, "thresholds", {}) or {}), on=pred.on,
                             evidence_state=pred.evidence_state,
                             explanations=pred.explanations, suggestions=pred.suggestions)


# -- classify ------------------------------------------------------------------------------------
def stage_classify(ctx: StageContext, job: ClaimedJob, report: Progress) -> Apply:
    v = _video_facts(ctx.lib, job.video_id)
    if v.content_hash is None:
        raise Restart("the file was never probed; processing it first")
    report("load features", 0.1, 1.0)
    fs = ctx.services.load_features(v.content_hash, job.profile)
    if fs is None:
        with ctx.lib.read() as s:
            extracted = s.execute(select(JobEventRow.id).where(
                JobEventRow.job_id == job.id, JobEventRow.event == "stage_done",
                JobEventRow.stage == EXTRACT).limit(1)).first()
        if extracted is not None:
            raise StageFailed("features vanished from the cache right after extraction")
        if v.status == VIDEO_MISSING:
            raise StageFailed("features are not cached and the file is missing")

        def need_extract(s: Session, job_row: Job) -> tuple[list[str] | None, str | None]:
            return [EXTRACT, CLASSIFY] + [r for r in job_row.stage_list[1:] if r != CLASSIFY], \
                "features not cached; extracting first"

        return need_extract
    report("classify", 0.5, 1.0)
    head = ctx.services.head()
    probs = _predict(head, fs)

    def apply(s: Session, job_row: Job) -> tuple[list[str] | None, str | None]:
        video = s.get(Video, job_row.video_id)
        assert video is not None
        if video.content_hash != v.content_hash:
            raise Restart("the file changed while it was being classified")
        on = _store(s, video, head, probs)
        state = f" ({probs.evidence_state})" if probs.evidence_state else ""
        return None, f"{head.model_id}{state}: {', '.join(on) or 'no genre above threshold'}"

    return apply


STAGE_FUNCS: dict[str, Callable[[StageContext, ClaimedJob, Progress], Apply]] = {
    PROBE: stage_probe,
    EXTRACT: stage_extract,
    CLASSIFY: stage_classify,
}

MAX_RESTARTS = 20  # a file that keeps changing is given up on after this many looks


def run_claimed(ctx: StageContext, job: ClaimedJob) -> ev.JobEvent:
    """Run one claimed stage to its end and record the outcome; returns the final event.

    Never raises for a job's own failure: that is written to the job.  ``LostJob`` (someone
    else owns it now) is swallowed too: the other owner will finish it.  A full disk is
    nobody's failure: the job goes back to the queue untouched and the event is ``HALTED``
    (the caller stops taking work).  A stage that fails *because* the pool is stopping (an
    interrupt that reached a library mid-import comes out as that library's own error) is
    handed back, never failed.
    """
    try:
        return _run_claimed(ctx, job)
    except DiskFullError as err:
        return _halt(ctx, job, err)


def _halt(ctx: StageContext, job: ClaimedJob, err: DiskFullError) -> ev.JobEvent:
    ctx.lib.release_reserve()
    for _ in range(2):  # the second try has the reserve's space
        try:
            ctx.queue.release(job.id, ctx.owner, "stopped: the disk is full; will resume")
            break
        except DiskFullError:
            continue
        except Exception as exc:  # noqa: BLE001 - recovered at the next start instead
            log.info("job %s could not be handed back: %s", job.id, exc)
            break
    log.info("job %s at stage %s stopped: %s", job.id, job.stage, err)
    return ev.JobEvent(ev.HALTED, job.id, job.video_id, job.path, job.stage, None, str(err),
                       ctx.owner, code=err.exit_code)


def _hand_back(ctx: StageContext, job: ClaimedJob, why: str) -> ev.JobEvent:
    log.info("job %s stage %s stopped by the pool (%s); handed back", job.id, job.stage, why)
    ctx.queue.release(job.id, ctx.owner, "the worker pool stopped; will resume")
    return ev.JobEvent(ev.REQUEUED, job.id, job.video_id, job.path, job.stage, None,
                       "pool stopping", ctx.owner)


def _run_claimed(ctx: StageContext, job: ClaimedJob) -> ev.JobEvent:
    ctx.emit(ev.JobEvent(ev.STARTED, job.id, job.video_id, job.path, job.stage, 0.0,
                         f"attempt {job.attempts}", ctx.owner))
    report = ctx.reporter(job)
    func = STAGE_FUNCS.get(job.stage)

    def event(kind: str, message: str = "", fraction: float | None = None,
              code: int | None = None) -> ev.JobEvent:
        return ev.JobEvent(kind, job.id, job.video_id, job.path, job.stage, fraction, message,
                           ctx.owner, code=code)

    try:
        if func is None:
            raise StageFailed(f"unknown stage {job.stage!r}")
        apply = func(ctx, job, report)
        with ctx.lib.session() as s:
            job_row = owned_in(s, job.id, ctx.owner)
            next_plan, message = apply(s, job_row)
            done = complete_stage_in(s, job_row, next_plan, message)
        log.debug("job %s stage %s done%s: %s", job.id, job.stage, " (job done)" if done else "",
                  message or "")
        return event(ev.DONE if done else ev.STAGE_DONE, message or "", 1.0)
    except DiskFullError:
        raise  # run_claimed halts
    except StageFailed as err:
        if not err.missing and ctx.should_stop():
            return _hand_back(ctx, job, err.reason)
        if err.missing and _moved_meanwhile(ctx.lib, job):
            # the watcher saw a rename while we read the old path: not gone, just elsewhere
            reason = "the file was moved while it was being processed; re-queued at its new path"
            with contextlib.suppress(LostJob):
                ctx.queue.restart(job.id, ctx.owner, tuple(job.plan), reason, count_attempt=True)
            return event(ev.REQUEUED, reason)
        try:
            with ctx.lib.session() as s:
                job_row = owned_in(s, job.id, ctx.owner)
                if err.missing:
                    video = s.get(Video, job_row.video_id)
                    if video is not None:
                        identity.mark_missing(s, [video], err.reason)
                fail_in(s, job_row, err.reason, err.detail)
        except LostJob:
            return event(ev.REQUEUED, "job was taken over elsewhere")
        # INFO: into the log file only (the console shows WARNING+; the CLI prints failures)
        log.info("job %s failed at stage %s: %s: %s", job.id, job.stage, job.path, err.reason)
        if err.detail:
            log.debug("job %s detail:\n%s", job.id, err.detail)
        return event(ev.FAILED, err.reason, code=err.code)
    except Restart as err:
        try:
            if job.attempts >= MAX_RESTARTS:
                ctx.queue.fail(job.id, ctx.owner, f"gave up: {err.reason} ({job.attempts} times)")
                return event(ev.FAILED, err.reason)
            ctx.queue.restart(job.id, ctx.owner, err.plan, err.reason, err.delay, count_attempt=True)
        except LostJob:
            pass
        log.info("job %s re-queued at stage %s: %s: %s", job.id, job.stage, job.path, err.reason)
        return event(ev.REQUEUED, err.reason)
    except JobCancelled:
        ctx.queue.mark_cancelled(job.id, ctx.owner)
        return event(ev.CANCELLED, "cancelled by user")
    except JobInterrupted:
        ctx.queue.release(job.id, ctx.owner, "the worker pool stopped; will resume")
        return event(ev.REQUEUED, "pool stopping")
    except LostJob as err:
        return event(ev.REQUEUED, str(err))
    except TrailerTaggerError as err:  # e.g. the active head's model file is missing
        if ctx.should_stop():
            return _hand_back(ctx, job, str(err))
        log.info("job %s failed at stage %s: %s: %s", job.id, job.stage, job.path, err)
        try:
            ctx.queue.fail(job.id, ctx.owner, str(err), traceback.format_exc())
        except LostJob:
            return event(ev.REQUEUED, "job was taken over elsewhere")
        except Exception:  # noqa: BLE001 - e.g. the database itself is gone
            log.exception("could not record the failure of job %s", job.id)
        return event(ev.FAILED, str(err), code=err.exit_code)
    except Exception as err:  # noqa: BLE001 - e.g. a bug in a stage; the job records it
        if ctx.should_stop():
            return _hand_back(ctx, job, f"{type(err).__name__}: {err}")
        log.exception("job %s stage %s crashed", job.id, job.stage)
        reason = f"internal error in stage {job.stage}: {type(err).__name__}: {err}"
        try:
            ctx.queue.fail(job.id, ctx.owner, reason, traceback.format_exc())
        except LostJob:
            pass
        except Exception:  # noqa: BLE001 - e.g. the database itself is gone
            log.exception("could not record the failure of job %s", job.id)
        return event(ev.FAILED, reason)


def _moved_meanwhile(lib: Library, job: ClaimedJob) -> bool:
    """Does the library now place this job's video at another path, where a file exists?"""
    with lib.read() as s:
        path = s.execute(select(Video.path).where(Video.id == job.video_id)).scalar()
    return path is not None and path != job.path and os.path.isfile(path)


def owner_name(index: int | str) -> str:
    return f"{HOST}:{os.getpid()}:{index}"
