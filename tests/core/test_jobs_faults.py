"""Fault tests: files deleted, truncated or replaced while being processed; an unwritable
feature cache; the database locked by another process; 500 files dropped into a watched
folder at once.  Nothing is lost, every failure has a reason, the database stays intact."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from tests.core.test_jobs_support import SPEC
from trailertagger.core.jobs import events as ev
from trailertagger.core.jobs.queue import EXTRACT
from trailertagger.core.jobs.watcher import FolderWatcher, scan_folder
from trailertagger.core.jobs.worker import PoolOptions, WorkerPool
from trailertagger.core.library.db import open_library
from trailertagger.core.library.schema import GenreAssignment, Job, JobEventRow, Video
from trailertagger.core.media.identity import content_hash
from trailertagger.core.paths import app_dirs


def clip_copy(src: Path, dest: Path, tag: str) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(src.read_bytes() + tag.encode())
    return dest


def inline_pool(lib_path: Path, **services_kwargs) -> WorkerPool:
    kw = {"step_seconds": 0.0, "steps": 3, "real_probe": True} | services_kwargs
    return WorkerPool(lib_path, PoolOptions(workers=0, services=SPEC, services_kwargs=kw,
                                            settle_seconds=0.05))


def video(lib, path: Path) -> Video:
    with lib.read() as s:
        v = s.execute(select(Video).where(Video.path == str(path))).scalar_one()
        s.expunge(v)
        return v


def jobs_of(lib, path: Path) -> list[Job]:
    with lib.read() as s:
        rows = list(s.execute(select(Job).join(Video, Video.id == Job.video_id)
                              .where(Video.path == str(path))).scalars())
        s.expunge_all()
        return rows


def n_auto(lib, path: Path) -> int:
    with lib.read() as s:
        return s.execute(select(func.count()).select_from(GenreAssignment).join(Video).where(
            Video.path == str(path), GenreAssignment.source == "auto")).scalar_one()


def test_file_deleted_truncated_or_replaced_while_extracting(tmp_path, real_clips):
    bbb = real_clips["bbb"]
    folder = tmp_path / "films"
    deleted = clip_copy(bbb, folder / "deleted.mp4", "d")
    truncated = clip_copy(bbb, folder / "truncated.mp4", "t")
    replaced = clip_copy(bbb, folder / "replaced.mp4", "r")
    fine = clip_copy(bbb, folder / "fine.mp4", "f")
    replacement = clip_copy(bbb, tmp_path / "new content.mp4", "replacement")
    lib_path = tmp_path / "lib.sqlite3"
    lib = open_library(lib_path)
    scan_folder(lib, folder)
    done_faults: set[str] = set()

    def sabotage(e: ev.JobEvent) -> None:  # runs inside the extraction (inline pool)
        if e.kind != ev.PROGRESS or e.stage != EXTRACT or e.path in done_faults:
            return
        done_faults.add(e.path)
        if e.path == str(deleted):
            deleted.unlink()
        elif e.path == str(truncated):
            with open(truncated, "r+b") as fh:
                fh.truncate(48)
        elif e.path == str(replaced):
            os.replace(replacement, replaced)

    with inline_pool(lib_path) as pool:
        summary = pool.run_until_idle(sabotage, timeout=120)
    assert lib.integrity_check() == []
    reasons = dict(summary.failed)
    # deleted: the job fails saying so, the row is kept as missing
    assert "deleted while it was being processed" in reasons[str(deleted)]
    v = video(lib, deleted)
    assert v.status == "missing" and v.missing_since is not None
    # truncated: noticed (signature changed), re-queued, then fails as not a video
    (tj,) = jobs_of(lib, truncated)
    assert tj.status == "failed" and "not a usable video" in tj.error_reason
    assert video(lib, truncated).error_reason == tj.error_reason
    with lib.read() as s:
        hist = [r.event for r in s.execute(select(JobEventRow).where(JobEventRow.job_id == tj.id)).scalars()]
    assert "requeued" in hist
    # replaced: processed again, tagged as the new content
    v = video(lib, replaced)
    assert v.status == "ready" and v.content_hash == content_hash(replaced)
    assert n_auto(lib, replaced) == 21
    # the untouched file was never blocked
    assert video(lib, fine).status == "ready" and n_auto(lib, fine) == 21
    assert summary.done == 2 and len(summary.failed) == 2
    assert all(reason for _, reason in summary.failed)
    lib.close()


def test_unwritable_feature_cache_still_classifies_and_says_why(tmp_path, real_clips):
    # Tests run as root, where chmod does not stop writes: make the cache folder a *file*,
    # which fails every write into it just like a read-only mount does.
    cache = app_dirs().features
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(b"not a folder")
    folder = tmp_path / "films"
    clip = clip_copy(real_clips["bbb"], folder / "a.mp4", "a")
    lib_path = tmp_path / "lib.sqlite3"
    lib = open_library(lib_path)
    scan_folder(lib, folder)
    with inline_pool(lib_path) as pool:
        summary = pool.run_until_idle(timeout=60)
    assert summary.done == 1 and summary.failed == []
    (job,) = jobs_of(lib, clip)
    assert "feature cache not written" in job.message
    assert "classified in memory" in job.message
    assert n_auto(lib, clip) == 21 and video(lib, clip).status == "ready"
    assert lib.integrity_check() == []
    lib.close()


LOCKER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("COMMIT")
"""


