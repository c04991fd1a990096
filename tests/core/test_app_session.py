"""The application layer: one rule for both front ends (heads, re-runs, export formats)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from trailertagger.cli.main import build_parser, main
from trailertagger.core.app import (
    ExportOptions,
    LibrarySession,
    Selection,
    TableWriter,
    register_writer,
    writers,
)
from trailertagger.core.app.heads import active_identity, zero_shot_identity
from trailertagger.core.library.classification import note_active_head, store_predictions
from trailertagger.core.library.db import open_library
from trailertagger.core.library.identity import mark_missing, new_video
from trailertagger.core.library.schema import Job, Video
from trailertagger.core.library.writers import unregister_writer
from trailertagger.core.paths import app_dirs


@pytest.fixture()
def films(tmp_path: Path) -> Path:
    """Three videos classified by head "m1" in the default library; the third file is gone."""
    root = tmp_path / "Films ü"
    root.mkdir()
    with open_library(app_dirs().library_db) as lib, lib.session() as s:
        head, _ = note_active_head(s, "m1", "v1", "onnx")
        for name in ("alien.mp4", "up.mkv", "gone.mp4"):
            (root / name).write_bytes(b"x")
            store_predictions(s, new_video(s, str(root / name), 1, 1), head, {"Horror": 0.9})
        (root / "gone.mp4").unlink()
        mark_missing(s, [s.get(Video, 3)])
    return root


def _queued(video_ids_only: bool = True) -> list[int]:
    with open_library(app_dirs().library_db) as lib, lib.read() as s:
        return sorted(j.video_id for j in s.query(Job).filter(Job.status == "queued"))


def _tiny_head(tmp_path: Path) -> Path:
    """A real trained ONNX head (an MLP on planted data, a few seconds)."""
    import torch

    from trailertagger.core.classify.train import TrainConfig, export_head, fit
    from trailertagger.devtools.synthetic import PlantedData, make_task

    torch.set_num_threads(1)
    task = make_task("spread")
    cfg = TrainConfig(model="mlp", epochs=1, d_model=16, layers=1, heads=2, mlp_hidden=32,
                      batch_size=32, lr=3e-3, seed=0)
    result = fit(PlantedData(task, 64, seed=1), PlantedData(task, 32, seed=2), cfg)
    return export_head(result, tmp_path / "tiny head", {"dataset": "unit"})


def test_activating_zero_shot_makes_old_predictions_stale_for_rerun(films: Path, capsys) -> None:
    """The reported bug: ``heads activate zero-shot`` then ``rerun --stale`` queued nothing,
    because only heads/active.json changed while the library still named head m1."""
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stale"] == 0  # nothing activated yet
    assert main(["heads", "activate", "zero-shot"]) == 0
    cap = capsys.readouterr()
    assert "activated zero-shot" in cap.out and "3 video(s) have predictions" in cap.err
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["stale"] == 3 and status["head"]["model_id"] == "zero-shot"
    assert main(["rerun", "--stale", "--no-process"]) == 0
    err = capsys.readouterr().err
    assert "2 videos queued" in err and "gone.mp4: the file is missing" in err
    assert _queued() == [1, 2]


def test_a_head_activated_elsewhere_is_seen_by_every_library(films: Path, tmp_path: Path) -> None:
    """A second library that saw the old pointer notices the new one when it opens."""
    other = tmp_path / "other.sqlite3"
    with LibrarySession.open(other) as app:  # first look: adopts the pointer (zero-shot)
        with app.lib.session() as s:
            zs = zero_shot_identity()
            head, _ = note_active_head(s, zs.model_id, zs.version, zs.kind)
            store_predictions(s, new_video(s, str(films / "alien.mp4"), 1, 1), head, {"War": 0.8})
        assert app.count(Selection(stale=True)) == 0
    head_dir = _tiny_head(tmp_path)
    with LibrarySession.open() as app:  # the default library, through the app layer
        ident = app.activate_head(head_dir)
        assert ident.kind == "onnx" and ident.path is not None
        assert active_identity(app_dirs()).key == ident.key
        result = app.rerun(Selection(), stale_only=True)
        assert len(result.jobs) == 2 and result.missing == [str(films / "gone.mp4")]
        assert app.status().head.key == ident.key
    with LibrarySession.open(other) as app:
        assert app.count(Selection(stale=True)) == 1
        assert len(app.rerun(Selection(), stale_only=True).jobs) == 1
        # activating by model id works too, and a fresh activation is not stale
        app.activate_head(ident.model_id)
        assert app.count(Selection(stale=True)) == 1


def test_rerun_skips_missing_files_for_every_front_end(films: Path) -> None:
    """One rule: the app's "re-run selected" on a missing video queues nothing for it."""
    with LibrarySession.open() as app:
        result = app.rerun(Selection.of_ids([1, 3]))
        assert len(result.jobs) == 1 and result.missing == [str(films / "gone.mp4")]
        named = app.rerun(Selection(paths=(str(films / "gone.mp4"),)))
        assert named.jobs == [] and named.missing_named == [str(films / "gone.mp4")]
        unknown = app.rerun(Selection(paths=(str(films / "nope.mp4"),)))
        assert unknown.unknown == [str(films / "nope.mp4")] and unknown.jobs == []


