"""Helpers of the fault-injection suite (no tests here).

``FaultServices`` is the fake ``Services`` of ``tests.core.test_jobs_support`` with faults to
inject, configured by keyword arguments so spawned workers get them from the ``[jobs]``
settings: a pause in each phase of a job (probe, model load, extraction, classification)
during which an interrupt is turned into the library's own error (as an OCR package did
mid-import), a file that crashes its worker every time, and a disk that fills up in the
middle of a scan.  Everything else (identity, probe, feature cache, queue, processes, CLI) is
the real code.

``assert_sane`` is the check every case ends with: ``PRAGMA integrity_check`` ok, foreign
keys ok, and no job ``running`` without a live owner.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.core.test_jobs_support import FakeHead, FakeServices, FakeSession
from trailertagger.core.features.types import FeatureSet
from trailertagger.core.jobs.queue import pid_alive
from trailertagger.core.paths import app_dirs

ROOT = Path(__file__).resolve().parents[2]
SPEC = "tests.faults.support:FaultServices"


def _phase_marker(phase: str) -> None:
    """Tell the test which phase a worker is in (a file in the home folder)."""
    folder = app_dirs().data / "phases"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / phase).write_text(str(os.getpid()), encoding="utf-8")


def _hostile_pause(phase: str, seconds: float) -> None:
    """Sleep like a slow library call; an interrupt (KeyboardInterrupt, SystemExit) that
    arrives meanwhile comes out as some other exception, as a library that catches
    everything in its import machinery makes it."""
    if seconds <= 0:
        return
    _phase_marker(phase)
    try:
        time.sleep(seconds)
    except BaseException as err:  # noqa: BLE001 - that is the point
        raise RuntimeError(f"ConfigKeyError: missing key while loading ({phase})") from err


def fill_disk(path: Path, leave: int = 0) -> int:
    """Write ``path`` until the disk is full (less ``leave`` bytes); returns bytes written."""
    n = 0
    chunk = b"\0" * (256 * 1024)
    with open(path, "ab") as fh:
        while True:
            free = os.statvfs(path.parent).f_bavail * os.statvfs(path.parent).f_frsize
            want = len(chunk) if free - leave > len(chunk) else max(0, free - leave)
            if want <= 0:
                break
            try:
                fh.write(chunk[:want])
                fh.flush()
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                break
            n += want
    return n


class _FaultSession(FakeSession):
    def __init__(self, owner: FaultServices, step_seconds: float, steps: int) -> None:
        super().__init__(step_seconds, steps)
        self.owner = owner

    def run(self, path: Path, progress: Any = None, cancel: Any = None):  # noqa: ANN201
        o = self.owner
        if o.crash_name and o.crash_name in path.name:
            _phase_marker("crash")
            os.kill(os.getpid(), signal.SIGSEGV)  # the decoder dies on this file, every time
        _hostile_pause("extract", o.extract_seconds)
        o.extractions += 1
        once = Path(o.fill_path + ".done") if o.fill_path else None
        if o.fill_disk_at and o.extractions >= o.fill_disk_at and once and not once.exists():
            once.touch()  # one fault per test, whichever worker gets there
            fill_disk(Path(o.fill_path))
        return super().run(path, progress, cancel)


class FaultServices(FakeServices):
    """``FakeServices`` with faults (see the module doc)."""

    def __init__(self, step_seconds: float = 0.0, steps: int = 1, real_probe: bool = False,
                 model_id: str = "fake-head", version: str = "1", probe_seconds: float = 0.0,
                 load_seconds: float = 0.0, extract_seconds: float = 0.0,
                 classify_seconds: float = 0.0, crash_name: str = "", fill_disk_at: int = 0,
                 fill_path: str = "") -> None:
        super().__init__(step_seconds, steps, real_probe, model_id, version)
        self.session = _FaultSession(self, step_seconds, steps)
        self.probe_seconds, self.load_seconds = probe_seconds, load_seconds
        self.extract_seconds, self.classify_seconds = extract_seconds, classify_seconds
        self.crash_name = crash_name
        self.fill_disk_at, self.fill_path = fill_disk_at, fill_path
        self.extractions = 0
        self._loaded = False

    def probe(self, path: Path) -> Any:
        _hostile_pause("probe", self.probe_seconds)
        return super().probe(path)

    def extraction_session(self, profile: str) -> FakeSession:
        if not self._loaded:  # "models load" once per worker, like the real session
            _hostile_pause("load", self.load_seconds)
            self._loaded = True
        return self.session

    def head(self) -> FakeHead:
        services = self

        class _SlowHead(FakeHead):
            def predict(self, fs: FeatureSet) -> dict[str, float]:
                _hostile_pause("classify", services.classify_seconds)
                return super().predict(fs)

        return _SlowHead(self._head.model_id, self._head.version)


# -- settings, processes, checks --------------------------------------------------------------
def write_config(workers: int = 0, **services_kwargs: Any) -> Path:
    """Settings that run jobs with ``FaultServices(**services_kwargs)``."""
    cfg = app_dirs().config_file
    cfg.parent.mkdir(parents=True, exist_ok=True)
    kw = "".join(f"{k} = {_toml(v)}\n" for k, v in services_kwargs.items())
    cfg.write_text(f'[jobs]\nworkers = {workers}\nsettle_seconds = 0.0\nservices = "{SPEC}"\n'
                   f"[jobs.services_kwargs]\n{kw}", encoding="utf-8")
    return cfg


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def start_cli(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "trailertagger", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def run_cli(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    p = start_cli(*args)
    try:
        out, err = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
    return p.returncode, out, err


def query(sql: str, db: Path | None = None) -> list[tuple]:
    db = db or app_dirs().library_db
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def wait_for(predicate, timeout: float = 60.0, what: str = "condition") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(sqlite3.Error):
            if predicate():
                return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def make_clips(src: Path, folder: Path, n: int, prefix: str = "film") -> list[Path]:
    """``n`` distinct files made from one real clip (a trailing tag changes the hash)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = src.read_bytes()
    out = []
    for i in range(n):
        p = folder / f"{prefix} {i}.mp4"
        p.write_bytes(data + f"distinct {prefix} {i}".encode())
        out.append(p)
    return out


def assert_sane(db: Path | None = None) -> None:
    """The invariants every fault case must leave behind."""
    assert query("PRAGMA integrity_check", db) == [("ok",)]
    assert query("PRAGMA foreign_key_check", db) == []
    orphans = [(jid, pid) for jid, pid in query(
        "SELECT id, owner_pid FROM jobs WHERE status = 'running'", db) if not pid_alive(pid)]
    assert orphans == [], f"jobs left running without a live owner: {orphans}"


def corrections(db: Path | None = None) -> set[tuple[str, str, int]]:
    """(path, genre, rejected) of every manual row."""
    return set(query("SELECT v.path, g.genre, g.rejected FROM genre_assignments g "
                     "JOIN videos v ON v.id = g.video_id WHERE g.source = 'manual'", db))
