"""``trailertagger gui --smoke-test FOLDER`` (hidden): the built app's end-to-end check.

The real window, bridge and worker processes: add ``FOLDER`` as the user would (File > Add
folder), wait until every video in it has genres from the head, export NFO files beside them,
quit.  Exit code 0 when every video was tagged and has its NFO, 1 otherwise (a line on stderr
says what was missing), within ``timeout`` seconds.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ..core.app import Selection


class SmokeDriver:
    def __init__(self, window: Any, folder: Path, timeout: float = 600.0) -> None:
        self.window = window
        self.app = window.app
        self.folder = Path(folder).resolve()
        self.deadline = time.monotonic() + timeout
        self.code: int | None = None
        self.timer = QTimer()
        self.timer.timeout.connect(self.tick)

    def start(self) -> None:
        QTimer.singleShot(0, lambda: self.window.add_folder(self.folder))
        self.timer.start(500)

    def finish(self, code: int, message: str) -> None:
        self.timer.stop()
        self.code = code
        print(f"smoke test: {message}", file=sys.stderr if code else sys.stdout, flush=True)
        self.window.close()
        QApplication.instance().exit(code)

    def tick(self) -> None:
        if self.code is not None:
            return
        try:
            self._tick()
        except Exception as err:  # noqa: BLE001 - any surprise fails the smoke test, loudly
            self.finish(1, f"error: {type(err).__name__}: {err}")

    def _tick(self) -> None:
        try:
            records = list(self.app.records(Selection(paths=(str(self.folder),))))
        except Exception:  # noqa: BLE001 - the folder is not in the library yet
            records = []
        failed = [r for r in records if r.status == "failed"]
        if failed:
            self.finish(1, f"{failed[0].path} failed: {failed[0].error_reason}")
            return
        done = [r for r in records if r.classified_at is not None]
        if records and len(done) == len(records):
            report = self.app.export(Selection(paths=(str(self.folder),)), "nfo")
            nfos = [Path(r.path).with_suffix(".nfo") for r in records]
            absent = [str(n) for n in nfos if not n.is_file()]
            if absent or report.failed:
                self.finish(1, f"NFO export incomplete: {absent or report.failed}")
                return
            tags = "; ".join(f"{Path(r.path).name}: {', '.join(r.genres) or '(none above threshold)'}"
                             for r in records)
            self.finish(0, f"{len(records)} video(s) tagged and exported ({tags})")
            return
        if time.monotonic() > self.deadline:
            self.finish(1, f"timed out: {len(done)} of {len(records)} video(s) tagged")
