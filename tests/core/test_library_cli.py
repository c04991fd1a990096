"""``tags``, ``set``, ``export``, ``purge`` and ``train --from-library`` from the command line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from trailertagger.cli.main import main
from trailertagger.core.library.classification import note_active_head, store_predictions
from trailertagger.core.library.db import open_library
from trailertagger.core.library.identity import mark_missing, new_video
from trailertagger.core.library.queries import get_video
from trailertagger.core.library.schema import Video
from trailertagger.core.paths import app_dirs


@pytest.fixture()
def films(tmp_path: Path) -> Path:
    """Three classified videos in the default library; the third file is gone."""
    root = tmp_path / "Films ü"
    (root / "sub").mkdir(parents=True)
    with open_library(app_dirs().library_db) as lib, lib.session() as s:
        head, _ = note_active_head(s, "m1", "v1", "onnx")
        for name, probs in (("alien.mp4", {"Horror": 0.9, "Comedy": 0.7}),
                            ("sub/up.mkv", {"Animation": 0.95, "Comedy": 0.6}),
                            ("sub/gone.mp4", {"Drama": 0.9})):
            (root / name).write_bytes(b"x")
            store_predictions(s, new_video(s, str(root / name), 1, 1), head, probs)
        (root / "sub" / "gone.mp4").unlink()
        mark_missing(s, [s.get(Video, 3)])
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_every_command_has_help(capsys) -> None:
    for cmd in ("tags", "set", "export", "purge"):
        with pytest.raises(SystemExit) as info:
            main([cmd, "--help"])
        assert info.value.code == 0
        assert "--library" in capsys.readouterr().out


def test_tags_filters_and_json(films: Path, capsys) -> None:
    code, out, _ = run(capsys, "tags")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 3 and lines[0] == f"{films / 'alien.mp4'}\tComedy, Horror"
    assert lines[1].endswith("\tDrama\t(missing)")
    code, out, _ = run(capsys, "tags", "--genre", "comedy")
    assert [Path(ln.split("\t")[0]).name for ln in out.splitlines()] == ["alien.mp4", "up.mkv"]
    code, out, _ = run(capsys, "tags", "--missing")
    assert [Path(ln.split("\t")[0]).name for ln in out.splitlines()] == ["gone.mp4"]
    code, out, _ = run(capsys, "tags", "--json", str(films / "sub"))
    data = json.loads(out)
    assert [Path(d["path"]).name for d in data] == ["gone.mp4", "up.mkv"]
    assert data[1]["probabilities"]["Animation"] == pytest.approx(0.95)
    code, out, _ = run(capsys, "tags", "--search", "ALIEN")
    assert out.count("\n") == 1
    code, out, _ = run(capsys, "tags", "--stale")
    assert out == ""
    with open_library(app_dirs().library_db) as lib, lib.session() as s:
        head, n_stale = note_active_head(s, "m2", "v1", "onnx")
        store_predictions(s, s.get(Video, 1), head, {"Horror": 0.9})
    assert n_stale == 63
    code, out, _ = run(capsys, "tags", "--stale")
    assert [Path(ln.split("\t")[0]).name for ln in out.splitlines()] == ["gone.mp4", "up.mkv"]
    assert out.splitlines()[1].endswith("\t(stale)")
    code, _, err = run(capsys, "tags", "--genre", "Hororr")
    assert code == 2 and "unknown genre 'Hororr'" in err
    code, out, err = run(capsys, "tags", str(films / "nope.mp4"))
    assert code == 1 and "not in the library" in err


def test_set_corrections(films: Path, capsys) -> None:
    alien = str(films / "alien.mp4")
    code, out, err = run(capsys, "set", alien, "+War", "-Comedy")
    assert code == 0, err
    assert out.strip() == f"{alien}\tHorror, War\t[+War -Comedy]"
    assert "2 change(s) on 1 video(s)" in err
    code, out, _ = run(capsys, "tags", "--corrected")
    assert out.splitlines() == [f"{alien}\tHorror, War\t[+War -Comedy]"]
    code, out, _ = run(capsys, "set", str(films / "sub"), "+Family", "=Comedy")
    assert code == 0 and len(out.splitlines()) == 2
    code, _, _ = run(capsys, "set", alien, "=War")
    with open_library(app_dirs().library_db) as lib, lib.read() as s:
        assert get_video(s, alien).genres == ("Horror",)
        assert "Family" in get_video(s, str(films / "sub" / "up.mkv")).genres
    code, _, err = run(capsys, "set", alien, "+Nope")
    assert code == 2 and "unknown genre" in err
    code, _, err = run(capsys, "set", alien)
    assert code == 2 and "usage" in err
    code, _, err = run(capsys, "set", alien, "+Drama", "--library", "x.db")
    assert code == 2 and "options go before PATH" in err
    code, _, err = run(capsys, "set", str(films / "nope.mp4"), alien, "+Drama")
    assert code == 1 and "nope.mp4: not in the library" in err
    with open_library(app_dirs().library_db) as lib, lib.read() as s:
        assert "Drama" in get_video(s, alien).genres  # the known path was still corrected
        assert lib.integrity_check() == []


def test_export_commands(films: Path, tmp_path: Path, capsys) -> None:
    (films / "alien.nfo").write_text("<movie>\n  <title>Alien</title>\n  <year>1979</year>\n"
                                     "  <genre>Science Fiction</genre>\n</movie>\n")
    code, out, err = run(capsys, "export", "--format", "nfo", "--dry-run")
    assert code == 0 and "would write" in out
    assert "Science Fiction" in (films / "alien.nfo").read_text()
    assert not (films / "sub" / "up.nfo").exists()
    code, out, err = run(capsys, "export", "--format", "nfo")
    assert code == 0, err
    assert "2 NFO(s) written" in err and "skipped" in err and "gone.mp4" in err
    text = (films / "alien.nfo").read_text()
    assert "<year>1979</year>" in text and "<genre>Horror</genre>" in text
    assert "Science Fiction" not in text
    assert (films / "sub" / "up.nfo").exists()
    (films / "sub" / "up.nfo").write_text("not xml")
    code, out, err = run(capsys, "export", "--format", "nfo")
    assert code == 1 and "FAILED" in err and (films / "sub" / "up.nfo").read_text() == "not xml"
    code, out, _ = run(capsys, "export", "--format", "csv", "--genre", "Horror")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [Path(r["path"]).name for r in rows] == ["alien.mp4"]
    dest = tmp_path / "tags.json"
    code, out, err = run(capsys, "export", "--format", "json", "--out", str(dest))
    assert code == 0 and len(json.loads(dest.read_text())) == 3
    code, _, err = run(capsys, "export", "--format", "nfo", "--out", str(dest))
    assert code == 2


def test_purge(films: Path, capsys) -> None:
    code, out, err = run(capsys, "purge")
    assert code == 0 and out.strip() == f"missing {films / 'sub' / 'gone.mp4'}" and "--yes" in err
    code, out, err = run(capsys, "purge", "--yes")
    assert code == 0 and "purged 1 video(s)" in err
    code, out, _ = run(capsys, "tags")
    assert len(out.splitlines()) == 2
    code, _, err = run(capsys, "purge")
    assert code == 0 and "no missing videos" in err


def test_train_from_library_cli(capsys) -> None:
    from tests.core.test_library_personal_head import _library

    lib, _truth = _library(12)
    lib.close()
    code, out, err = run(capsys, "train", "--from-library", "--model", "mlp", "--epochs", "15",
                         "--batch-size", "8", "--lr", "0.003", "--device", "cpu", "--threads", "1",
                         "--modality-dropout", "0")
    assert code == 0, err
    assert "12 of 12 corrected videos used" in out
    # the current (coin-flip) head is not loadable as a head: compared with a constant predictor
    assert "activated" in out and "rerun --all" in out
    heads = [p for p in app_dirs().heads.iterdir() if p.is_dir()]
    assert len(heads) == 1 and (heads[0] / "model.onnx").exists()
    # the active head shows its measured quality: macro mAP and how many labels it rests on
    code, out, _ = run(capsys, "heads", "list")
    active = [line for line in out.splitlines() if line.startswith("*")][0]
    assert "personal" in active and active.split()[4] == "12"
    assert "measured: 5-fold cross-validation on your library" in out
    code, out, _ = run(capsys, "heads", "list", "--json")
    row = next(r for r in json.loads(out) if r["active"])
    assert row["labels"] == 12 and 0 <= row["macro_map"] <= 1
    # retrain_every: nothing new was labelled since, so --if-due does nothing
    code, out, err = run(capsys, "train", "--from-library", "--if-due")
    assert code == 0 and "0 video(s) labelled since the last training" in err
    code, _, err = run(capsys, "train", "--from-library", "--library", str(app_dirs().data / "x.db"))
    assert code == 2 and "only 0 labelled video(s)" in err


def test_rerun_stale_queues_stale_and_unclassified_present_videos(films: Path, capsys) -> None:
    """``rerun --stale``: videos never classified or with a stale automatic row; missing
    videos are skipped, fresh ones are left alone."""
    from trailertagger.core.library.schema import Job

    with open_library(app_dirs().library_db) as lib, lib.session() as s:
        head, _ = note_active_head(s, "m2", "v1", "onnx")  # every m1 row goes stale
        store_predictions(s, s.get(Video, 1), head, {"Horror": 0.9})  # alien: fresh again
        (films / "new.mp4").write_bytes(b"x")
        new_id = new_video(s, str(films / "new.mp4"), 1, 1).id  # never classified
    code, _, err = run(capsys, "rerun", "--all", "--stale", "--no-process")
    assert code == 0 and "2 videos queued" in err
    with open_library(app_dirs().library_db) as lib, lib.read() as s:
        assert sorted(j.video_id for j in s.query(Job)) == [2, new_id]


def test_tags_any_genre_threshold_and_state_filters(films: Path, capsys) -> None:
    """Issue 11: the view's filter rules from the command line (``Selection``)."""
    def names(*argv: str) -> list[str]:
        code, out, _ = run(capsys, "tags", *argv)
        assert code == 0
        return [Path(ln.split("\t")[0]).name for ln in out.splitlines()]

    assert names("--genre", "Horror", "--genre", "Animation") == []
    assert names("--genre", "Horror", "--genre", "Animation", "--any") == ["alien.mp4", "up.mkv"]
    # Comedy: alien 0.7, up 0.6 (both on at the 0.5 default); from 0.65 only alien
    assert names("--genre", "Comedy", "--min-probability", "0.65") == ["alien.mp4"]
    assert names("--unclassified") == [] and names("--queued") == []
    from trailertagger.core.app import LibrarySession, Selection

    with LibrarySession.open(sync_head=False) as app:  # queued, not processed (CLI rerun drains)
        app.rerun(Selection(paths=(str(films / "alien.mp4"),)))
    assert names("--queued") == ["alien.mp4"]