def test_database_locked_by_another_process_for_seconds(tmp_path, real_clips):
    folder = tmp_path / "films"
    for i in range(3):
        clip_copy(real_clips["bbb"], folder / f"{i}.mp4", str(i))
    lib_path = tmp_path / "lib.sqlite3"
    lib = open_library(lib_path)
    scan_folder(lib, folder)
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(lib_path), "3"],
                              stdout=subprocess.PIPE, text=True)
    assert locker.stdout.readline().strip() == "locked"
    t0 = time.monotonic()
    with inline_pool(lib_path) as pool:
        summary = pool.run_until_idle(timeout=120)
    waited = time.monotonic() - t0
    assert locker.wait(10) == 0
    assert waited > 1.0  # it really had to wait for the other process
    assert summary.done == 3 and summary.failed == []
    assert lib.integrity_check() == []
    lib.close()


def test_500_files_dropped_into_a_watched_folder_are_queued_once_each(tmp_path):
    folder = tmp_path / "drop zone"
    folder.mkdir()
    lib_path = tmp_path / "lib.sqlite3"
    lib = open_library(lib_path)
    n, slow = 500, 20
    body = b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000)
    woken = threading.Event()
    # the slow writer pauses 0.2 s between pieces; the settle time is far longer so that a
    # pause stretched by the machine (this thread starved, or its writes stalled behind the
    # library's fsyncs on a loaded 2-core CI machine: once 1.5 s was not enough) still counts
    # as "still being written", which is what this test is about
    watcher = FolderWatcher(lib, [folder], settle_seconds=4.0, rescan_seconds=None,
                            on_change=lambda r: woken.set())
    watcher.start()
    try:
        def drop() -> None:
            # the slow files are written in pieces, pausing less than the settle time
            for i in range(slow):
                with open(folder / f"slow {i:03d}.mp4", "wb") as fh:
                    fh.write(body[:500])
            for k in range(4):
                time.sleep(0.2)
                for i in range(slow):
                    with open(folder / f"slow {i:03d}.mp4", "ab") as fh:
                        fh.write(body[500 + k * 400: 500 + (k + 1) * 400] + bytes([i]))
            for i in range(n - slow):
                (folder / f"clip {i:03d}.mp4").write_bytes(body + i.to_bytes(2, "little"))
            (folder / "notes.txt").write_text("not a video")
            (folder / "partial.mp4.part").write_bytes(body)

        dropper = threading.Thread(target=drop)
        dropper.start()
        dropper.join()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with lib.read() as s:
                queued = s.execute(select(func.count()).select_from(Job)).scalar_one()
            if queued >= n and watcher.pending_count() == 0:
                break
            time.sleep(0.2)
        time.sleep(1.0)  # late duplicates would show up now
        # a rename of a finished download makes it a video: queued once, too
        os.replace(folder / "partial.mp4.part", folder / "partial.mp4")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lib.read() as s:
                if s.execute(select(Video.id).where(Video.path.like("%partial.mp4"))).first():
                    break
            time.sleep(0.1)
        time.sleep(1.0)
    finally:
        watcher.stop()
    assert woken.is_set()
    with lib.read() as s:
        videos = {v.path: v.size for v in s.execute(select(Video)).scalars()}
        per_video = s.execute(select(Job.video_id, func.count()).group_by(Job.video_id)).all()
        queued_events = s.execute(select(func.count()).select_from(JobEventRow).where(
            JobEventRow.event == "queued")).scalar_one()
    assert len(videos) == n + 1
    assert {c for _, c in per_video} == {1} and len(per_video) == n + 1
    assert queued_events == n + 1
    # nothing was read before it settled: every row has the file's final size
    for path, size in videos.items():
        assert size == os.path.getsize(path), path
    assert watcher.errors == []
    assert lib.integrity_check() == []
    lib.close()


