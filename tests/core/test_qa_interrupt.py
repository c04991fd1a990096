"""Ctrl-C (SIGINT to the whole process group, as a terminal sends it) at different moments of
``scan``: each time the library passes ``PRAGMA integrity_check``, no job is left "running",
no attempt is counted against a video, nothing half-written is left, stderr holds no
traceback, and running ``scan`` again finishes everything.

Regressions: a worker still importing when Ctrl-C arrived printed a KeyboardInterrupt
traceback; a second Ctrl-C while the pool was stopping left the job in hand "running" (the
next start then counted a failed attempt, three of them failed the video); a worker
terminated after the stop grace leaked a semaphore warning onto the user's terminal.

Extraction is the fake of ``test_jobs_support`` (set through ``[jobs]`` settings), so each
moment costs a few seconds; processes, queue, library and CLI are the real ones.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.core.test_jobs_support import SPEC
from trailertagger.core.paths import app_dirs

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="POSIX process groups and Linux /proc")


def write_config(step_seconds: float, steps: int) -> None:
    cfg = app_dirs().config_file
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        f'[jobs]\nworkers = 1\nsettle_seconds = 0.0\nservices = "{SPEC}"\n'
        f'[jobs.services_kwargs]\nstep_seconds = {step_seconds}\nsteps = {steps}\n',
        encoding="utf-8")


def make_folder(tmp_path: Path, clip: Path, n: int) -> Path:
    """``n`` distinct videos (the fake extractor needs an MP4 header, not a real stream)."""
    folder = tmp_path / "films ü"
    folder.mkdir()
    data = clip.read_bytes()
    for i in range(n):
        (folder / f"film {i}.mp4").write_bytes(data + f"distinct {i}".encode())
    return folder


def start(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "trailertagger", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def query(sql: str) -> list[tuple]:
    db = app_dirs().library_db
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()
    except sqlite3.Error:  # not created yet
        return []


def wait_for(sql: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if query(sql):
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {sql}")


def worker_spawned(p: subprocess.Popen) -> bool:
    """Has ``p`` started a worker process (still importing, most likely)?  Linux /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        if ppid == p.pid and b"spawn_main" in cmdline:
            return True
    return False


def ctrl_c(p: subprocess.Popen, again_after: float | None = None) -> tuple[int, str]:
    os.killpg(p.pid, signal.SIGINT)
    if again_after is not None:
        time.sleep(again_after)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    return p.returncode, err


def assert_consistent(err: str, folder: Path) -> None:
    assert "Traceback" not in err and "leaked" not in err, err
    assert query("PRAGMA integrity_check") == [("ok",)]
    assert query("PRAGMA foreign_key_check") == []
    assert query("SELECT id FROM jobs WHERE status = 'running'") == []
    assert query("SELECT id, attempts FROM jobs WHERE attempts != 0") == []
    assert query("SELECT id FROM jobs WHERE status = 'failed'") == []
    leftovers = [p for root in (app_dirs().cache, folder) for p in root.rglob("*")
                 if p.is_file() and (p.name.startswith(".") and p.name != ".lock"
                                     or ".tmp" in p.name)]
    assert leftovers == []


def test_ctrl_c_at_three_moments_of_scan_then_scan_finishes(tmp_path, real_clips):
    folder = make_folder(tmp_path, real_clips["bbb"], 4)
    write_config(step_seconds=0.2, steps=10)  # 2 s per extraction, a report every 0.2 s

    # 1. while the worker process is still starting (importing): no traceback from it
    p = start("scan", str(folder))
    deadline = time.monotonic() + 60
    while not worker_spawned(p) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # past the parent's few-ms window around fork+exec (see _sigint_ignored)
    code, err = ctrl_c(p)
    assert code == 130, err
    assert_consistent(err, folder)

    # 2. in the middle of an extraction: the job goes back to the queue untouched
    p = start("scan", str(folder))
    wait_for("SELECT id FROM jobs WHERE status = 'running' AND stage = 'extract'")
    time.sleep(0.3)
    code, err = ctrl_c(p)
    assert code == 130, err
    assert "stopping: jobs in progress go back to the queue" in err
    assert_consistent(err, folder)
    assert query("SELECT count(*) FROM jobs WHERE status = 'queued'")[0][0] >= 3

    # 3. scan again (no folder: the watched one) finishes everything
    p = start("scan")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert query("SELECT status, count(*) FROM jobs GROUP BY status") == [("done", 4)]
    assert query("SELECT status, count(*) FROM videos GROUP BY status") == [("ready", 4)]


def test_second_ctrl_c_while_stopping_still_hands_the_job_back(tmp_path, real_clips):
    folder = make_folder(tmp_path, real_clips["bbb"], 2)
    # one progress report every 3 s: the worker cannot notice "stop" within a second
    write_config(step_seconds=3.0, steps=2)
    p = start("scan", str(folder))
    wait_for("SELECT id FROM jobs WHERE status = 'running' AND stage = 'extract'")
    t0 = time.monotonic()
    code, err = ctrl_c(p, again_after=0.5)
    assert code == 130, err
    assert time.monotonic() - t0 < 4.5  # forced: did not wait for the 5 s grace
    assert_consistent(err, folder)
    # handed back by the pool after terminating the worker (or by the worker itself, had it
    # reached a progress report first): either way queued, at the same stage
    [(message,)] = query("SELECT message FROM jobs WHERE status = 'queued' AND stage = 'extract'")
    assert message.endswith("the worker pool stopped; will resume")
