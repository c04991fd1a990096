"""Memory: give freed heap back to the OS between big steps; size the pool from the RAM.

Why: glibc's malloc keeps the pages a finished step freed (an image batch's activations, a
decoded soundtrack, OCR's crops) in its arenas, so the resident size of a worker after one
extractor is the floor the next one starts from, and peaks stack up.  Measured on a 2-minute
720p trailer (default profile, one worker): peak RSS 1374 MB without a trim after each
extractor, 1241 MB with one, same features and no measurable time cost (``malloc_trim`` walks
the free lists once, a few milliseconds).  Elsewhere (musl, macOS, Windows) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from functools import lru_cache

log = logging.getLogger(__name__)


#: glibc's ``mallopt`` parameter for the most arenas (``M_ARENA_MAX`` in malloc.h).
_M_ARENA_MAX = -8
#: Arenas an extracting process keeps (``limit_malloc_arenas``).
EXTRACT_ARENAS = 2


@lru_cache(maxsize=1)
def _libc():  # noqa: ANN202 - a ctypes library or None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = EXTRACT_ARENAS) -> bool:
    """At most ``arenas`` glibc malloc arenas in this process from now on, and in the
    processes it starts (``MALLOC_ARENA_MAX``); True when glibc took the setting.

    Why: glibc gives each thread that meets a busy arena a new one, up to 8 per core, and
    each arena keeps its own freed pages.  Once OCR's parts ran in every extraction lane
    (issue 13), the 10-minute scaling video's peak RSS varied from 1226 to 1502 MB over four
    runs (the 1.5 GB budget) as frames, audio and activations landed in different arenas;
    with two arenas three runs peaked at 1156-1197 MB, at the same speed within the noise.
    A user's own ``MALLOC_ARENA_MAX`` is left alone.
    """
    if "MALLOC_ARENA_MAX" in os.environ and os.environ["MALLOC_ARENA_MAX"] != str(arenas):
        return False
    os.environ["MALLOC_ARENA_MAX"] = str(int(arenas))
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None) if libc is not None else None
    if mallopt is None:
        return False
    try:
        return bool(mallopt(ctypes.c_int(_M_ARENA_MAX), ctypes.c_int(int(arenas))))
    except OSError:  # pragma: no cover - defensive
        return False


@lru_cache(maxsize=1)
def _malloc_trim():  # noqa: ANN202 - a ctypes function or None
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return the heap's free pages to the OS (glibc); True when something was released."""
    trim = _malloc_trim()
    if trim is None:
        return False
    try:
        return bool(trim(0))
    except OSError:  # pragma: no cover - defensive: a libc without a working trim
        return False


#: What one extracting worker may need at its peak: measured 1.24-1.41 GB for trailers and
#: films of any length on the default profile (models 0.73 GB of it); README "Films".
WORKER_BUDGET_MB = 1500
#: Left for the app, the desktop and everything else when the pool is sized.
RESERVE_MB = 1024


def available_memory_mb() -> int | None:
    """Memory the system can give without swapping (Linux ``MemAvailable``), in MB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # other Unixes: free pages (an underestimate: caches are not counted)
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20)
    except (ValueError, OSError, AttributeError):
        return None


def workers_that_fit(requested: int, budget_mb: int = WORKER_BUDGET_MB,
                     available_mb: int | None = None) -> tuple[int, str]:
    """How many worker processes to start: ``requested``, or fewer when that many would not
    fit in the memory available now (less ``RESERVE_MB``) at ``budget_mb`` each.  At least
    one always starts (a machine that cannot hold one still processes, slowly, rather than
    never).  Returns the count and, when it is lower than asked, a sentence saying why."""
    if requested <= 1 or budget_mb <= 0:
        return requested, ""
    avail = available_memory_mb() if available_mb is None else available_mb
    if avail is None:
        return requested, ""
    fit = max(1, (avail - RESERVE_MB) // budget_mb)
    if fit >= requested:
        return requested, ""
    return fit, (f"starting {fit} of {requested} workers: {avail} MB of memory is available and "
                 f"each extracting worker may need {budget_mb} MB ([jobs] memory_per_worker_mb)")
