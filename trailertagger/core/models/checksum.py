"""sha256 of model files, with a small cache so big files are not re-hashed on every start.

Hashing the 90 MB text model takes a noticeable fraction of a second; doing it for every
model at every start (and in every worker process) would make startup sluggish.  The cache
maps an absolute path to the (size, mtime_ns) it had when hashed; any change to either
invalidates the entry.  The cache is an optimisation only: a missing, unreadable or corrupt
cache file just means files get hashed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from pathlib import Path

from ..fsutil import atomic_write

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
RECORD_SUFFIX = ".sha256"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def short(sha: str, n: int = 12) -> str:
    return sha[:n] if sha else "-"


class VerifyCache:
    """JSON map ``path -> [size, mtime_ns, sha256]`` at ``cache_file``; thread-safe."""

    def __init__(self, cache_file: Path) -> None:
        self.cache_file = Path(cache_file)
        self._lock = threading.Lock()
        self._data: dict[str, list] | None = None

    def _load(self) -> dict[str, list]:
        if self._data is None:
            try:
                data = json.loads(self.cache_file.read_text(encoding="utf-8"))
                self._data = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._data = {}
        return self._data

    def _save(self) -> None:
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(self.cache_file, "w", encoding="utf-8") as fh:
                json.dump(self._data, fh, indent=0, sort_keys=True)
        except OSError as err:  # a read-only cache still works, just slower
            log.debug("cannot write %s: %s", self.cache_file, err)

    def lookup(self, path: Path) -> str:
        """The cached hash of ``path`` if it is unchanged since hashing, else ""."""
        try:
            st = Path(path).stat()
        except OSError:
            return ""
        with self._lock:
            entry = self._load().get(str(Path(path).resolve()))
        if isinstance(entry, list) and len(entry) == 3 and entry[0] == st.st_size and entry[1] == st.st_mtime_ns:
            return str(entry[2])
        return ""

    def remember(self, path: Path, sha: str) -> None:
        st = Path(path).stat()
        with self._lock:
            self._data = None  # re-read: another worker process may have added entries
            self._load()[str(Path(path).resolve())] = [st.st_size, st.st_mtime_ns, sha]
            self._save()

    def forget(self, path: Path) -> None:
        with self._lock:
            if self._load().pop(str(Path(path).resolve()), None) is not None:
                self._save()

    def hash(self, path: Path, use_cache: bool = True) -> str:
        """sha256 of ``path``, from the cache when the file is unchanged."""
        if use_cache:
            cached = self.lookup(path)
            if cached:
                return cached
        sha = sha256_file(path)
        self.remember(path, sha)
        return sha


def record_path(path: Path) -> Path:
    """Where the trust-on-first-use hash of ``path`` is kept: next to it."""
    return Path(str(path) + RECORD_SUFFIX)


def read_record(path: Path) -> str:
    try:
        text = record_path(path).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return ""
    return text[0].lower() if text and len(text[0]) == 64 else ""


def write_record(path: Path, sha: str) -> None:
    """Write ``<sha>  <name>`` (the ``sha256sum`` format, so users can check by hand)."""
    record_path(path).write_text(f"{sha}  {Path(path).name}\n", encoding="ascii")
