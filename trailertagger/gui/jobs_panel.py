"""The jobs panel: the queue per stage, each running job with its progress, failed and
cancelled jobs with their reasons, and the controls (pause/resume, cancel, retry one,
retry all failed).

Data comes from ``LibrarySession.jobs_overview()`` (read on the bridge's task thread, at
most once a second while the panel is visible) and from the bridge's job events for the
running jobs' progress in between.  A job's bar never moves back: see ``ProgressTracker``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.app import events as ev
from ..core.app.jobs_view import JobsOverview, pause_note
from .icons import icon


class ProgressTracker:
    """The shown fraction of each running job's stage, never lower than what was shown.

    Why a clamp here as well as in the worker (``StageContext.reporter`` folds the stage's
    sub-steps into one rising fraction): events of a job cross two processes and a pipe
    while the overview read comes from the database, which only stores 0 or 1 for a stage,
    so a late read could otherwise pull a bar back.  A new stage starts again from 0."""

    def __init__(self) -> None:
        self._shown: dict[int, tuple[str, float]] = {}

    def update(self, job_id: int, stage: str | None, fraction: float | None) -> float:
        stage = stage or ""
        prev_stage, prev = self._shown.get(job_id, (stage, 0.0))
        if prev_stage != stage:
            prev = 0.0
        value = max(prev, min(1.0, max(0.0, fraction or 0.0)))
        self._shown[job_id] = (stage, value)
        return value

    def get(self, job_id: int, stage: str) -> float:
        prev_stage, value = self._shown.get(job_id, (stage, 0.0))
        return value if prev_stage == stage else 0.0

    def forget(self, job_id: int | None) -> None:
        self._shown.pop(job_id, None)  # type: ignore[arg-type]

    def keep_only(self, job_ids: set[int]) -> None:
        for jid in [j for j in self._shown if j not in job_ids]:
            del self._shown[jid]


def _item(text: str, data: Any = None, tip: str = "") -> QTableWidgetItem:
    it = QTableWidgetItem(text)
    it.setFlags(it.flags() & ~Qt.ItemFlag.ItemIsEditable)
    if data is not None:
        it.setData(Qt.ItemDataRole.UserRole, data)
    if tip:
        it.setToolTip(tip)
    return it


class JobsPanel(QWidget):
    """Shows the queue and controls it through the window's bridge and session."""

    message = Signal(str)  # feedback for the status bar ("3 failed job(s) queued again")
    changed = Signal(list)  # video ids whose rows should refresh now (after cancel/retry)

    def __init__(self, app: Any, bridge: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("jobs-panel")
        self.app, self.bridge = app, bridge
        self.overview = JobsOverview()
        self.tracker = ProgressTracker()
        self._reading = self._again = False
        self._closing = False
        self._build()
        bridge.jobEvent.connect(self.on_job_event)
        self._timer = QTimer(self, interval=1000)
        self._timer.timeout.connect(lambda: self.isVisible() and self.refresh())
        self._timer.start()

    # -- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        v = QVBoxLayout(self)
        v.setContentsMargins(6, 6, 6, 6)
        top = QHBoxLayout()
        self.pause_btn = QPushButton(icon("pause"), "Pause")
        self.pause_btn.setToolTip("stop starting new work; a running job finishes its current stage")
        self.pause_btn.clicked.connect(self.toggle_pause)
        top.addWidget(self.pause_btn)
        self.note = QLabel("idle")
        self.note.setWordWrap(True)
        top.addWidget(self.note, 1)
        v.addLayout(top)

        self.stages = QTableWidget(0, 5)
        self.stages.setHorizontalHeaderLabels(["Stage", "Queued", "Running", "Failed", "At once"])
        self.stages.verticalHeader().hide()
        self.stages.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stages.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.stages.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.stages.verticalHeader().setDefaultSectionSize(24)
        self.stages.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stages.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.stages.setFixedHeight(self.stages.horizontalHeader().sizeHint().height() + 3 * 24 + 4)
        v.addWidget(self.stages)

        v.addWidget(QLabel("<b>Running</b>"))
        self.running = QTableWidget(0, 3)
        self.running.setHorizontalHeaderLabels(["Video", "Stage", "Progress"])
        self.running.verticalHeader().hide()
        self.running.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        h = self.running.horizontalHeader()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        h.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        h.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        self.running.setColumnWidth(2, 110)
        self.running.setMinimumHeight(80)
        self.running.verticalHeader().setDefaultSectionSize(24)
        self.running.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        v.addWidget(self.running, 2)
        row = QHBoxLayout()
        self.cancel_btn = QPushButton(icon("cancel"), "Cancel")
        self.cancel_btn.setToolTip("cancel the selected running job(s); it stops at its next step")
        self.cancel_btn.clicked.connect(self.cancel_selected)
        row.addWidget(self.cancel_btn)
        row.addStretch(1)
        v.addLayout(row)

        v.addWidget(QLabel("<b>Failed and cancelled</b>"))
        self.failed = QTableWidget(0, 2)  # the stage goes with the reason: a narrow pane
        self.failed.setHorizontalHeaderLabels(["Video", "Why"])
        self.failed.verticalHeader().hide()
        self.failed.verticalHeader().setDefaultSectionSize(24)
        self.failed.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.failed.setWordWrap(False)
        self.failed.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        h = self.failed.horizontalHeader()
        h.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        v.addWidget(self.failed, 3)
        row = QHBoxLayout()
        self.retry_btn = QPushButton(icon("retry"), "Retry selected")
        self.retry_btn.clicked.connect(self.retry_selected)
        self.retry_all_btn = QPushButton(icon("retry"), "Retry all failed")
        self.retry_all_btn.clicked.connect(self.retry_all)
        row.addWidget(self.retry_btn)
        row.addWidget(self.retry_all_btn)
        row.addStretch(1)
        v.addLayout(row)

    # -- reading -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read the overview in the background (one read at a time; asked again while one
        runs, it runs once more after)."""
        if self._closing or self.bridge.stopped:
            return
        if self._reading:
            self._again = True
            return
        self._reading = True
        self.bridge.run_task(self.app.jobs_overview, self._read_done,
                             lambda _err: self._read_back())

    def _read_back(self) -> None:
        self._reading = False
        if self._again:
            self._again = False
            self.refresh()

    def _read_done(self, overview: JobsOverview) -> None:
        self._read_back()
        if not self._closing:
            self.show_overview(overview)

    def show_overview(self, o: JobsOverview) -> None:
        self.overview = o
        self.stages.setRowCount(len(o.stages))
        for r, s in enumerate(o.stages):
            for c, val in enumerate((s.stage, s.queued, s.running, s.failed, s.limit)):
                it = _item(str(val))
                if c:
                    it.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.stages.setItem(r, c, it)
        self.tracker.keep_only({j.job_id for j in o.running})
        selected = set(self._selected(self.running))
        self.running.setRowCount(len(o.running))
        for r, j in enumerate(o.running):
            self.running.setItem(r, 0, _item(Path(j.path).name, j.job_id, j.path))
            self.running.setItem(r, 1, _item("cancelling…" if j.cancelling else j.stage))
            bar = self.running.cellWidget(r, 2)
            if not isinstance(bar, QProgressBar):
                bar = QProgressBar()
                bar.setRange(0, 1000)
                bar.setTextVisible(True)
                self.running.setCellWidget(r, 2, bar)
            frac = self.tracker.update(j.job_id, j.stage, j.progress)
            bar.setValue(int(frac * 1000))
            bar.setFormat(f"{frac:.0%}")
            bar.setProperty("job_id", j.job_id)
            if j.job_id in selected:
                self.running.selectRow(r)
        selected = set(self._selected(self.failed))
        self.failed.setRowCount(len(o.failed))
        for r, f in enumerate(o.failed):
            when = time.strftime("%H:%M", time.localtime(f.finished_at)) if f.finished_at else ""
            why = f"{f.stage}: {f.reason}" if f.status == "failed" else f"cancelled at {f.stage}"
            self.failed.setItem(r, 0, _item(Path(f.path).name, f.job_id, f.path))
            it = _item(why, None, f"{f.status} at {f.stage} {when}: {f.reason}\n{f.path}")
            if f.status == "failed":
                it.setForeground(QColor("#c0392b"))
            self.failed.setItem(r, 1, it)
            if f.job_id in selected:
                self.failed.selectRow(r)
        self.pause_btn.setText("Resume" if o.paused else "Pause")
        self.pause_btn.setIcon(icon("resume" if o.paused else "pause"))
        self.note.setText(pause_note(o))
        self.retry_all_btn.setEnabled(o.failed_count > 0)

    def progress_of(self, job_id: int) -> float:
        """The fraction shown for a running job (tests read it)."""
        for r in range(self.running.rowCount()):
            bar = self.running.cellWidget(r, 2)
            if isinstance(bar, QProgressBar) and bar.property("job_id") == job_id:
                return bar.value() / 1000
        return 0.0

    def on_job_event(self, e: ev.JobEvent) -> None:
        if e.job_id is None:
            if e.kind in (ev.PAUSED, ev.RESUMED, ev.IDLE):
                self.refresh()
            return
        if e.kind in (ev.PROGRESS, ev.STARTED):
            frac = self.tracker.update(e.job_id, e.stage, e.fraction)
            for r in range(self.running.rowCount()):
                bar = self.running.cellWidget(r, 2)
                if isinstance(bar, QProgressBar) and bar.property("job_id") == e.job_id:
                    bar.setValue(int(frac * 1000))
                    bar.setFormat(f"{frac:.0%}")
            if e.kind == ev.STARTED:
                self.refresh()
        else:
            if e.kind in ev.TERMINAL:
                self.tracker.forget(e.job_id)
            self.refresh()

    # -- controls ----------------------------------------------------------------------------
    @staticmethod
    def _selected(table: QTableWidget) -> list[int]:
        rows = sorted({i.row() for i in table.selectionModel().selectedRows()})
        out = []
        for r in rows:
            it = table.item(r, 0)
            if it is not None:
                out.append(int(it.data(Qt.ItemDataRole.UserRole)))
        return out

    def _video_ids(self, job_ids: list[int]) -> list[int]:
        by_job = {j.job_id: j.video_id for j in self.overview.running}
        by_job.update({f.job_id: f.video_id for f in self.overview.failed})
        return [by_job[j] for j in job_ids if j in by_job]

    def toggle_pause(self) -> None:
        pause = not self.overview.paused

        def done(_r: Any) -> None:
            self.message.emit("pausing: the running job finishes its current stage, then "
                              "nothing new starts" if pause and self.overview.running
                              else "processing paused" if pause else "processing resumed")
            self.refresh()

        self.bridge.run_task(self.bridge.pause if pause else self.bridge.resume, done)

    def cancel_jobs(self, job_ids: list[int]) -> None:
        if not job_ids:
            return
        videos = self._video_ids(job_ids)

        def done(change: Any) -> None:
            self.message.emit(f"{change.count} job(s) cancelled; a running one stops at its "
                              "next step")
            self.changed.emit(videos)
            self.refresh()

        self.bridge.run_task(lambda: self.app.cancel_jobs(job_ids), done)

    def cancel_selected(self) -> None:
        self.cancel_jobs(self._selected(self.running))

    def retry_jobs(self, job_ids: list[int] | None) -> None:
        """Queue these failed or cancelled jobs again (``None``: every failed job)."""
        videos = self._video_ids(job_ids) if job_ids else []

        def work() -> Any:
            change = self.app.retry(job_ids, include_cancelled=job_ids is not None)
            self.bridge.wake()
            return change

        def done(change: Any) -> None:
            what = "failed job(s)" if job_ids is None else "job(s)"
            skipped = f"; {len(change.skipped)} not retried ({change.skipped[0][1]})" \
                if change.skipped else ""
            self.message.emit(f"{change.count} {what} queued again{skipped}")
            self.changed.emit(videos)
            self.refresh()

        self.bridge.run_task(work, done)

    def retry_selected(self) -> None:
        ids = self._selected(self.failed)
        if ids:
            self.retry_jobs(ids)
        else:
            self.message.emit("select a failed job to retry it")

    def retry_all(self) -> None:
        self.retry_jobs(None)

    def close_panel(self) -> None:
        self._closing = True
        self._timer.stop()
