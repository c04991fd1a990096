"""The smaller findings of issue 9 (case 10): rotation metadata, a file named like an option,
``models check`` on a corrupt file.  (Moves reported as moved: ``test_identity_faults``;
audio-only files: a documented decision in the README, "Library".)"""

from __future__ import annotations

import hashlib
import shutil
import struct
from pathlib import Path

import av
import numpy as np

from tests.faults.support import assert_sane, corrections, write_config
from trailertagger.cli.main import main
from trailertagger.core.library.thumbnails import make_thumbnail
from trailertagger.core.media.decode import decode_media, frames_at


def sideways_clip(path: Path) -> Path:
    """A 64x32 clip, left half white, whose track header says "display rotated 90 degrees
    clockwise" (what a phone held upright writes)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 32, "yuv420p"
        for _ in range(10):
            a = np.zeros((32, 64, 3), np.uint8)
            a[:, :32] = 255
            for pk in s.encode(av.VideoFrame.from_ndarray(a, format="rgb24")):
                c.mux(pk)
        for pk in s.encode():
            c.mux(pk)
    data = bytearray(path.read_bytes())
    tkhd = data.find(b"tkhd") - 4
    assert data[tkhd + 8] == 0  # version 0 box: the matrix is at offset 48
    data[tkhd + 48:tkhd + 84] = struct.pack(">9i", 0, 65536, 0, -65536, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))
    return path


def test_rotation_metadata_is_applied_to_frames_and_thumbnails(tmp_path):
    clip = sideways_clip(tmp_path / "phone.mp4")
    with av.open(str(clip)) as c:
        assert next(c.decode(video=0)).rotation == -90  # the metadata is really there
    ((_, frame),) = frames_at(clip, [0.3])
    assert frame.shape == (64, 32, 3)  # upright: taller than wide
    assert frame[:28].mean() > 200 and frame[36:].mean() < 50  # the white half is on top
    media = decode_media(clip, {})
    assert media.frames and all(f.image.shape == (64, 32, 3) for f in media.frames)
    thumb = make_thumbnail(clip, "sha256:" + "ab" * 32, 1.0, tmp_path / "thumbs")
    from PIL import Image

    with Image.open(thumb) as im:
        assert im.size == (32, 64)


def test_set_works_on_a_file_named_like_an_option(tmp_path, real_clips, monkeypatch, capsys):
    folder = tmp_path / "films"
    folder.mkdir()
    shutil.copyfile(real_clips["bbb"], folder / "--help.mp4")
    write_config(workers=0)
    assert main(["scan", str(folder)]) == 0
    monkeypatch.chdir(folder)
    assert main(["set", "--", "--help.mp4", "+Horror"]) == 0
    assert corrections() == {(str(folder / "--help.mp4"), "Horror", 0)}
    assert_sane()


def test_models_check_shows_size_and_sha_of_a_corrupt_file(tmp_path, monkeypatch, capsys):
    override = tmp_path / "models"
    bad = override / "yamnet-class-map" / "yamnet_class_map.csv"
    bad.parent.mkdir(parents=True)
    junk = b"not the class map\n" * 783  # right size (14,094 + 2 bytes), wrong content
    junk += b"x" * (14096 - len(junk))
    bad.write_bytes(junk)
    monkeypatch.setenv("TRAILERTAGGER_MODELS", str(override))
    assert main(["models", "check", "yamnet-class-map"]) == 4
    out = capsys.readouterr().out
    sha = hashlib.sha256(junk).hexdigest()
    assert f"sha256 {sha}" in out and "14.1 KB" in out, out
    assert "0 B" not in out and "sha256 -" not in out, out
    bad.write_bytes(b"short")
    assert main(["models", "check", "yamnet-class-map"]) == 4
    out = capsys.readouterr().out
    assert "5 B" in out and hashlib.sha256(b"short").hexdigest() in out, out
