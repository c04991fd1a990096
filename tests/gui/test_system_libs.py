"""The Qt plugins the app loads find every shared library (setup installs them)."""

from __future__ import annotations

import shutil
import sys

import pytest

from trailertagger.devtools import qt_libs


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None,
                    reason="ldd is Linux's")
def test_xcb_platform_plugin_has_every_library() -> None:
    root = qt_libs.qt_dir()
    assert root is not None and (root / "plugins" / "platforms" / "libqxcb.so").is_file()
    assert qt_libs.unresolved() == {}, "apt packages missing from scripts/setup.sh"


def test_a_missing_library_is_named(tmp_path, monkeypatch) -> None:
    """The check reads ldd's "not found" lines: a plugin linked to a library that does not
    exist is reported with that library's name."""
    plugins = tmp_path / "Qt" / "plugins" / "platforms"
    plugins.mkdir(parents=True)
    (plugins / "libqxcb.so").write_bytes(b"")
    fake_ldd = tmp_path / "ldd"
    fake_ldd.write_text("#!/bin/sh\necho '\tlibxcb-icccm.so.4 => not found'\n"
                        "echo '\tlibc.so.6 => /lib/libc.so.6 (0x1)'\n")
    fake_ldd.chmod(0o755)
    monkeypatch.setattr(qt_libs, "qt_dir", lambda: tmp_path / "Qt")
    monkeypatch.setattr(qt_libs.shutil, "which", lambda _n: str(fake_ldd))
    assert qt_libs.unresolved() == {"platforms/libqxcb.so": ["libxcb-icccm.so.4"]}
