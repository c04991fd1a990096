"""End to end through the real CLI in subprocesses: scan a folder of real clips, SIGKILL the
CLI and its worker mid-job, restart, everything completes; a manual correction survives
rescan, re-run, rename and a model change; ``watch`` stops cleanly on SIGINT (exit 130);
``PRAGMA integrity_check`` after every step.

Extraction and the genre head are the fakes of ``test_jobs_support`` (set through the
``[jobs]`` settings, as a user could), so this runs in seconds; identity, probe, cache,
queue, worker processes and the CLI are the real ones.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from tests.core.test_jobs_support import SPEC, hash_probs
from trailertagger.cli.main import main
from trailertagger.core.library import queries
from trailertagger.core.library.corrections import apply_changes, parse_changes
from trailertagger.core.library.db import open_library
from trailertagger.core.library.schema import GenreAssignment, Head, Job, JobEventRow, Video
from trailertagger.core.paths import app_dirs

ROOT = Path(__file__).resolve().parents[2]


def write_config(model_id: str = "fake-head", step_seconds: float = 0.0, steps: int = 1,
                 workers: int = 1) -> None:
    cfg = app_dirs().config_file
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(
        f'[jobs]\nworkers = {workers}\nsettle_seconds = 0.3\nservices = "{SPEC}"\n'
        f'[jobs.services_kwargs]\nstep_seconds = {step_seconds}\nsteps = {steps}\n'
        f'real_probe = true\nmodel_id = "{model_id}"\n', encoding="utf-8")


def cli(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "trailertagger", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kw)


def run_cli(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    p = cli(*args)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def running_extract(lib_path: Path) -> bool:
    if not lib_path.exists():
        return False
    lib = open_library(lib_path)
    try:
        with lib.read() as s:
            return s.execute(select(Job.id).where(Job.status == "running",
                                                  Job.stage == "extract")).first() is not None
    except Exception:  # noqa: BLE001 - schema not created yet
        return False
    finally:
        lib.close()


def check(lib) -> None:
    assert lib.integrity_check() == []


def record(lib, path: Path):
    with lib.read() as s:
        return queries.get_video(s, str(path))


def make_folder(folder: Path, real_clips) -> list[Path]:
    folder.mkdir(parents=True)
    out = []
    for i, name in enumerate(["bbb", "bbb", "music"]):
        p = folder / f"film {i}.mp4"
        p.write_bytes(real_clips[name].read_bytes() + f"#{i}".encode())
        out.append(p)
    return out


def test_scan_kill_restart_and_corrections_survive_everything(tmp_path, real_clips):
    folder = tmp_path / "films"
    files = make_folder(folder, real_clips)
    lib_path = app_dirs().library_db
    write_config(step_seconds=0.25, steps=12)  # 3 s per extraction: room to kill mid-job

    # 1. scan, then SIGKILL the CLI and its worker in the middle of an extraction
    p = cli("scan", str(folder), "--workers", "1")
    try:
        wait_for(lambda: running_extract(lib_path), 90, "an extraction to start")
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate(timeout=30)
    lib = open_library(lib_path)
    check(lib)
    with lib.read() as s:
        assert s.execute(select(func.count()).select_from(Job).where(Job.status == "running")).scalar_one() == 1

    # 2. restart: the dead owner's job is recovered, everything completes
    write_config()
    code, _, err = run_cli("jobs", "run", "--workers", "1")
    assert code == 0, err
    check(lib)
    with lib.read() as s:
        videos = list(s.execute(select(Video)).scalars())
        assert [v.status for v in videos] == ["ready"] * 3
        assert {j.status for j in s.execute(select(Job)).scalars()} == {"done"}
        recovered = s.execute(select(JobEventRow.message).where(
            JobEventRow.event == "requeued", JobEventRow.message.like("recovered%"))).scalars().all()
    assert len(recovered) == 1 and "gone" in recovered[0]  # the killed worker's job
    for f in files:
        rec = record(lib, f)
        assert rec.probabilities() == dict(hash_probs(rec.content_hash))

    # 3. a manual correction
    target = files[0]
    vid = record(lib, target).id
    auto_on = set(record(lib, target).genres)
    add = next(g for g in ("Horror", "Western", "Musical") if g not in auto_on)
    remove = sorted(auto_on)[0] if auto_on else "Comedy"
    apply_changes(lib, [vid], parse_changes([f"+{add}", f"-{remove}"]))

    def correction_holds(path: Path) -> None:
        rec = record(lib, path)
        assert rec is not None and rec.id == vid
        assert add in rec.genres and remove not in rec.genres
        assert add in rec.manual_on and remove in rec.manual_off
        check(lib)

    correction_holds(target)
    # 4. rescan: nothing to do, correction kept
    code, _, err = run_cli("scan", str(folder), "--workers", "0")
    assert code == 0, err
    correction_holds(target)
    # 5. re-run classification: auto rows replaced, manual rows kept
    with lib.read() as s:
        before = s.execute(select(func.max(GenreAssignment.created_at)).where(
            GenreAssignment.video_id == vid, GenreAssignment.source == "auto")).scalar_one()
    code, _, err = run_cli("rerun", "--all", "--workers", "0")
    assert code == 0, err
    with lib.read() as s:
        after = s.execute(select(func.max(GenreAssignment.created_at)).where(
            GenreAssignment.video_id == vid, GenreAssignment.source == "auto")).scalar_one()
    assert after > before
    correction_holds(target)
    # 6. rename (while nothing watches): the rescan finds it by content hash, same row
    renamed = folder / "renamed film.mp4"
    os.replace(target, renamed)
    code, _, err = run_cli("scan", str(folder), "--workers", "0")
    assert code == 0, err
    correction_holds(renamed)
    assert record(lib, target) is None
    # 7. model change: old predictions go stale; re-run uses the new head, manual rows win
    write_config(model_id="fake-head-2")
    code, _, err = run_cli("rerun", "--all", "--workers", "1")
    assert code == 0, err
    rec = record(lib, renamed)
    assert rec.model_id == "fake-head-2" and not rec.stale
    assert rec.probabilities() == hash_probs(rec.content_hash, "fake-head-2")
    correction_holds(renamed)
    with lib.read() as s:
        assert s.execute(select(func.count()).select_from(Head)).scalar_one() == 2
    # status reports it all
    code, out, _ = run_cli("status", "--json")
    assert code == 0
    status = json.loads(out)
    assert status["videos"] == 3 and status["corrected"] == 1
    assert status["jobs"].get("failed", 0) == 0 and str(folder) in status["watched_folders"]
    lib.close()


def test_watch_stops_cleanly_on_sigint(tmp_path, real_clips):
    folder = tmp_path / "inbox"
    folder.mkdir()
    lib_path = app_dirs().library_db
    write_config(step_seconds=0.25, steps=40)  # 10 s per extraction: surely mid-job at SIGINT
    p = cli("watch", str(folder), "--workers", "1", "--settle", "0.3")
    try:
        time.sleep(1.0)
        (folder / "new.mp4").write_bytes(real_clips["bbb"].read_bytes())
        wait_for(lambda: running_extract(lib_path), 90, "the watcher's job to start extracting")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130, err
    lib = open_library(lib_path)
    check(lib)
    with lib.read() as s:
        jobs = list(s.execute(select(Job)).scalars())
        assert [(j.status, j.stage, j.owner) for j in jobs] == [("queued", "extract", None)]
        assert s.execute(select(func.count()).select_from(GenreAssignment)).scalar_one() == 0
    features = app_dirs().features
    assert not features.exists() or not [f for f in features.rglob("*") if f.is_file()]
    lib.close()


def test_queue_control_commands(tmp_path, real_clips, capsys):
    folder = tmp_path / "films"
    folder.mkdir()
    (folder / "good.mp4").write_bytes(real_clips["bbb"].read_bytes())
    (folder / "bad.mp4").write_bytes(b"\x00" * 1000)
    write_config(workers=0)
    assert main(["scan"]) == 2  # no watched folder yet
    assert main(["scan", str(folder), "--no-process"]) == 0
    assert main(["scan", "--no-process", "--json"]) == 0  # rescan of the watched folders
    rescan = json.loads(capsys.readouterr().out)
    assert rescan["folders"][str(folder)]["unchanged"] == 2
    assert main(["jobs", "pause"]) == 0
    assert main(["jobs", "run"]) == 0  # paused: nothing runs
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["paused"] is True and status["jobs"] == {"queued": 2}
    assert main(["jobs", "limits", "extract=3"]) == 0
    assert "extract=3" in capsys.readouterr().out
    assert main(["jobs", "limits", "bogus=1"]) == 2
    assert main(["jobs", "resume"]) == 0
    assert main(["jobs", "run"]) == 1  # one bad file
    assert main(["jobs", "list", "--status", "failed", "--json"]) == 0
    failed = json.loads(capsys.readouterr().out)
    assert len(failed) == 1 and failed[0]["path"].endswith("bad.mp4") and failed[0]["reason"]
    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert "recent failures" in text and "bad.mp4" in text
    assert main(["jobs", "retry", "--all"]) == 0
    assert main(["jobs", "cancel", "--all"]) == 0
    assert main(["jobs", "cancel"]) == 2
    assert main(["rerun"]) == 2
    assert main(["rerun", str(tmp_path / "unknown.mp4")]) == 2
    assert main(["scan", str(tmp_path / "no such folder")]) == 2
    assert main(["rerun", str(folder / "good.mp4")]) == 0
    lib = open_library(app_dirs().library_db)
    check(lib)
    lib.close()
