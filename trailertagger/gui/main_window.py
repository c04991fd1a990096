"""The main window: filters and folders on the left, the library table, the detail panel.

Every write (correction, undo, folder scan, re-run, export) runs through
``JobBridge.run_task`` so the GUI thread never waits for the database's write lock or the
file system; reads are cheap and run here (see ``library_model``).  Background progress
arrives as ``JobBridge.jobEvent`` on the GUI thread and is coalesced by a short timer, so a
burst of events costs one refresh per 250 ms.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QByteArray,
    QItemSelection,
    QItemSelectionModel,
    QSettings,
    Qt,
    QTimer,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QKeySequence,
    QUndoCommand,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..core.app import (
    Edit,
    ExportOptions,
    GenreChange,
    LibrarySession,
    Selection,
    VideoRecord,
    writers,
)
from ..core.app import events as ev
from ..core.genres import GENRES
from ..core.paths import app_dirs
from .bridge import JobBridge
from .detail import DetailPanel, GenreChipDelegate
from .library_model import LibraryFilter, LibraryTableModel

ORG, APP = "trailertagger", "trailertagger"


class BackgroundRead:
    """A read for the window that runs on the bridge's task thread, one at a time: asked
    for again while it runs, it runs once more when it is back, so the newest state is
    shown and a burst of requests costs two reads.  ``show(result)`` runs on the GUI thread."""

    def __init__(self, window: MainWindow, read: Callable[[], Any],
                 show: Callable[[Any], None]) -> None:
        self.window, self.read, self.show = window, read, show
        self.running = self.again = False

    def __call__(self) -> None:
        if self.window._closing:
            return
        if self.running:
            self.again = True
            return
        self.running = True
        self.window.bridge.run_task(self.read, self._done, lambda _err: self._back())

    def _done(self, result: Any) -> None:
        self._back()
        if not self.window._closing:
            self.show(result)

    def _back(self) -> None:
        self.running = False
        if self.again and not self.window._closing:
            self.again = False
            self()


class CorrectionCommand(QUndoCommand):
    """One user correction on the undo stack.  ``redo`` applies it and keeps the core's
    ``Edit``; ``undo`` hands that ``Edit`` back to the session.  Both run on the bridge's
    single interactive thread, so they execute in exactly the order the user asked."""

    def __init__(self, window: MainWindow, ids: list[int], changes: list[GenreChange]) -> None:
        text = " ".join(f"{c.op}{c.genre}" for c in changes)
        super().__init__(f"{text} on {len(ids)} video{'s' if len(ids) != 1 else ''}")
        self.window, self.ids, self.changes = window, ids, changes
        self.edit: Edit | None = None

    def redo(self) -> None:
        def work() -> None:
            self.edit = self.window.app.correct(self.ids, self.changes)
        self.window.write(work, self.ids)

    def undo(self) -> None:
        def work() -> None:
            if self.edit is not None:
                self.window.app.undo(self.edit)
        self.window.write(work, self.ids)


class MainWindow(QMainWindow):
    # training runs on its own thread; these signals bring its progress to the GUI thread
    trainProgress = Signal(str, int, int)
    trainDone = Signal(object)  # PersonalHeadReport, or the exception that stopped it

    def __init__(self, app: LibrarySession, bridge: JobBridge, *,
                 settings: QSettings | None = None) -> None:
        super().__init__()
        self.app = app
        self.bridge = bridge
        # window geometry only (settings proper live in the TOML file), beside that file so
        # TRAILERTAGGER_HOME keeps portable installs and tests away from the user's folders
        self.settings = settings or QSettings(str(app_dirs().config / "gui.ini"),
                                              QSettings.Format.IniFormat)
        self.setWindowTitle(f"trailertagger — {app.path}")
        self.undo_stack = QUndoStack(self)
        self.model = LibraryTableModel(app, self)
        self._dirty: set[int] = set()
        self._reload_pending = False
        self._batch_done = 0
        self._closing = False
        self._read_counts = BackgroundRead(self, app.genre_counts, self._show_genre_counts)
        self._read_status = BackgroundRead(self, self._status_now, self._show_status)
        self._read_folders = BackgroundRead(self, self._folders_now, self._show_folders)
        self._build()
        self._actions()
        bridge.jobEvent.connect(self.on_job_event)
        bridge.taskError.connect(self.report_error)
        self._refresh_timer = QTimer(self, singleShot=True, interval=250)
        self._refresh_timer.timeout.connect(self._apply_refresh)
        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(self.apply_filter)
        self._status_timer = QTimer(self, interval=1000)
        self._status_timer.timeout.connect(self.refresh_status)
        self._status_timer.start()
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 820)
        state = self.settings.value("window/splitter")
        if isinstance(state, QByteArray):
            self.splitter.restoreState(state)
        self.model.reload()
        self.refresh_folders()
        self.refresh_genre_counts(sync=True)
        self.refresh_status()
        self._training: threading.Thread | None = None
        self.train_config: Any = None  # None: the defaults of train --from-library
        self.trainProgress.connect(self._train_progress)
        self.trainDone.connect(self._train_done)
        self.refresh_head()

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(6, 6, 6, 6)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search titles and paths…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        lv.addWidget(self.search)
        box = QGroupBox("Genres (videos must have all checked)")
        bl = QVBoxLayout(box)
        self.genre_list = QListWidget()
        for g in GENRES:
            item = QListWidgetItem(g)
            item.setData(Qt.ItemDataRole.UserRole, g)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.genre_list.addItem(item)
        self.genre_list.itemChanged.connect(lambda _i: self.apply_filter())
        bl.addWidget(self.genre_list)
        lv.addWidget(box, 3)
        show = QGroupBox("Show only")
        sl = QVBoxLayout(show)
        self.only = {}
        for key, label in (("failed", "Failed"), ("missing", "Missing files"),
                           ("corrected", "Corrected by hand"), ("stale", "Stale (older model)"),
                           ("review", "Needs review (a label would help most)")):
            cb = QCheckBox(label)
            cb.toggled.connect(lambda _on: self.apply_filter())
            sl.addWidget(cb)
            self.only[key] = cb
        lv.addWidget(show)
        folders = QGroupBox("Watched folders")
        fl = QVBoxLayout(folders)
        self.folder_list = QListWidget()
        fl.addWidget(self.folder_list)
        row = QHBoxLayout()
        add = QPushButton("Add folder…")
        add.clicked.connect(self.choose_folder)
        self.remove_btn = QPushButton("Remove")
        self.remove_btn.clicked.connect(self.remove_selected_folder)
        row.addWidget(add)
        row.addWidget(self.remove_btn)
        fl.addLayout(row)
        lv.addWidget(folders, 1)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(LibraryTableModel.TITLE, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(26)
        self.table.setWordWrap(False)
        self.table.setItemDelegateForColumn(LibraryTableModel.GENRES, GenreChipDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in ((0, 220), (1, 300), (2, 170), (3, 70)):
            self.table.setColumnWidth(col, width)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.show_current())
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self.show_current())
        self.table.doubleClicked.connect(lambda _i: self.open_location())

        self.detail = DetailPanel()
        self.detail.changeRequested.connect(self.correct_selected)
        scroll = QScrollArea()
        scroll.setWidget(self.detail)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(380)

        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([250, 750, 400])
        self.setCentralWidget(self.splitter)

        self.counts_label = QLabel()
        self.activity = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        sb = self.statusBar()
        sb.addWidget(self.counts_label)
        sb.addWidget(self.activity, 1)
        sb.addPermanentWidget(self.progress)
        self.train_bar = QProgressBar()
        self.train_bar.setMaximumWidth(220)
        self.train_bar.setTextVisible(True)
        self.train_bar.hide()
        sb.addPermanentWidget(self.train_bar)

    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        a = QAction(text, self)
        a.triggered.connect(lambda *_: slot())
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
        return a

    def _actions(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self.act_add = self._action("&Add folder…", self.choose_folder, "Ctrl+O",
                                    "watch a folder and process its videos")
        f.addAction(self.act_add)
        f.addAction(self._action("&Rescan folders", self.rescan, "F5"))
        self.export_menu = f.addMenu("&Export")
        # built from the writer registry each time it opens: a format registered by a
        # plugin after start-up is listed too
        self.export_menu.aboutToShow.connect(self._fill_export_menu)
        self._fill_export_menu()
        f.addAction(self._action("Open &settings file", self.open_settings,
                                 tip="settings live in a TOML file; restart to apply"))
        f.addSeparator()
        f.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))
        e = mb.addMenu("&Edit")
        self.act_undo = self.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.act_redo = self.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcut(QKeySequence.StandardKey.Redo)
        e.addAction(self.act_undo)
        e.addAction(self.act_redo)
        e.addSeparator()
        e.addAction(self._action("Select &all", self.table.selectAll, QKeySequence.StandardKey.SelectAll))
        e.addAction(self._action("&Find", self.search.setFocus, QKeySequence.StandardKey.Find))
        lib = mb.addMenu("&Library")
        self.act_rerun = self._action("Re-run classification for &selected", self.rerun_selected,
                                      "Ctrl+R", "replaces only automatic genres; corrections stay")
        self.act_rerun_all = self._action("Re-run classification for &all", self.rerun_all)
        self.act_rerun_stale = self._action(
            "Re-run classification for s&tale", self.rerun_stale,
            tip="videos never classified, or classified by another genre head than the active one")
        self.act_retry = self._action("Re&try failed", self.retry_failed)
        self.act_pause = self._action("&Pause processing", self.toggle_pause, "Ctrl+P")
        self.act_pause.setCheckable(True)
        self.act_open = self._action("&Open file location", self.open_location, "Ctrl+L")
        self.act_cancel = self._action("&Cancel processing of selected", self.cancel_selected)
        self.act_purge = self._action("Erase &missing videos…", self.purge_missing,
                                      tip="erase rows whose file is gone (selected, or all)")
        self.act_train = self._action(
            "&Train personal head", self.train_head,
            tip="learn from your labels and corrections; activated only if it measures better")
        for a in (self.act_rerun, self.act_rerun_all, self.act_rerun_stale, self.act_retry,
                  self.act_pause, self.act_cancel, self.act_open, self.act_purge, self.act_train):
            lib.addAction(a)
        lib.addSeparator()
        self.heads_menu = lib.addMenu("Genre &head")
        self.heads_menu.aboutToShow.connect(self._fill_heads_menu)
        self._fill_heads_menu()
        # the same actions on the table's context menu
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for a in (self.act_open, self.act_rerun, self.act_cancel, self.act_purge):
            self.table.addAction(a)
        h = mb.addMenu("&Help")
        h.addAction(self._action("What runs &offline", self.show_first_run))
        h.addAction(self._action("&About", self.about))
        tb = self.addToolBar("Main")
        tb.setObjectName("main-toolbar")
        for a in (self.act_add, self.act_pause, self.act_retry, self.act_rerun, self.act_undo,
                  self.act_train):
            tb.addAction(a)

    def show_first_run(self) -> None:
        from .first_run import FirstRunPage

        FirstRunPage(self).open()

    # -- the genre head: quality, training ---------------------------------------------------
    def refresh_head(self) -> None:
        from ..core.classify.runtime import active_head_info

        try:
            self.detail.show_head(active_head_info(self.app.dirs))
        except Exception as err:  # noqa: BLE001 - a broken heads folder must not stop the app
            self.detail.show_head(None)
            self.activity.setText(f"cannot read the heads folder: {err}")

    def train_head(self) -> None:
        """Train a personal head in the background (the session's ``train_from_library``)."""
        if self._training is not None and self._training.is_alive():
            return
        self.act_train.setEnabled(False)
        self.train_bar.setRange(0, 0)
        self.train_bar.show()
        self.activity.setText("training a personal head…")

        def work() -> None:
            try:
                report = self.app.train_from_library(
                    config=self.train_config, progress=lambda *a: self.trainProgress.emit(*a))
            except Exception as err:  # noqa: BLE001 - shown to the user, never lost
                self.trainDone.emit(err)
                return
            self.trainDone.emit(report)

        self._training = threading.Thread(target=work, name="train-personal-head", daemon=True)
        self._training.start()

    @Slot(str, int, int)
    def _train_progress(self, label: str, done: int, total: int) -> None:
        self.train_bar.setRange(0, max(total, 1))
        self.train_bar.setValue(done)
        self.train_bar.setFormat(f"training: {label}")

    @Slot(object)
    def _train_done(self, result: Any) -> None:
        self.act_train.setEnabled(True)
        self.train_bar.hide()
        self.last_train = result
        if isinstance(result, Exception):
            self.activity.setText(f"training stopped: {result}")
        else:
            verdict = ("activated — re-run classification to use it" if result.activated else
                       "not better than the current head; it stays active")
            self.activity.setText(f"personal head {result.personal_map:.2f} vs current "
                                  f"{result.current_map:.2f} macro mAP on {result.used} "
                                  f"labelled videos: {verdict}")
        self.refresh_head()

    # -- filters ---------------------------------------------------------------------------
    def current_filter(self) -> LibraryFilter:
        genres = tuple(self.genre_list.item(i).data(Qt.ItemDataRole.UserRole)
                       for i in range(self.genre_list.count())
                       if self.genre_list.item(i).checkState() == Qt.CheckState.Checked)
        return LibraryFilter(text=self.search.text().strip(), genres=genres,
                             **{k: cb.isChecked() for k, cb in self.only.items()})

    @Slot()
    def apply_filter(self) -> None:
        selected = self.selected_ids()
        self.model.set_filter(self.current_filter())
        self.reselect(selected)
        self.refresh_status()

    def refresh_genre_counts(self, sync: bool = False) -> None:
        """Update the numbers beside the genres.  On a big library the count scans every
        positive row, so after start-up it runs in the background, one at a time."""
        if sync:
            self._show_genre_counts(self.app.genre_counts())
        else:
            self._read_counts()

    def _show_genre_counts(self, counts: dict[str, int]) -> None:
        self.genre_list.blockSignals(True)
        for i in range(self.genre_list.count()):
            item = self.genre_list.item(i)
            g = item.data(Qt.ItemDataRole.UserRole)
            item.setText(f"{g}  ({counts.get(g, 0)})")
        self.genre_list.blockSignals(False)

    # -- selection and detail --------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.model.video_id(r) for r in rows if r < self.model.rowCount()]

    def reselect(self, ids: list[int]) -> None:
        """Select these videos again (after a reload), as row ranges in one call."""
        rows = sorted(r for vid in ids if (r := self.model.row_of(vid)) is not None)
        sm = self.table.selectionModel()
        if rows:
            selection = QItemSelection()
            last_col = self.model.columnCount() - 1
            start = prev = rows[0]
            for r in rows[1:] + [None]:
                if r is not None and r == prev + 1:
                    prev = r
                    continue
                selection.select(self.model.index(start, 0), self.model.index(prev, last_col))
                if r is not None:
                    start = prev = r
            sm.setCurrentIndex(self.model.index(rows[0], 0),
                               QItemSelectionModel.SelectionFlag.NoUpdate)
            sm.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
                      | QItemSelectionModel.SelectionFlag.Rows)
        self.show_current()

    def current_record(self) -> VideoRecord | None:
        idx = self.table.selectionModel().currentIndex()
        if not idx.isValid() or not self.table.selectionModel().isRowSelected(idx.row()):
            rows = self.table.selectionModel().selectedRows()
            if not rows:
                return None
            idx = rows[0]
        return self.model.record(idx.row())

    def show_current(self) -> None:
        self.detail.show_record(self.current_record(), max(1, len(self.selected_ids())))

    # -- writes (off the GUI thread) -------------------------------------------------------
    def write(self, work: Any, ids: list[int]) -> None:
        """Run a library write in the background, then refresh these videos' rows."""
        self.bridge.run_task(work, lambda _r: self.refresh_videos(ids))

    @Slot(object)
    def correct_selected(self, changes: list[GenreChange]) -> None:
        ids = self.selected_ids()
        if not ids and self.detail.record is not None:
            ids = [self.detail.record.id]
        if ids:
            self.undo_stack.push(CorrectionCommand(self, ids, changes))

    def refresh_videos(self, ids: list[int]) -> None:
        if self._closing:
            return
        self.model.refresh_ids(ids)
        self.show_current()
        self.refresh_genre_counts()

    # -- folders ---------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of videos")
        if folder:
            self.add_folder(Path(folder))

    def add_folder(self, folder: Path) -> None:
        """Watch ``folder`` and queue its videos (scan in the background)."""
        profile = self.bridge.profile
        self.activity.setText(f"scanning {folder}…")

        def work() -> Any:
            return self.app.add_folder(folder, profile=profile)

        def done(result: Any) -> None:
            self.activity.setText(f"{folder.name}: {result.summary()}")
            self.refresh_folders()
            self.schedule_reload()
            self.bridge.wake()
            self.bridge.run_task(self.bridge.restart_watcher)

        self.bridge.run_task(work, done, lambda err: self.report_error(f"cannot add {folder}: {err}"))

    def remove_selected_folder(self) -> None:
        item = self.folder_list.currentItem()
        if item is None:
            return
        path = item.data(Qt.ItemDataRole.UserRole)

        def done(_r: Any) -> None:
            self.activity.setText(f"no longer watching {path} (its videos and tags stay)")
            self.refresh_folders()
            self.bridge.run_task(self.bridge.restart_watcher)

        self.bridge.run_task(lambda: self.app.remove_folder(path), done)

    def refresh_folders(self) -> None:
        """The watched folders, read in the background: a folder on an unmounted network
        share can take seconds to say it is not there."""
        self._read_folders()

    def _folders_now(self) -> list[tuple[str, bool]]:
        return [(f.path, f.present) for f in self.app.folders()]

    def _show_folders(self, folders: list[tuple[str, bool]]) -> None:
        self.folder_list.clear()
        for path, found in folders:
            item = QListWidgetItem(path if found else f"{path}  (not found)")
            item.setData(Qt.ItemDataRole.UserRole, path)
            self.folder_list.addItem(item)

    def rescan(self) -> None:
        self.bridge.rescan()
        self.activity.setText("rescanning watched folders…")

    # -- processing controls ---------------------------------------------------------------
    def rerun_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.bridge.run_task(lambda: self.bridge.rerun(ids), lambda jobs: self._queued(jobs, ids))

    def rerun_all(self) -> None:
        def work() -> list[int]:
            return self.bridge.rerun(self.app.ids(Selection(missing=False)))

        self.bridge.run_task(work, lambda jobs: self._queued(jobs, None))

    def rerun_stale(self) -> None:
        def work() -> list[int]:
            jobs = self.app.rerun(Selection(), stale_only=True, profile=self.bridge.profile).jobs
            self.bridge.wake()
            return jobs

        self.bridge.run_task(work, lambda jobs: self._queued(jobs, None))

    # -- genre heads -----------------------------------------------------------------------
    def _fill_heads_menu(self) -> None:
        """One checkable entry per installed head (the active one ticked)."""
        self.heads_menu.clear()
        for info in self.app.heads():
            label = info.model_id + (f"  (macro mAP {info.macro_map:.2f})"
                                     if info.macro_map is not None else "")
            if info.error:
                label += f"  [{info.error}]"
            act = self._action(label, lambda _=False, i=info: self.activate_head(
                i.path if i.path is not None else "zero-shot"))
            act.setCheckable(True)
            act.setChecked(info.active)
            act.setEnabled(not info.error)
            self.heads_menu.addAction(act)

    def activate_head(self, target: Any) -> None:
        """Activate a head for every front end; this library's older predictions become
        stale at once (Library > Re-run classification for stale re-classifies them)."""
        def done(ident: Any) -> None:
            self.activity.setText(f"genre head: {ident.model_id} {ident.version}; "
                                  "older predictions are marked stale")
            self.schedule_reload()

        self.bridge.run_task(lambda: self.app.activate_head(target), done,
                             lambda err: self.report_error(str(err)))

    def _queued(self, jobs: list[int], ids: list[int] | None) -> None:
        self.activity.setText(f"{len(jobs)} video(s) queued for classification")
        if ids is None:
            self.schedule_reload()
        else:
            self.model.refresh_ids(ids)
        self.refresh_status()

    def retry_failed(self) -> None:
        self.bridge.run_task(self.bridge.retry_failed, lambda jobs: (
            self.activity.setText(f"{len(jobs)} failed job(s) queued again"), self.schedule_reload()))

    def toggle_pause(self) -> None:
        pause = self.act_pause.isChecked()
        self.bridge.run_task(self.bridge.pause if pause else self.bridge.resume,
                             lambda _r: self.refresh_status())

    def cancel_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.bridge.run_task(lambda: self.bridge.cancel_videos(ids), lambda n: (
                self.activity.setText(f"{n} job(s) cancelled"), self.model.refresh_ids(ids),
                self.refresh_status()))

    def purge_missing(self, confirm: bool = True) -> None:
        """Erase missing videos (the selected ones, or every missing one) with their tags."""
        ids = self.selected_ids() or None
        if confirm:
            scope = f"the {len(ids)} selected videos" if ids else "every video"
            box = QMessageBox(QMessageBox.Icon.Question, "Erase missing videos",
                              f"Erase {scope} whose file is missing, with their genres and "
                              "corrections? Videos whose file is present are kept.",
                              QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                              self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.finished.connect(lambda code: code == QMessageBox.StandardButton.Yes
                                 and self.purge_missing(confirm=False))
            box.open()
            return

        def done(n: int) -> None:
            self.activity.setText(f"erased {n} missing video(s)")
            self.schedule_reload()

        self.bridge.run_task(lambda: self.app.purge(ids), done)

    def open_location(self) -> None:
        rec = self.current_record()
        if rec is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(rec.path)))

    def open_settings(self) -> None:
        from ..core.config import load_config

        load_config()  # writes the commented template on first use
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(app_dirs().config_file)))

    # -- export ----------------------------------------------------------------------------
    def _fill_export_menu(self) -> None:
        self.export_menu.clear()
        for w in writers():
            text = f"{w.label} beside the videos" if w.sidecar else f"{w.label}…"
            act = self._action(text, lambda _=False, name=w.name: self.export(name),
                               tip=f"export format '{w.name}'")
            act.setData(w.name)
            self.export_menu.addAction(act)

    def export(self, fmt: str, dest: Path | None = None) -> None:
        """Export the selected videos (or, with none selected, every video in view) with
        the writer registered as ``fmt``."""
        ids = self.selected_ids()
        # what the view shows (a search being typed is not applied yet)
        sel = Selection.of_ids(ids) if ids else self.model.filter.selection()
        writer = next(w for w in writers() if w.name == fmt)
        if not writer.sidecar and dest is None:
            name, _ = QFileDialog.getSaveFileName(
                self, f"Export {writer.label}", f"trailertagger{writer.suffix}",
                f"{writer.label} (*{writer.suffix})")
            if not name:
                return
            dest = Path(name)

        def work() -> str:
            rep = self.app.export(sel, fmt, ExportOptions(dest=dest))
            return rep.summary() + (f" (first: {rep.failed[0][0]}: {rep.failed[0][1]})"
                                    if rep.failed else "")

        self.bridge.run_task(work, self.activity.setText,
                             lambda err: self.report_error(f"export failed: {err}"))

    # -- background events -----------------------------------------------------------------
    @Slot(object)
    def on_job_event(self, e: ev.JobEvent) -> None:
        if e.kind == ev.PROGRESS and e.path:
            frac = f" {e.fraction:.0%}" if e.fraction is not None else ""
            self.activity.setText(f"{e.stage} {Path(e.path).name}{frac}")
        elif e.kind == ev.STARTED and e.path:
            self.activity.setText(f"{e.stage} {Path(e.path).name}")
        elif e.kind == ev.DONE and e.path:
            self.activity.setText(f"done: {Path(e.path).name}")
        elif e.kind == ev.FAILED:
            self.activity.setText(f"failed: {Path(e.path).name if e.path else e.job_id}: {e.message}")
        elif e.kind == ev.SCAN:
            self.activity.setText(e.message)
            self.schedule_reload()
        elif e.kind == ev.IDLE:
            self.activity.setText("paused" if e.message == "paused" else "idle")
        elif e.kind == ev.WORKER_EXITED and e.message not in ("", "stopped"):
            self.activity.setText(f"worker: {e.message}")
        if e.kind in ev.TERMINAL:
            self._batch_done += 1
        if e.video_id is not None:
            self._dirty.add(e.video_id)
        # at most one refresh per 250 ms; an event never puts it off (a steady stream of
        # events, e.g. a re-run of many videos, would keep the rows from updating)
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def schedule_reload(self) -> None:
        self._reload_pending = True
        self._refresh_timer.start()

    def _apply_refresh(self) -> None:
        if self._closing:
            return
        if self._reload_pending:
            self._reload_pending = False
            self._dirty.clear()
            selected = self.selected_ids()
            self.model.reload()
            self.reselect(selected)
            self.refresh_folders()
        elif self._dirty:
            ids, self._dirty = list(self._dirty), set()
            self.model.refresh_ids(ids)
            self.show_current()
        self.refresh_genre_counts()
        self.refresh_status()

    def refresh_status(self) -> None:
        """Queue and library counts for the status bar, read in the background (the counts
        scan indexes that grow with the library; the GUI thread only shows the result)."""
        self._read_status()

    def _status_now(self) -> Any:
        return self.app.status(failures=0)

    def _show_status(self, report: Any) -> None:
        c, paused, by = report.counts, report.paused, report.jobs_by_status
        queued, running, failed = by.get("queued", 0), by.get("running", 0), by.get("failed", 0)
        self.act_pause.setChecked(paused)
        self.act_pause.setText("Resume processing" if paused else "Pause processing")
        shown = self.model.rowCount()
        self.counts_label.setText(
            f"{shown} shown · {c.videos} videos · {queued} queued · {running} processing · "
            f"{failed} failed" + (" · PAUSED" if paused else ""))
        active = queued + running
        if active:
            self.progress.setMaximum(self._batch_done + active)
            self.progress.setValue(self._batch_done)
            self.progress.setFormat(f"%v / %m{' (paused)' if paused else ''}")
            self.progress.show()
        else:
            self._batch_done = 0
            self.progress.hide()

    # -- misc ------------------------------------------------------------------------------
    @Slot(str)
    def report_error(self, message: str) -> None:
        self.activity.setText(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "trailertagger", message,
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # not exec(): never blocks the event loop

    def about(self) -> None:
        from .. import __version__

        box = QMessageBox(QMessageBox.Icon.Information, "About trailertagger",
                          f"trailertagger {__version__}\nTags videos with 21 movie genres.\n"
                          f"Library: {self.app.path}", QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        """Stop watcher and workers; jobs in hand go back to the queue, nothing half-written."""
        self._closing = True
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self._status_timer.stop()
        self._refresh_timer.stop()
        self.activity.setText("stopping workers…")
        self.bridge.shutdown()
        event.accept()
