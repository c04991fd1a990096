"""The app's icons: line icons drawn for trailertagger, shipped as SVG in
``trailertagger/resources/icons/`` and loaded through ``icon(name)`` (cached)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"
NAMES = ("add-folder", "rescan", "pause", "resume", "cancel", "retry", "rerun", "settings",
         "models", "export", "jobs", "undo", "train", "open-location", "download", "remove", "grid",
         "app")


def icon_path(name: str) -> Path:
    path = ICON_DIR / f"{name}.svg"
    if not path.is_file():
        raise KeyError(f"no icon {name!r} in {ICON_DIR}")
    return path


@cache
def icon(name: str) -> QIcon:
    """The icon ``name`` (one of ``NAMES``); a missing file is a ``KeyError``, not a blank."""
    return QIcon(str(icon_path(name)))


def app_icon() -> QIcon:
    return icon("app")
