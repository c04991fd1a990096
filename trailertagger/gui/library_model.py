"""Qt item models over the library's read-only queries.

Why it is built this way: a library can hold 100,000 videos, and a table must open and
scroll instantly.  So a (re)load reads only a few *light* columns of every matching video
(id, path, status, duration, the active job) in one query, which is what sorting and
``rowCount`` need; the 21 genre states of a row are read lazily, one page of ``PAGE`` rows
at a time, the first time the view asks for them (``iter_videos`` of that page), and kept in
a small LRU of pages.  Reads run on the GUI thread on purpose: in WAL mode a reader never
waits for a writer, and a page costs a few milliseconds.  Writes never happen here.

Background updates (a job finished) refresh just the affected rows in place
(``refresh_ids``), so the selection and scroll position survive; new or vanished videos
appear on the next (throttled) ``reload``, which keeps the selection by video id.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from ..core.app import (
    VIDEO_FAILED,
    VIDEO_MISSING,
    VIDEO_READY,
    LibrarySession,
    Row,
    Selection,
    VideoRecord,
    format_duration,
    status_text,
)

PAGE = 200  # rows whose genre states are read together
MAX_PAGES = 64  # pages kept in memory (12,800 rows)
RecordRole = Qt.ItemDataRole.UserRole + 1  # the row's VideoRecord (None until its page loads)
VideoIdRole = Qt.ItemDataRole.UserRole + 2

__all__ = ["LibraryFilter", "LibraryTableModel", "PAGE", "RecordRole", "Row", "VideoIdRole",
           "format_duration", "status_text"]


@dataclass(frozen=True)
class LibraryFilter:
    """What the table shows (the check boxes and the search box); parts AND together."""

    text: str = ""
    genres: tuple[str, ...] = ()
    failed: bool = False
    missing: bool = False
    corrected: bool = False
    stale: bool = False

    def selection(self) -> Selection:
        """The application layer's selection for this filter (unticked = no condition)."""
        return Selection(text=self.text, genres=self.genres, failed=self.failed,
                         missing=True if self.missing else None, corrected=self.corrected,
                         stale=self.stale)


