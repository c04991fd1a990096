"""One log file per user in the user log folder, rotated, so a failed job can be explained."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from .paths import app_dirs


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
        fh = logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return None
    fh.setLevel(logging.DEBUG)
    fh.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    root.addHandler(fh)
    return path
