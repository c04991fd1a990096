"""GUI fixtures: a real library in a tmp dir, a window over it with in-process processing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings  # noqa: E402

from tests.gui.support import SPEC  # noqa: E402
from trailertagger.core.app import LibrarySession  # noqa: E402
from trailertagger.core.jobs.worker import PoolOptions  # noqa: E402
from trailertagger.core.library.db import open_library  # noqa: E402


@pytest.fixture()
def lib(tmp_path: Path):
    lib = open_library(tmp_path / "library.sqlite3")
    yield lib
    lib.close()


@pytest.fixture()
def make_window(qtbot, lib, tmp_path: Path):
    """``make_window(workers=0, watch=False, **services_kwargs)`` → a shown MainWindow whose
    bridge processes with ``ThumbServices``; closed (workers stopped) after the test."""
    from trailertagger.gui.bridge import JobBridge
    from trailertagger.gui.main_window import MainWindow

    made = []

    def make(workers: int = 0, watch: bool = False, start: bool = True, **kwargs):  # noqa: ANN202
        opts = PoolOptions(workers=workers, services=SPEC,
                           services_kwargs={"real_probe": True, **kwargs},
                           settle_seconds=0.2, poll_seconds=0.1, heartbeat_seconds=0.3,
                           stop_grace_seconds=5.0)
        session = LibrarySession(lib)
        bridge = JobBridge(session, opts, watch=watch, rescan_seconds=None)
        win = MainWindow(session, bridge, settings=QSettings(str(tmp_path / "gui.ini"),
                                                             QSettings.Format.IniFormat))
        qtbot.addWidget(win)
        win.show()
        if start:
            bridge.start()
        made.append(win)
        return win

    yield make
    for win in made:
        win.close()
