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
from typing import Any, NoReturn

from ..core.errors import UsageError
from .common import (
    add_library_arg,
    count_arg,
    open_app,
    progress_bar,
    seconds_arg,
    shown,
    workers_arg,
)


def _add_pool(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=workers_arg, default=None, metavar="N",
                   help="worker processes: a number, or auto = one per core (default: [jobs] "
                        "workers in the settings, auto unless changed; 0 = in this process)")
    p.add_argument("--profile", default=None,
                   help="extractor profile for new jobs (default: [extract] profile)")
    p.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="extract on a Dask cluster (tcp://host:8786 or a scheduler file); this "
                        "machine probes, classifies and writes the library (README, 'Cluster')")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"],
                   help="extraction device for this run (with --cluster: on each cluster "
                        "worker; default: [extract] device; auto = CUDA when usable)")


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
    for name, helptext in (("pause", "stop starting new jobs (a running job finishes its current stage)"),
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
    from ..core.app import pool_options

    return pool_options(cfg, workers=getattr(args, "workers", None),
                        settle_seconds=getattr(args, "settle", None),
                        cluster=getattr(args, "cluster", None),
                        device=getattr(args, "device", None))


def _usage(msg: str) -> NoReturn:
    """A usage error: ``cli.main`` prints it like every other error (exit 2)."""
    raise UsageError(msg)


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


def _process(app: Any, args: argparse.Namespace, label: str) -> int:
    """Work the queue off until it is empty; bar on stderr, failures listed; exit code."""
    from ..core.app import drain
    from ..core.app import events as ev

    bars: list[Any] = []

    def on_start(total: int) -> None:
        bars.append(progress_bar(total, label, unit="video", leave=True))

    def on_event(e: ev.JobEvent) -> None:
        bar = bars[0]
        if e.kind in ev.TERMINAL:
            bar.update(1)
        if e.kind == ev.FAILED:
            bar.write(f"failed: {shown(e.path or e.job_id)}: {e.message}", file=sys.stderr)
        elif e.kind == ev.STARTED and e.path:
            bar.set_postfix_str(f"{e.stage} {shown(Path(e.path).name)[:30]}", refresh=False)

    def on_stopping() -> None:
        bars[0].write("stopping: jobs in progress go back to the queue (Ctrl-C again to force)",
                      file=sys.stderr)

    try:
        with _sigterm_as_interrupt():
            out = drain(app.lib, _pool_options(args, app.cfg), on_event, on_stopping, on_start)
    finally:
        for bar in bars:
            bar.close()
    if out.queued == 0:
        return 0
    if out.paused and not bars:
        print(f"the queue is paused ({out.queued} jobs waiting); 'trailertagger jobs resume' "
              "to go on", file=sys.stderr)
        return 0
    s = out.summary
    print(f"{s.done} done, {len(s.failed)} failed, {s.cancelled} cancelled", file=sys.stderr)
    if s.halted:  # disk full: what is left waits in the queue for the next run
        print(f"error: {s.halted}", file=sys.stderr)
    elif out.left and not out.paused:
        print(f"error: {out.left} jobs could not be processed ({out.stuck_reason})", file=sys.stderr)
    return out.exit_code


# -- scan ---------------------------------------------------------------------------------------
def run_scan(args: argparse.Namespace) -> int:
    from ..core.app import failure_dict

    with open_app(args) as app:
        profile = app.profile(getattr(args, "profile", None))
        bars: dict[str, Any] = {}

        def progress(folder: str, done: int, total: int) -> None:
            bar = bars.get(folder)
            if bar is None:
                bar = bars[folder] = progress_bar(None, f"scan {Path(folder).name[:30]}", unit="file")
            bar.total = total
            bar.n = done
            bar.refresh()

        def skipped(path: str, why: str) -> None:
            print(f"skipped {shown(path)}: {why}", file=sys.stderr)

        try:
            results = app.scan(args.folders, profile=profile, progress=progress,
                               on_skipped=skipped)
        finally:
            for bar in bars.values():
                bar.close()
        for folder, r in results.items():
            print(f"{shown(folder)}: {r.summary()}", file=sys.stderr)
            for path, why in r.unreadable:
                print(f"  unreadable: {shown(path)}: {why}", file=sys.stderr)
        code = 0
        if app.cfg.get("library", {}).get("import_nfo"):  # [library] import_nfo = true
            from .labels_cmds import print_import_report

            for folder in results:
                rep = app.import_labels("nfo", folder=folder)
                if rep.labelled or rep.unknown or rep.failed:
                    print_import_report(rep)
        if not args.no_process:
            code = _process(app, args, "processing")
        if any(r.unreadable for r in results.values()):
            code = code or 1  # those files are items that could not be tagged
        if args.json:
            print(json.dumps({"folders": {f: {
                "new": len(r.new), "changed": len(r.changed), "returned": len(r.returned),
                "moved": len(r.moved), "missing": r.missing, "unchanged": r.unchanged,
                "queued": len(r.jobs),
                "unreadable": [{"path": p, "reason": why} for p, why in r.unreadable]}
                for f, r in results.items()},
                "failed": [failure_dict(j) for j in app.jobs("failed", limit=10_000)] if code else []},
                indent=2))
    return code


# -- watch ----------------------------------------------------------------------------------------
def run_watch(args: argparse.Namespace) -> int:
    from ..core.app import Background
    from ..core.app import events as ev

    with open_app(args) as app:
        cfg = app.cfg
        profile = app.profile(getattr(args, "profile", None))
        minutes = float(args.rescan_minutes if args.rescan_minutes is not None
                        else cfg.get("jobs", {}).get("rescan_minutes", 30))
        for f in args.folders:
            app.add_folder(f, scan=False)
        folders = app.folders(check=False)
        if not folders:
            return _usage("no folders to watch: name one (trailertagger watch DIR)")
        opts = _pool_options(args, cfg)
        bg = Background(app.lib, opts, watch=True, rescan_seconds=minutes * 60 or None,
                        profile=profile, polling=args.polling)
        bar = progress_bar(None, "watching", unit="video", leave=True)

        def on_event(e: ev.JobEvent) -> None:
            if e.kind == ev.DONE:
                bar.update(1)
            elif e.kind == ev.FAILED:
                bar.write(f"failed: {shown(e.path or e.job_id)}: {e.message}", file=sys.stderr)
            elif e.kind == ev.SCAN:
                bar.write(e.message, file=sys.stderr)

        bg.bus.subscribe(on_event)
        print("watching " + ", ".join(shown(f.path) for f in folders) + " (Ctrl-C to stop)",
              file=sys.stderr)
        try:
            with _sigterm_as_interrupt():
                bg.start_workers()
                bg.start_watcher(initial_scan=True)
                while True:
                    time.sleep(0.5)
        except OSError as err:  # e.g. the OS limit on watched folders (inotify) is reached
            bg.stop()
            print(f"error: cannot watch: {err}; try --polling", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            bar.write("stopping: jobs in progress go back to the queue (Ctrl-C again to force)",
                      file=sys.stderr)
            try:
                bg.stop()
            finally:
                bar.close()
            print("interrupted", file=sys.stderr)
            return 130
        finally:
            bar.close()


# -- status -----------------------------------------------------------------------------------------
def run_status(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        report = app.status(failures=args.failures)
    data = report.to_dict()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    counts = report.counts
    print(f"library: {data['library']}")
    vs = ", ".join(f"{n} {k}" for k, n in sorted(counts.by_status.items())) or "none"
    print(f"videos: {counts.videos} ({vs}); {counts.corrected} corrected, {counts.stale} stale")
    head = report.head
    print(f"genre head: {head.model_id} {head.version}" if head else "genre head: none")
    print(f"watched folders: {', '.join(map(shown, data['watched_folders'])) or 'none'}")
    js = ", ".join(f"{n} {k}" for k, n in sorted(data["jobs"].items())) or "none"
    print(f"jobs: {js}" + ("  [PAUSED]" if report.paused else ""))
    for status, stages in sorted(data["active_by_stage"].items()):
        print(f"  {status}: " + ", ".join(f"{st} {n}" for st, n in sorted(stages.items())))
    print(f"workers: {data['workers']}" + (f" ({data['workers_note']})" if data["workers_note"] else ""))
    print("stage limits: " + ", ".join(f"{k}={v}" for k, v in data["stage_limits"].items()))
    if data["failures"]:
        print("recent failures:")
        for f in data["failures"]:
            print(f"  #{f['job']} {shown(f['path'])}: {f['reason']}")
    return 0


# -- rerun --------------------------------------------------------------------------------------------
def run_rerun(args: argparse.Namespace) -> int:
    from ..core.app import Selection

    if not args.paths and not args.all and not args.stale:
        return _usage("name videos or folders, or use --all or --stale")
    if args.paths and args.all:
        return _usage("give PATHs or --all, not both")
    with open_app(args) as app:
        sel = Selection(paths=tuple(str(p) for p in args.paths))
        result = app.rerun(sel, full=args.full, stale_only=args.stale,
                           profile=getattr(args, "profile", None))
        if result.unknown:
            return _usage("not in the library (scan it first): " + ", ".join(result.unknown))
        print(f"{len(result.jobs)} videos queued for "
              f"{'processing' if args.full else 'classification'}", file=sys.stderr)
        for p in result.missing:
            print(f"skipped {shown(p)}: the file is missing (scan its folder once it is back)",
                  file=sys.stderr)
        code = 0 if args.no_process else _process(app, args, "classifying")
    return code or (1 if result.missing_named else 0)


# -- jobs ----------------------------------------------------------------------------------------------
def run_jobs_list(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        rows = app.jobs(status=args.status, limit=args.limit)
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
    with open_app(args) as app:
        return _process(app, args, "processing")


def run_jobs_pause(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        (app.pause if args.pause else app.resume)()
        note = app.pause_note()  # the app's jobs panel says the same
    print(note if args.pause else f"queue resumed; {note}", file=sys.stderr)
    return 0


def run_jobs_cancel(args: argparse.Namespace) -> int:
    if not args.ids and not args.all:
        return _usage("give job ids or --all")
    with open_app(args) as app:
        change = app.cancel_jobs(None if args.all else args.ids)
    print(f"{change.count} jobs cancelled (running ones stop at their next step)", file=sys.stderr)
    for jid, why in change.skipped:
        print(f"job #{jid}: {why}; nothing to cancel", file=sys.stderr)
    return 1 if change.skipped else 0


def run_jobs_retry(args: argparse.Namespace) -> int:
    if not args.ids and not args.all:
        return _usage("give job ids or --all")
    with open_app(args) as app:
        change = app.retry(None if args.all else args.ids, include_cancelled=args.cancelled)
    print(f"{change.count} jobs queued again; 'trailertagger jobs run' processes them",
          file=sys.stderr)
    for jid, why in change.skipped:
        hint = " (add --cancelled to retry cancelled jobs)" if why == "is cancelled" else ""
        print(f"job #{jid}: {why}; not retried{hint}", file=sys.stderr)
    return 1 if change.skipped else 0


def run_jobs_limits(args: argparse.Namespace) -> int:
    wanted: dict[str, int] = {}
    for item in args.limits:
        stage, _, n = item.partition("=")
        if not n.isdigit():
            return _usage(f"expected STAGE=N, got {item!r}")
        wanted[stage] = int(n)
    with open_app(args) as app:
        limits = app.stage_limits(wanted)
    print(" ".join(f"{k}={v}" for k, v in limits.items()))
    return 0
