"""Reading and changing ``config.toml`` from a front end (the app's settings dialog).

* ``load_settings``: the merged settings, or the defaults plus the error when the file is
  broken, so the app can open and say what is wrong instead of exiting 2.
* ``check_changes``: the same type and range checks ``core/config.validate`` applies when
  the file loads (``RANGES``, the device pattern), on the file's values with the changes on
  top; nothing is written when one fails.
* ``write_settings``: edits only the changed keys' lines (an existing ``key = ...`` line, or
  the template's commented ``# key = ...`` line, else a new line under its table), so the
  user's comments and unknown keys stay; the file is replaced atomically (``core/fsutil``).
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import config as config_rules
from ..errors import ConfigError
from ..fsutil import atomic_write_text
from ..paths import app_dirs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["auto_workers", "check_changes", "config_path", "load_settings", "ranges",
           "read_user", "write_settings"]

Changes = Mapping[tuple[str, str], Any]


def config_path(path: Path | None = None) -> Path:
    return Path(path) if path is not None else app_dirs().config_file


def ranges() -> dict[tuple[str, str], tuple[float, float]]:
    """The allowed range of each numeric setting (the dialog's spin box bounds)."""
    return dict(config_rules.RANGES)


def auto_workers() -> tuple[int, int]:
    """``(workers "auto" means on this machine, the most it ever means)``: for the dialog's
    "Auto (N)" entry (``jobs.worker.resolve_workers``)."""
    from ..jobs.worker import AUTO_MAX_WORKERS, resolve_workers

    return resolve_workers("auto"), AUTO_MAX_WORKERS


def load_settings(path: Path | None = None) -> tuple[dict[str, Any], str | None]:
    """``(settings, None)``, or ``(defaults, the error)`` when the file cannot be used."""
    try:
        return config_rules.load_config(config_path(path)), None
    except ConfigError as err:
        return copy.deepcopy(config_rules.DEFAULTS), str(err)


def read_user(path: Path | None = None) -> dict[str, Any]:
    """The values the file sets (no defaults); ``{}`` when it is missing."""
    p = config_path(path)
    if not p.exists():
        return {}
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read settings file {p}: {err}") from err


def _with_changes(user: dict[str, Any], changes: Changes) -> dict[str, Any]:
    out = copy.deepcopy(user)
    for (section, key), value in changes.items():
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"'{section}' in the settings file is not a [{section}] table")
        table[key] = value
    return out


def check_changes(changes: Changes, path: Path | None = None) -> list[str]:
    """What is wrong with the file once ``changes`` are applied (empty: fine to write).
    Only the problems of the changed keys and of the file as a whole are listed."""
    merged = _with_changes(read_user(path), changes)
    unknown = [f"[{s}] {k} is not a setting" for s, k in changes
               if k not in config_rules.DEFAULTS.get(s, {})
               and k not in config_rules.EXTRA_KEYS.get(s, frozenset())]
    return unknown + config_rules.validate(merged)


def _line(key: str, value: Any) -> str:
    return f"{key} = {config_rules._toml_value(value)}"


def _edit(text: str, changes: Changes) -> str:
    lines = text.splitlines()
    header = re.compile(r"^\s*\[([^\]]+)\]\s*(#.*)?$")
    for (section, key), value in changes.items():
        start = next((i for i, ln in enumerate(lines)
                      if (m := header.match(ln)) and m.group(1).strip() == section), None)
        if start is None:
            if lines and lines[-1].strip():
                lines.append("")
            lines += [f"[{section}]", _line(key, value)]
            continue
        end = next((i for i in range(start + 1, len(lines)) if header.match(lines[i])), len(lines))
        live = re.compile(rf"^\s*{re.escape(key)}\s*=")
        commented = re.compile(rf"^\s*#\s*{re.escape(key)}\s*=")
        hit = next((i for i in range(start + 1, end) if live.match(lines[i])), None)
        if hit is None:
            hit = next((i for i in range(start + 1, end) if commented.match(lines[i])), None)
        if hit is not None:
            lines[hit] = _line(key, value)
        else:
            at = end
            while at > start + 1 and not lines[at - 1].strip():
                at -= 1  # keep the blank line that separates tables
            lines.insert(at, _line(key, value))
    return "\n".join(lines) + "\n"


def write_settings(changes: Changes, path: Path | None = None) -> dict[str, Any]:
    """Apply ``changes`` (``{(section, key): value}``) to the settings file and return the
    merged settings.  ``ConfigError`` listing every problem, and nothing written, when a value
    is out of range or of the wrong type."""
    p = config_path(path)
    problems = check_changes(changes, p)
    if problems:
        raise ConfigError(f"settings file {p}: " + "; ".join(problems))
    text = p.read_text(encoding="utf-8") if p.exists() else config_rules.default_toml()
    new = _edit(text, changes)
    tomllib.loads(new)  # never write a file the next start cannot read
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p, new)
    return config_rules.load_config(p)