def test_watcher_moves_deletes_and_rescans(tmp_path, real_clips):
    n = 3
    folder = tmp_path / "watched"
    files = [clip_copy(real_clips["bbb"], folder / f"{i}.mp4", str(i)) for i in range(n)]
    lib_path = tmp_path / "lib.sqlite3"
    lib = open_library(lib_path)
    with inline_pool(lib_path) as pool:
        scan_folder(lib, folder)
        assert pool.run_until_idle(timeout=60).done == n
    ids = {str(p): video(lib, p).id for p in files}
    watcher = FolderWatcher(lib, [folder], settle_seconds=0.2, rescan_seconds=None)
    watcher.start()
    try:
        renamed = folder / "renamed.mp4"
        os.replace(files[0], renamed)
        (folder / "sub").mkdir()
        moved = folder / "sub" / "moved.mp4"
        os.replace(files[1], moved)
        files[2].unlink()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if watcher.pending_count() == 0 and video(lib, files[2].with_name("2.mp4")).status == "missing":
                break
    finally:
        watcher.stop()
    # a file moved into a folder created a moment before may be seen as deleted + new
    # (the new folder's watch did not exist yet); processing it finds the missing row by
    # content hash and adopts it, so the end result is the same row either way
    with inline_pool(lib_path) as pool:
        assert pool.run_until_idle(timeout=60).failed == []
    assert video(lib, renamed).id == ids[str(files[0])]  # same row: tags kept
    assert video(lib, moved).id == ids[str(files[1])]
    assert n_auto(lib, renamed) == 21
    gone = video(lib, files[2])
    assert gone.status == "missing" and n_auto(lib, files[2]) == 21  # kept until purged
    # an on-demand rescan finds nothing new and queues nothing
    again = scan_folder(lib, folder)
    assert again.jobs == [] and again.new == [] and again.unchanged == 2
    assert lib.integrity_check() == []
    lib.close()


def test_file_renamed_while_extracting_is_requeued_at_its_new_path(tmp_path, real_clips):
    from trailertagger.core.library import identity

    folder = tmp_path / "films"
    clip = clip_copy(real_clips["bbb"], folder / "old name.mp4", "x")
    new = folder / "new name.mp4"
    lib_path = tmp_path / "lib.sqlite3"
    lib = open_library(lib_path)
    scan_folder(lib, folder)
    vid = video(lib, clip).id

    def rename(e: ev.JobEvent) -> None:  # what the watcher does on a rename event
        if e.kind == ev.PROGRESS and e.stage == EXTRACT and clip.exists():
            os.replace(clip, new)
            with lib.session() as s:
                identity.move_path(s, str(clip), str(new))

    with inline_pool(lib_path) as pool:
        summary = pool.run_until_idle(rename, timeout=60)
    assert summary.failed == [] and summary.done == 1
    v = video(lib, new)
    assert v.id == vid and v.status == "ready" and n_auto(lib, new) == 21
    with lib.read() as s:
        msgs = list(s.execute(select(JobEventRow.message).where(JobEventRow.event == "requeued")).scalars())
    assert any("moved while it was being processed" in m for m in msgs)
    assert lib.integrity_check() == []
    lib.close()


def test_watcher_periodic_and_on_demand_rescans_find_what_no_event_reported(tmp_path):
    folder = tmp_path / "share"
    folder.mkdir()
    body = b"\x00\x00\x00\x18ftypmp42" + os.urandom(1000)
    (folder / "before.mp4").write_bytes(body)  # exists before watching: no event will come
    lib_path = tmp_path / "lib.sqlite3"
    lib = open_library(lib_path)

    def count() -> int:
        with lib.read() as s:
            return s.execute(select(func.count()).select_from(Job)).scalar_one()

    def wait(n: int, timeout: float = 20) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if count() >= n:
                return True
            time.sleep(0.05)
        return False

    w = FolderWatcher(lib, [folder], settle_seconds=0.1, rescan_seconds=None)
    w.start(initial_scan=False)
    try:
        time.sleep(0.5)
        assert count() == 0
        w.rescan()  # on demand
        assert wait(1)
    finally:
        w.stop()
    (folder / "while away.mp4").write_bytes(body + b"2")  # nobody watching now
    watcher = FolderWatcher(lib, [folder], settle_seconds=0.1, rescan_seconds=0.5)
    watcher.start(initial_scan=False)
    try:
        assert wait(2)  # the periodic rescan found it
    finally:
        watcher.stop()
    assert count() == 2
    assert lib.integrity_check() == []
    lib.close()
