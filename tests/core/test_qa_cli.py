"""QA regressions found by using the CLI like a demanding user (in-process, seconds each).

Each test reproduces one defect that was seen on real files: a file name with bytes that are
not UTF-8 crashed ``scan``; wrongly typed settings and a ``--library`` that is not a database
ended in tracebacks; ``set`` could not name a file starting with ``-``; a newline in a file
name broke line-oriented output; an unexpected error printed a traceback instead of one line
pointing at the log.  Extraction and the genre head are the fakes of ``test_jobs_support``
(set through ``[jobs]`` settings, as a user could), everything else is real.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from tests.core.test_jobs_support import SPEC, FakeServices
from trailertagger.cli.main import main
from trailertagger.core.library.db import open_library
from trailertagger.core.paths import app_dirs

UTF8_FS = sys.platform != "win32" and sys.getfilesystemencoding().lower() in ("utf-8", "utf8")


class _NoWeightsSession:
    def run(self, path: Path, progress: object = None, cancel: object = None) -> None:
        from trailertagger.core.errors import ModelMissingError

        raise ModelMissingError("model 'clip-vit-b32' is not installed: put its files in ...")


class MissingModelServices(FakeServices):
    """Fake services whose extraction needs a model that is not installed."""

    def extraction_session(self, profile: str) -> _NoWeightsSession:  # type: ignore[override]
        return _NoWeightsSession()


def write_config(text: str = "") -> Path:
    """Settings that run jobs in-process with fake extraction (plus ``text``)."""
    cfg = app_dirs().config_file
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f'[jobs]\nworkers = 0\nsettle_seconds = 0.0\nservices = "{SPEC}"\n{text}',
                   encoding="utf-8")
    return cfg


@pytest.mark.skipif(not UTF8_FS, reason="needs a POSIX file system with UTF-8 names")
def test_scan_reports_a_non_utf8_file_name_and_tags_the_rest(tmp_path, real_clips, capsys):
    folder = tmp_path / "films"
    folder.mkdir()
    shutil.copyfile(real_clips["bbb"], folder / "good.mp4")
    bad = os.path.join(os.fsencode(folder), b"bad \xff\xfe name.mp4")
    shutil.copyfile(os.fsencode(real_clips["bbb"]), bad)
    write_config()
    assert main(["scan", str(folder), "--json"]) == 1  # one file could not be tagged
    out, err = capsys.readouterr()
    data = json.loads(out)  # valid JSON, no lone surrogates
    entry = data["folders"][str(folder)]
    assert entry["new"] == 1 and entry["queued"] == 1
    assert entry["unreadable"] == [{"path": str(folder / "bad \\xff\\xfe name.mp4"),
                                    "reason": "the file name is not valid UTF-8; rename the "
                                              "file to tag it"}]
    assert "Traceback" not in err and "bad \\xff\\xfe name.mp4" in err
    assert main(["tags", "--json"]) == 0
    tags = json.loads(capsys.readouterr().out)
    assert [Path(t["path"]).name for t in tags] == ["good.mp4"] and tags[0]["status"] == "ready"
    # a folder whose own name is not UTF-8 is a usage error, not a crash
    odd = os.path.join(os.fsencode(tmp_path), b"dir \xff")
    os.mkdir(odd)
    assert main(["scan", os.fsdecode(odd)]) == 2
    assert "folder name is not valid UTF-8" in capsys.readouterr().err


@pytest.mark.skipif(not UTF8_FS, reason="needs a POSIX file system with UTF-8 names")
def test_watcher_ignores_a_rename_to_a_non_utf8_name(tmp_path, real_clips):
    from trailertagger.core.jobs.watcher import FolderWatcher

    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copyfile(real_clips["bbb"], folder / "a.mp4")
    lib = open_library(app_dirs().library_db)
    try:
        w = FolderWatcher(lib, [folder], settle_seconds=0.0, rescan_seconds=None)
        w._full_scan()
        bad = os.fsdecode(os.path.join(os.fsencode(folder), b"b\xff.mp4"))
        os.rename(folder / "a.mp4", bad)
        w.moved(str(folder / "a.mp4"), bad, False)  # what watchdog reports
        w._apply_moves()
        w._settle()  # must not raise: the old path is gone, the new one is reported
        assert any("not valid UTF-8" in e for e in w.errors)
        with lib.read() as s:
            from trailertagger.core.library.identity import video_by_path

            assert video_by_path(s, str(folder / "a.mp4")).status == "missing"
    finally:
        lib.close()


@pytest.mark.parametrize("text, key", [
    ('[jobs]\nworkers = "two"\n', "[jobs] workers"),
    ("jobs = 5\n", "'jobs' must be a [jobs] table"),
    ("[models]\nallow_download = 1\n", "[models] allow_download"),
    ("[media]\nmax_scenes = -3\n", "[media] max_scenes"),
    ("[jobs\n", "cannot read settings file"),
])
def test_a_wrong_setting_is_exit_2_naming_file_and_key(text, key, capsys):
    cfg = app_dirs().config_file
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(text, encoding="utf-8")
    for argv in (["status"], ["scan", "--no-process", str(cfg.parent)], ["tags"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert str(cfg) in err and key in err and "Traceback" not in err


def test_the_settings_file_is_created_by_any_command(capsys):
    assert not app_dirs().config_file.exists()
    assert main(["status"]) == 0
    assert "[jobs]" in app_dirs().config_file.read_text(encoding="utf-8")
    log = app_dirs().log / "trailertagger.log"
    assert log.exists() and "command" in log.read_text(encoding="utf-8")


def test_a_library_that_is_not_a_database_is_exit_2(tmp_path, capsys):
    not_db = tmp_path / "notes.sqlite3"
    not_db.write_bytes(b"this is not a database" * 100)
    for argv in (["status", "--library", str(not_db)], ["tags", "--library", str(tmp_path)],
                 ["jobs", "list", "--library", str(not_db)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "cannot open library" in err and "Traceback" not in err
    assert not_db.read_bytes() == b"this is not a database" * 100  # left untouched


def test_set_accepts_a_file_whose_name_starts_with_a_dash(tmp_path, real_clips, capsys,
                                                          monkeypatch):
    folder = tmp_path / "films"
    folder.mkdir()
    shutil.copyfile(real_clips["bbb"], folder / "-dash.mp4")
    write_config()
    assert main(["scan", str(folder)]) == 0
    monkeypatch.chdir(folder)
    assert main(["set", "--", "-dash.mp4", "+Horror", "-Comedy"]) == 0  # the Unix way
    assert main(["set", "./-dash.mp4", "+Western"]) == 0
    assert main(["set", str(folder / "-dash.mp4"), "-Western", "+Western"]) == 0
    capsys.readouterr()
    assert main(["tags", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)[0]
    assert rec["corrections"] == {"added": ["Horror", "Western"], "removed": ["Comedy"]}
    assert main(["set", "--", "-dash.mp4", "-Horor"]) == 2  # a typo is still a usage error


def test_text_output_keeps_one_line_per_video_whatever_the_name(tmp_path, real_clips, capsys):
    if sys.platform == "win32":
        pytest.skip("newlines in file names are POSIX-only")
    folder = tmp_path / "films"
    folder.mkdir()
    shutil.copyfile(real_clips["bbb"], folder / "new\nline.mp4")
    shutil.copyfile(real_clips["speech"], folder / "tab\there.mp4")
    write_config()
    assert main(["scan", str(folder)]) == 0
    capsys.readouterr()
    assert main(["tags"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(str(folder / "new\\nline.mp4") + "\t")
    assert lines[1].startswith(str(folder / "tab\\there.mp4") + "\t")
    assert main(["jobs", "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2
    assert main(["tags", "--json"]) == 0  # JSON keeps the exact names
    assert {Path(r["path"]).name for r in json.loads(capsys.readouterr().out)} == {
        "new\nline.mp4", "tab\there.mp4"}


def test_an_unexpected_error_is_one_line_pointing_at_the_log(monkeypatch, capsys):
    from trailertagger.cli import jobs_cmds

    def boom(args):  # noqa: ANN001, ANN202
        raise RuntimeError("something broke")

    monkeypatch.setattr(jobs_cmds, "run_status", boom)
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    log = app_dirs().log / "trailertagger.log"
    assert err.strip() == f"error: internal error: RuntimeError: something broke; details in {log}"
    assert "Traceback" in log.read_text(encoding="utf-8")



def test_cancel_and_retry_say_which_ids_they_could_not_act_on(tmp_path, real_clips, capsys):
    folder = tmp_path / "films"
    folder.mkdir()
    shutil.copyfile(real_clips["bbb"], folder / "a.mp4")
    write_config()
    assert main(["scan", str(folder)]) == 0
    capsys.readouterr()
    assert main(["jobs", "cancel", "1", "999"]) == 1  # used to say "0 jobs cancelled", exit 0
    err = capsys.readouterr().err
    assert "job #1: is done; nothing to cancel" in err and "job #999: no such job" in err
    assert main(["jobs", "retry", "1"]) == 1
    assert "job #1: is done; not retried" in capsys.readouterr().err
    assert main(["jobs", "cancel", "--all"]) == 0


def test_export_out_must_be_a_writable_file_path(tmp_path, capsys):
    write_config()
    assert main(["export", "--format", "csv", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["export", "--format", "json", "--out", str(tmp_path / "no" / "x.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("argv", [
    ["jobs", "list", "--limit", "-5"], ["tags", "--limit", "-1"], ["status", "--failures", "-2"],
    ["scan", "--workers", "-3"], ["watch", "--settle", "nan"], ["watch", "--rescan-minutes", "-1"],
])
def test_negative_counts_are_usage_errors(argv, capsys):
    code = main(argv)
    assert code == 2
    assert "must be" in capsys.readouterr().err


def test_a_failed_job_is_explained_in_the_log_file(tmp_path, real_clips, capsys):
    folder = tmp_path / "films"
    folder.mkdir()
    (folder / "empty.mp4").write_bytes(b"")
    shutil.copyfile(real_clips["bbb"], folder / "good.mp4")
    write_config()
    assert main(["scan", str(folder)]) == 1
    assert "failed: " + str(folder / "empty.mp4") in capsys.readouterr().err
    log = (app_dirs().log / "trailertagger.log").read_text(encoding="utf-8")
    line = next(ln for ln in log.splitlines() if "failed at stage" in ln)
    assert str(folder / "empty.mp4") in line and "cannot decode the video" in line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX-only")
def test_a_named_pipe_called_mp4_is_reported_not_read(tmp_path, real_clips, capsys):
    folder = tmp_path / "films"
    folder.mkdir()
    os.mkfifo(folder / "pipe.mp4")  # opening it for reading would block the worker forever
    shutil.copyfile(real_clips["bbb"], folder / "good.mp4")
    write_config()
    assert main(["scan", str(folder), "--json"]) == 1
    entry = json.loads(capsys.readouterr().out)["folders"][str(folder)]
    assert entry["new"] == 1 and entry["unreadable"] == [
        {"path": str(folder / "pipe.mp4"), "reason": "not a regular file (a pipe, socket or device)"}]


def test_rerun_of_a_missing_file_says_so(tmp_path, real_clips, capsys):
    folder = tmp_path / "films"
    folder.mkdir()
    shutil.copyfile(real_clips["bbb"], folder / "gone.mp4")
    shutil.copyfile(real_clips["speech"], folder / "here.mp4")
    write_config()
    assert main(["scan", str(folder)]) == 0
    (folder / "gone.mp4").unlink()
    assert main(["scan"]) == 0
    capsys.readouterr()
    assert main(["rerun", str(folder / "gone.mp4")]) == 1  # used to be "0 queued", exit 0
    assert "gone.mp4: the file is missing" in capsys.readouterr().err
    assert main(["rerun", str(folder)]) == 0  # a folder: the present videos, missing noted
    err = capsys.readouterr().err
    assert "1 videos queued" in err and "gone.mp4: the file is missing" in err


def test_a_watched_folder_deleted_and_created_again_is_watched_again(tmp_path, real_clips):
    from trailertagger.core.jobs.watcher import FolderWatcher
    from trailertagger.core.library.identity import video_by_path

    folder = tmp_path / "inbox"
    folder.mkdir()
    lib = open_library(app_dirs().library_db)
    w = FolderWatcher(lib, [folder], settle_seconds=0.1, rescan_seconds=None, tick_seconds=0.05)
    w.folder_check_seconds = 0.1
    try:
        w.start(initial_scan=False)
        shutil.rmtree(folder)  # an unmounted drive, a folder replaced by a sync tool, ...
        time.sleep(0.5)
        folder.mkdir()
        shutil.copyfile(real_clips["bbb"], folder / "early.mp4")  # before the new watch
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with lib.read() as s:
                if video_by_path(s, str(folder / "early.mp4")) is not None:
                    break
            time.sleep(0.1)
        shutil.copyfile(real_clips["bbb"], folder / "late.mp4")  # seen by the new watch
        while time.monotonic() < deadline:
            with lib.read() as s:
                if video_by_path(s, str(folder / "late.mp4")) is not None:
                    break
            time.sleep(0.1)
        with lib.read() as s:
            assert video_by_path(s, str(folder / "early.mp4")) is not None
            assert video_by_path(s, str(folder / "late.mp4")) is not None
    finally:
        w.stop()
        lib.close()


def test_nfo_export_beside_a_video_with_a_very_long_name(tmp_path, real_clips, capsys):
    folder = tmp_path / "films"
    folder.mkdir()
    name = "L" * 240 + ".mp4"  # 244 bytes: the NFO fits the 255-byte limit, a long temp name not
    shutil.copyfile(real_clips["bbb"], folder / name)
    write_config()
    assert main(["scan", str(folder)]) == 0
    assert main(["set", str(folder), "+Horror"]) == 0
    capsys.readouterr()
    assert main(["export", "--format", "nfo"]) == 0  # used to fail: "File name too long"
    nfo = folder / ("L" * 240 + ".nfo")
    assert "<genre>Horror</genre>" in nfo.read_text(encoding="utf-8")
    assert sorted(p.name for p in folder.iterdir()) == sorted([name, nfo.name])


def test_scan_exits_4_when_every_failure_is_a_missing_model(tmp_path, real_clips, capsys):
    folder = tmp_path / "films"
    folder.mkdir()
    shutil.copyfile(real_clips["bbb"], folder / "a.mp4")
    shutil.copyfile(real_clips["speech"], folder / "b.mp4")
    cfg = write_config()
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        SPEC, "tests.core.test_qa_cli:MissingModelServices"), encoding="utf-8")
    assert main(["scan", str(folder)]) == 4  # the setup is wrong, not the videos
    err = capsys.readouterr().err
    assert err.count("model 'clip-vit-b32' is not installed") == 2
    write_config()  # the model "installed": the failures are retried and succeed
    assert main(["jobs", "retry", "--all"]) == 0
    assert main(["jobs", "run"]) == 0
    # a broken file beside missing-model failures: some items are bad, exit 1
    (folder / "c.mp4").write_bytes(b"")
    shutil.copyfile(real_clips["music"], folder / "d.mp4")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        SPEC, "tests.core.test_qa_cli:MissingModelServices")
        + "[jobs.services_kwargs]\nreal_probe = true\n", encoding="utf-8")
    assert main(["scan", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "c.mp4: not a usable video" in err and "d.mp4: model 'clip-vit-b32'" in err
