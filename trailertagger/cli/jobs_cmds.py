"""``scan``, ``watch``, ``status``, ``rerun`` and ``jobs``: the library's job queue from the shell.

Every command works on the library in the user data folder (or ``--library FILE``).  Work is
done by the same worker pool the desktop app uses, so the queue is shared: a scan queued here
is finished by the app and the other way round, and ``jobs pause`` pauses both.

Exit codes: 0 ok, 1 some videos failed (each is listed with its reason), 2 usage/config,
4 every failure was a missing model (install or fetch it: 'trailertagger models list'),
130 interrupted (Ctrl-C: jobs in hand go back to the queue, nothing is half-written).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from .common import (
    add_library_arg,
    count_arg,
    open_library_arg,
    progress_bar,
    seconds_arg,
    settings,
    shown,
)


def _add_pool(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=count_arg, default=None, metavar="N",
                   help="worker processes (default: [jobs] workers in the settings; 0 = in this process)")
    p.add_argument("--profile", default=None,
                   help="extractor profile for new jobs (default: [extract] profile)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan", help="add folders to the library, queue new/changed videos and process them",
        description="Scan each folder for videos (recursively), add it to the watched folders, queue "
                    "new, changed and returned files, mark vanished files missing (tags kept), then "
                    "process the queue. Exit code 1 when any video failed or a file could not be read; each says why.")
    p.add_argument("folders", nargs="*", type=Path, metavar="DIR",
                   help="folders to scan (default: rescan every watched folder)")
    p.add_argument("--no-process", action="store_true", help="only scan and queue; do not process")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    _add_pool(p)
    add_library_arg(p)
    p.set_defaults(func=run_scan)

    p = sub.add_parser(
        "watch", help="watch folders and process videos as they appear (Ctrl-C to stop)",
        description="Scan the folders (and every other watched folder), then watch them: new or "
                    "changed files are processed once their size settles, renames keep their tags, "
                    "deleted files are marked missing. Runs in the foreground until Ctrl-C (exit "
                    "code 130; jobs in progress go back to the queue).")
    p.add_argument("folders", nargs="*", type=Path, metavar="DIR",
                   help="folders to add (default: the library's watched folders)")
    p.add_argument("--settle", type=seconds_arg, default=None, metavar="S",
                   help="seconds a file's size must stay unchanged before it is read")
    p.add_argument("--rescan-minutes", type=seconds_arg, default=None, metavar="M",
                   help="full rescan period (0 = never; default: [jobs] rescan_minutes)")
    p.add_argument("--polling", action="store_true",
                   help="poll instead of OS notifications (network shares)")
    _add_pool(p)
    add_library_arg(p)
    p.set_defaults(func=run_watch)

    p = sub.add_parser("status", help="library and queue counts, recent failures",
                       description="Videos by status, jobs by status and stage, pause state, "
                                   "stage limits and the most recent failures with their reasons.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--failures", type=count_arg, default=10, metavar="N", help="failures to list (default 10)")
    add_library_arg(p)
    p.set_defaults(func=run_status)

    p = sub.add_parser(
        "rerun", help="re-run classification (replaces only automatic genres; corrections stay)",
        description="Classify videos again with the active genre head from their cached features. "
                    "Only automatic genre rows are replaced; manual corrections always win. "
                    "Videos whose features are not cached are extracted first.")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="videos or folders in the library")
    p.add_argument("--all", action="store_true", help="every present video in the library")
    p.add_argument("--stale", action="store_true",
                   help="only videos whose automatic genres are stale (e.g. the model changed)")
    p.add_argument("--full", action="store_true", help="probe and re-extract too, not just classify")
    p.add_argument("--no-process", action="store_true", help="only queue")
    _add_pool(p)
    add_library_arg(p)
    p.set_defaults(func=run_rerun)

    p = sub.add_parser("jobs", help="the job queue: list, run, pause, resume, cancel, retry, limits",
                       description="Control the persistent job queue shared by the CLI and the app.")
    jsub = p.add_subparsers(dest="jobs_command", metavar="ACTION")
    j = jsub.add_parser("list", help="list jobs (newest first)")
    j.add_argument("--status", choices=["queued", "running", "done", "failed", "cancelled"], default=None)
    j.add_argument("--limit", type=count_arg, default=50)
    j.add_argument("--json", action="store_true")
    add_library_arg(j)
    j.set_defaults(func=run_jobs_list)
    j = jsub.add_parser("run", help="process the queue until it is empty")
    _add_pool(j)
    add_library_arg(j)
    j.set_defaults(func=run_jobs_run)
    for name, helptext in (("pause", "stop starting new jobs (running ones finish)"),
                           ("resume", "start jobs again")):
        j = jsub.add_parser(name, help=helptext)
        add_library_arg(j)
        j.set_defaults(func=run_jobs_pause, pause=name == "pause")
    j = jsub.add_parser("cancel", help="cancel jobs (queued now, running at their next step)")
    j.add_argument("ids", nargs="*", type=int, metavar="ID")
    j.add_argument("--all", action="store_true", help="every queued and running job")
    add_library_arg(j)
    j.set_defaults(func=run_jobs_cancel)
    j = jsub.add_parser("retry", help="queue failed jobs again")
    j.add_argument("ids", nargs="*", type=int, metavar="ID")
    j.add_argument("--all", action="store_true", help="every failed job")
    j.add_argument("--cancelled", action="store_true", help="cancelled jobs too")
    add_library_arg(j)
    j.set_defaults(func=run_jobs_retry)
    j = jsub.add_parser("limits", help="show or set how many jobs of each stage run at once",
                        description="e.g. 'trailertagger jobs limits extract=2 probe=4'; applies to "
                                    "every running pool at its next claim.")
    j.add_argument("limits", nargs="*", metavar="STAGE=N")
    add_library_arg(j)
    j.set_defaults(func=run_jobs_limits)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


# -- shared helpers ---------------------------------------------------------------------------
def _pool_options(args: argparse.Namespace, cfg: dict[str, Any]):  # noqa: ANN202 - PoolOptions
    """The ``[jobs]`` settings with ``--workers`` and (``watch``) ``--settle`` on top."""
    from ..core.jobs.worker import PoolOptions

    return PoolOptions.from_config(cfg, workers=getattr(args, "workers", None),
                                   settle_seconds=getattr(args, "settle", None))


def _profile(args: argparse.Namespace, cfg: dict[str, Any]) -> str:
    from ..core.extractors.base import PROFILES

    profile = getattr(args, "profile", None) or str(cfg["extract"]["profile"])
    if profile not in PROFILES:
        raise SystemExit(_usage(f"unknown profile {profile!r}; known: {', '.join(sorted(PROFILES))}"))
    return profile


def _bad_folders(folders: list[Path]) -> str:
    """Why some of ``folders`` cannot be scanned or watched ("" when all can)."""
    from ..core.library.identity import UNSTORABLE_NAME, display_path, storable_path

    problems = [f"not a folder: {display_path(f)}" for f in folders if not f.is_dir()]
    problems += [f"{display_path(f)}: {UNSTORABLE_NAME.replace('file', 'folder')}"
                 for f in folders if f.is_dir() and not storable_path(str(f.absolute()))]
    return "; ".join(problems)


def _usage(msg: str) -> int:
    print(f"error: {msg}", file=sys.stderr)
    return 2


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (service managers, ``kill``) stops as cleanly as Ctrl-C does."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _process(lib_path: Path, args: argparse.Namespace, cfg: dict[str, Any], label: str) -> int:
    """Run a pool until the queue is empty; bar on stderr, failures listed; exit code."""
    from ..core.jobs import events as ev
    from ..core.jobs.queue import JobQueue
    from ..core.jobs.worker import WorkerPool
    from ..core.library.db import open_library

    lib = open_library(lib_path)
    try:
        total = JobQueue(lib).active_count()
        paused = JobQueue(lib).is_paused()
    finally:
        lib.close()
    if total == 0:
        return 0
    if paused:
        print(f"the queue is paused ({total} jobs waiting); 'trailertagger jobs resume' to go on",
              file=sys.stderr)
        return 0
    bar = progress_bar(total, label, unit="video", leave=True)

    def on_event(e: ev.JobEvent) -> None:
        if e.kind in ev.TERMINAL:
            bar.update(1)
        if e.kind == ev.FAILED:
            bar.write(f"failed: {shown(e.path or e.job_id)}: {e.message}", file=sys.stderr)
        elif e.kind == ev.STARTED and e.path:
            bar.set_postfix_str(f"{e.stage} {shown(Path(e.path).name)[:30]}", refresh=False)

    pool = WorkerPool(lib_path, _pool_options(args, cfg))
    try:
        with _sigterm_as_interrupt():
            summary = pool.run_until_idle(on_event, on_stopping=lambda: bar.write(
                "stopping: jobs in progress go back to the queue (Ctrl-C again to force)",
                file=sys.stderr))
    finally:
        bar.close()
        pool.stop()
    print(f"{summary.done} done, {len(summary.failed)} failed, {summary.cancelled} cancelled",
          file=sys.stderr)
    lib = open_library(lib_path)
    try:
        left, paused = JobQueue(lib).active_count(), JobQueue(lib).is_paused()
    finally:
        lib.close()
    if left and not paused:
        why = "; ".join(summary.worker_problems[-3:]) or \
            "a stage limit of 0, or another program holds them; see 'trailertagger status'"
        print(f"error: {left} jobs could not be processed ({why})", file=sys.stderr)
        return 1
    if summary.failed and all(c == 4 for c in summary.failed_codes):
        return 4  # every failure was a missing model: the setup, not the videos
    return 1 if summary.failed else 0


# -- scan ---------------------------------------------------------------------------------------
def run_scan(args: argparse.Namespace) -> int:
    from ..core.jobs.watcher import scan_folder

    cfg = settings()
    profile = _profile(args, cfg)
    bad = _bad_folders(args.folders)
    if bad:
        return _usage(bad)
    lib = open_library_arg(args)
    lib_path = lib.path
    results = {}
    try:
        folders = list(args.folders)
        if not folders:
            from ..core.jobs.watcher import watched_folder_paths

            known = watched_folder_paths(lib)
            if not known:
                return _usage("no watched folders yet: name a folder (trailertagger scan DIR)")
            folders = [Path(p) for _, p, _ in known if Path(p).is_dir()]
            for _, p, _ in known:
                if not Path(p).is_dir():
                    print(f"skipped {shown(p)}: folder not found (unmounted drive?)",
                          file=sys.stderr)
        for folder in folders:
            bar = progress_bar(None, f"scan {folder.name[:30]}", unit="file")

            def progress(_stage: str, done: float, total: float | None, bar=bar) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()

            try:
                results[str(folder)] = scan_folder(lib, folder, profile=profile, progress=progress)
            finally:
                bar.close()
    finally:
        lib.close()
    for folder, r in results.items():
        print(f"{shown(folder)}: {r.summary()}", file=sys.stderr)
        for path, why in r.unreadable:
            print(f"  unreadable: {shown(path)}: {why}", file=sys.stderr)
    code = 0
    if not args.no_process:
        code = _process(lib_path, args, cfg, "processing")
    if any(r.unreadable for r in results.values()):
        code = code or 1  # those files are items that could not be tagged
    if args.json:
        print(json.dumps({"folders": {f: {
            "new": len(r.new), "changed": len(r.changed), "returned": len(r.returned),
            "missing": r.missing, "unchanged": r.unchanged, "queued": len(r.jobs),
            "unreadable": [{"path": p, "reason": why} for p, why in r.unreadable]}
            for f, r in results.items()},
            "failed": _failures(lib_path, 10_000) if code else []}, indent=2))
    return code


def _failures(lib_path: Path, limit: int) -> list[dict[str, Any]]:
    from ..core.library import queries
    from ..core.library.db import open_library

    lib = open_library(lib_path)
    try:
        with lib.read() as s:
            return [_failure(j) for j in queries.jobs(s, status="failed", limit=limit)]
    finally:
        lib.close()


def _failure(j: Any) -> dict[str, Any]:
    """A failed job (a ``JobRecord``) as ``scan --json`` and ``status --json`` show it."""
    return {"job": j.id, "path": j.path, "stage": j.stage, "reason": j.error_reason}


# -- watch ----------------------------------------------------------------------------------------
def run_watch(args: argparse.Namespace) -> int:
    from ..core.jobs import events as ev
    from ..core.jobs.watcher import FolderWatcher, add_watched_folder, watched_folder_paths
    from ..core.jobs.worker import WorkerPool

    cfg = settings()
    profile = _profile(args, cfg)
    minutes = float(args.rescan_minutes if args.rescan_minutes is not None
                    else cfg.get("jobs", {}).get("rescan_minutes", 30))
    bad = _bad_folders(args.folders)
    if bad:
        return _usage(bad)
    lib = open_library_arg(args)
    for f in args.folders:
        add_watched_folder(lib, f)
    folders = watched_folder_paths(lib)
    if not folders:
        lib.close()
        return _usage("no folders to watch: name one (trailertagger watch DIR)")
    opts = _pool_options(args, cfg)
    settle = opts.settle_seconds
    pool = WorkerPool(lib.path, opts)
    bar = progress_bar(None, "watching", unit="video", leave=True)
    failed = [0]

    def on_event(e: ev.JobEvent) -> None:
        if e.kind == ev.DONE:
            bar.update(1)
        elif e.kind == ev.FAILED:
            failed[0] += 1
            bar.write(f"failed: {shown(e.path or e.job_id)}: {e.message}", file=sys.stderr)
        elif e.kind == ev.SCAN:
            bar.write(e.message, file=sys.stderr)

    pool.bus.subscribe(on_event)
    watcher = FolderWatcher(lib, settle_seconds=settle, rescan_seconds=minutes * 60 or None,
                            profile=profile, polling=args.polling, bus=pool.bus,
                            on_change=lambda r: pool.wake())
    print("watching " + ", ".join(shown(p) for _, p, _ in folders) + " (Ctrl-C to stop)",
          file=sys.stderr)
    try:
        with _sigterm_as_interrupt():
            if opts.workers > 0:
                pool.start()
            watcher.start()
            while True:
                if opts.workers == 0:
                    pool.run_until_idle(timeout=1.0)
                time.sleep(0.5)
    except OSError as err:  # e.g. the OS limit on watched folders (inotify) is reached
        watcher.stop()
        pool.stop()
        lib.close()
        print(f"error: cannot watch: {err}; try --polling", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        bar.write("stopping: jobs in progress go back to the queue (Ctrl-C again to force)",
                  file=sys.stderr)
        try:
            watcher.stop()
        finally:  # even on a second Ctrl-C: the pool must hand its jobs back
            pool.stop()
            lib.close()
            bar.close()
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        bar.close()


# -- status -----------------------------------------------------------------------------------------
def run_status(args: argparse.Namespace) -> int:
    from ..core.jobs.queue import STAGES, JobQueue
    from ..core.jobs.watcher import watched_folder_paths
    from ..core.library import queries

    lib = open_library_arg(args)
    try:
        q = JobQueue(lib)
        with lib.read() as s:
            counts = queries.counts(s)
            job_counts = queries.job_counts(s)
            failures = queries.jobs(s, status="failed", limit=args.failures)
        paused = q.is_paused()
        limits = q.stage_limits()
        folders = watched_folder_paths(lib)
    finally:
        lib.close()
    by_status: dict[str, int] = {}
    active_by_stage: dict[str, dict[str, int]] = {}
    for (status, stage), n in job_counts.items():
        by_status[status] = by_status.get(status, 0) + n
        if status in ("queued", "running"):
            active_by_stage.setdefault(status, {})[stage] = n
    data = {
        "library": str(lib.path),
        "videos": counts.videos, "videos_by_status": counts.by_status,
        "corrected": counts.corrected, "stale": counts.stale,
        "watched_folders": [p for _, p, _ in folders],
        "jobs": by_status, "active_by_stage": active_by_stage,
        "paused": paused, "stage_limits": {k: limits[k] for k in STAGES},
        "failures": [_failure(j) for j in failures],
    }
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"library: {data['library']}")
    vs = ", ".join(f"{n} {k}" for k, n in sorted(counts.by_status.items())) or "none"
    print(f"videos: {counts.videos} ({vs}); {counts.corrected} corrected, {counts.stale} stale")
    print(f"watched folders: {', '.join(map(shown, data['watched_folders'])) or 'none'}")
    js = ", ".join(f"{n} {k}" for k, n in sorted(by_status.items())) or "none"
    print(f"jobs: {js}" + ("  [PAUSED]" if paused else ""))
    for status, stages in sorted(active_by_stage.items()):
        print(f"  {status}: " + ", ".join(f"{st} {n}" for st, n in sorted(stages.items())))
    print("stage limits: " + ", ".join(f"{k}={v}" for k, v in data["stage_limits"].items()))
    if failures:
        print("recent failures:")
        for f in data["failures"]:
            print(f"  #{f['job']} {shown(f['path'])}: {f['reason']}")
    return 0


# -- rerun --------------------------------------------------------------------------------------------
def run_rerun(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from ..core.jobs.queue import CLASSIFY_PLAN, PROCESS_PLAN, JobQueue
    from ..core.library import identity, queries
    from ..core.library.schema import VIDEO_MISSING, Video

    if not args.paths and not args.all:
        return _usage("name videos or folders, or use --all")
    if args.paths and args.all:
        return _usage("give PATHs or --all, not both")
    cfg = settings()
    profile = _profile(args, cfg)
    lib = open_library_arg(args)
    lib_path = lib.path
    try:
        with lib.read() as s:
            named: set[int] = set()  # videos named as files (not found under a folder)
            if args.all:
                ids = queries.video_ids(s, missing=False)
            else:
                ids = []
                unknown = []
                for p in args.paths:
                    norm = identity.normalize_path(p)
                    if Path(norm).is_dir():
                        found = [v.id for v in identity.rows_under(s, norm)]
                    else:
                        row = identity.video_by_path(s, norm)
                        found = [row.id] if row is not None else []
                        named.update(found)
                    if not found:
                        unknown.append(str(p))
                    ids.extend(found)
                if unknown:
                    return _usage("not in the library (scan it first): " + ", ".join(unknown))
            # never classified, or some automatic genre row is stale
            stale = (Video.classified_head_id.is_(None) | queries.stale_clause()).label("stale")
            ids = sorted(set(ids))
            rows = [row for start in range(0, len(ids), queries.CHUNK)
                    for row in s.execute(select(Video.id, Video.status, Video.path, stale).where(
                        Video.id.in_(ids[start:start + queries.CHUNK]))).all()]
            ids = [i for i, st, _, old in rows
                   if st != VIDEO_MISSING and (old or not args.stale)]
            gone = [(p, i in named) for i, st, p, _ in rows if st == VIDEO_MISSING]
        jobs = JobQueue(lib).enqueue(ids, PROCESS_PLAN if args.full else CLASSIFY_PLAN,
                                     profile=profile, reason="re-run requested")
    finally:
        lib.close()
    print(f"{len(jobs)} videos queued for {'processing' if args.full else 'classification'}",
          file=sys.stderr)
    for p, _ in gone:
        print(f"skipped {shown(p)}: the file is missing (scan its folder once it is back)",
              file=sys.stderr)
    code = 0 if args.no_process else _process(lib_path, args, cfg, "classifying")
    return code or (1 if any(was_named for _, was_named in gone) else 0)


# -- jobs ----------------------------------------------------------------------------------------------
def run_jobs_list(args: argparse.Namespace) -> int:
    from ..core.library import queries

    lib = open_library_arg(args)
    try:
        with lib.read() as s:
            rows = queries.jobs(s, status=args.status, limit=args.limit)
    finally:
        lib.close()
    if args.json:
        print(json.dumps([{"id": j.id, "path": j.path, "status": j.status, "stage": j.stage,
                           "stages": list(j.stages), "attempts": j.attempts,
                           "progress": j.progress, "message": j.message,
                           "reason": j.error_reason} for j in rows], indent=2))
        return 0
    for j in rows:
        extra = j.error_reason or j.message or ""
        print(f"#{j.id:<6} {j.status:<9} {j.stage:<8} {shown(j.path)}"
              + (f"  ({extra})" if extra else ""))
    return 0


def run_jobs_run(args: argparse.Namespace) -> int:
    cfg = settings()
    lib = open_library_arg(args)
    path = lib.path
    lib.close()
    return _process(path, args, cfg, "processing")


def run_jobs_pause(args: argparse.Namespace) -> int:
    from ..core.jobs.queue import JobQueue

    lib = open_library_arg(args)
    try:
        q = JobQueue(lib)
        (q.pause if args.pause else q.resume)()
    finally:
        lib.close()
    print("queue paused" if args.pause else "queue resumed", file=sys.stderr)
    return 0


def run_jobs_cancel(args: argparse.Namespace) -> int:
    from ..core.jobs.queue import JobQueue

    if not args.ids and not args.all:
        return _usage("give job ids or --all")
    lib = open_library_arg(args)
    try:
        skipped = [] if args.all else _not_in_state(lib, args.ids, ("queued", "running"))
        n = JobQueue(lib).cancel(None if args.all else args.ids)
    finally:
        lib.close()
    print(f"{n} jobs cancelled (running ones stop at their next step)", file=sys.stderr)
    for jid, why in skipped:
        print(f"job #{jid}: {why}; nothing to cancel", file=sys.stderr)
    return 1 if skipped else 0


def _not_in_state(lib: Any, ids: list[int], states: tuple[str, ...]) -> list[tuple[int, str]]:
    """The job ids the user named that do not exist or are not in one of ``states``."""
    from sqlalchemy import select

    from ..core.library.schema import Job

    with lib.read() as s:
        found = dict(s.execute(select(Job.id, Job.status).where(Job.id.in_(ids))).all())
    return [(i, f"is {found[i]}" if i in found else "no such job")
            for i in dict.fromkeys(ids) if found.get(i) not in states]


def run_jobs_retry(args: argparse.Namespace) -> int:
    from ..core.jobs.queue import JobQueue

    if not args.ids and not args.all:
        return _usage("give job ids or --all")
    states = ("failed", "cancelled") if args.cancelled else ("failed",)
    lib = open_library_arg(args)
    try:
        skipped = [] if args.all else _not_in_state(lib, args.ids, states)
        ids = JobQueue(lib).retry(None if args.all else args.ids, include_cancelled=args.cancelled)
        if not args.all:  # failed, but its video is missing or already has an active job
            skipped += [(i, "its video is missing or already queued")
                        for i in dict.fromkeys(args.ids)
                        if i not in ids and i not in {j for j, _ in skipped}]
    finally:
        lib.close()
    print(f"{len(ids)} jobs queued again; 'trailertagger jobs run' processes them", file=sys.stderr)
    for jid, why in skipped:
        hint = " (add --cancelled to retry cancelled jobs)" if why == "is cancelled" else ""
        print(f"job #{jid}: {why}; not retried{hint}", file=sys.stderr)
    return 1 if skipped else 0


def run_jobs_limits(args: argparse.Namespace) -> int:
    from ..core.jobs.queue import JobQueue

    wanted: dict[str, int] = {}
    for item in args.limits:
        stage, _, n = item.partition("=")
        if not n.isdigit():
            return _usage(f"expected STAGE=N, got {item!r}")
        wanted[stage] = int(n)
    lib = open_library_arg(args)
    try:
        q = JobQueue(lib)
        try:
            limits = q.set_stage_limits(wanted) if wanted else q.stage_limits()
        except ValueError as err:
            return _usage(str(err))
    finally:
        lib.close()
    print(" ".join(f"{k}={v}" for k, v in limits.items()))
    return 0
