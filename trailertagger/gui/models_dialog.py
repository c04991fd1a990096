"""The models dialog: every pretrained model with its status, source, size and licence (the
rule behind ``trailertagger models list``), and a Fetch button for downloadable ones that
downloads in the background with progress and Cancel (the store's CancelToken)."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..core.progress import CancelToken
from ..core.units import human_bytes
from .icons import icon

COLUMNS = ("Model", "Status", "Needed", "Source", "Size", "Licence")



class ModelsDialog(QDialog):
    fetchProgress = Signal(str, int, int)  # label, bytes done, total (0: unknown)
    fetchDone = Signal(object)  # ModelInfo, or the exception that stopped the download

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window_ = window
        self.app = window.app
        self.infos: list[Any] = []
        self.cancel_token: CancelToken | None = None
        self.fetching: str | None = None
        self.last_result: Any = None
        self.reads = self.loaded = 0  # reads of the models' state asked for / shown
        self.fetch_note = ""  # how the last download failed or was cancelled
        self.closed = False
        self.setWindowTitle("Models")
        self.setWindowIcon(icon("models"))
        self.resize(900, 460)
        v = QVBoxLayout(self)
        self.header = QLabel()
        self.header.setWordWrap(True)
        v.addWidget(self.header)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(24)
        h = self.table.horizontalHeader()
        h.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        h.setStretchLastSection(True)
        for col, w in enumerate((240, 80, 70, 80, 80)):
            self.table.setColumnWidth(col, w)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        v.addWidget(self.table, 1)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setMinimumHeight(48)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        v.addWidget(self.detail)
        row = QHBoxLayout()
        self.fetch_btn = QPushButton(icon("download"), "Fetch")
        self.fetch_btn.setToolTip("download the selected model into the user cache (verified, resumable)")
        self.fetch_btn.clicked.connect(self.fetch_selected)
        self.cancel_btn = QPushButton(icon("cancel"), "Cancel download")
        self.cancel_btn.clicked.connect(self.cancel_fetch)
        self.cancel_btn.setEnabled(False)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.bar.hide()
        row.addWidget(self.fetch_btn)
        row.addWidget(self.cancel_btn)
        row.addWidget(self.bar, 1)
        row.addStretch(1)  # the buttons keep their size while the bar is hidden
        v.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)
        self.fetchProgress.connect(self._progress)
        self.fetchDone.connect(self._done)
        self.reload()

    def reload(self) -> None:
        """Read the models' state off the GUI thread: the first look at a model file hashes
        it (hundreds of MB: seconds); later ones are answered by the store's verify cache."""
        self.reads += 1
        self.header.setText("Reading the models' state…")

        def show(result: tuple[list[Any], str]) -> None:
            if not self.closed:
                self._show(*result)

        def failed(err: BaseException) -> None:
            if not self.closed:
                self.header.setText(f"Cannot read the models' state: {err}")
                self.loaded += 1

        self.window_.bridge.run_task(lambda: (self.app.model_infos(), self.app.profile()),
                                     show, failed)

    def _show(self, infos: list[Any], profile: str) -> None:
        self.infos = infos
        missing = [i for i in self.infos if i.required and i.status != "ok"]
        self.header.setText(
            f"Profile <b>{profile}</b>: " + (f"{len(missing)} needed model(s) missing" if missing
                                              else "every needed model is installed")
            + ". Models resolve from the override folder, the user cache or an installed "
              "package; nothing is downloaded unless you press Fetch.")
        self.table.setRowCount(len(self.infos))
        for r, m in enumerate(self.infos):
            size = human_bytes(m.size) if m.size else (f"~{human_bytes(m.approx_size)}" if m.approx_size else "?")
            source = m.source or ("download" if m.downloadable else "—")
            cells = (m.id, m.status, "yes" if m.required else "", source, size, m.license or "?")
            for c, text in enumerate(cells):
                it = QTableWidgetItem(text)
                it.setData(Qt.ItemDataRole.UserRole, m.id)
                it.setToolTip(m.description or m.id)
                if c == 1:
                    it.setForeground(QColor("#1e8449" if m.status == "ok" else
                                            "#c0392b" if m.required else "#7f8c8d"))
                self.table.setItem(r, c, it)
        self._selection_changed()
        if self.fetch_note:  # how the last download ended stays in view
            self.detail.setText(self.fetch_note)
        self.loaded += 1

    def info(self, model_id: str) -> Any:
        return next(i for i in self.infos if i.id == model_id)

    def ready(self) -> bool:
        """Every read asked for is shown (tests and the screenshot script wait on it)."""
        return self.loaded >= self.reads

    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)

    def _selection_changed(self) -> None:
        mid = self.selected_id()
        m = self.info(mid) if mid else None
        if m is None:
            self.detail.setText("Select a model to see where it comes from.")
        else:
            where = m.path or m.error or ""
            self.detail.setText(f"<b>{m.id}</b> — {m.description}<br>used by: "
                                f"{', '.join(m.used_by) or '—'}; home: {m.homepage or '—'}<br>{where}")
        self.fetch_btn.setEnabled(bool(m and m.downloadable and m.status != "ok")
                                  and self.fetching is None)

    # -- fetching -----------------------------------------------------------------------------
    def fetch(self, model_id: str) -> None:
        """Download in a background thread; progress and the result come back as signals."""
        if self.fetching is not None:
            return
        self.fetching = model_id
        self.cancel_token = token = CancelToken()
        self.fetch_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.bar.setRange(0, 0)
        self.bar.setFormat(f"{model_id}: connecting…")
        self.bar.show()

        def work() -> None:
            try:
                result = self.app.fetch_model(
                    model_id, progress=lambda label, done, total: self.fetchProgress.emit(
                        str(label), int(done), int(total or 0)), cancel=token)
            except Exception as err:  # noqa: BLE001 - shown in the dialog
                self.fetchDone.emit(err)
                return
            self.fetchDone.emit(result)

        threading.Thread(target=work, name=f"fetch-{model_id}", daemon=True).start()

    def fetch_selected(self) -> None:
        mid = self.selected_id()
        if mid:
            self.fetch(mid)

    def cancel_fetch(self) -> None:
        if self.cancel_token is not None:
            self.cancel_token.cancel()
            self.bar.setFormat("cancelling…")

    def _progress(self, label: str, done: int, total: int) -> None:
        if total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * done / total))
            self.bar.setFormat(f"{label}: {human_bytes(done)} of {human_bytes(total)}")
        else:
            self.bar.setRange(0, 0)
            self.bar.setFormat(f"{label}: {human_bytes(done)}")

    def _done(self, result: Any) -> None:
        self.last_result = result
        mid, self.fetching = self.fetching, None
        self.cancel_btn.setEnabled(False)
        self.bar.hide()
        if isinstance(result, Exception):
            self.fetch_note = f"<b>{mid}</b>: {result}"
            self.detail.setText(self.fetch_note)
        else:
            self.fetch_note = ""
            self.window_.activity.setText(f"model {result.id}: {result.status} ({result.source})")
            self.window_.check_processing()
        self.reload()

    def reject(self) -> None:
        self.closed = True
        self.cancel_fetch()
        super().reject()
