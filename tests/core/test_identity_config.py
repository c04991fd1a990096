from __future__ import annotations

import os

import pytest

from trailertagger.core import config as config_mod
from trailertagger.core.errors import ConfigError
from trailertagger.core.genres import GENRES, normalize_genre
from trailertagger.core.media import identity
from trailertagger.core.media.files import iter_videos
from trailertagger.core.paths import app_dirs


def test_content_hash_follows_content_not_name(tmp_path):
    a = tmp_path / "a.mp4"
    a.write_bytes(b"x" * 1000)
    h = identity.content_hash(a)
    b = tmp_path / "renamed ✓.mp4"
    a.rename(b)
    assert identity.content_hash(b) == h
    b.write_bytes(b"x" * 999 + b"y")
    assert identity.content_hash(b) != h


def test_sampled_hash_on_large_files_sees_tail_edits(tmp_path, monkeypatch):
    monkeypatch.setattr(identity, "FULL_HASH_LIMIT", 10_000)
    monkeypatch.setattr(identity, "SAMPLE_SIZE", 1000)
    p = tmp_path / "big.mkv"
    data = bytearray(os.urandom(200_000))
    p.write_bytes(bytes(data))
    h = identity.content_hash(p)
    data[-1] ^= 0xFF
    p.write_bytes(bytes(data))
    assert identity.content_hash(p) != h


def test_signature_changes_on_rewrite(tmp_path):
    p = tmp_path / "v.mp4"
    p.write_bytes(b"1")
    s = identity.file_signature(p)
    os.utime(p, ns=(s[1] + 10**9, s[1] + 10**9))
    assert identity.file_signature(p) != s


def test_config_created_with_defaults_and_user_values_merge(tt_home):
    cfg = config_mod.load_config()
    assert cfg["media"]["scene_threshold"] == 0.27
    path = app_dirs().config_file
    assert path.exists() and str(tt_home) in str(path)
    path.write_text('[media]\nscene_threshold = 0.3\n', encoding="utf-8")
    cfg = config_mod.load_config()
    assert cfg["media"]["scene_threshold"] == 0.3 and cfg["media"]["audio_rate"] == 16000
    path.write_text("[media\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="config.toml"):
        config_mod.load_config()


def test_genres():
    assert len(GENRES) == 21 and GENRES[16] == "Sci-Fi"
    assert normalize_genre(" science fiction ") == "Sci-Fi"
    assert normalize_genre("horror") == "Horror"
    with pytest.raises(KeyError):
        normalize_genre("Telenovela")


def test_iter_videos_walks_folders_and_keeps_explicit_files(tmp_path):
    (tmp_path / "d" / ".hidden").mkdir(parents=True)
    for n in ["d/a.MP4", "d/b.txt", "d/.hidden/c.mp4", "d/sub dir/ü.mkv"]:
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / n).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in iter_videos([tmp_path / "d", tmp_path / "d/b.txt"])]
    assert found == ["d/a.MP4", "d/sub dir/ü.mkv", "d/b.txt"]
