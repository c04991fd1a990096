"""Background work at a lower CPU priority than the app a person is using.

Worker processes decode and run models flat out; at the same priority as the GUI they take
turns with its event loop, and a click or a repaint waits behind a spectrogram.  A worker
lowers its own priority by ``[jobs] nice`` (0 to 19, default 10) when it starts, so the
window, the desktop and the user's other programs go first, while an otherwise idle
machine still gives the workers every core (priority only decides who waits when the
cores are busy).  POSIX: ``os.nice``; Windows: the below-normal priority class (psutil).
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

DEFAULT_NICE = 10
MAX_NICE = 19


def current_nice() -> int:
    """This process's niceness (0 where the platform has none)."""
    if hasattr(os, "nice"):
        return os.nice(0)
    return 0


def lower_priority(nice: int) -> int:
    """Lower this process's CPU priority by ``nice`` steps (0: unchanged); returns the
    niceness now in force.  Never raises: a priority is a courtesy, not a requirement."""
    nice = max(0, min(MAX_NICE, int(nice)))
    if nice == 0:
        return current_nice()
    try:
        if hasattr(os, "nice"):
            return os.nice(min(nice, MAX_NICE - os.nice(0)))
        if sys.platform == "win32":  # pragma: no cover - Windows only
            import psutil

            psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
    except Exception as err:  # noqa: BLE001 - e.g. a container that forbids it
        log.info("could not lower the worker's priority by %d: %s", nice, err)
    return current_nice()
