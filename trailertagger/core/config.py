"""User settings in a TOML file in the user config folder.

Defaults live in code (``DEFAULTS``); the file holds only what the user changed, so a new
release's better default reaches users who never touched that key.  The file is created with
commented defaults on first use so users can find the knobs.
"""

from __future__ import annotations

import copy
import difflib
import logging
import math
import re
import sys
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .paths import app_dirs
from .runtime.memory import WORKER_BUDGET_MB
from .runtime.priority import DEFAULT_NICE

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
        # OCR's text detection on OpenVINO when installed (same numbers, ~3.5x faster on the
        # CPU); false: ONNX Runtime
        "openvino": True,
    },
    "models": {
        "override_dir": "",
        "allow_download": False,
    },
    "jobs": {
        # worker processes; "auto": one per core (at most 4), fewer when the memory available
        # does not hold that many at memory_per_worker_mb each; 0: in the app's own process
        "workers": "auto",
        "settle_seconds": 2.0,
        "rescan_minutes": 30,
        "max_attempts": 3,
        # MB one extracting worker may need at its peak: the pool starts fewer workers than
        # asked when that many would not fit in the free memory (0: no check)
        "memory_per_worker_mb": WORKER_BUDGET_MB,
        # worker processes run this much below the app's CPU priority (0 to 19; 0: the same),
        # so the window and the desktop stay responsive while videos are processed
        "nice": DEFAULT_NICE,
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
        # MB of scene pictures the detail pane keeps in the user cache (the strips of the
        # videos looked at least recently are deleted first; they are taken again if needed)
        "scene_cache_mb": 200,
    },
}

# The documented range of every numeric setting, checked when the file loads (README,
# "Settings").  Without a bound, ``workers = 99999999999999999999`` started processes until
# memory ran out and ``max_scenes = 0`` passed ``status`` only to fail every video later.
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("media", "scene_threshold"): (0.0, 1.0),
    ("media", "scene_analysis_width"): (8, 4096),
    ("media", "frame_max_side"): (16, 8192),
    ("media", "max_scenes"): (1, 10000),
    ("media", "audio_rate"): (8000, 192000),
    ("media", "max_duration_s"): (1, 7 * 24 * 3600),
    ("extract", "threads"): (0, 256),
    ("extract", "lanes"): (0, 64),
    ("jobs", "workers"): (0, 64),
    ("jobs", "settle_seconds"): (0, 3600),
    ("jobs", "rescan_minutes"): (0, 7 * 24 * 60),
    ("jobs", "max_attempts"): (1, 100),
    ("jobs", "memory_per_worker_mb"): (0, 1048576),
    ("jobs", "nice"): (0, 19),
    ("classify", "max_genres"): (1, 5),
    ("classify", "retrain_every"): (0, 100000),
    ("library", "scene_cache_mb"): (1, 1048576),
    # the sampling plan's keys (core/media/plan.py reads these)
    ("media", "full_max_s"): (60.0, 7200.0),
    ("media", "excerpt_count"): (2, 200),
    ("media", "excerpt_s"): (2.0, 120.0),
    ("media", "subtitle_max_lines"): (10, 5000),
}
# Numeric settings that also accept the word "auto" (their default): the value is then
# worked out from the machine (``jobs.worker.resolve_workers``).
AUTO_KEYS: frozenset[tuple[str, str]] = frozenset({("jobs", "workers")})


def is_auto(value: Any) -> bool:
    """Whether a setting of ``AUTO_KEYS`` (or a ``--workers`` argument) says ``"auto"``."""
    return isinstance(value, str) and value.strip().lower() == "auto"


# Settings that are read by other modules but have no default shown in the template.
EXTRA_KEYS: dict[str, frozenset[str]] = {
    "jobs": frozenset({"services", "services_kwargs", "stage_limits"}),
}
DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d{1,2})?)$")

log = logging.getLogger(__name__)
_warned: set[str] = set()


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
        for k, v in values.items():
            bounds = RANGES.get((section, k))
            auto = ', or "auto"' if (section, k) in AUTO_KEYS else ""
            note = f"  (range {_fmt(bounds[0])} to {_fmt(bounds[1])}{auto})" if bounds else ""
            lines.append(f"# {k} = {_toml_value(v)}{note}")
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
    for warning in config_warnings(user):
        if warning not in _warned:  # once per process, however often the file is read
            _warned.add(warning)
            log.warning("settings file %s: %s", path, warning)
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
            or_auto = ' or "auto"' if (section, key) in AUTO_KEYS else ""
            if or_auto:
                if is_auto(value):
                    continue
                default = 0  # otherwise a whole number, in its range
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, (int, float)):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                if ok and isinstance(default, int) and not isinstance(default, bool):
                    ok = isinstance(value, int) or float(value).is_integer()
                if ok and not math.isfinite(float(value)):
                    ok = False
                bounds = RANGES.get((section, key))
                if ok and bounds is not None and not bounds[0] <= value <= bounds[1]:
                    problems.append(f"[{section}] {key} = {value!r} is out of range: it must be "
                                    f"from {_fmt(bounds[0])} to {_fmt(bounds[1])}{or_auto}")
                    continue
                if ok and bounds is None and value < 0:
                    problems.append(f"[{section}] {key} = {value!r} must not be negative")
                    continue
            else:
                ok = isinstance(value, type(default))
            if not ok:
                problems.append(f"[{section}] {key} = {value!r} must be "
                                f"{_type_name(default)}{or_auto}")
                continue
            if (section, key) == ("extract", "device") and not DEVICE_RE.match(value):
                problems.append(f"[extract] device = {value!r} is not a device: use \"auto\", "
                                "\"cpu\", \"cuda\" or \"cuda:N\"")
    return problems


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def config_warnings(user: dict[str, Any]) -> list[str]:
    """Things that are not errors but are probably mistakes: unknown sections and keys (a
    misspelled key is silently a default otherwise), named with the closest known key, and
    an ``override_dir`` that does not exist."""
    out: list[str] = []
    for section, values in user.items():
        if section not in DEFAULTS:
            near = difflib.get_close_matches(section, list(DEFAULTS), n=1)
            out.append(f"unknown section [{section}]"
                       + (f"; did you mean [{near[0]}]?" if near else " (ignored)"))
            continue
        if not isinstance(values, dict):
            continue
        known = list(DEFAULTS[section]) + sorted(EXTRA_KEYS.get(section, ()))
        for key in values:
            if key in known:
                continue
            near = difflib.get_close_matches(key, known, n=1)
            if not near:  # maybe it belongs to another section
                here = [f"[{sec}] {k}" for sec, vals in DEFAULTS.items() for k in vals if k == key]
                hint = f"; it belongs in {here[0]}" if here else " (ignored)"
            else:
                hint = f"; did you mean {near[0]}?"
            out.append(f"unknown key [{section}] {key}{hint}")
    override = (user.get("models") or {}).get("override_dir") if isinstance(
        user.get("models"), dict) else None
    if isinstance(override, str) and override and not Path(override).expanduser().is_dir():
        out.append(f"[models] override_dir = {override!r} does not exist (or is not a folder); "
                   "models are looked up in the user cache and installed packages only")
    return out
