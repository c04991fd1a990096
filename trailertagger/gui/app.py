"""Starting the desktop app: QApplication, library, bridge, window; Ctrl-C closes cleanly."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ..core.app import LibrarySession, pool_options
from ..core.app.settings_file import load_settings
from .bridge import JobBridge
from .icons import app_icon
from .main_window import APP, ORG, MainWindow


def make_bridge(app: LibrarySession, workers: int | None = None,
                watch: bool = True) -> JobBridge:
    """The bridge for ``app`` with the ``[jobs]``/``[extract]`` settings of its config."""
    cfg = app.cfg
    opts = pool_options(cfg, workers=workers)  # reads [jobs] settle_seconds too
    minutes = float(cfg.get("jobs", {}).get("rescan_minutes", 30) or 0)
    return JobBridge(app, opts, watch=watch, rescan_seconds=minutes * 60 or None,
                     profile=app.profile())


def run_app(library: Path | None = None, workers: int | None = None, watch: bool = True,
            argv: list[str] | None = None, smoke_test: Path | None = None,
            smoke_timeout: float = 600.0) -> int:
    """Run the app until its window closes; returns the exit code (130 after Ctrl-C).
    ``smoke_test``: add that folder, wait for its genres, export NFO, quit (``gui.smoke``)."""
    # a settings file the app cannot use: run on defaults and say why in a dialog, instead of
    # exit 2 with a message on a terminal nobody looks at
    cfg, config_error = load_settings()
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    app.setDesktopFileName("trailertagger")  # matches resources/trailertagger.desktop
    app.setWindowIcon(app_icon())
    session = LibrarySession.open(library, cfg)
    bridge = make_bridge(session, workers, watch)
    window = MainWindow(session, bridge)
    if config_error:
        window.show_config_error(config_error)
    interrupted = [False]

    def on_sigint(*_: Any) -> None:
        interrupted[0] = True
        window.close()

    previous = signal.signal(signal.SIGINT, on_sigint)
    ticker = QTimer()  # lets Python run its signal handlers while Qt's loop runs
    ticker.timeout.connect(lambda: None)
    ticker.start(200)
    driver = None
    try:
        window.show()
        window.start_processing()  # starts the workers, or says once which models are missing
        if smoke_test is not None:
            from .smoke import SmokeDriver

            driver = SmokeDriver(window, smoke_test, smoke_timeout)
            driver.start()
        else:
            from .first_run import show_once

            show_once(window.settings, window)
        code = app.exec()
        if driver is not None and driver.code is not None:
            code = driver.code
    finally:
        signal.signal(signal.SIGINT, previous)
        ticker.stop()
        bridge.shutdown()
        session.close()
    return 130 if interrupted[0] else int(code)
