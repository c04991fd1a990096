"""Helpers every sub-command shares: settings, model store, progress bars."""

from __future__ import annotations

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
