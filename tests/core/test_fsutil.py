"""The one atomic-write helper, and the one rule for which files are videos."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from trailertagger.core import fsutil
from trailertagger.core.fsutil import atomic_write, atomic_write_bytes, atomic_write_text


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture()
def umask():
    old = os.umask(0o022)
    try:
        yield lambda m: os.umask(m)
    finally:
        os.umask(old)


def test_new_files_follow_the_umask_not_0600(tmp_path: Path, umask) -> None:
    umask(0o022)
    assert fsutil.current_umask() == 0o022
    p = atomic_write_text(tmp_path / "a.nfo", "<movie/>")
    assert p.read_text() == "<movie/>" and _mode(p) == 0o644
    umask(0o077)
    q = atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert q.read_bytes() == b"\x00\x01" and _mode(q) == 0o600
    umask(0o002)
    assert _mode(atomic_write_bytes(tmp_path / "c.bin", b"")) == 0o664


def test_an_existing_file_keeps_its_permissions(tmp_path: Path, umask) -> None:
    umask(0o022)
    p = tmp_path / "film.nfo"
    p.write_text("old")
    os.chmod(p, 0o640)
    atomic_write_text(p, "new")
    assert p.read_text() == "new" and _mode(p) == 0o640


def test_file_and_folder_are_fsynced(tmp_path: Path, monkeypatch) -> None:
    synced: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    with atomic_write(tmp_path / "x.json", "w") as fh:
        fh.write("{}")
    assert synced == ["file", "dir"]


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    p = tmp_path / "card.json"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(p, "w") as fh:
        fh.write("half")
        raise RuntimeError("disk full")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["card.json"]
    with pytest.raises(ValueError, match="mode"), atomic_write(p, "a"):
        pass


def test_every_writer_uses_the_helper(tmp_path: Path, umask) -> None:
    """Feature files and model cards (NFO files: above) come out with the
    umask's permissions (they used 0600 temp files before)."""
    import numpy as np

    from trailertagger.core.classify.card import write_json_atomic
    from trailertagger.core.features.io import save_featureset
    from trailertagger.core.features.types import FeatureSet, ModalityFeatures

    umask(0o022)
    card = write_json_atomic(tmp_path / "card.json", {"a": 1})
    fs = FeatureSet("tt1:" + "0" * 64, 1.0, {"image": ModalityFeatures(
        "image", np.zeros((1, 2), np.float32), np.zeros(1, np.float32), "x", "1", "m", "")}, {}, "default")
    feats = tmp_path / "f.npz"
    save_featureset(feats, fs)
    assert _mode(card) == 0o644 and _mode(feats) == 0o644


# ----------------------------------------------------------------------------- video files


def test_extract_dir_and_scan_dir_see_the_same_files(tmp_path: Path) -> None:
    """One predicate: every known extension (any case), in nested folders; hidden files
    and folders, partial downloads, lock files and non-videos skipped by both walkers."""
    from trailertagger.core.jobs.watcher import walk_videos
    from trailertagger.core.media.files import VIDEO_EXTENSIONS, is_video_file, iter_videos

    root = tmp_path / "films"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    wanted = []
    for i, ext in enumerate(sorted(VIDEO_EXTENSIONS)):
        folder = root / "sub" if i % 2 else root
        name = folder / f"film{i}{ext.upper() if i % 3 == 0 else ext}"
        name.write_bytes(b"x")
        wanted.append(str(name))
    for junk in (".film.mp4", "film.mp4.part", "~$film.mkv", "poster.jpg", "notes.txt", "song.mp3"):
        (root / junk).write_bytes(b"x")
    (root / ".hidden" / "secret.mp4").write_bytes(b"x")
    extract_sees = sorted(str(p) for p in iter_videos([root]))
    scan_sees = walk_videos(root)
    assert extract_sees == scan_sees == sorted(wanted)
    assert len(scan_sees) == len(VIDEO_EXTENSIONS) >= 25
    assert not is_video_file("x.mp4.part") and is_video_file("/a/B.MKV")
