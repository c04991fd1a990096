"""Atomic, durable file writes: the one helper every writer in the core uses.

``atomic_write`` writes to a temp file in the destination's folder, flushes and fsyncs it,
gives it the permission bits the file should have, renames it over the destination and
fsyncs the folder, so after a crash or power loss a reader finds either the old file or the
new one, never half of one.  Permissions: an existing file keeps its mode; a new file gets
``0o666`` minus the process umask, as ``open()`` would give it (``mkstemp``'s ``0o600``
would hide NFO files from a media server running as another user).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def fsync_dir(folder: Path | str) -> None:
    """fsync a folder so a rename inside it survives a crash (a no-op where folders
    cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(str(folder), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def replace_durable(src: Path | str, dest: Path | str) -> None:
    """``os.replace(src, dest)`` then fsync ``dest``'s folder (``src`` already fsynced)."""
    os.replace(src, dest)
    fsync_dir(Path(dest).parent)


@contextlib.contextmanager
def atomic_write(path: Path | str, mode: str = "wb", encoding: str | None = None,
                 file_mode: int | None = None) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path`` for writing; on a clean exit it replaces ``path``.

    The temp name holds only the start of the file's name (a name near the 255-byte limit
    plus a random part would be too long) and starts with a dot.  On an exception the temp
    file is removed and ``path`` is untouched.  ``file_mode`` forces the permission bits.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    if file_mode is None:
        try:
            file_mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            file_mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".tmp", dir=path.parent)
    try:
        kwargs: dict[str, Any] = {"encoding": encoding or "utf-8"} if mode == "w" else {}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode)
        replace_durable(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> Path:
    with atomic_write(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: Path | str, text: str, encoding: str = "utf-8") -> Path:
    with atomic_write(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)
