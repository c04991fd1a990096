"""File identity: a content hash that survives renames and moves, cheap on huge files.

Hashing a 40 GB movie end to end would stall a library scan for minutes, so files larger
than ``FULL_HASH_LIMIT`` are hashed over their size plus evenly spaced 1 MiB samples
(first and last included).  Any edit that changes the size, the container header or the
tail (where MP4/MKV indexes live) changes the hash; ``(size, mtime_ns)`` is the first,
cheaper check the library makes before hashing at all.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

FULL_HASH_LIMIT = 64 * 1024 * 1024
SAMPLE_SIZE = 1024 * 1024
SAMPLES = 16
_SCHEME = "tt1"  # bump when the scheme changes so stored hashes are recognisably old


def file_signature(path: Path | str, missing_ok: bool = False) -> tuple[int, int] | None:
    """(size, mtime_ns): changes whenever a file is rewritten in place.  ``missing_ok``:
    None instead of ``OSError`` for a file that is gone or cannot be read (the watcher's
    view of a file that may vanish between an event and the look)."""
    try:
        st = os.stat(path)
    except OSError:
        if missing_ok:
            return None
        raise
    return st.st_size, st.st_mtime_ns


def content_hash(path: Path) -> str:
    """``tt1:<sha256 hex>`` over the whole file (small) or size + samples (large)."""
    h = hashlib.sha256()
    size = os.stat(path).st_size
    h.update(size.to_bytes(8, "little"))
    with open(path, "rb") as fh:
        if size <= FULL_HASH_LIMIT:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        else:
            step = (size - SAMPLE_SIZE) / (SAMPLES - 1)
            for i in range(SAMPLES):
                fh.seek(int(i * step))
                h.update(fh.read(SAMPLE_SIZE))
    return f"{_SCHEME}:{h.hexdigest()}"
