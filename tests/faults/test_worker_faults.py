"""Workers that die, are killed or are interrupted (issue 9, cases 4, 5 and 6).

Before: worker kills spread over several runs permanently failed a good file, and a run whose
file had failed that way said "3 done, 0 failed" with exit 0; Ctrl-C while models loaded
failed the job with the OCR library's ConfigKeyError (1 in ~16 tries); ``kill -9`` of the
main process left its worker running 20-30 s holding a fresh lease.  Now a crash counter
tells "this file crashes the decoder every time" (failed, counted, exit 1) from "workers died
for other reasons" (re-queued); an interrupt in any phase re-queues; a worker notices its
parent is gone within a second and hands its job back.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.faults.support import (
    SPEC,
    assert_sane,
    make_clips,
    query,
    run_cli,
    start_cli,
    wait_for,
    write_config,
)
from trailertagger.core.jobs import events as ev
from trailertagger.core.jobs.queue import pid_alive
from trailertagger.core.jobs.watcher import scan_folder
from trailertagger.core.jobs.worker import PoolOptions, WorkerPool
from trailertagger.core.library.db import open_library
from trailertagger.core.paths import app_dirs

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="POSIX signals, process groups and Linux /proc")


def phase_reached(phase: str) -> bool:
    return (app_dirs().data / "phases" / phase).exists()


def clear_phases() -> None:
    for p in (app_dirs().data / "phases").glob("*"):
        p.unlink()


def test_a_file_that_crashes_its_worker_every_time_fails_and_is_counted(tmp_path, real_clips):
    folder = tmp_path / "films"
    make_clips(real_clips["bbb"], folder, 2)
    make_clips(real_clips["bbb"], folder, 1, prefix="crashy")
    write_config(workers=1, crash_name="crashy")
    code, _, err = run_cli("scan", str(folder), timeout=180)
    assert code == 1, err  # some item failed: the summary and the exit code say so
    assert "2 done, 1 failed" in err, err
    assert "crashy 0.mp4" in err and "crashed 3 times" in err and "decoder" in err, err
    assert "Traceback" not in err
    assert query("SELECT v.path LIKE '%crashy%', j.status FROM jobs j JOIN videos v "
                 "ON v.id = j.video_id ORDER BY 1") == [(0, "done"), (0, "done"), (1, "failed")]
    assert query("SELECT count(*) FROM job_events WHERE event = 'crash'") == [(3,)]
    assert_sane()


def _kill_the_extracting_worker(lib_path: Path) -> int:
    """SIGKILL (as the OOM killer or a user would) the worker busy extracting."""
    rows: list[tuple] = []

    def busy() -> bool:
        rows[:] = query("SELECT owner_pid FROM jobs WHERE status = 'running' "
                        "AND stage = 'extract'", lib_path)
        return bool(rows) and phase_reached("extract")

    wait_for(busy, 90, "a running extraction")
    pid = rows[0][0]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), 10, "the killed worker to die")
    clear_phases()
    return pid


def test_worker_kills_spread_over_runs_never_fail_a_good_file(tmp_path, real_clips):
    folder = tmp_path / "films"
    make_clips(real_clips["bbb"], folder, 1)
    lib_path = tmp_path / "lib.sqlite3"
    lib = open_library(lib_path)
    scan_folder(lib, folder)
    opts = dict(workers=1, services=SPEC, settle_seconds=0.0, poll_seconds=0.1,
                heartbeat_seconds=0.3, lease_seconds=5.0, stop_grace_seconds=2.0)
    failed: list[ev.JobEvent] = []
    lost = [0]
    # four kills in all (max_attempts is 3), over two runs: never the file's fault
    for run, kills in enumerate((2, 2)):
        pool = WorkerPool(lib_path, PoolOptions(**opts, services_kwargs={"extract_seconds": 1.5}))
        pool.bus.subscribe(lambda e: failed.append(e) if e.kind == ev.FAILED else None)
        pool.start()
        for _ in range(kills):
            _kill_the_extracting_worker(lib_path)
            # the pool must see each death as a loss before the next step (a stop right after
            # a kill would otherwise hand the job back as a plain interruption)
            lost[0] += 1
            wait_for(lambda: _lost_events(lib_path) >= lost[0], 30, "the loss to be recorded")
        if run == 0:
            pool.stop()
        else:
            assert pool.wait_idle(90)
            pool.stop()
        assert_sane(lib_path)
    assert failed == []
    assert query("SELECT status FROM jobs", lib_path) == [("done",)]
    assert _lost_events(lib_path) == 4
    lib.close()


def _lost_events(lib_path: Path) -> int:
    return query("SELECT count(*) FROM job_events WHERE event = 'lost'", lib_path)[0][0]


@pytest.mark.parametrize("phase", ["probe", "load", "extract", "classify"])
def test_ctrl_c_in_any_phase_requeues_never_fails(tmp_path, real_clips, phase):
    folder = tmp_path / "films"
    (clip,) = make_clips(real_clips["bbb"], folder, 1)
    lib_path = tmp_path / "lib.sqlite3"
    lib = open_library(lib_path)
    scan_folder(lib, folder)
    kwargs = {f"{phase}_seconds": 30.0}
    pool = WorkerPool(lib_path, PoolOptions(workers=0, services=SPEC, services_kwargs=kwargs,
                                            settle_seconds=0.0))

    def ctrl_c() -> None:  # the user presses Ctrl-C once the job is in that phase
        deadline = time.monotonic() + 60
        while not phase_reached(phase) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=ctrl_c, daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        pool.run_until_idle()
    assert time.monotonic() - t0 < 25  # interrupted, not waited out
    stage = {"probe": "probe", "load": "extract", "extract": "extract", "classify": "classify"}
    assert query("SELECT status, stage, attempts, error_reason FROM jobs", lib_path) == [
        ("queued", stage[phase], 0, None)]
    assert query("SELECT status FROM videos", lib_path) == [("pending",)]
    assert_sane(lib_path)
    pool.stop()
    clear_phases()
    pool = WorkerPool(lib_path, PoolOptions(workers=0, services=SPEC, settle_seconds=0.0))
    summary = pool.run_until_idle()
    pool.stop()
    assert summary.done == 1 and summary.failed == []
    lib.close()


def test_ctrl_c_while_a_worker_process_loads_models_requeues(tmp_path, real_clips):
    """The reported case, through the CLI: the interrupt lands in a worker's model import,
    which turns the pool's SIGTERM into its own error after the grace period."""
    folder = tmp_path / "films"
    make_clips(real_clips["bbb"], folder, 2)
    write_config(workers=1, load_seconds=60.0)
    p = start_cli("scan", str(folder))
    try:
        wait_for(lambda: phase_reached("load"), 90, "the worker to load models")
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
    assert p.returncode == 130, err
    assert "Traceback" not in err
    assert query("SELECT count(*) FROM jobs WHERE status = 'failed'") == [(0,)]
    assert query("SELECT count(*) FROM jobs WHERE attempts != 0") == [(0,)]
    assert query("SELECT stage, status FROM jobs WHERE stage = 'extract'") == [("extract", "queued")]
    assert_sane()


