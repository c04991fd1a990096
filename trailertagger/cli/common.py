"""Helpers every sub-command shares: settings, model store, progress bars."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..core.config import is_auto, load_config


def settings() -> dict[str, Any]:
    return load_config()


def model_store(cfg: dict[str, Any] | None = None):
    from ..core.models.store import ModelStore

    return ModelStore.from_config(cfg or settings())


def progress_bar(total: float | None, desc: str, unit: str = "it", leave: bool = False) -> tqdm:
    """A tqdm bar on stderr that disappears when stderr is not a terminal (CI logs, pipes)."""
    return tqdm(total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr,
                disable=not sys.stderr.isatty(), dynamic_ncols=True)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(path: Any) -> str:
    """A path as one printable line of text output (``--json`` keeps the exact path).

    Newlines, tabs and other control characters are escaped so a file named ``a\\nb.mp4``
    cannot break line- and tab-separated output; bytes that are not UTF-8 are shown as
    ``\\xff``.  Ordinary names print exactly as they are.
    """
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: _ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def workers_arg(text: str) -> int:
    """argparse type for ``--workers``: ``auto`` (one per core, ``[jobs] workers``'s
    default) or a whole number >= 0."""
    from ..core.app.settings_file import auto_workers

    return auto_workers()[0] if is_auto(text) else count_arg(text)


def count_arg(text: str) -> int:
    """argparse type: a whole number >= 0 (``--limit -5`` would mean "no limit" to SQLite)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def seconds_arg(text: str) -> float:
    """argparse type: a finite number >= 0 (seconds, minutes)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def add_library_arg(p: argparse.ArgumentParser) -> None:
    """``--library FILE``: every command that reads or writes the library takes it."""
    p.add_argument("--library", type=Path, default=None, metavar="FILE",
                   help="library database (default: library.sqlite3 in the user data folder)")


def open_app(args: argparse.Namespace):  # noqa: ANN201 - a LibrarySession
    """The application session on the library named by ``--library`` (default: the app's);
    migrated on open, the active genre head recorded."""
    from ..core.app import LibrarySession

    return LibrarySession.open(getattr(args, "library", None), settings())