class LibraryTableModel(QAbstractTableModel):
    """The library table: Title, Genres, Status, Duration, Folder (see the module doc)."""

    COLUMNS = ("Title", "Genres", "Status", "Duration", "Folder")
    TITLE, GENRES, STATUS, DURATION, FOLDER = range(5)

    def __init__(self, app: LibrarySession, parent: Any = None) -> None:
        super().__init__(parent)
        self.app = app
        self.filter = LibraryFilter()
        self._rows: list[Row] = []
        self._index: dict[int, int] = {}  # video id -> row number
        self._pages: OrderedDict[int, list[VideoRecord | None]] = OrderedDict()
        self._sort_column = self.TITLE
        self._sort_order = Qt.SortOrder.AscendingOrder
        self.pages_loaded = 0  # how many page reads happened (tests and benchmarks look)

    # -- loading ---------------------------------------------------------------------------
    def set_filter(self, flt: LibraryFilter) -> None:
        self.filter = flt
        self.reload()

    def reload(self) -> None:
        """Re-read the matching rows (light columns only); genre pages load on demand."""
        rows = self.app.rows(self.filter.selection())
        self.beginResetModel()
        self._rows = rows
        self._sort_rows()
        self._pages.clear()
        self.endResetModel()

    def refresh_ids(self, ids: list[int]) -> None:
        """Re-read these videos in place (status, genres) without resetting the view."""
        present = [i for i in dict.fromkeys(ids) if i in self._index]
        if not present:
            return
        few = len(present) <= PAGE  # many (a correction on 10,000 rows): pages reload lazily
        # genre states only for rows on a page in memory; the others are read when shown
        shown = [vid for vid in present if self._index[vid] // PAGE in self._pages] if few else []
        light = self.app.rows_for(present)
        records = self.app.records_for(shown) if shown else {}  # at most PAGE ids: one query
        rows = []
        for vid in present:
            n = self._index[vid]
            rows.append(n)
            if vid in light:
                self._rows[n] = light[vid]
            if few:
                page = self._pages.get(n // PAGE)
                if page is not None:
                    page[n % PAGE] = records.get(vid)
            else:
                self._pages.pop(n // PAGE, None)
        last = len(self.COLUMNS) - 1
        if few:
            for n in rows:
                self.dataChanged.emit(self.index(n, 0), self.index(n, last))
        else:
            self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), last))

    def _page(self, number: int) -> list[VideoRecord | None]:
        page = self._pages.get(number)
        if page is not None:
            self._pages.move_to_end(number)
            return page
        ids = [r.id for r in self._rows[number * PAGE:(number + 1) * PAGE]]
        found = self.app.records_for(ids)
        page = [found.get(i) for i in ids]
        self._pages[number] = page
        self.pages_loaded += 1
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return page

    def record(self, row: int) -> VideoRecord | None:
        if not 0 <= row < len(self._rows):
            return None
        return self._page(row // PAGE)[row % PAGE]

    def row_of(self, video_id: int) -> int | None:
        return self._index.get(video_id)

    def video_id(self, row: int) -> int:
        return self._rows[row].id

    def light(self, row: int) -> Row:
        return self._rows[row]

    def all_ids(self) -> list[int]:
        return [r.id for r in self._rows]

    # -- sorting ---------------------------------------------------------------------------
    def _sort_key(self, column: int):  # noqa: ANN202 - a key function
        if column == self.STATUS:
            return lambda r: (status_text(r).casefold(), r.title.casefold())
        if column == self.DURATION:
            return lambda r: (r.duration is None, r.duration or 0.0, r.title.casefold())
        if column == self.FOLDER:
            return lambda r: (os.path.dirname(r.path).casefold(), r.title.casefold())
        return lambda r: (r.title.casefold(), r.path)

    def _sort_rows(self) -> None:
        self._rows.sort(key=self._sort_key(self._sort_column),
                        reverse=self._sort_order == Qt.SortOrder.DescendingOrder)
        self._index = {r.id: n for n, r in enumerate(self._rows)}

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.layoutAboutToBeChanged.emit()
        old = [r.id for r in self._rows]
        persistent = self.persistentIndexList()
        self._sort_column, self._sort_order = column, order
        self._sort_rows()
        self._pages.clear()
        for idx in persistent:
            vid = old[idx.row()] if 0 <= idx.row() < len(old) else None
            new_row = self._index.get(vid) if vid is not None else None
            self.changePersistentIndex(
                idx, self.index(new_row, idx.column()) if new_row is not None else QModelIndex())
        self.layoutChanged.emit()

    # -- Qt model API ----------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        light = self._rows[row]
        if role == VideoIdRole:
            return light.id
        if role == RecordRole:
            return self.record(row)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == self.TITLE:
                return light.title
            if col == self.GENRES:
                rec = self.record(row)
                return ", ".join(rec.genres) if rec is not None else ""
            if col == self.STATUS:
                rec = self.record(row) if light.status == VIDEO_READY else None
                return status_text(light, stale=bool(rec and rec.stale))
            if col == self.DURATION:
                return format_duration(light.duration)
            if col == self.FOLDER:
                return os.path.dirname(light.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == self.GENRES:
                rec = self.record(row)
                if rec is None:
                    return None
                parts = [", ".join(rec.genres) or "no genres"]
                if rec.manual_on:
                    parts.append("added by hand: " + ", ".join(rec.manual_on))
                if rec.manual_off:
                    parts.append("removed by hand: " + ", ".join(rec.manual_off))
                return "\n".join(parts)
            if col == self.STATUS:
                return status_text(light)
            return light.path
        if role == Qt.ItemDataRole.ForegroundRole:
            if light.status == VIDEO_MISSING:
                return QColor("#8a8a8a")
            if col == self.STATUS and light.status == VIDEO_FAILED and light.job_status is None:
                return QColor("#c0392b")
        if role == Qt.ItemDataRole.FontRole and col == self.STATUS and light.status == VIDEO_MISSING:
            f = QFont()
            f.setItalic(True)
            return f
        if role == Qt.ItemDataRole.TextAlignmentRole and col == self.DURATION:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
