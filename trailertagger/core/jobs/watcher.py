"""Finding videos: full scans of a folder, and watching folders for changes as they happen.

``scan_folder`` walks a folder and brings the library in line with it: new files get a row
and a job, changed files (size or mtime differ) and files that came back get a job, rows
whose file is gone are marked *missing* (never deleted: tags survive until the user purges).
A scan is idempotent: running it twice queues nothing new, because ``enqueue`` merges into a
video's active job and unchanged files are left alone.

``FolderWatcher`` runs watchdog observers on the watched folders.  Events are not acted on at
once: each touched path waits in a *debounce* table until its ``(size, mtime)`` has stayed the
same for ``settle_seconds`` (a file still being copied is never read), then every settled path
is handled in one transaction (500 files dropped at once cost a handful of transactions, and
each is queued exactly once).  Renames keep the row (and so the tags) without re-hashing.  A
periodic full rescan (``rescan_minutes``) catches whatever the OS did not report (network
shares, changes while the app was closed); ``rescan()`` asks for one now.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from watchdog.events import FileSystemEvent, FileSystemEventHandler

from ..library import identity
from ..library.db import Library, now
from ..library.schema import (
    JOB_ACTIVE,
    JOB_QUEUED,
    VIDEO_MISSING,
    VIDEO_PENDING,
    Job,
    Video,
    WatchedFolder,
)
from ..media.files import is_video_file, walk_video_files
from ..media.identity import file_signature
from ..progress import Progress
from . import events as ev
from .queue import PROCESS_PLAN, cancel_for_videos, enqueue_in

log = logging.getLogger(__name__)

BATCH = 200  # files per write transaction during a scan


@dataclass
class ScanResult:
    """What a scan (or a batch of settled watcher events) changed in the library."""

    new: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    returned: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unchanged: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    jobs: list[int] = field(default_factory=list)

    def merge(self, other: ScanResult) -> None:
        for name in ("new", "changed", "returned", "moved", "missing", "unreadable", "jobs"):
            getattr(self, name).extend(getattr(other, name))
        self.unchanged += other.unchanged

    def summary(self) -> str:
        parts = [f"{len(self.new)} new", f"{len(self.changed)} changed",
                 f"{len(self.returned)} back", f"{len(self.moved)} moved",
                 f"{len(self.missing)} missing", f"{self.unchanged} unchanged"]
        if self.unreadable:
            parts.append(f"{len(self.unreadable)} unreadable")
        return ", ".join(parts) + f"; {len(self.jobs)} queued"


# -- watched folders ------------------------------------------------------------------------
def add_watched_folder(lib: Library, folder: Path | str, recursive: bool = True) -> int:
    """Register ``folder`` (idempotent); returns its id.  Raises NotADirectoryError."""
    path = identity.normalize_path(folder)
    if not os.path.isdir(path):
        raise NotADirectoryError(f"not a folder: {path}")
    with lib.session() as s:
        row = s.execute(select(WatchedFolder).where(WatchedFolder.path == path)).scalar_one_or_none()
        if row is None:
            row = WatchedFolder(path=path, recursive=recursive, enabled=True, added_at=now())
            s.add(row)
            s.flush()
        elif not row.enabled:
            row.enabled = True
        return row.id


def watched_folder_paths(lib: Library) -> list[tuple[int, str, bool]]:
    with lib.read() as s:
        return [(r.id, r.path, r.recursive) for r in s.execute(
            select(WatchedFolder).where(WatchedFolder.enabled == True)  # noqa: E712
            .order_by(WatchedFolder.path)).scalars()]


def remove_watched_folder(lib: Library, folder: Path | str) -> bool:
    """Stop watching ``folder`` (True if it was watched).  Its videos stay in the library with
    their genres and corrections (their ``folder_id`` becomes NULL); ``purge`` erases rows."""
    path = identity.normalize_path(folder)
    with lib.session() as s:
        row = s.execute(select(WatchedFolder).where(WatchedFolder.path == path)).scalar_one_or_none()
        if row is None:
            return False
        s.delete(row)
        return True


def _folder_for(folders: Sequence[tuple[int, str, bool]], path: str) -> int | None:
    best: tuple[int, int] | None = None
    for fid, root, _ in folders:
        prefix = root.rstrip(os.sep) + os.sep
        if path.startswith(prefix) and (best is None or len(root) > best[1]):
            best = (fid, len(root))
    return best[0] if best else None


# -- files → rows + jobs --------------------------------------------------------------------
def walk_videos(folder: Path | str, recursive: bool = True) -> list[str]:
    """Video files under ``folder`` (normalised paths, sorted); hidden files/folders skipped."""
    return sorted(walk_video_files(identity.normalize_path(folder), recursive))


def _enqueue(s: Session, video: Video, result: ScanResult, profile: str, reason: str,
             settle_until: float | None) -> None:
    jid = enqueue_in(s, video.id, PROCESS_PLAN, profile=profile, reason=reason)
    if jid is None:
        return
    if settle_until is not None:
        job = s.get(Job, jid)
        if job is not None and job.status == JOB_QUEUED:
            job.not_before = max(job.not_before or 0.0, settle_until)
    result.jobs.append(jid)


def ingest_files(s: Session, paths: Iterable[str], *, folders: Sequence[tuple[int, str, bool]] = (),
                 profile: str = "default", settle_seconds: float = 0.0,
                 requeue_pending: bool = True,
                 defer: Callable[[str], None] | None = None) -> ScanResult:
    """Bring the rows of ``paths`` (files that exist now) up to date inside ``s``.

    New → row + job; changed/returned → job; unchanged → nothing, except a *pending* video
    with no active job (its processing was cancelled or interrupted), which is queued again.
    A file modified less than ``settle_seconds`` ago may still be being written: with a
    ``defer`` callback (the watcher's debounce table) it is handed over and not recorded now;
    without one its job waits until then (the probe stage re-checks the signature anyway).
    """
    result = ScanResult()
    t = time.time()
    for path in paths:
        if not identity.storable_path(path):
            if os.path.isfile(path):
                result.unreadable.append((identity.display_path(path), identity.UNSTORABLE_NAME))
            continue
        try:
            st = os.stat(path)
        except FileNotFoundError:
            continue
        except OSError as err:
            result.unreadable.append((path, err.strerror or str(err)))
            continue
        if not stat.S_ISREG(st.st_mode):  # a named pipe would block the reader forever
            result.unreadable.append((path, "not a regular file (a pipe, socket or device)"))
            continue
        size, mtime_ns = st.st_size, st.st_mtime_ns
        age = t - mtime_ns / 1e9
        settle_until = t + (settle_seconds - age) if 0 <= age < settle_seconds else None
        if settle_until is not None and defer is not None:
            defer(path)
            continue
        row = identity.video_by_path(s, path)
        change = identity.classify_change(row, size, mtime_ns)
        key = identity.file_key(st)
        if change is identity.Change.NEW:
            was = identity.renamed_from(s, path, st)
            if was is not None:  # the same file under a new name: its row follows it
                old_path = was.path
                identity.move_path(s, old_path, path)
                was.folder_id = _folder_for(folders, path) or was.folder_id
                result.moved.append((old_path, path))
                if requeue_pending and was.status == VIDEO_PENDING \
                        and not _has_active_job(s, was.id):
                    _enqueue(s, was, result, profile, "never finished", settle_until)
                continue
            row = identity.new_video(s, path, size, mtime_ns, _folder_for(folders, path), key)
            result.new.append(path)
            _enqueue(s, row, result, profile, "new file", settle_until)
            continue
        assert row is not None
        if (row.device, row.inode) != key:
            row.device, row.inode = key
        if change is identity.Change.CHANGED:
            result.changed.append(path)
            _enqueue(s, row, result, profile, "file changed", settle_until)
        elif change is identity.Change.RETURNED:
            assert row is not None
            result.returned.append(path)
            _enqueue(s, row, result, profile, "file is back", settle_until)
        else:
            assert row is not None
            result.unchanged += 1
            if requeue_pending and row.status == VIDEO_PENDING and not _has_active_job(s, row.id):
                _enqueue(s, row, result, profile, "never finished", settle_until)
    return result


def _has_active_job(s: Session, video_id: int) -> bool:
    return s.execute(select(Job.id).where(Job.video_id == video_id,
                                          Job.status.in_(JOB_ACTIVE)).limit(1)).first() is not None


def mark_gone(s: Session, paths: Iterable[str], reason: str = "file not found") -> list[str]:
    """Rows of ``paths`` whose file does not exist are marked missing; queued jobs cancelled."""
    rows = [r for p in paths if (r := identity.video_by_path(s, p)) is not None
            and r.status != VIDEO_MISSING and not os.path.exists(p)]
    identity.mark_missing(s, rows, reason)
    if rows:
        cancel_for_videos(s, [r.id for r in rows], "file is missing")
    return [r.path for r in rows]


def _ingest_batches(lib: Library, files: Sequence[str], result: ScanResult,
                    progress: Progress | None = None, **kwargs: Any) -> None:
    """``ingest_files`` over ``files``, ``BATCH`` files per write transaction, into ``result``."""
    for i in range(0, len(files), BATCH):
        with lib.session() as s:
            result.merge(ingest_files(s, files[i:i + BATCH], **kwargs))
        if progress is not None:
            progress("scan", min(i + BATCH, len(files)), len(files))


def scan_folder(lib: Library, folder: Path | str, *, recursive: bool = True,
                profile: str = "default", settle_seconds: float = 0.0,
                progress: Progress | None = None,
                defer: Callable[[str], None] | None = None) -> ScanResult:
    """Full scan of one folder (see the module doc).  Registers it as watched if needed."""
    root = identity.normalize_path(folder)
    add_watched_folder(lib, root, recursive)
    folders = watched_folder_paths(lib)
    files = walk_videos(root, recursive)
    result = ScanResult()
    _ingest_batches(lib, files, result, progress, folders=folders, profile=profile,
                    settle_seconds=settle_seconds, defer=defer)
    present = set(files)
    with lib.session() as s:
        known = [v.path for v in identity.rows_under(s, root)
                 if v.status != VIDEO_MISSING and v.path not in present
                 and (recursive or os.path.dirname(v.path) == root)]
        result.missing = mark_gone(s, known, "file not found by a rescan")
        for row in s.execute(select(WatchedFolder).where(WatchedFolder.path == root)).scalars():
            row.last_scan_at = now()
    return result


def scan_watched(lib: Library, *, profile: str = "default", settle_seconds: float = 0.0,
                 defer: Callable[[str], None] | None = None) -> ScanResult:
    """Rescan every enabled watched folder (a folder that vanished is reported, not scanned)."""
    total = ScanResult()
    for _, path, recursive in watched_folder_paths(lib):
        if not os.path.isdir(path):
            total.unreadable.append((path, "watched folder not found (unmounted drive?)"))
            continue
        total.merge(scan_folder(lib, path, recursive=recursive, profile=profile,
                                settle_seconds=settle_seconds, defer=defer))
    return total


# -- watching -----------------------------------------------------------------------------------
@dataclass
class _Pending:
    signature: tuple[int, int] | None  # None: the path did not exist at the last look
    since: float  # monotonic time the signature was last seen to change


class FolderWatcher:
    """Watches folders with watchdog; debounces; feeds the queue; rescans periodically.

    ``on_change(result)`` is called (from the watcher's thread) after every batch that queued
    jobs, e.g. ``lambda r: pool.wake()``; ``bus`` receives ``SCAN`` events for the UI.
    """

    def __init__(self, lib: Library, folders: Sequence[Path | str] | None = None, *,
                 settle_seconds: float = 2.0, rescan_seconds: float | None = 1800.0,
                 profile: str = "default", polling: bool = False,
                 on_change: Callable[[ScanResult], None] | None = None,
                 bus: ev.EventBus | None = None, tick_seconds: float | None = None) -> None:
        self.lib = lib
        self.settle_seconds = max(0.0, settle_seconds)
        self.rescan_seconds = rescan_seconds
        self.profile = profile
        self.polling = polling
        self.on_change = on_change
        self.bus = bus
        self.tick = tick_seconds if tick_seconds is not None else max(0.05, min(0.5, self.settle_seconds / 4))
        for f in folders or ():
            add_watched_folder(lib, f)
        self._folders = watched_folder_paths(lib)
        self._pending: dict[str, _Pending] = {}
        self._pending_dirs: dict[str, float] = {}
        self._moves: list[tuple[str, str, bool]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rescan_now = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer = None
        self._handler: _Handler | None = None
        self._watches: dict[str, tuple[Any, int]] = {}  # folder -> (watchdog watch, inode)
        self.folder_check_seconds = 2.0
        self.totals = ScanResult()
        self.errors: list[str] = []

    # -- life cycle ------------------------------------------------------------------------
    def start(self, initial_scan: bool = True) -> FolderWatcher:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        self._observer = PollingObserver() if self.polling else Observer()
        self._handler = _Handler(self)
        for _, path, recursive in self._folders:
            if not self._schedule(path, recursive):
                self._error(f"watched folder not found: {path}")
        self._observer.start()
        if initial_scan:
            self._rescan_now.set()
        self._thread = threading.Thread(target=self._loop, name="tt-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop observing; pending (unsettled) paths are left for the next scan."""
        self._stop.set()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(5.0)
        if self._thread is not None:
            self._thread.join(10.0)

    def __enter__(self) -> FolderWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def rescan(self) -> None:
        """Ask for a full rescan of every watched folder now (runs on the watcher thread)."""
        self._rescan_now.set()

    def pending_count(self) -> int:
        with self._lock:
            return len(self._pending) + len(self._pending_dirs) + len(self._moves)

    # -- events from watchdog (observer thread) --------------------------------------------
    def touched(self, path: str) -> None:
        if not is_video_file(path):
            return
        if not identity.storable_path(path):  # reported by ingest_files on the next rescan
            self._error(f"{identity.display_path(path)}: {identity.UNSTORABLE_NAME}")
            return
        with self._lock:
            self._pending[path] = _Pending(file_signature(path, missing_ok=True), time.monotonic())

    def touched_dir(self, path: str) -> None:
        with self._lock:
            self._pending_dirs[path] = time.monotonic()
            if path in self._watches and not os.path.isdir(path):
                self._forget_inode(path)

    def _forget_inode(self, path: str) -> None:
        """The watched folder itself went away: when a folder is back at that path, watch it
        again even if the file system gave it the old inode number (inodes are reused)."""
        entry = self._watches.get(path)
        if entry is not None:
            self._watches[path] = (entry[0], -1)

    def moved(self, src: str, dest: str, is_dir: bool) -> None:
        src_ok, dest_ok = identity.storable_path(src), identity.storable_path(dest)
        if not (src_ok and dest_ok):
            # a name the library cannot hold: the old path is gone, the new one is reported
            if is_dir:
                if src_ok:
                    self.touched_dir(src)
                self._error(f"{identity.display_path(dest)}: {identity.UNSTORABLE_NAME}")
                return
            if src_ok:
                self.touched(src)
            self.touched(dest)
            return
        with self._lock:
            self._moves.append((src, dest, is_dir))

    # -- the watcher thread --------------------------------------------------------------------
    def _schedule(self, path: str, recursive: bool) -> bool:
        """Observe ``path`` (again); False when it is not a folder right now."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode) or self._observer is None or self._handler is None:
            return False
        old = self._watches.pop(path, None)
        if old is not None:
            with contextlib.suppress(Exception):  # its emitter may be gone with the folder
                self._observer.unschedule(old[0])
        watch = self._observer.schedule(self._handler, path, recursive=recursive)
        self._watches[path] = (watch, st.st_ino)
        return True

    def _check_folders(self) -> None:
        """Watch again a folder that was deleted or unmounted and is back (the OS dropped
        its watch with the old folder), and start watching folders another program added
        to the library (a folder removed from the library is no longer watched); what is in
        a (re)watched folder is picked up like a folder moved in."""
        self._folders = watched_folder_paths(self.lib)
        wanted = {path for _, path, _ in self._folders}
        for path in [p for p in self._watches if p not in wanted]:
            watch, _ = self._watches.pop(path)
            with contextlib.suppress(Exception):
                self._observer.unschedule(watch)
        for _, path, recursive in self._folders:
            try:
                st = os.stat(path)
            except OSError:
                if path in self._watches:
                    with self._lock:
                        self._forget_inode(path)
                continue
            known = self._watches.get(path)
            if not stat.S_ISDIR(st.st_mode) or (known is not None and known[1] == st.st_ino):
                continue
            if self._schedule(path, recursive):
                log.info("watching %s again", path)
                if self.bus is not None:
                    self.bus.publish(ev.JobEvent(ev.SCAN, message=f"watching {path} again"))
                self.touched_dir(path)

    def _loop(self) -> None:
        last_scan = time.monotonic()
        last_check = time.monotonic()
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_check >= self.folder_check_seconds:
                    last_check = time.monotonic()
                    self._check_folders()
                if self._rescan_now.is_set() or (
                        self.rescan_seconds and time.monotonic() - last_scan > self.rescan_seconds):
                    self._rescan_now.clear()
                    last_scan = time.monotonic()
                    self._full_scan()
                self._apply_moves()
                self._settle()
            except Exception as err:  # noqa: BLE001 - e.g. library locked for long: next tick
                log.warning("watcher step failed", exc_info=True)
                self._error(f"watcher: {type(err).__name__}: {err}")
            self._stop.wait(self.tick)

    def _error(self, msg: str) -> None:
        self.errors.append(msg)
        if self.bus is not None:
            self.bus.publish(ev.JobEvent(ev.SCAN, message=msg))

    def _report(self, result: ScanResult, what: str) -> None:
        self.totals.merge(result)
        if self.bus is not None and (result.jobs or result.missing or result.moved):
            self.bus.publish(ev.JobEvent(ev.SCAN, message=f"{what}: {result.summary()}"))
        if result.jobs and self.on_change is not None:
            self.on_change(result)

    def _full_scan(self) -> None:
        self._folders = watched_folder_paths(self.lib)
        result = scan_watched(self.lib, profile=self.profile, settle_seconds=self.settle_seconds,
                              defer=self.touched)
        for path, why in result.unreadable:
            self._error(f"{path}: {why}")
        self._report(result, "rescan")

    def _apply_moves(self) -> None:
        with self._lock:
            moves, self._moves = self._moves, []
        if not moves:
            return
        result = ScanResult()
        with self.lib.session() as s:
            for src, dest, is_dir in moves:
                if is_dir:
                    if identity.move_tree(s, src, dest):
                        result.moved.append((src, dest))
                    self.touched_dir(dest)  # anything under it we did not know yet
                    continue
                src_video = is_video_file(src)
                if is_video_file(dest):
                    if src_video and identity.move_path(s, src, dest) is not None:
                        result.moved.append((src, dest))
                    else:  # e.g. "movie.mp4.part" → "movie.mp4": a new file, now complete
                        self.touched(dest)
                elif src_video:  # renamed to a non-video name: gone from the library's view
                    self.touched(src)
        self._report(result, "moved")

    def _settle(self) -> None:
        t = time.monotonic()
        ready: list[str] = []
        with self._lock:
            for path, p in list(self._pending.items()):
                sig = file_signature(path, missing_ok=True)
                if sig != p.signature:
                    p.signature, p.since = sig, t  # still changing: wait again
                elif t - p.since >= self.settle_seconds:
                    ready.append(path)
                    del self._pending[path]
            dirs = [d for d, since in self._pending_dirs.items() if t - since >= self.settle_seconds]
            for d in dirs:
                del self._pending_dirs[d]
        if not ready and not dirs:
            return
        present = [p for p in ready if os.path.isfile(p)]
        gone = [p for p in ready if not os.path.exists(p)]
        result = ScanResult()
        _ingest_batches(self.lib, present, result, folders=self._folders, profile=self.profile)
        if gone:
            with self.lib.session() as s:
                result.missing.extend(mark_gone(s, gone, "file deleted"))
        for d in dirs:
            if os.path.isdir(d):  # a folder created or moved in: what is in it is new
                _ingest_batches(self.lib, walk_videos(d), result, folders=self._folders,
                                profile=self.profile)
            else:
                with self.lib.session() as s:
                    rows = [v.path for v in identity.rows_under(s, d) if v.status != VIDEO_MISSING]
                    result.missing.extend(mark_gone(s, rows, "folder deleted"))
        self._report(result, "changes")


class _Handler(FileSystemEventHandler):
    """watchdog event handler → ``FolderWatcher`` (kept tiny: runs on the observer thread)."""

    def __init__(self, watcher: FolderWatcher) -> None:
        super().__init__()
        self.w = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        kind = getattr(event, "event_type", "")
        is_dir = bool(getattr(event, "is_directory", False))
        src = os.fsdecode(getattr(event, "src_path", ""))
        dest = os.fsdecode(getattr(event, "dest_path", "") or "")
        if kind == "moved":
            self.w.moved(src, dest, is_dir)
        elif kind in ("created", "modified", "deleted", "closed"):
            if is_dir:
                if kind in ("created", "deleted"):
                    self.w.touched_dir(src)
            else:
                self.w.touched(src)