def test_a_new_export_format_is_one_writer(films: Path, tmp_path: Path, capsys) -> None:
    """Registered from the test: the CLI's --format choices list it and export uses it."""

    @register_writer
    class M3uWriter(TableWriter):
        name, label, suffix = "m3u", "M3U playlist", ".m3u"

        def rows(self, records, out, probabilities):  # noqa: ANN001, ANN201
            out.write("#EXTM3U\n")
            n = 0
            for rec in records:
                out.write(f"#EXTINF:-1,{', '.join(rec.genres)}\n{rec.path}\n")
                n += 1
            return n

    try:
        assert "m3u" in [w.name for w in writers()]
        export = next(a for a in build_parser()._subparsers._group_actions[0].choices.items()
                      if a[0] == "export")[1]
        fmt = next(a for a in export._actions if a.dest == "format")
        assert "m3u" in fmt.choices and "M3U playlist" in fmt.help
        dest = tmp_path / "list.m3u"
        assert main(["export", "--format", "m3u", "--out", str(dest)]) == 0
        text = dest.read_text(encoding="utf-8")
        assert text.startswith("#EXTM3U\n") and text.count("#EXTINF") == 3
        # sidecar-only options are refused for it, as for every table format
        assert main(["export", "--format", "m3u", "--dry-run"]) == 2
        assert "apply to --format nfo only" in capsys.readouterr().err
        with LibrarySession.open() as app:
            buf = io.StringIO()
            report = app.export(Selection(missing=False), "m3u", ExportOptions(stream=buf))
            assert report.count == 2 and buf.getvalue().count("#EXTINF") == 2
    finally:
        unregister_writer("m3u")
    assert "m3u" not in [w.name for w in writers()]


def test_the_runtime_loads_any_registered_head_kind(tmp_path: Path) -> None:
    """A head folder whose card names a registered kind loads through ``load_head``; an
    unknown kind is refused with the kinds it knows."""
    from trailertagger.core.classify import runtime
    from trailertagger.core.genres import GENRES

    head_dir = _tiny_head(tmp_path)
    card = json.loads((head_dir / "card.json").read_text(encoding="utf-8"))
    card["kind"] = "constant-test"
    (head_dir / "card.json").write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ValueError, match="head kind 'constant-test'.*known: onnx"):
        runtime.load_head(head_dir)

    class Constant:
        kind, model_id, version = "constant-test", "constant", "1"

        def __init__(self, path: Path) -> None:
            self.path = path

        def predict(self, fs):  # noqa: ANN001, ANN201
            return dict.fromkeys(GENRES, 0.25)

    runtime.register_head_kind("constant-test", Constant)
    try:
        head = runtime.load_head(head_dir)
        assert isinstance(head, Constant) and head.predict(None)["War"] == 0.25
    finally:
        runtime.HEAD_KINDS.pop("constant-test")
