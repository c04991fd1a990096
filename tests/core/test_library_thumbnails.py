"""Thumbnails: one JPEG per content, made from a real clip; failures are None, never raise."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from trailertagger.core.library.thumbnails import make_thumbnail, thumbnail_path
from trailertagger.core.media.identity import content_hash


def test_thumbnail_of_a_real_clip_is_made_once(real_clips, tmp_path: Path) -> None:
    clip = real_clips["bbb"]
    chash = content_hash(clip)
    root = tmp_path / "thumbs"
    thumb = make_thumbnail(clip, chash, 5.3, root)
    assert thumb == thumbnail_path(root, chash) and thumb.parent.parent == root
    with Image.open(thumb) as im:
        assert im.format == "JPEG" and max(im.size) == 320 and im.size[0] > im.size[1]
        assert len(set(im.convert("L").getdata())) > 20  # a real picture, not a flat frame
    mtime = thumb.stat().st_mtime_ns
    assert make_thumbnail(clip, chash, 5.3, root) == thumb and thumb.stat().st_mtime_ns == mtime
    assert not [p for p in thumb.parent.iterdir() if p.name.startswith(".thumb-")]


def test_thumbnail_failures_return_none(bad_files, tmp_path: Path) -> None:
    root = tmp_path / "thumbs"
    pictures = {"truncated", "video_only", "unicode_name"}  # a frame can still be decoded
    for name, path in bad_files.items():
        thumb = make_thumbnail(path, f"tt1:{name}", 1.0, root)
        assert (thumb is not None) == (name in pictures), name
    assert make_thumbnail(tmp_path / "absent.mp4", "tt1:absent", 1.0, root) is None
