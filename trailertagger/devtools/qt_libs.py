"""Which shared libraries the Qt platform plugins cannot find (``ldd`` says "not found").

Qt loads ``platforms/libqxcb.so`` at start; when one of its libraries is missing it prints
"Could not load the Qt platform plugin "xcb"" and names the plugin, not the library, so a
fresh machine fails with a message that does not say what to install.  ``scripts/setup.sh``
runs ``python -m trailertagger.devtools.qt_libs`` after installing the apt packages and fails
naming the library; ``tests/gui/test_system_libs.py`` checks the same.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

# the plugins the app loads: X11 (a desktop), offscreen (tests, screenshots), SVG icons
PLUGINS = ("platforms/libqxcb.so", "platforms/libqoffscreen.so", "imageformats/libqsvg.so",
           "iconengines/libqsvgicon.so")


def qt_dir() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "Qt"


def unresolved(plugins: tuple[str, ...] = PLUGINS) -> dict[str, list[str]]:
    """``{plugin: [missing library, ...]}`` for each plugin with a library ``ldd`` cannot find."""
    root = qt_dir()
    ldd = shutil.which("ldd")
    if root is None or ldd is None:
        return {}
    out: dict[str, list[str]] = {}
    for rel in plugins:
        path = root / "plugins" / rel
        if not path.is_file():
            continue
        text = subprocess.run([ldd, str(path)], capture_output=True, text=True, check=False).stdout
        missing = sorted({line.split()[0] for line in text.splitlines() if "not found" in line})
        if missing:
            out[rel] = missing
    return out


def main() -> int:
    problems = unresolved()
    for plugin, libs in problems.items():
        print(f"Qt plugin {plugin} cannot load: missing {', '.join(libs)} "
              "(install the matching apt package in scripts/setup.sh)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
