"""Which files count as videos, and walking folders for them: the one rule that ``extract
DIR``, ``scan DIR``, the folder watcher, NFO export and training-set lookup all use."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".wmv", ".asf", ".flv", ".f4v",
    ".mpg", ".mpeg", ".m2v", ".ts", ".m2ts", ".mts", ".vob", ".ogv", ".3gp", ".3g2",
    ".divx", ".xvid", ".rm", ".rmvb", ".mxf",
})
#: Name prefixes of files that are never videos to tag: hidden files and the lock files
#: office suites leave (``~$name``).
SKIPPED_PREFIXES = (".", "~$")


def is_video_file(path: os.PathLike[str] | str) -> bool:
    """By name: a video suffix, and not a hidden/partial file (``.foo.mp4``, ``x.mp4.part``,
    ``~$x.mp4``)."""
    name = os.path.basename(os.fspath(path))
    return not name.startswith(SKIPPED_PREFIXES) and os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def walk_video_files(root: os.PathLike[str] | str, recursive: bool = True) -> Iterator[str]:
    """Video files under ``root``: each folder's files sorted, then its sub-folders in
    sorted order; hidden folders are skipped."""
    root = os.fspath(root)
    if not recursive:
        with os.scandir(root) as it:
            yield from sorted(e.path for e in it if e.is_file() and is_video_file(e.name))
        return
    for base, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if is_video_file(f):
                yield os.path.join(base, f)


def iter_videos(paths: Iterable[Path]) -> Iterator[Path]:
    """Files given explicitly are yielded as they are (the user asked for them, so a bad one
    must produce an error, not vanish); folders are walked for video files, sorted.

    A folder given explicitly whose name looks like a video (``clip.mp4/``, typically a
    botched copy or download) is yielded too, so it is reported as unreadable instead of
    silently contributing nothing."""
    for p in paths:
        p = Path(p)
        if p.is_dir() and not is_video_file(p):
            yield from map(Path, walk_video_files(p))
        else:
            yield p
