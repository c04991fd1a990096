"""Which files count as videos, and walking folders for them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg",
    ".ts", ".m2ts", ".mts", ".3gp", ".ogv", ".vob", ".divx", ".asf", ".f4v",
})


def is_video_name(path: Path) -> bool:
    name = path.name
    return path.suffix.lower() in VIDEO_EXTENSIONS and not name.startswith((".", "~$"))


def iter_videos(paths: Iterable[Path]) -> Iterator[Path]:
    """Files given explicitly are yielded as they are (the user asked for them, so a bad one
    must produce an error, not vanish); folders are walked for video extensions, sorted.

    A folder given explicitly whose name looks like a video (``clip.mp4/``, typically a
    botched copy or download) is yielded too, so it is reported as unreadable instead of
    silently contributing nothing."""
    for p in paths:
        p = Path(p)
        if p.is_dir() and not is_video_name(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    fp = Path(root) / f
                    if is_video_name(fp):
                        yield fp
        else:
            yield p
