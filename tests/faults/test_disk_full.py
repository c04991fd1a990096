"""A disk that fills up during a scan (issue 9, case 1).

Before: ``scan`` never ended (1,133 "worker could not claim a job" tracebacks, a job left
``running``), and with a few KB free ``scan``/``set`` printed "internal error:
OperationalError ... database or disk is full (Background on this error at: sqlalche.me)".
Now: the first ENOSPC stops new work, the message names the place and the space to free,
the exit code is 5, the jobs in hand go back to the queue and the next run finishes them.
The library, feature cache and log live on a 16 MiB tmpfs the test mounts.
"""

from __future__ import annotations

import sqlite3
import time

from tests.faults.support import (
    assert_sane,
    fill_disk,
    make_clips,
    query,
    run_cli,
    write_config,
)
from trailertagger.cli.main import main
from trailertagger.core.paths import app_dirs


def test_disk_filling_mid_scan_stops_at_once_and_resumes(small_disk, tmp_path, real_clips,
                                                          monkeypatch):
    monkeypatch.setenv("TRAILERTAGGER_HOME", str(small_disk / "home"))
    folder = tmp_path / "films"
    make_clips(real_clips["bbb"], folder, 4)
    filler = small_disk / "filler.bin"
    # the second extraction finds the disk full (another program filled it meanwhile)
    write_config(workers=1, fill_disk_at=2, fill_path=str(filler))
    t0 = time.monotonic()
    code, _, err = run_cli("scan", str(folder), timeout=120)
    took = time.monotonic() - t0
    assert code == 5, err
    assert took < 60, f"scan ran {took:.0f} s on a full disk"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err and "internal error" not in err and "sqlalche.me" not in err
    assert len(lines) < 12, err  # one message, not a line (or a traceback) per retry
    (msg,) = [ln for ln in lines if ln.startswith("error: disk full")]
    assert str(small_disk / "home") in msg and "free at least 64.0 MB" in msg, msg
    log = app_dirs().log / "trailertagger.log"
    assert not log.exists() or log.stat().st_size < 100_000
    assert_sane()
    states = dict(query("SELECT status, count(*) FROM jobs GROUP BY status"))
    assert "failed" not in states and "running" not in states, states
    assert states.get("queued", 0) >= 2, states  # resumable: the rest waits in the queue
    assert query("SELECT count(*) FROM jobs WHERE attempts != 0") == [(0,)]

    filler.unlink()  # the user frees space: the same command finishes the work
    code, _, err = run_cli("scan", timeout=120)
    assert code == 0, err
    assert query("SELECT status, count(*) FROM jobs GROUP BY status") == [("done", 4)]
    assert query("SELECT status, count(*) FROM videos GROUP BY status") == [("ready", 4)]
    assert_sane()


def test_set_and_scan_on_a_full_disk_say_so_and_exit_5(small_disk, tmp_path, real_clips,
                                                       monkeypatch, capsys):
    monkeypatch.setenv("TRAILERTAGGER_HOME", str(small_disk / "home"))
    folder = tmp_path / "films"
    (clip,) = make_clips(real_clips["bbb"], folder, 1)
    write_config(workers=0)
    assert main(["scan", str(folder)]) == 0
    assert main(["set", str(clip), "+Horror"]) == 0
    con = sqlite3.connect(app_dirs().library_db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL: the next write needs space
    con.close()
    filler = small_disk / "filler.bin"
    capsys.readouterr()
    for argv in (["set", str(clip), "+Western"], ["scan", str(folder)]):
        fill_disk(filler)  # full again (a failed write gives the library's reserve back)
        assert main(argv) == 5, argv
        err = capsys.readouterr().err
        assert "error: disk full: cannot write" in err and "free at least" in err, err
        assert "OperationalError" not in err and "internal error" not in err, err
    filler.unlink()
    assert_sane()
    assert query("SELECT genre, rejected FROM genre_assignments WHERE source = 'manual'") \
        == [("Horror", 0)]  # the correction made before the disk filled is kept
    assert main(["set", str(clip), "+Western"]) == 0  # and work goes on once there is room
