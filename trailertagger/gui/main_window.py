"""The main window: filters and folders on the left, the library table, the detail panel.

Every write (correction, undo, folder scan, re-run, export) runs through
``JobBridge.run_task`` so the GUI thread never waits for the database's write lock or the
file system; reads are cheap and run here (see ``library_model``).  Background progress
arrives as ``JobBridge.jobEvent`` on the GUI thread and is coalesced by a short timer, so a
burst of events costs one refresh per 250 ms.

Issue 11: reads that grow with the library (the table's rows, sorting, genre counts, a
multi-selection's mixed genres, a video's evidence) run on a ``QueryWorker`` (newest request
wins); the filters live in ``filter_bar``, the context menu in ``context_menu``, the
evidence pane in ``evidence``.  Edits of more than ``ASK_FROM`` videos ask first.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QObject,
    QSettings,
    QSize,
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
    QApplication,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTabWidget,
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
    status_text,
    writers,
)
from ..core.app import events as ev
from ..core.paths import app_dirs
from .bridge import JobBridge
from .context_menu import CHECK_BELOW, build_menu
from .detail import DetailPanel, GenreChipDelegate
from .empty_state import EmptyState
from .evidence import EvidencePanel
from .filter_bar import FilterBar
from .icons import app_icon, icon
from .jobs_panel import JobsPanel
from .library_model import PAGE, LibraryFilter, LibraryTableModel
from .query_worker import QueryWorker

ORG, APP = "trailertagger", "trailertagger"
JOBS_TAB = 1  # the side tabs: 0 the selected video's details, 1 the jobs
ASK_FROM = 100  # an edit of this many videos or more asks first (with the count)


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


class EditCommand(QUndoCommand):
    """One undoable library write on the undo stack, however many videos it touches.

    ``apply`` makes the write and returns the core's ``Edit``; ``undo`` hands that ``Edit``
    back to the session.  Both run on the bridge's single interactive thread, so they
    execute in exactly the order the user asked."""

    def __init__(self, window: MainWindow, ids: list[int], what: str,
                 apply: Callable[[], Edit]) -> None:
        super().__init__(f"{what} {len(ids)} video{'s' if len(ids) != 1 else ''}")
        self.window, self.ids, self.apply = window, ids, apply
        self.edit: Edit | None = None

    def redo(self) -> None:
        def work() -> None:
            self.edit = self.apply()
        self.window.write(work, self.ids)

    def undo(self) -> None:
        def work() -> None:
            if self.edit is not None:
                self.window.app.undo(self.edit)
        self.window.write(work, self.ids)


def correction_command(window: MainWindow, ids: list[int],
                       changes: list[GenreChange]) -> EditCommand:
    """Genre ticks/unticks of the selected videos (with progress when there are many)."""
    text = " ".join(f"{c.op}{c.genre}" for c in changes)
    return EditCommand(window, ids, f"{text} on",
                       lambda: window.app.correct(ids, changes,
                                                  progress=window.bulk_progress(len(ids))))


def clear_command(window: MainWindow, ids: list[int]) -> EditCommand:
    """"Clear corrections" of some videos: one step, however many."""
    return EditCommand(window, ids, "clear corrections of",
                       lambda: window.app.clear_corrections(ids))


class _FirstPaint(QObject):
    """Calls ``then`` once, when ``widget`` is first painted; then removes itself."""

    def __init__(self, widget: QWidget, then: Callable[[], None]) -> None:
        super().__init__(widget)
        self.widget, self.then, self.done = widget, then, False
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, e: QEvent) -> bool:  # noqa: N802 - Qt API
        if not self.done and e.type() == QEvent.Type.Paint:
            self.done = True
            self.widget.removeEventFilter(self)
            self.then()
        return False


class MainWindow(QMainWindow):
    # training runs on its own thread; these signals bring its progress to the GUI thread
    trainProgress = Signal(str, int, int)
    trainDone = Signal(object)  # PersonalHeadReport, or the exception that stopped it
    bulkProgress = Signal(int, int)  # a bulk edit's videos done, of total (from its thread)

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
        self.setWindowIcon(app_icon())
        self.undo_stack = QUndoStack(self)
        self.queries = QueryWorker(self)
        self.model = LibraryTableModel(app, self, worker=self.queries)
        self.model.library_size = app.count()  # one COUNT: decides background loading
        self._keep_ids: list[int] = []
        self._keep_all = False
        self.pending_question: QMessageBox | None = None  # the open "are you sure?" (tests)
        self.bulkProgress.connect(self._show_bulk_progress)
        self._dirty: set[int] = set()
        self._reload_pending = False
        self._batch_done = 0
        self._closing = False
        self._read_status = BackgroundRead(self, self._status_now, self._show_status)
        self._read_folders = BackgroundRead(self, self._folders_now, self._show_folders)
        self._build()
        # one look at the window's events until it is first painted, then none (an override
        # of ``event`` would call into Python for every event the window gets, for good)
        self._first_paint = _FirstPaint(self, self._after_first_paint)
        self._actions()
        bridge.jobEvent.connect(self.on_job_event)
        bridge.taskError.connect(self.report_error)
        self._refresh_timer = QTimer(self, singleShot=True, interval=250)
        self._refresh_timer.timeout.connect(self._apply_refresh)
        self._detail_timer = QTimer(self, singleShot=True, interval=30)  # coalesce selection bursts
        self._detail_timer.timeout.connect(self._show_current_now)
        self._status_timer = QTimer(self, interval=1000)
        self._status_timer.timeout.connect(self.refresh_status)
        self._status_timer.start()
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 740)  # fits a 1280x800 screen with a panel and title bar
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.side_tabs.setCurrentIndex(int(self.settings.value("window/side_tab", 0) or 0))
        state = self.settings.value("window/splitter")
        if isinstance(state, QByteArray):
            self.splitter.restoreState(state)
        self.model.modelAboutToBeReset.connect(self._keep_selection)
        self.model.reloaded.connect(self._restore_selection)
        self.model.busyChanged.connect(self._show_busy)
        self.queries.failed.connect(self.activity.setText)
        if self.model.big:  # opening a big library never blocks: rows and counts arrive
            self.model.request_reload()
        else:
            self.model.reload()
        self._show_center(self.model.library_size)
        self.refresh_folders()
        self.refresh_genre_counts(sync=not self.model.big)
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
        self.filters = FilterBar()
        self.filters.changed.connect(self.apply_filter)
        self.filters.sortGenreChanged.connect(lambda g: self.model.sort_by_genre(g or None))
        self.search, self.genre_list, self.only = (self.filters.search, self.filters.genre_list,
                                                   self.filters.only)
        self._search_timer = self.filters.search_timer
        lv.addWidget(self.filters, 4)
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
        # the title takes what is left, so all four columns fit beside the detail panel on a
        # 1280-pixel screen; fixed widths (never "resize to contents": that reads every row)
        header.setSectionResizeMode(LibraryTableModel.TITLE, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(48)
        for col, width in ((1, 170), (2, 128), (3, 64), (4, 70)):
            self.table.setColumnWidth(col, width)
        # the headers get selection models of their own: sharing the table's, a header asks
        # "is this whole column selected?" for each column on every selection change, one
        # call into the model per row (600,000 calls, seconds, after a select-all of 100,000)
        for hv in (header, self.table.verticalHeader()):
            hv.setSelectionModel(QItemSelectionModel(self.model, hv))
        self.table.selectionModel().selectionChanged.connect(lambda *_: self.show_current())
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self.show_current())
        self.table.doubleClicked.connect(lambda i: self.play(i.row()))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(
            lambda pos: self.context_menu(self.table.indexAt(pos), self.table.viewport().mapToGlobal(pos)))
        # the thumbnail grid: the same model and the same selection, another view
        self.grid = QListView()
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setUniformItemSizes(True)
        self.grid.setSpacing(6)
        self.grid.setWordWrap(True)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        # the grid gets the model only while it is shown: a list view lays out every row on
        # each reset (100,000 calls into Python); shown, it lays out in batches
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(400)
        self.grid.doubleClicked.connect(lambda i: self.play(i.row()))
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(
            lambda pos: self.context_menu(self.grid.indexAt(pos), self.grid.viewport().mapToGlobal(pos)))
        self.views = QStackedWidget()
        self.views.addWidget(self.table)
        self.views.addWidget(self.grid)
        self.busy_label = QLabel("working…")
        self.busy_label.setStyleSheet("color: #9a5b00;")
        self.busy_label.hide()

        self.detail = DetailPanel()
        self.detail.changeRequested.connect(self.correct_selected)
        self.evidence = EvidencePanel()
        self.evidence.sceneClicked.connect(self.evidence.enlarge)
        detail_box = QWidget()
        dl = QVBoxLayout(detail_box)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.detail)
        dl.addWidget(self.evidence)
        dl.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(detail_box)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(362)  # the detail panel plus its vertical scroll bar

        # the table, or what to do first while the library is empty (built when first shown)
        self._empty: EmptyState | None = None
        self.center = QStackedWidget()
        self.center.addWidget(self.views)
        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.center)
        # the right-hand side: the selected video's details, or the jobs (a tab, not a dock:
        # a dock's height does not fit a 1280x800 screen beside the genre list)
        # the jobs panel is built just after the first paint (``jobs_panel``): until then a
        # blank page holds its tab, so the window shows sooner
        self._jobs_panel: JobsPanel | None = None
        self.side_tabs = QTabWidget()
        self.side_tabs.setDocumentMode(True)
        self.side_tabs.addTab(scroll, "Details")
        self.side_tabs.addTab(QWidget(), icon("jobs"), "Jobs")
        self.side_tabs.currentChanged.connect(lambda i: i == JOBS_TAB and self.jobs_panel.refresh())
        self.splitter.addWidget(self.side_tabs)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([290, 620, 362])
        self.setCentralWidget(self.splitter)

        self.counts_label = QLabel()
        self.activity = QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        sb = self.statusBar()
        sb.addWidget(self.counts_label)
        sb.addWidget(self.busy_label)
        sb.addWidget(self.activity, 1)
        sb.addPermanentWidget(self.progress)
        self.train_bar = QProgressBar()
        self.train_bar.setMaximumWidth(220)
        self.train_bar.setTextVisible(True)
        self.train_bar.hide()
        sb.addPermanentWidget(self.train_bar)

    def _after_first_paint(self) -> None:
        """The window is on screen: build what it does not show yet (the Jobs tab)."""
        self._first_paint.deleteLater()
        if not self._closing:
            QTimer.singleShot(0, lambda: self._closing or self.jobs_panel)

    @property
    def empty(self) -> EmptyState:
        """The page an empty library shows (the three steps), built the first time it is."""
        if self._empty is None:
            self._empty = EmptyState()
            self._empty.addFolderRequested.connect(self.choose_folder)
            self.center.addWidget(self._empty)
        return self._empty

    def _show_center(self, videos: int) -> None:
        self.center.setCurrentWidget(self.empty if videos == 0 else self.views)

    @property
    def jobs_panel(self) -> JobsPanel:
        """The Jobs tab's panel; built on first use, or just after the window's first paint."""
        if self._jobs_panel is None:
            panel = JobsPanel(self.app, self.bridge)
            panel.message.connect(self.say)
            panel.changed.connect(lambda ids: ids and self.refresh_videos(ids))
            self._jobs_panel = panel
            current = self.side_tabs.currentIndex()
            blank = self.side_tabs.widget(JOBS_TAB)
            self.side_tabs.blockSignals(True)
            self.side_tabs.removeTab(JOBS_TAB)
            self.side_tabs.insertTab(JOBS_TAB, panel, icon("jobs"), "Jobs")
            self.side_tabs.setCurrentIndex(current)
            self.side_tabs.blockSignals(False)
            blank.deleteLater()
        return self._jobs_panel

    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "",
                icon_name: str = "") -> QAction:
        a = QAction(icon(icon_name), text, self) if icon_name else QAction(text, self)
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
                                    "watch a folder and process its videos", "add-folder")
        f.addAction(self.act_add)
        self.act_rescan = self._action("&Rescan folders", self.rescan, "F5", icon_name="rescan")
        f.addAction(self.act_rescan)
        self.export_menu = f.addMenu("&Export")
        # built from the writer registry each time it opens: a format registered by a
        # plugin after start-up is listed too
        self.export_menu.aboutToShow.connect(self._fill_export_menu)
        self._fill_export_menu()
        self.export_menu.setIcon(icon("export"))
        self.act_settings = self._action("Se&ttings…", self.show_settings, "Ctrl+,",
                                         "device, workers, profile, genres, folders", "settings")
        self.act_models = self._action("&Models…", self.show_models, tip="installed models; fetch "
                                       "downloadable ones", icon_name="models")
        f.addAction(self.act_settings)
        f.addAction(self.act_models)
        f.addAction(self._action("Open &settings file", self.open_settings,
                                 tip="settings live in a TOML file; restart to apply"))
        f.addSeparator()
        f.addAction(self._action("&Quit", self.close, QKeySequence.StandardKey.Quit))
        e = mb.addMenu("&Edit")
        self.act_undo = self.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.act_undo.setIcon(icon("undo"))
        self.act_redo = self.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcut(QKeySequence.StandardKey.Redo)
        e.addAction(self.act_undo)
        e.addAction(self.act_redo)
        e.addSeparator()
        e.addAction(self._action("Select &all", self.table.selectAll, QKeySequence.StandardKey.SelectAll))
        self.act_grid = self._action("Thumbnail &grid", self.toggle_grid, "Ctrl+G",
                                     "show the videos as a grid of thumbnails instead of a table",
                                     "grid")
        self.act_grid.setCheckable(True)
        e.addAction(self._action("&Find", self.search.setFocus, QKeySequence.StandardKey.Find))
        lib = mb.addMenu("&Library")
        self.act_rerun = self._action("Re-run classification for &selected", self.rerun_selected,
                                      "Ctrl+R", "replaces only automatic genres; corrections stay",
                                      "rerun")
        self.act_rerun_all = self._action("Re-run classification for &all", self.rerun_all)
        self.act_rerun_stale = self._action(
            "Re-run classification for s&tale", self.rerun_stale,
            tip="videos never classified, or classified by another genre head than the active one")
        self.act_retry = self._action("Re&try failed", self.retry_failed, icon_name="retry")
        self.act_pause = self._action("&Pause processing", self.toggle_pause, "Ctrl+P",
                                      "no new job starts; a running job finishes its current stage",
                                      "pause")
        self.act_pause.setCheckable(True)
        self.act_open = self._action("&Open file location", self.open_location, "Ctrl+L",
                                     icon_name="open-location")
        self.act_cancel = self._action("&Cancel processing of selected", self.cancel_selected,
                                       icon_name="cancel")
        self.act_purge = self._action("Erase &missing videos…", self.purge_missing,
                                      tip="erase rows whose file is gone (selected, or all)")
        self.act_train = self._action(
            "&Train personal head", self.train_head,
            tip="learn from your labels and corrections; activated only if it measures better",
            icon_name="train")
        for a in (self.act_rerun, self.act_rerun_all, self.act_rerun_stale, self.act_retry,
                  self.act_pause, self.act_cancel, self.act_open, self.act_purge, self.act_train):
            lib.addAction(a)
        lib.addSeparator()
        self.heads_menu = lib.addMenu("Genre &head")
        self.heads_menu.aboutToShow.connect(self._fill_heads_menu)
        self._fill_heads_menu()
        view = mb.addMenu("&View")
        self.act_jobs = self._action("&Jobs", lambda: self.side_tabs.setCurrentIndex(JOBS_TAB),
                                     "Ctrl+J", "the queue per stage, running and failed jobs",
                                     "jobs")
        self.act_details = self._action("&Details", lambda: self.side_tabs.setCurrentIndex(0),
                                        "Ctrl+D", "the selected video's genres")
        view.addAction(self.act_jobs)
        view.addAction(self.act_details)
        view.addAction(self.act_grid)
        h = mb.addMenu("&Help")
        h.addAction(self._action("What runs &offline", self.show_first_run))
        h.addAction(self._action("&About", self.about))
        tb = self.addToolBar("Main")
        tb.setObjectName("main-toolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.act_add.setIconText("Add folder")
        self.act_rerun.setIconText("Re-run")
        self.act_pause.setIconText("Pause")
        self.act_retry.setIconText("Retry failed")
        self.act_train.setIconText("Train")
        self.act_settings.setIconText("Settings")
        self.act_models.setIconText("Models")
        self.act_grid.setIconText("Grid")
        for a in (self.act_add, self.act_rescan, None, self.act_pause, self.act_retry,
                  self.act_rerun, self.act_undo, None, self.act_jobs, self.act_settings,
                  self.act_models, self.act_train, self.act_grid):
            if a is None:
                tb.addSeparator()
            else:
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
        return self.filters.current()

    @Slot()
    def apply_filter(self) -> None:
        """Show what the filters ask for: on a big library the rows arrive from the query
        worker (the selection is kept by video id when they are swapped in)."""
        self.model.set_filter(self.current_filter())
        self.refresh_genre_counts()
        self.refresh_status()

    def refresh_genre_counts(self, sync: bool = False) -> None:
        """Update the numbers beside the genres, within the other filters
        (``Selection.for_counts``).  The count scans positive rows, so it runs on the
        query worker (the newest request wins) except at the start of a small library."""
        sel = self.model.filter.selection()
        if sync:
            self._show_genre_counts(self.app.genre_counts(sel))
        elif not self._closing:
            self.queries.submit("counts", lambda: self.app.genre_counts(sel), self._show_genre_counts)

    def _show_genre_counts(self, counts: dict[str, int]) -> None:
        self.filters.show_counts(counts)

    @Slot(bool)
    def _show_busy(self, on: bool) -> None:
        self.busy_label.setVisible(on)
        self.table.viewport().setCursor(Qt.CursorShape.BusyCursor if on else Qt.CursorShape.ArrowCursor)

    def _keep_selection(self) -> None:
        self._keep_ids = self.selected_ids()
        self._keep_all = bool(self._keep_ids) and len(self._keep_ids) == self.model.rowCount()

    def _restore_selection(self) -> None:
        if self._keep_all and len(self._keep_ids) == self.model.rowCount():
            self.table.selectAll()  # a re-sort of everything selected: one range, not 100,000
            self.show_current()
        else:
            self.reselect(self._keep_ids)
        self._keep_ids, self._keep_all = [], False
        self.refresh_status()

    def toggle_grid(self) -> None:
        grid = self.act_grid.isChecked()
        self.model.set_show_icons(grid)
        if grid and self.grid.model() is None:
            self.grid.setModel(self.model)
            self.grid.setModelColumn(LibraryTableModel.TITLE)
            self.grid.setSelectionModel(self.table.selectionModel())
            self.grid.setIconSize(QSize(160, 90))
            self.grid.setGridSize(QSize(176, 130))
        elif not grid and self.grid.model() is not None:
            self.grid.setModel(None)
        self.views.setCurrentWidget(self.grid if grid else self.table)

    # -- selection and detail --------------------------------------------------------------
    def _selected_spans(self) -> list[tuple[int, int]]:
        """The selection as sorted, merged (first, last) row spans: a select-all of 100,000
        rows is one span, not 500,000 indexes."""
        n = self.model.rowCount()
        spans = sorted((max(0, r.top()), min(n - 1, r.bottom()))
                       for r in self.table.selectionModel().selection())
        merged: list[tuple[int, int]] = []
        for a, b in spans:
            if a > b:
                continue
            if merged and a <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        return merged

    def selected_count(self) -> int:
        return sum(b - a + 1 for a, b in self._selected_spans())

    def selected_rows(self) -> list[int]:
        """Selected row numbers, in order (from the selection's spans)."""
        return [r for a, b in self._selected_spans() for r in range(a, b + 1)]

    def selected_ids(self) -> list[int]:
        return [vid for a, b in self._selected_spans() for vid in self.model.ids_between(a, b)]

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

    def current_row(self) -> int | None:
        idx = self.table.selectionModel().currentIndex()
        if not idx.isValid() or not self.table.selectionModel().isRowSelected(idx.row()):
            sel = self.table.selectionModel().selection()
            if sel.isEmpty():
                return None
            return min(r.top() for r in sel)
        return idx.row()

    def current_record(self) -> VideoRecord | None:
        row = self.current_row()
        return None if row is None else self.model.record(row)

    def show_current(self) -> None:
        """Show the current video now (on a big library: as soon as its page is read, off
        this thread); its mixed state and evidence follow from background reads
        (coalesced: a drag-select is one read, not hundreds)."""
        if self._closing:
            return
        row = self.current_row()
        n = max(1, self.selected_count())
        if row is not None and self.model.big:
            rec = self.model.record_soon(row)
            if rec is None:
                vid = self.model.video_id(row)
                self.queries.submit("current", lambda: self.app.record(vid),
                                    lambda r: self._show_record(r, n))
            else:
                self._show_record(rec, n)
        else:
            self._show_record(None if row is None else self.model.record(row), n)
        self._detail_timer.start()

    def _show_record(self, rec: VideoRecord | None, selected: int) -> None:
        self.detail.show_record(rec, selected)
        self._detail_status(rec)

    def _detail_status(self, rec: VideoRecord | None) -> None:
        """The detail's state word is the table's (``status_text``: the active job wins), so
        a cancelled video says "not processed (cancelled)", never a bare "pending"."""
        row = self.model.row_of(rec.id) if rec is not None else None
        if row is None:
            return
        bits = self.detail.info.text().split(" · ")
        bits[0] = status_text(self.model.light(row), stale=bool(rec.stale))
        self.detail.info.setText(" · ".join(bits))

    def _show_current_now(self) -> None:
        if self._closing:
            return
        row = self.current_row()
        n = self.selected_count()
        if row is not None and n > 1:  # mixed (tri-state) boxes
            # everything shown is selected: one query over the filter, not 100,000 ids
            what: Any = (self.model.filter.selection() if n == self.model.rowCount()
                         else self.selected_ids())
            self.queries.submit("summary", lambda: self.app.genre_summary(what),
                                lambda summary: self.detail.show_mixed(summary, n))
        self.load_evidence(None if row is None else self.model.video_id(row))

    def load_evidence(self, vid: int | None) -> None:
        """The evidence pane of video ``vid``: read off the GUI thread, then its scenes."""
        if vid is None:
            self.queries.submit("evidence", lambda: None, self.evidence.show_evidence)
            return
        if self.evidence.evidence is not None and self.evidence.evidence.video_id == vid \
                and not self.evidence.note.text().startswith("reading"):
            return
        self.evidence.loading()

        def shown(ev: Any) -> None:
            self.evidence.show_evidence(ev)
            if ev is not None and ev.scene_times:
                self.queries.submit("scenes", lambda: self.app.scene_thumbnails(ev),
                                    lambda paths: self.evidence.show_thumbnails(vid, paths))

        self.queries.submit("evidence", lambda: self.app.evidence(vid), shown,
                            lambda err: self.evidence.note.setText(f"no evidence: {err}"))

    # -- writes (off the GUI thread) -------------------------------------------------------
    def write(self, work: Any, ids: list[int]) -> None:
        """Run a library write in the background, then refresh these videos' rows."""
        self.bridge.run_task(work, lambda _r: self.refresh_videos(ids))

    @Slot(object)
    def correct_selected(self, changes: list[GenreChange], confirm: bool = True) -> None:
        """One undoable step for the whole selection; from ``ASK_FROM`` videos on it asks
        first (with the count) and shows its progress."""
        ids = self.selected_ids()
        if not ids and self.detail.record is not None:
            ids = [self.detail.record.id]
        if not ids:
            return
        if confirm and len(ids) >= ASK_FROM:
            what = ", ".join(f"{'add' if c.op == '+' else 'remove' if c.op == '-' else 'reset'} "
                             f"{c.genre}" for c in changes)
            self.ask("Change many videos", f"{what[:1].upper() + what[1:]} on {len(ids):,} videos? "
                     "(Edit > Undo takes it back in one step.)",
                     lambda: self.undo_stack.push(correction_command(self, ids, changes)),
                     on_no=self.show_current)
            return
        self.undo_stack.push(correction_command(self, ids, changes))

    def ask(self, title: str, text: str, on_yes: Callable[[], None],
            on_no: Callable[[], None] | None = None) -> QMessageBox:
        """A non-blocking yes/cancel question (``open()``, never ``exec()``)."""
        box = QMessageBox(QMessageBox.Icon.Question, title, text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def answered(code: int) -> None:
            self.pending_question = None
            if code == QMessageBox.StandardButton.Yes:
                on_yes()
            elif on_no is not None:
                on_no()

        box.finished.connect(answered)
        self.pending_question = box
        box.open()
        return box

    def bulk_progress(self, total: int) -> Any:
        """A core ``Progress`` for a write of ``total`` videos that shows in the status bar
        (None for small writes).  Called on the task thread; the signal crosses threads."""
        if total < ASK_FROM:
            return None
        self.bulkProgress.emit(0, total)
        return lambda _stage, done, tot: self.bulkProgress.emit(int(done), int(tot or total))

    @Slot(int, int)
    def _show_bulk_progress(self, done: int, total: int) -> None:
        if done >= total:
            self.train_bar.hide()
            return
        self.train_bar.setRange(0, max(total, 1))
        self.train_bar.setValue(done)
        self.train_bar.setFormat("changing %v / %m videos")
        self.train_bar.show()

    def refresh_videos(self, ids: list[int]) -> None:
        if self._closing:
            return
        if self.train_bar.format().startswith("changing"):
            self.train_bar.hide()
        if len(ids) > PAGE:  # a bulk edit: re-read the view (off the GUI thread when big)
            self.model.request_reload()
        else:
            self.model.refresh_ids(ids)
        self.evidence.show_evidence(None)
        self.show_current()
        self.refresh_genre_counts()

    # -- folders ---------------------------------------------------------------------------
    @staticmethod
    def start_folder() -> Path:
        """Where the folder dialogs open: ~/Videos when there is one, else the home folder
        (never the process's working directory)."""
        home = Path.home()
        videos = home / "Videos"
        return videos if videos.is_dir() else home

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of videos",
                                                  str(self.start_folder()))
        if folder:
            self.add_folder(Path(folder))

    def add_folder(self, folder: Path, then: Callable[[], None] | None = None) -> None:
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
            if then is not None:
                then()

        self.bridge.run_task(work, done, lambda err: self.report_error(f"cannot add {folder}: {err}"))

    def remove_selected_folder(self) -> None:
        item = self.folder_list.currentItem()
        if item is None:
            return
        self.remove_folder(item.data(Qt.ItemDataRole.UserRole))

    def remove_folder(self, path: str, then: Callable[[], None] | None = None) -> None:
        def done(_r: Any) -> None:
            self.activity.setText(f"no longer watching {path} (its videos and tags stay)")
            self.refresh_folders()
            self.bridge.run_task(self.bridge.restart_watcher)
            if then is not None:
                then()

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
        if ids is None or len(ids) > PAGE:
            self.schedule_reload()
        else:
            self.model.refresh_ids(ids)
        self.refresh_status()

    def retry_failed(self) -> None:
        self.jobs_panel.retry_all()  # says how many were queued again, refreshes the rows
        self.schedule_reload()

    def say(self, message: str) -> None:
        """Feedback for an action the user took: the activity line and the status bar."""
        self.activity.setText(message)
        self.statusBar().showMessage(message, 6000)

    def set_stage_limits(self, limits: dict[str, int]) -> None:
        """Change how many jobs of each stage run at once, live in every pool."""
        def done(now: dict[str, int]) -> None:
            self.jobs_panel.refresh()
            self.bridge.wake()

        self.bridge.run_task(lambda: self.app.stage_limits(limits), done,
                             lambda err: self.report_error(str(err)))

    def start_processing(self) -> None:
        """At start: check the profile's models off the GUI thread (the first check may
        hash model files), then start the workers or say once what is missing."""
        profile = self.bridge.profile

        def work() -> str | None:
            try:
                return self.app.profile_problem(profile)
            except Exception as err:  # noqa: BLE001 - an unknown profile in the file, say it
                return str(err)

        self.bridge.run_task(work, lambda problem: self._closing or self.check_processing(problem))

    def check_processing(self, problem: Any = "check") -> str | None:
        """Start processing unless the profile lacks models; then say so once (the jobs wait
        instead of failing one by one).  Returns the problem, or None."""
        if problem == "check":
            try:
                problem = self.app.profile_problem(self.bridge.profile)
            except Exception as err:  # noqa: BLE001 - an unknown profile in the file, say it
                problem = str(err)
        if problem is None:
            if not self.bridge.started:
                self.bridge.start()
            return None
        self.processing_problem = problem
        self.activity.setText("processing is off: the profile's models are missing (Models…)")
        if not getattr(self, "_problem_shown", False):
            self._problem_shown = True
            box = QMessageBox(QMessageBox.Icon.Warning, "Models missing", problem,
                              QMessageBox.StandardButton.Ok, self)
            models = box.addButton("Models…", QMessageBox.ButtonRole.ActionRole)
            models.clicked.connect(self.show_models)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
        return problem

    def show_settings(self) -> Any:
        from .settings_dialog import SettingsDialog

        dialog = SettingsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_models(self) -> Any:
        from .models_dialog import ModelsDialog

        dialog = ModelsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def show_config_error(self, message: str) -> None:
        """A settings file the app cannot use: it runs on defaults and says why, once."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Settings file not used",
                          f"{message}\n\nThe app runs on the default settings until the file "
                          "is fixed.", QMessageBox.StandardButton.Ok, self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        edit = box.addButton("Open settings file", QMessageBox.ButtonRole.ActionRole)
        edit.clicked.connect(self.open_settings)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.config_box = box

    def toggle_pause(self) -> None:
        pause = self.act_pause.isChecked()

        def work() -> str:
            (self.bridge.pause if pause else self.bridge.resume)()
            return self.app.pause_note()

        def done(note: str) -> None:
            self.say(note)
            self.refresh_status()
            self.jobs_panel.refresh()

        self.bridge.run_task(work, done)

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

    def open_location(self, row: int | None = None) -> None:
        rec = self.current_record() if row is None else self.model.record(row)
        if rec is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(rec.path)))

    def play(self, row: int | None = None) -> bool:
        """Open the video in the desktop's default player (double-click, context menu)."""
        rec = self.current_record() if row is None else self.model.record(row)
        if rec is None or not os.path.exists(rec.path):
            self.activity.setText("cannot play: the file is missing" if rec else "")
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(rec.path))

    # -- the context menu (rules: LibrarySession.applicable) ------------------------------
    def context_menu(self, index: Any, where: Any = None) -> Any:
        """A menu that fits the selection; built (and returned) even without showing it."""
        if index is not None and index.isValid() and \
                not self.table.selectionModel().isRowSelected(index.row()):
            self.reselect([self.model.video_id(index.row())])
        ids = self.selected_ids()
        if not ids:
            return None
        row = index.row() if index is not None and index.isValid() else None
        applicable = self.app.applicable(ids) if len(ids) < CHECK_BELOW else None
        menu = build_menu(self, ids, applicable, {
            "play": lambda: self.play(row),
            "open": lambda: self.open_location(row),
            "copy": lambda: self.copy_paths(ids),
            "rerun": self.rerun_selected,
            "reextract": self.reextract_selected,
            "cancel": self.cancel_selected,
            "clear": lambda: self.clear_corrections(ids),
            "export": lambda: self.export("nfo", scope="selected"),
            "erase": self.purge_missing,
        })
        self.last_menu = menu
        if where is not None:
            menu.popup(where)
        return menu

    def copy_paths(self, ids: list[int]) -> None:
        """The paths of these videos to the clipboard (read off the GUI thread)."""
        def done(paths: list[str]) -> None:
            QApplication.clipboard().setText("\n".join(paths))
            self.activity.setText(f"copied {len(paths)} path(s)")

        self.queries.submit("copy", lambda: [r.path for r in self.app.rows_for(ids).values()], done)

    def reextract_selected(self) -> None:
        ids = self.selected_ids()
        if not ids:
            return
        profile = self.bridge.profile

        def work() -> list[int]:
            jobs = self.app.reextract(Selection.of_ids(ids), profile=profile).jobs
            self.bridge.wake()
            return jobs

        self.bridge.run_task(work, lambda jobs: self._queued(jobs, ids))

    def clear_corrections(self, ids: list[int], confirm: bool = True) -> None:
        """Forget every correction of these videos: one undoable step."""
        if confirm and len(ids) >= ASK_FROM:
            self.ask("Clear corrections", f"Clear every correction of {len(ids):,} videos? "
                     "The model decides their genres again. (Undoable.)",
                     lambda: self.clear_corrections(ids, confirm=False))
            return
        self.undo_stack.push(clear_command(self, ids))

    def open_settings(self) -> None:
        from ..core.config import load_config

        path = app_dirs().config_file
        with contextlib.suppress(Exception):  # a broken file is still the one to open
            load_config()  # writes the commented template on first use
        if not path.exists() or not QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))):
            # no program opens .toml files here (or the file cannot be created): say where it is
            box = QMessageBox(QMessageBox.Icon.Information, "Settings file",
                              f"No program here opens the settings file. It is:\n\n{path}\n\n"
                              "Edit it with any text editor; restart the app to apply it. "
                              "(Settings… changes the common ones.)",
                              QMessageBox.StandardButton.Ok, self)
            box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()
            self.settings_path_box = box

    # -- export ----------------------------------------------------------------------------
    def _fill_export_menu(self) -> None:
        """Each format twice: for the selected videos and for all shown, with the counts."""
        self.export_menu.clear()
        n_sel, n_shown = self.selected_count(), self.model.rowCount()
        for scope, n in (("selected", n_sel), ("shown", n_shown)):
            for w in writers():
                where = "beside the videos" if w.sidecar else "to a file…"
                text = f"{w.label} {where} — {'selected' if scope == 'selected' else 'all shown'} ({n})"
                act = self._action(text, lambda _=False, name=w.name, sc=scope: self.export(name, scope=sc),
                                   tip=f"export format '{w.name}'")
                act.setData(w.name)
                act.setEnabled(n > 0)
                self.export_menu.addAction(act)
            if scope == "selected":
                self.export_menu.addSeparator()

    def export(self, fmt: str, dest: Path | None = None, *, scope: str | None = None,
               confirm: bool = True) -> None:
        """Export with the writer registered as ``fmt``: ``scope`` "selected" or "shown"
        (every video the view shows); None: the selection, or with none all shown.  It says
        how many videos and asks first."""
        ids = self.selected_ids()
        if scope == "selected" and not ids:
            self.activity.setText("nothing selected to export")
            return
        use_ids = bool(ids) if scope is None else scope == "selected"
        # what the view shows (a search being typed is not applied yet)
        sel = Selection.of_ids(ids) if use_ids else self.model.filter.selection()
        count = len(ids) if use_ids else self.model.rowCount()
        writer = next(w for w in writers() if w.name == fmt)
        if confirm:
            what = (f"the {count:,} selected video{'s' if count != 1 else ''}" if use_ids else
                    f"all {count:,} video{'s' if count != 1 else ''} shown")
            where = "NFO files beside the videos (existing ones keep everything but <genre>)" \
                if writer.sidecar else "one file"
            self.ask(f"Export {writer.label}", f"Export {what} as {where}?",
                     lambda: self._export(writer, sel, dest))
            return
        self._export(writer, sel, dest)

    def _export(self, writer: Any, sel: Selection, dest: Path | None) -> None:
        fmt = writer.name
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
            self.model.request_reload()  # the selection is kept by id when rows swap in
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
        self.act_pause.setIconText("Resume" if paused else "Pause")
        self.act_pause.setIcon(icon("resume" if paused else "pause"))
        self._show_center(c.videos)
        shown = self.model.rowCount()
        self.counts_label.setText(
            f"{shown} shown · {c.videos} videos · {queued} queued · {running} processing · "
            f"{failed} failed" + (" · PAUSING (the running job finishes its stage)"
                                  if paused and running else " · PAUSED" if paused else ""))
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
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/side_tab", self.side_tabs.currentIndex())
        self.settings.sync()
        if self._jobs_panel is not None:
            self._jobs_panel.close_panel()
        self._status_timer.stop()
        self._refresh_timer.stop()
        self._detail_timer.stop()
        self.queries.close()
        self.activity.setText("stopping workers…")
        self.bridge.shutdown()
        event.accept()
