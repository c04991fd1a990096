"""One log file per user in the user log folder, rotated, so a failed job can be explained."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import sys
from pathlib import Path

from .errors import is_disk_full
from .paths import app_dirs


class _LogFile(logging.handlers.RotatingFileHandler):
    """The log file; a full disk turns it off with one line on stderr instead of printing a
    "--- Logging error ---" traceback for every record (a scan on a full disk used to print
    thousands)."""

    broken = False

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        err = sys.exc_info()[1]
        if self.broken:
            return
        if is_disk_full(err) or isinstance(err, OSError):
            self.broken = True
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"warning: log file {self.baseFilename} not written from now "
                                 f"on: {getattr(err, 'strerror', None) or err}\n")
            return
        super().handleError(record)

    def emit(self, record: logging.LogRecord) -> None:
        if not self.broken:
            super().emit(record)


def setup_logging(verbose: int = 0, log_dir: Path | None = None) -> Path | None:
    """Send DEBUG and up to ``trailertagger.log``; the console gets WARNING (INFO with -v)."""
    root = logging.getLogger("trailertagger")
    root.setLevel(logging.DEBUG)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(console)
    log_dir = log_dir or app_dirs().log
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "trailertagger.log"
        fh = _LogFile(path, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return None
    fh.setLevel(logging.DEBUG)
    fh.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    root.addHandler(fh)
    return path
