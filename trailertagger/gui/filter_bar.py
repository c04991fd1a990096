"""The left-hand filters of the library view (issue 11): search, genres with counts that
follow the other filters, any/all matching, a probability threshold, state filters and the
"sort by a genre's probability" choice.

It only shows and signals: ``changed`` when the filter changes (the search box after a
short pause), ``sortGenreChanged(genre or "")``; ``current()`` builds the ``LibraryFilter``
whose ``selection()`` is the application layer's ``Selection`` (the rules live there).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from ..core.genres import GENRES
from .library_model import LibraryFilter

STATES = (("failed", "Failed"), ("missing", "Missing files"), ("corrected", "Corrected by hand"),
          ("stale", "Stale (older model)"), ("review", "Needs review (a label would help most)"),
          ("queued", "Queued or processing"), ("unclassified", "Not classified yet"),
          ("cold_start", "Cold start only (unconfirmed guesses)"))


class FilterBar(QWidget):
    changed = Signal()
    sortGenreChanged = Signal(str)  # "" = sort by the table's columns again

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lv = QVBoxLayout(self)
        lv.setContentsMargins(0, 0, 0, 0)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search titles and paths…")
        self.search.setClearButtonEnabled(True)
        self.search_timer = QTimer(self, singleShot=True, interval=250)
        self.search_timer.timeout.connect(self.changed)
        self.search.textChanged.connect(lambda _t: self.search_timer.start())
        lv.addWidget(self.search)
        box = QGroupBox("Genres")
        bl = QVBoxLayout(box)
        row = QHBoxLayout()
        row.addWidget(QLabel("Match"))
        self.match = QComboBox()
        self.match.addItem("all checked", "all")
        self.match.addItem("any checked", "any")
        self.match.setToolTip("all: videos with every checked genre; any: with at least one")
        self.match.currentIndexChanged.connect(lambda _i: self.changed.emit())
        row.addWidget(self.match, 1)
        bl.addLayout(row)
        trow = QHBoxLayout()
        self.use_threshold = QCheckBox("from")
        self.use_threshold.setToolTip(
            "a checked genre counts when the model gave it at least this probability (or you "
            "or your labels turned it on), instead of the head's own threshold")
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(0, 100)
        self.threshold.setValue(50)
        self.threshold.setEnabled(False)
        self.threshold_label = QLabel("50%")
        self.threshold_label.setMinimumWidth(34)
        self.threshold_timer = QTimer(self, singleShot=True, interval=200)
        self.threshold_timer.timeout.connect(self.changed)
        self.threshold.valueChanged.connect(self._threshold_moved)
        self.use_threshold.toggled.connect(self._threshold_toggled)
        trow.addWidget(self.use_threshold)
        trow.addWidget(self.threshold, 1)
        trow.addWidget(self.threshold_label)
        bl.addLayout(trow)
        self.genre_list = QListWidget()
        for g in GENRES:
            item = QListWidgetItem(g)
            item.setData(Qt.ItemDataRole.UserRole, g)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.genre_list.addItem(item)
        self.genre_list.itemChanged.connect(lambda _i: self.changed.emit())
        bl.addWidget(self.genre_list)
        srow = QHBoxLayout()
        srow.addWidget(QLabel("Sort by"))
        self.sort_genre = QComboBox()
        self.sort_genre.addItem("table column", "")
        for g in GENRES:
            self.sort_genre.addItem(f"{g} probability", g)
        self.sort_genre.setToolTip("sort the videos by one genre's model probability, highest first")
        self.sort_genre.currentIndexChanged.connect(
            lambda _i: self.sortGenreChanged.emit(self.sort_genre.currentData() or ""))
        srow.addWidget(self.sort_genre, 1)
        bl.addLayout(srow)
        lv.addWidget(box, 3)
        show = QGroupBox("Show only")
        sl = QVBoxLayout(show)
        self.only: dict[str, QCheckBox] = {}
        for key, label in STATES:
            cb = QCheckBox(label)
            cb.toggled.connect(lambda _on: self.changed.emit())
            sl.addWidget(cb)
            self.only[key] = cb
        lv.addWidget(show)

    def _threshold_moved(self, v: int) -> None:
        self.threshold_label.setText(f"{v}%")
        if self.use_threshold.isChecked():
            self.threshold_timer.start()

    def _threshold_toggled(self, on: bool) -> None:
        self.threshold.setEnabled(on)
        self.changed.emit()

    def current(self) -> LibraryFilter:
        genres = tuple(self.genre_list.item(i).data(Qt.ItemDataRole.UserRole)
                       for i in range(self.genre_list.count())
                       if self.genre_list.item(i).checkState() == Qt.CheckState.Checked)
        return LibraryFilter(
            text=self.search.text().strip(), genres=genres, match=self.match.currentData(),
            min_probability=self.threshold.value() / 100 if self.use_threshold.isChecked() else None,
            **{k: cb.isChecked() for k, cb in self.only.items()})

    def show_counts(self, counts: dict[str, int]) -> None:
        self.genre_list.blockSignals(True)
        for i in range(self.genre_list.count()):
            item = self.genre_list.item(i)
            g = item.data(Qt.ItemDataRole.UserRole)
            item.setText(f"{g}  ({counts.get(g, 0)})")
        self.genre_list.blockSignals(False)
