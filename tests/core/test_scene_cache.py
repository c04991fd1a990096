"""The detail pane's scene pictures are a cache with a size limit: least recently shown
strips go first, the strip being shown never."""

from __future__ import annotations

import os
from pathlib import Path

from trailertagger.core.app.evidence import (
    prune_scene_cache,
    scene_thumbnail_paths,
    scene_thumbnails,
)
from trailertagger.core.config import DEFAULTS, RANGES


def _strip(root: Path, digest: str, files: int, size: int, shown_at: float) -> Path:
    paths = scene_thumbnail_paths(root, f"sha256:{digest}", files)
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"\xff" * size)
    os.utime(paths[0].parent, (shown_at, shown_at))
    return paths[0].parent


def test_prune_deletes_least_recently_shown_strips_until_they_fit(tmp_path: Path) -> None:
    root = tmp_path / "scenes"
    old = _strip(root, "aa" + "1" * 62, 4, 1000, 1_000)
    mid = _strip(root, "ab" + "2" * 62, 4, 1000, 2_000)
    new = _strip(root, "aa" + "3" * 62, 4, 1000, 3_000)
    assert prune_scene_cache(root, 12_000) == (0, 0)  # fits: nothing deleted
    removed, freed = prune_scene_cache(root, 9_000)
    assert (removed, freed) == (1, 4000)
    assert not old.exists() and mid.exists() and new.exists()
    # the strip being shown is kept even when it alone is over the limit
    removed, _ = prune_scene_cache(root, 100, keep=mid)
    assert removed == 1 and mid.exists() and not new.exists()
    assert not (root / "aa").exists()  # an emptied shard goes too


def test_showing_a_strip_marks_it_recent_and_a_new_strip_prunes(tmp_path: Path, real_clips) -> None:
    root = tmp_path / "scenes"
    stale = _strip(root, "cc" + "4" * 62, 3, 50_000, 1_000)
    shown = _strip(root, "dd" + "5" * 62, 3, 50_000, 1_000)
    # shown again: touched, so it is no longer the oldest (no file is taken: all exist)
    got = scene_thumbnails(real_clips["bbb"], f"sha256:dd{'5' * 62}", [0.5, 1.5, 2.5], root,
                           max_bytes=10)
    assert all(p is not None for p in got) and shown.stat().st_mtime > 2_000
    assert stale.exists()  # nothing was written, so nothing was pruned
    # a new video's strip is taken from the file; the cache is then cut to the limit
    fresh = scene_thumbnails(real_clips["bbb"], f"sha256:ee{'6' * 62}", [0.5, 2.0], root,
                             max_bytes=200_000)
    assert all(p is not None and p.stat().st_size > 0 for p in fresh)
    assert not stale.exists() and shown.exists()


def test_the_limit_is_a_setting_with_a_range() -> None:
    low, high = RANGES[("library", "scene_cache_mb")]
    assert low <= DEFAULTS["library"]["scene_cache_mb"] <= high