def test_kill_9_of_the_app_frees_its_worker_and_job_within_a_second(tmp_path, real_clips):
    folder = tmp_path / "films"
    make_clips(real_clips["bbb"], folder, 1)
    write_config(workers=1, extract_seconds=60.0)  # a long call that reports no progress
    p = start_cli("scan", str(folder))
    try:
        rows: list[tuple] = []

        def busy() -> bool:
            rows[:] = query("SELECT owner_pid FROM jobs WHERE status = 'running'")
            return bool(rows) and phase_reached("extract")

        wait_for(busy, 90, "a running extraction")
        worker = rows[0][0]
        assert worker != p.pid
        t0 = time.monotonic()
        os.kill(p.pid, signal.SIGKILL)  # the app only: its worker is left orphaned
        wait_for(lambda: not pid_alive(worker)
                 and query("SELECT status FROM jobs") == [("queued",)], 20, "the job back")
        took = time.monotonic() - t0
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
    print(f"worker gone and job queued {took:.2f} s after kill -9 of the app")
    assert took < 3.0, f"the worker held its job {took:.1f} s after its parent died"
    assert query("SELECT attempts, owner FROM jobs") == [(0, None)]
    assert_sane()
    write_config(workers=1)
    code, _, err = run_cli("scan", timeout=120)
    assert code == 0, err
    assert query("SELECT status FROM jobs") == [("done",)]
