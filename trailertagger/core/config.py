"""User settings in a TOML file in the user config folder.

Defaults live in code (``DEFAULTS``); the file holds only what the user changed, so a new
release's better default reaches users who never touched that key.  The file is created with
commented defaults on first use so users can find the knobs.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .paths import app_dirs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULTS: dict[str, Any] = {
    "media": {
        "scene_threshold": 0.27,
        "scene_analysis_width": 160,
        "frame_max_side": 960,
        "max_scenes": 160,
        "audio_rate": 16000,
        "max_duration_s": 4 * 3600,
        # Sampling plan (core/media/plan.py): videos up to full_max_s seconds (60-7200) are
        # read whole; longer ones as excerpt_count (2-200) excerpts of excerpt_s seconds
        # (2-120) spread over the running time.
        "full_max_s": 480.0,
        "excerpt_count": 15,
        "excerpt_s": 10.0,
        # Audio track: "" = the container's default track; else a language ("en", "fre").
        "audio_language": "",
        # Subtitle text (embedded text streams, sidecar .srt/.ass/.vtt) replaces ASR.
        "subtitles": True,
        "subtitle_language": "en",
        "subtitle_max_lines": 150,
    },
    "extract": {
        "profile": "default",
        "device": "cpu",
        "threads": 0,
        "lanes": 0,
    },
    "models": {
        "override_dir": "",
        "allow_download": False,
    },
    "jobs": {
        "workers": 1,
        "settle_seconds": 2.0,
        "rescan_minutes": 30,
    },
    "classify": {
        # the cold-start head emits at most this many genres per video (1 to 5; a film has 1
        # to 3, 2.4 on average in the seed's 26,390 labelled trailers)
        "max_genres": 3,
        # retrain the personal head after this many new labels (0: only when asked); see
        # README "A head that learns" for why 20
        "retrain_every": 20,
    },
    "library": {
        # read genres from Kodi/Jellyfin NFO files beside each video when scanning
        "import_nfo": False,
    },
}

RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("classify", "max_genres"): (1, 5),
}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def default_toml() -> str:
    """The commented template written on first run."""
    lines = ["# trailertagger settings. Uncomment a key to change it; defaults are shown.", ""]
    for section, values in DEFAULTS.items():
        lines.append(f"[{section}]")
        lines.extend(f"# {k} = {_toml_value(v)}" for k, v in values.items())
        lines.append("")
    return "\n".join(lines)


def load_config(path: Path | None = None, create: bool = True) -> dict[str, Any]:
    """Return the merged settings; a broken file is an error naming the file, never ignored."""
    path = path or app_dirs().config_file
    if not path.exists():
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(default_toml(), encoding="utf-8")
            except OSError:
                pass  # a read-only home still runs on defaults
        return copy.deepcopy(DEFAULTS)
    try:
        user = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read settings file {path}: {err}") from err
    problems = validate(user)
    if problems:
        raise ConfigError(f"settings file {path}: " + "; ".join(problems)
                          + " (fix or delete the file; defaults are listed in comments when it is "
                            "re-created)")
    return _merge(DEFAULTS, user)


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__)


def validate(user: dict[str, Any]) -> list[str]:
    """Type errors in a user's settings, each naming ``[section] key``.

    Only keys with a default are checked (their type must match the default's; an int is
    accepted where a float is expected): extra keys other modules read stay allowed.  Without
    this a wrong type (``workers = "two"``) surfaces later as a traceback deep in a worker.
    """
    problems: list[str] = []
    for section, defaults in DEFAULTS.items():
        if section not in user:
            continue
        values = user[section]
        if not isinstance(values, dict):
            problems.append(f"'{section}' must be a [{section}] table, not {_type_name(values)}")
            continue
        for key, default in defaults.items():
            if key not in values:
                continue
            value = values[key]
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, (int, float)):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                if ok and isinstance(default, int) and not isinstance(default, bool):
                    ok = isinstance(value, int) or float(value).is_integer()
                if ok and value < 0:
                    problems.append(f"[{section}] {key} = {value!r} must not be negative")
                    continue
            else:
                ok = isinstance(value, type(default))
            if not ok:
                problems.append(f"[{section}] {key} = {value!r} must be {_type_name(default)}")
                continue
            lo_hi = RANGES.get((section, key))
            if lo_hi is not None and not lo_hi[0] <= value <= lo_hi[1]:
                problems.append(f"[{section}] {key} = {value!r} must be between {lo_hi[0]} and "
                                f"{lo_hi[1]}")
    return problems
