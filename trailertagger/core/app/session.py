"""``LibrarySession``: everything a person can do to one library, in one place.

The CLI and the desktop app are adapters over this object: the CLI parses arguments, calls a
method and prints the result; the app calls the same method from a background task and shows
the result.  So a rule (re-run skips missing files, export refuses options that do not apply,
activating a head marks old predictions stale, ...) exists once, here or in the domain module
it calls.  Reads go through read-only sessions; every write is one transaction (Anki's
undoable operations for corrections).  Nothing here imports Qt.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select

from ..config import load_config
from ..errors import ConfigError
from ..extractors.base import PROFILES
from ..jobs.queue import CLASSIFY_PLAN, PROCESS_PLAN, STAGES, JobQueue, active_job_ids
from ..jobs.watcher import (
    ScanResult,
    add_watched_folder,
    remove_watched_folder,
    scan_folder,
    watched_folder_paths,
)
from ..library import corrections, queries
from ..library.db import Library, open_library
from ..library.identity import UNSTORABLE_NAME, display_path, purge_missing, storable_path
from ..library.queries import CHUNK, JobRecord, VideoRecord
from ..library.schema import (
    JOB_ACTIVE,
    JOB_CANCELLED,
    JOB_FAILED,
    JOB_QUEUED,
    JOB_RUNNING,
    VIDEO_MISSING,
    Job,
    Video,
)
from ..library.writers import ExportOptions, get_writer
from ..paths import AppDirs, app_dirs
from ..progress import Progress
from . import heads as head_rules
from .jobs_view import FailedJob, JobsOverview, RunningJob, build_overview
from .records import FolderInfo, Row, StatusReport
from .selection import Resolved, Selection, resolve

log = logging.getLogger(__name__)


@dataclass
class RerunResult:
    """What ``rerun`` queued, and the videos it left alone because their file is missing."""

    jobs: list[int] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # paths of missing videos selected
    missing_named: list[str] = field(default_factory=list)  # ... that the user named one by one
    unknown: list[str] = field(default_factory=list)  # named paths not in the library


@dataclass
class JobsChange:
    """What a cancel or retry did, and the job ids it could not act on (with why)."""

    count: int = 0
    jobs: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


class LibrarySession:
    """One open library with the user's settings and folders (see the module doc)."""

    def __init__(self, lib: Library, cfg: dict[str, Any] | None = None,
                 dirs: AppDirs | None = None, *, sync_head: bool = True) -> None:
        self.lib = lib
        self.cfg = cfg if cfg is not None else load_config()
        self.dirs = dirs or app_dirs()
        self.queue = JobQueue(lib, max_attempts=int(self.cfg.get("jobs", {}).get("max_attempts", 3)))
        if sync_head:
            self.sync_head()

    @classmethod
    def open(cls, path: Path | str | None = None, cfg: dict[str, Any] | None = None,
             **kwargs: Any) -> LibrarySession:
        """Open (and migrate) the library at ``path`` (default: the user's)."""
        return cls(open_library(path), cfg, **kwargs)

    @property
    def path(self) -> Path:
        return self.lib.path

    def close(self) -> None:
        self.lib.close()

    def __enter__(self) -> LibrarySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- settings ------------------------------------------------------------------------
    def profile(self, name: str | None = None) -> str:
        """``name`` or the configured extractor profile, checked against the known ones."""
        profile = name or str(self.cfg["extract"]["profile"])
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}; known: {', '.join(sorted(PROFILES))}")
        return profile

    @staticmethod
    def profiles() -> list[str]:
        return sorted(PROFILES)

    def profile_problem(self, profile: str | None = None) -> str | None:
        """What ``profile`` (default: the configured one) lacks to run, said once (None: it
        can run).  Front ends check this before queueing work, not per video."""
        from . import models_view

        return models_view.profile_problem(models_view.store_for(self.cfg), self.profile(profile))

    def model_infos(self) -> list[Any]:
        """Every model: status, source, size, licence, and whether the profile needs it."""
        from . import models_view

        return models_view.model_infos(models_view.store_for(self.cfg), self.profile())

    def fetch_model(self, model_id: str, progress: Any = None, cancel: Any = None) -> Any:
        from . import models_view

        return models_view.fetch_model(self.cfg, model_id, progress, cancel)

    @staticmethod
    def devices() -> list[str]:
        """The devices a user may pick: the CPU, and CUDA only when torch sees a GPU."""
        from ..runtime.devices import cuda_available

        return ["cpu"] + (["cuda"] if cuda_available() else [])

    def apply_settings(self, changes: dict[tuple[str, str], Any],
                       path: Path | None = None) -> dict[str, Any]:
        """Write ``changes`` to the settings file (checked with the file's own rules, written
        atomically, comments kept) and use the new settings in this session."""
        from .settings_file import write_settings

        self.cfg = write_settings(changes, path)
        return self.cfg

    # -- reading -------------------------------------------------------------------------
    def resolve(self, sel: Selection) -> tuple[list[int], Resolved]:
        """The ids a selection names (sorted) and its resolution (unknown paths, ...)."""
        with self.lib.read() as s:
            res = resolve(s, _without_ids(sel))
            if sel.ids is None:
                return list(s.execute(res.ids_query()).scalars()), res
            ids: list[int] = []
            wanted = sorted(set(sel.ids))
            for start in range(0, len(wanted), CHUNK):
                part = wanted[start:start + CHUNK]
                ids.extend(s.execute(res.ids_query().where(Video.id.in_(part))).scalars())
            return ids, res

    def ids(self, sel: Selection) -> list[int]:
        return self.resolve(sel)[0]

    def unknown(self, sel: Selection) -> list[str]:
        """The paths ``sel`` names that are not in the library."""
        if not sel.paths:
            return []
        with self.lib.read() as s:
            return resolve(s, _without_ids(sel)).unknown

    def records(self, sel: Selection = Selection(), *, limit: int | None = None,
                order: str = "path") -> Iterator[VideoRecord]:
        """Videos with their effective genres, streamed (an export of 100,000 rows)."""
        with self.lib.read() as s:
            if sel.ids is None:
                yield from queries.iter_videos(s, resolve(s, sel).query, order=order, limit=limit)
                return
            base = resolve(s, _without_ids(sel)).query
            wanted = list(dict.fromkeys(sel.ids))
            n = 0
            for start in range(0, len(wanted), CHUNK):
                part = wanted[start:start + CHUNK]
                for rec in queries.iter_videos(s, base.where(Video.id.in_(part)), order=order):
                    if limit is not None and n >= limit:
                        return
                    n += 1
                    yield rec

    def records_for(self, ids: Sequence[int]) -> dict[int, VideoRecord]:
        return {r.id: r for r in self.records(Selection.of_ids(tuple(ids)))}

    def record(self, key: int | str) -> VideoRecord | None:
        with self.lib.read() as s:
            return queries.get_video(s, key)

    def count(self, sel: Selection = Selection()) -> int:
        if sel.ids is not None:
            return len(self.ids(sel))
        with self.lib.read() as s:
            q = resolve(s, sel).query
            return int(s.execute(select(func.count()).select_from(q.subquery())).scalar_one())

    def rows(self, sel: Selection = Selection()) -> list[Row]:
        """The light part of every matching video (no genre rows): what a table sorts,
        counts and shows status from."""
        with self.lib.read() as s:
            # in batches: one ``all()`` of 100,000 rows holds the GIL for 0.15 s
            return [Row(*r) for r in queries.bulk_rows(s, _light(resolve(s, sel).query))]

    def rows_for(self, ids: Sequence[int]) -> dict[int, Row]:
        out: dict[int, Row] = {}
        wanted = list(dict.fromkeys(ids))
        with self.lib.read() as s:
            for start in range(0, len(wanted), CHUNK):
                q = queries.video_query(ids=wanted[start:start + CHUNK])
                out.update((r[0], Row(*r)) for r in s.execute(_light(q)).all())
        return out

    def genre_counts(self, sel: Selection | None = None) -> dict[str, int]:
        """Videos per genre; with ``sel`` (a view's filter) within what it selects, by the
        rule of ``Selection.for_counts`` (counts follow the other filters)."""
        with self.lib.read() as s:
            if sel is None:
                return queries.genre_counts(s)
            return queries.genre_counts(s, resolve(s, sel.for_counts()).query)

    # -- what the views sort by, and a selection's mixed state (issue 11) -----------------
    def genre_probabilities(self, genre: str, sel: Selection | None = None) -> dict[int, float]:
        """video id -> automatic probability of ``genre`` (within ``sel`` if given)."""
        with self.lib.read() as s:
            within = resolve(s, _without_ids(sel)).query if sel is not None else None
            return queries.genre_probabilities(s, genre, within)

    def genre_text(self, sel: Selection | None = None) -> dict[int, str]:
        """video id -> its effective genres as the table shows them (for sorting by them)."""
        with self.lib.read() as s:
            within = resolve(s, _without_ids(sel)).query if sel is not None else None
            return queries.effective_genre_text(s, within)

    def genre_summary(self, ids: Sequence[int] | Selection) -> dict[str, int]:
        """genre -> how many of these videos (ids, or a ``Selection``: one query however
        many it selects) have it on: all, none, or some (mixed)."""
        with self.lib.read() as s:
            if isinstance(ids, Selection):
                return queries.genre_summary(s, within=resolve(s, _without_ids(ids)).query)
            return queries.genre_summary(s, ids)

    def applicable(self, ids: Sequence[int]) -> Applicability:
        """Which per-video actions apply to these videos, with counts (a context menu's
        rules: re-run needs a present file, cancel an active job, clear a correction...)."""
        return applicability(self, ids)

    def evidence(self, video_id: int) -> Any:
        """What the video's genres rest on (``app.evidence.Evidence``): scene times,
        transcript and on-screen text with times, top sound and music tags from the feature
        cache, each genre's probability, threshold and explanation from the library."""
        from ..library.schema import FeatureCacheEntry
        from . import evidence as evmod

        rec = self.record(video_id)
        if rec is None:
            raise ConfigError(f"no video with id {video_id}")
        ev = evmod.Evidence(video_id=rec.id, path=rec.path, content_hash=rec.content_hash,
                            duration=rec.duration, model_id=rec.model_id)
        ev.genres = [evmod.GenreEvidence(g, st.probability, st.threshold, st.on, st.source,
                                         rec.explanations.get(g, ""))
                     for g, st in rec.states.items()]
        if not rec.content_hash:
            ev.note = "not probed yet: no features"
            return ev
        with self.lib.read() as s:
            paths = [Path(p) for p in s.execute(
                select(FeatureCacheEntry.path)
                .where(FeatureCacheEntry.content_hash == rec.content_hash)).scalars()]
        fs = evmod.load_features(paths, self.dirs.features, rec.content_hash)
        if fs is None:
            ev.note = "no features in the cache (not extracted yet, or the cache was cleared)"
            return ev
        return evmod.from_featureset(ev, fs)

    def scene_thumbnails(self, ev: Any) -> list[Path | None]:
        """Small cached pictures at ``ev.scene_times`` (taken the first time: call it off the
        GUI thread)."""
        from . import evidence as evmod

        if not ev.content_hash or not ev.scene_times:
            return []
        limit = int(self.cfg.get("library", {}).get("scene_cache_mb", 200)) * 2**20
        return evmod.scene_thumbnails(Path(ev.path), ev.content_hash, ev.scene_times,
                                      self.dirs.cache / "scenes", max_bytes=limit)

    def jobs(self, status: str | Sequence[str] | None = None,
             limit: int | None = 50) -> list[JobRecord]:
        with self.lib.read() as s:
            return queries.jobs(s, status=status, limit=limit)

    def status(self, failures: int = 10) -> StatusReport:
        with self.lib.read() as s:
            counts = queries.counts(s)
            job_counts = queries.job_counts(s)
            failed = queries.jobs(s, status=JOB_FAILED, limit=failures)
        limits = self.effective_limits()
        workers, note = self.worker_count()
        return StatusReport(
            library=str(self.path), counts=counts, job_counts=job_counts,
            paused=self.queue.is_paused(), stage_limits={k: limits[k] for k in STAGES},
            watched_folders=[f.path for f in self.folders(check=False)], failures=failed,
            head=head_rules.active_identity(self.dirs), workers=workers, workers_note=note)

    def worker_count(self) -> tuple[int, str]:
        """How many worker processes a pool started now with these settings would run, and
        why: ``[jobs] workers`` (``"auto"``: one per core, at most ``AUTO_MAX_WORKERS``),
        then fewer when the memory available now would not hold them."""
        from ..config import is_auto
        from ..jobs.worker import AUTO_MAX_WORKERS, PoolOptions
        from ..runtime.memory import workers_that_fit
        from ..runtime.threads import machine_cores

        opts = PoolOptions.from_config(self.cfg)
        notes = ([f"auto: one per core, {machine_cores()} here, at most {AUTO_MAX_WORKERS}"]
                 if is_auto(self.cfg.get("jobs", {}).get("workers", "auto")) else [])
        if opts.workers == 0:
            notes.append("in the caller's process")
        n, why = workers_that_fit(opts.workers, opts.memory_per_worker_mb)
        if why:
            notes.append(why)
        return n, "; ".join(notes)

    def jobs_overview(self, failed_limit: int | None = 200) -> JobsOverview:
        """The queue per stage (queued, running, failed, limit), each running job with its
        progress and whether a cancel is pending, failed then cancelled jobs with reasons
        (newest first) and the pause flag: the jobs panel and ``jobs overview`` read this."""
        with self.lib.read() as s:
            job_counts = queries.job_counts(s)
            running = [RunningJob(j.id, j.video_id, p, j.stage, float(j.progress or 0.0),
                                  bool(j.cancel_requested), j.owner)
                       for j, p in s.execute(
                           select(Job, Video.path).join(Video, Video.id == Job.video_id)
                           .where(Job.status == JOB_RUNNING).order_by(Job.started_at, Job.id)).all()]
            failed = [FailedJob(j.id, j.video_id, j.path, j.stage, j.status,
                                j.error_reason or "unknown reason", j.finished_at)
                      for j in queries.jobs(s, status=(JOB_FAILED, JOB_CANCELLED),
                                            limit=failed_limit)]
            paused = self.queue.is_paused()
        failed.sort(key=lambda f: (f.status != JOB_FAILED, -(f.finished_at or 0.0)))
        return build_overview(job_counts, self.effective_limits(), running, failed, paused)

    def pause_note(self) -> str:
        """What pausing means right now (``jobs pause`` prints it, the app shows it)."""
        from .jobs_view import pause_note

        return pause_note(self.jobs_overview(failed_limit=0))

    def folders(self, check: bool = True) -> list[FolderInfo]:
        """The watched folders; ``check`` looks whether each is there (a network share that
        is gone can take seconds to say so: call it off the GUI thread)."""
        return [FolderInfo(p, os.path.isdir(p) if check else True, rec)
                for _, p, rec in watched_folder_paths(self.lib)]

    # -- folders and scanning ------------------------------------------------------------
    @staticmethod
    def folder_problems(folders: Iterable[Path]) -> list[str]:
        """Why some of ``folders`` cannot be scanned or watched (empty when all can)."""
        out: list[str] = []
        for f in folders:
            if not f.is_dir():
                out.append(f"not a folder: {display_path(f)}")
            elif not storable_path(str(f.absolute())):
                out.append(f"{display_path(f)}: {UNSTORABLE_NAME.replace('file', 'folder')}")
        return out

    def scan(self, folders: Sequence[Path] = (), *, profile: str | None = None,
             progress: Progress | None = None,
             on_skipped: Callable[[str, str], None] | None = None) -> dict[str, ScanResult]:
        """Scan ``folders`` (each becomes watched), or every watched folder when none are
        named; a watched folder that is not there is reported through ``on_skipped``."""
        profile = self.profile(profile)
        problems = self.folder_problems(folders)
        if problems:
            raise ConfigError("; ".join(problems))
        targets = [Path(f) for f in folders]
        if not targets:
            known = self.folders()
            if not known:
                raise ConfigError("no watched folders yet: name a folder to scan")
            for f in known:
                if f.present:
                    targets.append(Path(f.path))
                elif on_skipped is not None:
                    on_skipped(f.path, "folder not found (unmounted drive?)")
        results: dict[str, ScanResult] = {}
        for folder in targets:
            def step(_stage: str, done: float, total: float | None, folder: Path = folder) -> None:
                if progress is not None:  # the stage a caller sees is the folder
                    progress(str(folder), done, total)

            results[str(folder)] = scan_folder(self.lib, folder, profile=profile, progress=step)
        return results

    def add_folder(self, folder: Path, *, scan: bool = True,
                   profile: str | None = None) -> ScanResult | None:
        """Watch ``folder``; with ``scan`` also queue its videos now."""
        problems = self.folder_problems([folder])
        if problems:
            raise ConfigError("; ".join(problems))
        if scan:
            return self.scan([folder], profile=profile)[str(folder)]
        add_watched_folder(self.lib, folder)
        return None

    def remove_folder(self, folder: Path | str) -> bool:
        """Stop watching; the folder's videos keep their genres and corrections."""
        return remove_watched_folder(self.lib, folder)

    # -- re-running ----------------------------------------------------------------------
    def rerun(self, sel: Selection, *, full: bool = False, stale_only: bool = False,
              profile: str | None = None) -> RerunResult:
        """Queue classification (``full``: probe and extraction too) for the selected videos.

        Only automatic genre rows are ever replaced: corrections stay.  Missing files are
        skipped and reported (their jobs would fail); ``stale_only`` keeps the videos that
        were never classified or whose predictions come from another head."""
        profile = self.profile(profile)
        ids, res = self.resolve(sel)
        out = RerunResult(unknown=res.unknown)
        if res.unknown:
            return out
        keep: list[int] = []
        with self.lib.read() as s:
            old = (Video.classified_head_id.is_(None) | queries.stale_clause()).label("old")
            for start in range(0, len(ids), CHUNK):
                part = ids[start:start + CHUNK]
                for vid, status, path, is_old in s.execute(
                        select(Video.id, Video.status, Video.path, old)
                        .where(Video.id.in_(part))).all():
                    if status == VIDEO_MISSING:
                        out.missing.append(path)
                        if path in res.named_files:
                            out.missing_named.append(path)
                    elif is_old or not stale_only:
                        keep.append(vid)
        out.jobs = self.queue.enqueue(keep, PROCESS_PLAN if full else CLASSIFY_PLAN,
                                      profile=profile, reason="re-run requested")
        return out

    # -- corrections (undoable) ----------------------------------------------------------
    def correct(self, ids: Sequence[int], changes: Sequence[corrections.GenreChange],
                progress: Progress | None = None) -> corrections.Edit:
        """Apply ``changes`` to every video in ``ids`` in one transaction; undoable."""
        with self.lib.session() as s:
            return corrections.apply_changes_in(s, list(ids), changes, progress=progress)

    def undo(self, edit: corrections.Edit) -> None:
        corrections.undo(self.lib, edit)

    def reextract(self, sel: Selection, *, profile: str | None = None) -> RerunResult:
        """Probe, extract and classify again (the feature cache of these videos is
        recomputed where its extractor versions changed); corrections stay."""
        return self.rerun(sel, full=True, profile=profile)

    def clear_corrections(self, ids: Sequence[int]) -> corrections.Edit:
        """Forget every correction of these videos (the model decides again); undoable."""
        return corrections.clear_all_manual(self.lib, ids)

    @staticmethod
    def parse_changes(tokens: Iterable[str]) -> list[corrections.GenreChange]:
        try:
            return corrections.parse_changes(tokens)
        except corrections.CorrectionError as err:
            raise ConfigError(str(err)) from None

    # -- export --------------------------------------------------------------------------
    def export(self, sel: Selection, fmt: str, options: ExportOptions | None = None) -> Any:
        """Write the selected videos with the writer registered as ``fmt``; returns its
        ``ExportReport``.  Options that do not apply to ``fmt`` are refused up front."""
        options = options or ExportOptions()
        writer = get_writer(fmt)
        writer.check(options)
        return writer.write(self.records(sel), options)

    # -- purge ---------------------------------------------------------------------------
    def missing(self, sel: Selection = Selection()) -> list[VideoRecord]:
        from dataclasses import replace

        return list(self.records(replace(sel, missing=True)))

    def purge(self, ids: Sequence[int] | None = None) -> int:
        """Erase missing videos (these, or all of them) with their genres, for good."""
        return purge_missing(self.lib, None if ids is None else list(ids))

    # -- the queue -----------------------------------------------------------------------
    def pause(self) -> None:
        self.queue.pause()

    def resume(self) -> None:
        self.queue.resume()

    def is_paused(self) -> bool:
        return self.queue.is_paused()

    def active_jobs(self) -> int:
        return self.queue.active_count()

    def cancel_jobs(self, ids: Sequence[int] | None = None) -> JobsChange:
        """Cancel jobs (all active ones with ``None``): queued now, running at their next step."""
        skipped = [] if ids is None else self._not_in_state(ids, (JOB_QUEUED, JOB_RUNNING))
        return JobsChange(self.queue.cancel(None if ids is None else list(ids)), [], skipped)

    def cancel_videos(self, video_ids: Sequence[int]) -> int:
        """Cancel the active jobs of these videos."""
        jobs: list[int] = []
        with self.lib.read() as s:
            for start in range(0, len(video_ids), CHUNK):
                jobs.extend(active_job_ids(s, list(video_ids[start:start + CHUNK])).values())
        return self.queue.cancel(jobs) if jobs else 0

    def retry(self, ids: Sequence[int] | None = None, *,
              include_cancelled: bool = False) -> JobsChange:
        """Queue failed (and, asked, cancelled) jobs again; ``None``: every one of them."""
        states = ("failed", "cancelled") if include_cancelled else ("failed",)
        skipped = [] if ids is None else self._not_in_state(ids, states)
        jobs = self.queue.retry(None if ids is None else list(ids), include_cancelled=include_cancelled)
        if ids is not None:  # failed, but its video is missing or already has an active job
            done = {j for j, _ in skipped}
            skipped += [(i, "its video is missing or already queued")
                        for i in dict.fromkeys(ids) if i not in jobs and i not in done]
        return JobsChange(len(jobs), jobs, skipped)

    def retry_videos(self, video_ids: Sequence[int]) -> JobsChange:
        """Retry the failed jobs of these videos (the app's per-item retry)."""
        wanted = set(video_ids)
        failed = [j.id for j in self.jobs(status=JOB_FAILED, limit=None) if j.video_id in wanted]
        return self.retry(failed) if failed else JobsChange()

    def _not_in_state(self, ids: Sequence[int], states: tuple[str, ...]) -> list[tuple[int, str]]:
        with self.lib.read() as s:
            found = dict(s.execute(select(Job.id, Job.status).where(Job.id.in_(list(ids)))).all())
        return [(i, f"is {found[i]}" if i in found else "no such job")
                for i in dict.fromkeys(ids) if found.get(i) not in states]

    def effective_limits(self) -> dict[str, int]:
        """How many jobs of each stage run at once in a pool started with these settings:
        the pool's defaults for its number of workers, then what the library stores."""
        from ..jobs.worker import PoolOptions

        return self.queue.stage_limits(defaults=PoolOptions.from_config(self.cfg).default_limits())

    def stage_limits(self, wanted: dict[str, int] | None = None) -> dict[str, int]:
        """Show, or set, how many jobs of each stage run at once (live in every pool)."""
        if wanted:
            try:
                self.queue.set_stage_limits(wanted)
            except ValueError as err:
                raise ConfigError(str(err)) from None
        return self.effective_limits()

    # -- genre heads ---------------------------------------------------------------------
    def sync_head(self) -> int:
        """Record the active head in this library (marks other heads' rows stale)."""
        return head_rules.sync_library(self.lib, self.dirs)

    def activate_head(self, target: Path | str | None) -> head_rules.HeadIdentity:
        """Activate a head folder, a model id or ``zero-shot`` and record it in this library
        at once, so ``rerun(stale_only=True)`` re-queues every video of another head."""
        try:
            return head_rules.activate(self.dirs, target, self.lib)
        except (ValueError, FileNotFoundError) as err:
            raise ConfigError(f"cannot activate {target}: {err}") from err

    def active_head(self) -> head_rules.HeadIdentity:
        return head_rules.active_identity(self.dirs)

    def heads(self) -> list[Any]:
        from ..classify.runtime import list_heads

        return list_heads(self.dirs)

    def train_from_library(self, *, config: Any, head_out: Path | None = None,
                           export: bool = True,
                           progress: Progress | None = None,
                           on_warning: Callable[[str], None] | None = None) -> Any:
        """A personal head from this library's corrections; activated only if it measures
        better than the current head (cross-validated).  Returns the core's report."""
        try:
            import torch  # noqa: F401 - the "train" extra, not needed to tag videos
        except ImportError as err:
            raise ConfigError(f"training needs PyTorch ({err}); install trailertagger[train]") from None
        from ..classify import runtime
        from ..library.personal_head import train_personal_head
        from ..models.store import ModelStore

        def load_current() -> Any:
            try:
                return runtime.active_head(self.dirs, ModelStore.from_config(self.cfg))
            except Exception as err:  # noqa: BLE001 - the core reports "constant baseline"
                if on_warning is not None:
                    on_warning(f"the current head cannot be loaded: {err}")
                return None

        try:
            return train_personal_head(self.lib, self.dirs, config=config,
                                       load_current=load_current, head_out=head_out,
                                       export=export, activate=True, progress=progress)
        except ValueError as err:
            raise ConfigError(str(err)) from err


    # -- labels the library already has, what to label next, when to retrain (issue 8) ----
    def import_labels(self, kind: str, *, csv_path: Path | None = None,
                      folder: str | Path | None = None, dry_run: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> Any:
        """Genres from NFO files (``"nfo"``), genre folders (``"folders"``) or a CSV
        (``"csv"``) as metadata labels (``library.labels``); aliases from
        ``[library] genre_aliases``.  Returns the ``ImportReport``."""
        from ..library.identity import normalize_path
        from ..library.labels import import_labels

        extra = self.cfg.get("library", {}).get("genre_aliases", {})
        if not isinstance(extra, dict):
            raise ConfigError("[library] genre_aliases must be a table of name = genre")
        return import_labels(self.lib, kind, csv_path=csv_path,
                             folder=normalize_path(str(folder)) if folder else None,
                             extra_aliases=extra, dry_run=dry_run, progress=progress)

    def review(self, limit: int | None = 20) -> list[Any]:
        """The videos whose label would help the head most (``library.review``)."""
        from ..library.review import review_queue

        with self.lib.read() as s:
            return review_queue(s, limit=limit)

    def retrain_due(self) -> tuple[bool, int, int]:
        """(due, videos labelled since the last training, ``[classify] retrain_every``)."""
        from ..library.personal_head import retrain_due

        every = int(self.cfg.get("classify", {}).get("retrain_every", 20))
        due, new = retrain_due(self.lib, every)
        return due, new, every


@dataclass(frozen=True)
class Applicability:
    """How many of a selection each per-video action applies to (0: disable it, and say why)."""

    selected: int
    present: int  # file there: play, re-run, re-extract, export NFO
    missing: int  # file gone: erase
    active: int  # queued or running job: cancel
    corrected: int  # has a correction: clear corrections
    classified: int  # has predictions: export NFO writes genres

    def reason(self, action: str) -> str:
        """Why ``action`` does not apply ("" when it does)."""
        need = {"play": (self.present, "the file is missing"),
                "open": (self.selected, "nothing selected"),
                "rerun": (self.present, "every selected file is missing"),
                "reextract": (self.present, "every selected file is missing"),
                "cancel": (self.active, "no selected video is queued or processing"),
                "clear": (self.corrected, "no selected video has corrections"),
                "erase": (self.missing, "no selected video's file is missing"),
                "export": (self.present, "every selected file is missing"),
                "copy": (self.selected, "nothing selected")}
        n, why = need[action]
        return "" if n else why


def applicability(app: LibrarySession, ids: Sequence[int]) -> Applicability:
    from ..library.schema import SOURCE_MANUAL, GenreAssignment

    wanted = list(dict.fromkeys(ids))
    present = missing = active = corrected = classified = 0
    with app.lib.read() as s:
        for start in range(0, len(wanted), CHUNK):
            part = wanted[start:start + CHUNK]
            for status, n, cl in s.execute(
                    select(Video.status, func.count(), func.count(Video.classified_at))
                    .where(Video.id.in_(part)).group_by(Video.status)).all():
                if status == VIDEO_MISSING:
                    missing += int(n)
                else:
                    present += int(n)
                classified += int(cl)
            active += int(s.execute(select(func.count(func.distinct(Job.video_id))).where(
                Job.video_id.in_(part), Job.status.in_(JOB_ACTIVE))).scalar_one())
            corrected += int(s.execute(select(func.count(func.distinct(GenreAssignment.video_id)))
                                       .where(GenreAssignment.video_id.in_(part),
                                              GenreAssignment.source == SOURCE_MANUAL)).scalar_one())
    return Applicability(len(wanted), present, missing, active, corrected, classified)


def _without_ids(sel: Selection) -> Selection:
    from dataclasses import replace

    return replace(sel, ids=None) if sel.ids is not None else sel


def _light(q: Any) -> Any:
    """The light columns of ``q``'s videos with their active job (if any)."""
    return q.with_only_columns(
        Video.id, Video.path, Video.status, Video.duration, Video.error_reason,
        Video.added_at, Job.status, Job.stage, Job.progress, Job.cancel_requested,
    ).outerjoin(Job, and_(Job.video_id == Video.id, Job.status.in_(JOB_ACTIVE)))
