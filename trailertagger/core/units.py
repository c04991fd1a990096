"""How a byte count is written for a person (one rule for the CLI, the app and messages)."""

from __future__ import annotations


def human_bytes(n: float, base: int = 1000) -> str:
    """``18.8 MB``: decimal units by default (as file managers show sizes); ``base=1024`` for
    amounts of memory or disk blocks."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < base:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= base
    return f"{size:.1f} TB"
