"""One small JPEG per video content, for library views.

Keyed by content hash (not path) so a moved file keeps its picture and copies share one.
Taken at 10 % of the duration (past black leaders and studio logos, mostly).  A thumbnail is a
nicety: every failure returns None with a logged reason and never fails a job.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DiskFullError, is_disk_full
from ..fsutil import atomic_write

log = logging.getLogger(__name__)

THUMB_SIDE = 320


def thumbnail_path(root: Path, content_hash: str) -> Path:
    digest = content_hash.split(":", 1)[-1]
    return Path(root) / digest[:2] / f"{digest}.jpg"


def make_thumbnail(video: Path, content_hash: str, duration: float, root: Path,
                   side: int = THUMB_SIDE) -> Path | None:
    """Write (once) and return the thumbnail of ``video``; None when impossible."""
    dest = thumbnail_path(root, content_hash)
    if dest.exists():
        return dest
    try:
        from PIL import Image

        from ..media.decode import frames_at

        got = frames_at(Path(video), [max(0.0, duration * 0.1)], max_side=side)[0]
        if got is None:
            got = frames_at(Path(video), [0.0], max_side=side)[0]
        if got is None:
            return None
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(dest, "wb") as fh:
            Image.fromarray(got[1]).save(fh, format="JPEG", quality=82)
        return dest
    except Exception as err:  # noqa: BLE001 - no video stream, read-only cache, odd codec...
        if is_disk_full(err):  # the one failure that is not a nicety: stop the work
            raise DiskFullError(dest.parent) from err
        log.info("no thumbnail for %s: %s", video, err)
        return None
