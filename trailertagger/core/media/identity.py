"""File identity: a content hash that survives renames and moves, cheap on huge files.

**The sampled hash (scheme ``tt1``)**, the identity the library and the feature cache key on:

* ``sha256`` over the file size as 8 little-endian bytes, then
* files up to ``FULL_HASH_LIMIT`` (64 MiB): every byte;
* larger files: ``SAMPLES`` (16) blocks of ``SAMPLE_SIZE`` (1 MiB) read at offsets
  ``int(i * (size - SAMPLE_SIZE) / (SAMPLES - 1))`` for ``i = 0..15``: the first block
  (container header), the last (MP4 ``moov`` / MKV cues usually live there) and 14 evenly
  between them;
* written as ``tt1:<hex>``.

So a file of any size costs at most 16 MiB of reads and 16 seeks (``max_bytes_read``): a
2 TB library of 500 films is about 8 GB of reads, 0.4% of it, instead of 2 TB.  Any edit
that changes the size, the header, the tail or one of the sampled blocks changes the hash; an
edit of equal size that touches only unsampled bytes of a large file does not (remuxers,
taggers and re-encoders all change the size or the header, so in practice this does not
happen; ``full_hash`` exists for when certainty matters).  ``(size, mtime_ns)`` is the first,
cheaper check the library makes before hashing at all.

**Why the scheme was kept rather than replaced:** every stored library row and feature file
is keyed by ``tt1`` hashes, and changing the block size or count would change every large
file's identity (a re-extraction of the whole library).  The prefix makes a future scheme
recognisable: ``scheme_of`` tells them apart, and a new scheme must keep ``tt1`` readable.

**The full hash** (``full_hash``, ``sha256:<hex>`` over every byte) is computed only on
demand (``trailertagger hash --full``), never during a scan.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

FULL_HASH_LIMIT = 64 * 1024 * 1024
SAMPLE_SIZE = 1024 * 1024
SAMPLES = 16
_SCHEME = "tt1"  # bump when the scheme changes so stored hashes are recognisably old
SCHEMES = ("tt1", "sha256")
_CHUNK = 1 << 20


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


def sample_offsets(size: int) -> list[int]:
    """Where the sampled hash reads its ``SAMPLE_SIZE`` blocks in a file of ``size`` bytes
    (empty for files hashed whole)."""
    if size <= FULL_HASH_LIMIT:
        return []
    step = (size - SAMPLE_SIZE) / (SAMPLES - 1)
    return [int(i * step) for i in range(SAMPLES)]


def max_bytes_read(size: int) -> int:
    """The most bytes ``content_hash`` reads from a file of ``size`` bytes."""
    return size if size <= FULL_HASH_LIMIT else SAMPLES * SAMPLE_SIZE


def content_hash(path: Path) -> str:
    """``tt1:<sha256 hex>`` over the whole file (small) or size + samples (large)."""
    h = hashlib.sha256()
    size = os.stat(path).st_size
    h.update(size.to_bytes(8, "little"))
    with open(path, "rb") as fh:
        offsets = sample_offsets(size)
        if not offsets:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
        else:
            for off in offsets:
                fh.seek(off)
                h.update(fh.read(SAMPLE_SIZE))
    return f"{_SCHEME}:{h.hexdigest()}"


def full_hash(path: Path) -> str:
    """``sha256:<hex>`` of every byte of the file (on demand only: reads it whole)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(8 * _CHUNK), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}"


def scheme_of(digest: str) -> str:
    """The scheme of a stored hash (``"tt1"``, ``"sha256"``); ``""`` when unknown."""
    prefix = str(digest).split(":", 1)[0]
    return prefix if prefix in SCHEMES and ":" in str(digest) else ""


def hash_record(path: Path, full: bool = False) -> dict[str, object]:
    """The identity of one file as a record: path, size, sampled hash, bytes it read, and
    the full hash when asked for.  Raises ``OSError`` for a file that cannot be read."""
    path = Path(path)
    size = os.stat(path).st_size
    rec: dict[str, object] = {"path": str(path), "size": size, "content_hash": content_hash(path),
                              "bytes_read": max_bytes_read(size)}
    if full:
        rec["full_hash"] = full_hash(path)
    return rec
