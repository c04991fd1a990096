"""The persistent queue: claimed once, one active job per video, recovery, limits, retry."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from trailertagger.core.jobs.queue import (
    CLASSIFY,
    CLASSIFY_PLAN,
    EXTRACT,
    PROBE,
    PROCESS_PLAN,
    JobQueue,
    LostJob,
    merge_plans,
    pid_alive,
)
from trailertagger.core.library import identity
from trailertagger.core.library.db import Library, open_library
from trailertagger.core.library.schema import Job, Video


@pytest.fixture()
def lib(tmp_path: Path) -> Library:
    lib = open_library(tmp_path / "lib.sqlite3")
    yield lib
    assert lib.integrity_check() == []
    lib.close()


def add_videos(lib: Library, n: int, prefix: str = "/videos/v") -> list[int]:
    with lib.session() as s:
        return [identity.new_video(s, f"{prefix}{i}.mp4", 100 + i, 1).id for i in range(n)]


def job(lib: Library, job_id: int) -> Job:
    with lib.read() as s:
        row = s.get(Job, job_id)
        s.expunge(row)
        return row


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_enqueue_keeps_one_active_job_per_video_and_merges_plans(lib):
    (vid,) = add_videos(lib, 1)
    q = JobQueue(lib)
    (a,) = q.enqueue([vid], CLASSIFY_PLAN)
    (b,) = q.enqueue([vid], PROCESS_PLAN)
    assert a == b
    assert job(lib, a).stage_list == list(PROCESS_PLAN)
    c = q.claim("h:1:0", 1)
    assert c is not None and c.id == a and c.stage == PROBE
    # a running job asked to classify again: already in its remaining stages, unchanged
    assert q.enqueue([vid], CLASSIFY_PLAN) == [a]
    assert job(lib, a).stage_list == list(PROCESS_PLAN)
    # finish every stage; then a new request makes a new job
    assert q.complete_stage(a, "h:1:0") is False
    nxt = q.claim("h:1:0", 1)
    assert (nxt.id, nxt.stage, nxt.plan) == (a, EXTRACT, (EXTRACT, CLASSIFY))
    assert q.complete_stage(a, "h:1:0", next_plan=[]) is True
    assert job(lib, a).status == "done"
    (d,) = q.enqueue([vid], CLASSIFY_PLAN)
    assert d != a and job(lib, d).status == "queued"


def test_merge_plans_rules():
    assert merge_plans([CLASSIFY], [PROBE, EXTRACT], running=False) == [PROBE, EXTRACT, CLASSIFY]
    # running probe + new probe request: the file changed after the probe looked, probe again
    assert merge_plans([PROBE, EXTRACT, CLASSIFY], [PROBE, EXTRACT, CLASSIFY], running=True) == \
        [PROBE, PROBE, EXTRACT, CLASSIFY]
    assert merge_plans([EXTRACT], [CLASSIFY], running=True) == [EXTRACT, CLASSIFY]
    assert merge_plans([EXTRACT, CLASSIFY], [CLASSIFY], running=True) == [EXTRACT, CLASSIFY]


def test_each_job_is_claimed_exactly_once_by_competing_workers(tmp_path):
    path = tmp_path / "lib.sqlite3"
    lib = open_library(path)
    ids = add_videos(lib, 40)
    q = JobQueue(lib)
    q.enqueue(ids, CLASSIFY_PLAN)
    q.set_stage_limits({CLASSIFY: 100})
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        mine = Library(path)  # its own engines, like a separate process
        wq = JobQueue(mine)
        while (c := wq.claim(f"h:{i}:0", 1)) is not None:
            with lock:
                claimed.append(c.id)
        mine.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(set(claimed))
    assert len(claimed) == 40
    assert q.counts() == {"running": 40}
    assert lib.integrity_check() == []
    lib.close()


def test_stage_limits_and_pause_gate_claims(lib):
    ids = add_videos(lib, 3)
    q = JobQueue(lib)
    q.enqueue(ids[:2], [EXTRACT])
    q.enqueue(ids[2:], [PROBE])
    q.set_stage_limits({EXTRACT: 1, PROBE: 0})
    first = q.claim("h:1:0", 1)
    assert first is not None and first.stage == EXTRACT
    assert q.claim("h:1:1", 1) is None  # extract full, probe limited to 0
    q.set_stage_limits({PROBE: 1})
    second = q.claim("h:1:1", 1)
    assert second is not None and second.stage == PROBE
    with pytest.raises(ValueError, match="unknown stage"):
        q.set_stage_limits({"bogus": 1})
    q.set_stage_limits({EXTRACT: 2})
    q.pause()
    assert q.is_paused() and not q.has_claimable()
    assert q.claim("h:1:2", 1) is None
    q.resume()
    assert q.has_claimable()
    third = q.claim("h:1:2", 1)
    assert third is not None and third.stage == EXTRACT and third.id != first.id


def test_recover_requeues_jobs_of_a_dead_worker_then_fails_after_max_attempts(lib):
    """A worker found dead at start (cause unknown) re-queues without using an attempt, up to
    LOST_FACTOR * max_attempts times in a row; a worker that crashed on the file (a crash
    signal) fails it after max_attempts."""
    from trailertagger.core.jobs.queue import CRASH, HOST, LOST_FACTOR

    a, b = add_videos(lib, 2)
    q = JobQueue(lib, max_attempts=2)
    (ja,) = q.enqueue([a])
    pid = dead_pid()
    assert not pid_alive(pid) and pid_alive(subprocess.os.getpid())
    owner = f"{HOST}:{pid}:0"
    for _ in range(LOST_FACTOR * 2 - 1):
        assert q.claim(owner, pid, lease_seconds=300).attempts == 1
        assert q.recover() == [ja]  # lease still valid, but the owner process is dead
        row = job(lib, ja)
        assert (row.status, row.attempts, row.owner) == ("queued", 0, None)
        assert "gone" in row.message
    q.claim(owner, pid, lease_seconds=300)
    (out,) = q.recover_outcomes()
    assert out.failed and "stopped 6 times in a row" in out.reason
    assert job(lib, ja).status == "failed"

    (jb,) = q.enqueue([b])
    q.claim(owner, pid, lease_seconds=300)
    assert not q.recover_outcomes(owners=[owner], cause=CRASH, reason="died (signal 11)")[0].failed
    q.claim(owner, pid, lease_seconds=300)
    (out,) = q.recover_outcomes(owners=[owner], cause=CRASH, reason="died (signal 11)")
    row = job(lib, jb)
    assert out.failed and row.status == "failed"
    assert "crashed 2 times" in row.error_reason and "decoder" in row.error_reason
    with lib.read() as s:
        v = s.get(Video, b)
        assert v.status == "failed" and v.error_reason == row.error_reason


def test_recover_leaves_live_owners_and_requeues_expired_leases(lib):
    ids = add_videos(lib, 2)
    q = JobQueue(lib)
    q.enqueue(ids)
    import os

    from trailertagger.core.jobs.queue import HOST

    me = f"{HOST}:{os.getpid()}:0"
    live = q.claim(me, os.getpid(), lease_seconds=300)
    expired = q.claim("otherhost:1:0", 1, lease_seconds=-1)  # another machine, lease over
    assert q.recover(only_expired=True) == [expired.id]
    assert q.recover() == []
    assert job(lib, live.id).status == "running"
    # the live owner's heartbeat works; a stranger's does not
    assert q.heartbeat(live.id, me).lost is False
    assert q.heartbeat(live.id, "x:1:0").lost is True
    with pytest.raises(LostJob):
        q.complete_stage(live.id, "x:1:0")


def test_fail_records_reason_and_does_not_block_others_then_retry(lib):
    ids = add_videos(lib, 2)
    q = JobQueue(lib)
    a, b = q.enqueue(ids)
    ca = q.claim("h:1:0", 1)
    q.fail(ca.id, "h:1:0", "cannot decode the video: corrupt", "Traceback ...")
    cb = q.claim("h:1:0", 1)
    assert cb is not None and cb.id == b  # the failure did not block the next job
    row = job(lib, a)
    assert (row.status, row.error_reason, row.error_detail) == \
        ("failed", "cannot decode the video: corrupt", "Traceback ...")
    assert q.retry() == [a]
    row = job(lib, a)
    assert (row.status, row.attempts, row.error_reason) == ("queued", 0, None)
    with lib.read() as s:
        assert s.get(Video, ids[0]).error_reason is None
    assert q.retry() == []  # nothing failed any more


def test_cancel_queued_now_and_running_on_next_heartbeat(lib):
    ids = add_videos(lib, 2)
    q = JobQueue(lib)
    a, b = q.enqueue(ids)
    running = q.claim("h:1:0", 1)
    assert running.id == a
    assert q.cancel() == 2
    assert job(lib, b).status == "cancelled"
    assert job(lib, a).status == "running"
    assert q.heartbeat(a, "h:1:0").cancel is True
    q.mark_cancelled(a, "h:1:0")
    assert job(lib, a).status == "cancelled"
    assert q.active_count() == 0
    assert sorted(q.retry(include_cancelled=True)) == [a, b]
    assert q.purge_finished() == 0
