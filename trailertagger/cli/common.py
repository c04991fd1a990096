"""Helpers every sub-command shares: settings, model store, progress bars."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from tqdm import tqdm

from ..core.config import load_config


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
