"""Qt item models over the library's read-only queries.

Why it is built this way: a library can hold 100,000 videos, and a table must open and
scroll instantly.  So a (re)load reads only a few *light* columns of every matching video
(id, path, status, duration, the active job) in one query, which is what sorting and
``rowCount`` need; the 21 genre states of a row are read lazily, one page of ``PAGE`` rows
at a time, the first time the view asks for them (``iter_videos`` of that page), and kept in
a small LRU of pages.  Reads run on the GUI thread on purpose: in WAL mode a reader never
waits for a writer, and a page costs a few milliseconds.  Writes never happen here.

On a big library (``big``: at least ``SYNC_BELOW`` videos) nothing of that runs on the GUI
thread any more (issue 11): with a ``QueryWorker`` attached, ``request_reload`` and ``sort``
read and sort the rows on the worker's thread and swap them in (reset + ``reloaded``); a
newer request drops an older one's result (generation numbers); and a genre page the view
asks for is read in the background too (``data`` shows the row without chips until its page
arrives, then ``dataChanged`` repaints it), so dragging the scrollbar never waits for SQL.
Small libraries keep the synchronous path: it costs less than a frame and keeps the view
free of flicker.

Background updates (a job finished) refresh just the affected rows in place
(``refresh_ids``), so the selection and scroll position survive; new or vanished videos
appear on the next (throttled) ``reload``, which keeps the selection by video id.
"""

from __future__ import annotations

import gc
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QIcon, QPixmap

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
from .query_worker import chunked_sort

PAGE = 200  # rows whose genre states are read together
SYNC_BELOW = 5000  # libraries smaller than this load, sort and page on the GUI thread
MAX_PAGES = 64  # pages kept in memory (12,800 rows)
RecordRole = Qt.ItemDataRole.UserRole + 1  # the row's VideoRecord (None until its page loads)
VideoIdRole = Qt.ItemDataRole.UserRole + 2
# the roles ``data`` answers, looked up once (an enum member's lookup costs a Python call, and
# painting asks ~1,000 times a screen)
_DECORATIONROLE = Qt.ItemDataRole.DecorationRole
_DISPLAYROLE = Qt.ItemDataRole.DisplayRole
_FONTROLE = Qt.ItemDataRole.FontRole
_FOREGROUNDROLE = Qt.ItemDataRole.ForegroundRole
_TEXTALIGNMENTROLE = Qt.ItemDataRole.TextAlignmentRole
_TOOLTIPROLE = Qt.ItemDataRole.ToolTipRole

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
    review: bool = False  # "needs review": core.library.review.needs_review_clause
    match: str = "all"  # genres: "all" or "any"
    min_probability: float | None = None  # a genre counts from this model probability on
    queued: bool = False
    unclassified: bool = False
    cold_start: bool = False

    def selection(self) -> Selection:
        """The application layer's selection for this filter (unticked = no condition)."""
        return Selection(text=self.text, genres=self.genres, failed=self.failed,
                         missing=True if self.missing else None, corrected=self.corrected,
                         stale=self.stale, review=self.review, match=self.match,
                         min_probability=self.min_probability, queued=self.queued,
                         unclassified=self.unclassified, cold_start=self.cold_start)


def _release(box: list, step: int = 500) -> None:
    """Drop what ``box`` holds a slice at a time: freeing 100,000 rows in one C loop holds the
    GIL for ~50 ms (no Python step in between for the GUI thread to take its turn).  It runs
    just after a swap, while the view repaints (a call into Python per cell, each waiting for
    the GIL): after each slice it offers the GIL outright (``time.sleep(0)``) rather than
    waiting to be asked (measured: a sort's repaint waited 80-100 ms in all without)."""
    while box:
        part = box.pop()
        if isinstance(part, tuple):
            box.extend(part)
        elif isinstance(part, list):
            while part:
                del part[-step:]
                time.sleep(0)
        elif isinstance(part, OrderedDict):
            while part:
                part.popitem()
                time.sleep(0)
        elif isinstance(part, dict) and len(part) > step:
            keys = list(part)
            for start in range(0, len(keys), step):
                for k in keys[start:start + step]:
                    del part[k]
                time.sleep(0)
        del part


@dataclass
class _Loaded:
    rows: list[Row]
    index: dict[int, int]
    sort_data: dict[int, Any] | None


class LibraryTableModel(QAbstractTableModel):
    """The library table: Title, Genres, Status, Duration, Folder (see the module doc)."""

    COLUMNS = ("Title", "Genres", "Status", "Duration", "Folder")
    TITLE, GENRES, STATUS, DURATION, FOLDER = range(5)
    reloaded = Signal()  # rows swapped in (after modelReset): the window reselects
    busyChanged = Signal(bool)

    def __init__(self, app: LibrarySession, parent: Any = None, worker: Any = None) -> None:
        super().__init__(parent)
        self.app = app
        self.worker = worker  # a QueryWorker: big libraries load off the GUI thread
        self.filter = LibraryFilter()
        self._rows: list[Row] = []
        self._index: dict[int, int] = {}  # video id -> row number
        self._pages: OrderedDict[int, list[VideoRecord | None]] = OrderedDict()
        self._page_wanted: set[int] = set()
        self._last_wanted = 0
        self._sort_column = self.TITLE
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._sort_genre: str | None = None  # sort by this genre's probability
        self._sort_data: dict[int, Any] | None = None
        self.pages_loaded = 0  # how many page reads happened (tests and benchmarks look)
        self.library_size = 0  # videos in the library (decides sync vs background)
        self.loading = False
        self.loads = 0  # swaps done (tests and benchmarks look)
        self.show_icons = False  # the thumbnail grid asks for pictures (DecorationRole)
        self._icons: OrderedDict[str, QIcon] = OrderedDict()

    def set_show_icons(self, on: bool) -> None:
        self.show_icons = on
        if self._rows:
            self.dataChanged.emit(self.index(0, self.TITLE), self.index(len(self._rows) - 1, self.TITLE),
                                  [Qt.ItemDataRole.DecorationRole])

    def _icon(self, rec: VideoRecord | None) -> QIcon | None:
        if rec is None or not rec.thumbnail:
            return None
        icon = self._icons.get(rec.thumbnail)
        if icon is None:
            pix = QPixmap(rec.thumbnail)
            if pix.isNull():
                return None
            icon = QIcon(pix.scaled(QSize(160, 90), Qt.AspectRatioMode.KeepAspectRatio,
                                    Qt.TransformationMode.SmoothTransformation))
            self._icons[rec.thumbnail] = icon
            while len(self._icons) > 2000:
                self._icons.popitem(last=False)
        else:
            self._icons.move_to_end(rec.thumbnail)
        return icon

    @property
    def big(self) -> bool:
        big = self.worker is not None and self.library_size >= SYNC_BELOW
        if big:
            self.worker.freeze_after_reads = True
        return big

    # -- loading ---------------------------------------------------------------------------
    def set_filter(self, flt: LibraryFilter) -> None:
        self.filter = flt
        self.request_reload()

    def reload(self) -> None:
        """Re-read the matching rows (light columns only); genre pages load on demand."""
        self._swap(self._load(self.filter, None, self._sort_spec()))

    def request_reload(self) -> None:
        """``reload`` on the worker's thread for a big library (the newest request wins)."""
        if not self.big:
            self.reload()
            return
        self._submit(self.filter, None)

    def _sort_spec(self) -> tuple[int, Qt.SortOrder, str | None]:
        return self._sort_column, self._sort_order, self._sort_genre

    def _submit(self, flt: LibraryFilter, rows: list[Row] | None) -> None:
        spec = self._sort_spec()
        self._set_loading(True)
        self.worker.submit("rows", lambda: self._load(flt, rows, spec), self._swap,
                           lambda err: (self._set_loading(False),
                                        self.worker.failed.emit(f"reading the library failed: {err}")))

    def _set_loading(self, on: bool) -> None:
        if on != self.loading:
            self.loading = on
            self.busyChanged.emit(on)

    def _load(self, flt: LibraryFilter, rows: list[Row] | None,
              spec: tuple[int, Qt.SortOrder, str | None]) -> _Loaded:
        """Read (unless ``rows`` are given) and sort: safe on any thread (no Qt objects)."""
        column, order, genre = spec
        sel = flt.selection()
        rows = self.app.rows(sel) if rows is None else list(rows)
        data: dict[int, Any] | None = None
        if genre is not None:
            data = self.app.genre_probabilities(genre, sel)
            key = self._prob_key(data)
        elif column == self.GENRES:
            data = self.app.genre_text(sel)
            key = self._text_key(data)
        else:
            key = self._sort_key(column)
        rows = chunked_sort(rows, key, reverse=order == Qt.SortOrder.DescendingOrder)
        return _Loaded(rows, {r.id: n for n, r in enumerate(rows)}, data)

    def _swap(self, loaded: _Loaded) -> None:
        self.beginResetModel()
        old = (self._rows, self._index, self._sort_data, self._pages)
        self._rows, self._index, self._sort_data = loaded.rows, loaded.index, loaded.sort_data
        self._pages = OrderedDict()
        self._page_wanted.clear()
        self.endResetModel()
        if self.big:  # 100,000 old rows are freed on the worker's thread, not this one
            box = [old]
            self.worker.submit(f"free:{self.loads}", lambda: _release(box), lambda _r: None)
            gc.freeze()  # and the new ones are not walked by every later collection
        del old
        self.loads += 1
        self._set_loading(False)
        self.reloaded.emit()

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
        return self._store_page(number, [found.get(i) for i in ids])

    def _store_page(self, number: int, page: list[VideoRecord | None]) -> list[VideoRecord | None]:
        self._pages[number] = page
        self.pages_loaded += 1
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return page

    def _page_soon(self, number: int) -> list[VideoRecord | None] | None:
        """The page if it is in memory; else (big library) ask the worker for it and return
        None now: the row is painted without its chips until the page arrives."""
        page = self._pages.get(number)
        if page is not None:
            self._pages.move_to_end(number)
            return page
        if not self.big:
            return self._page(number)
        self._last_wanted = number
        if number not in self._page_wanted:
            self._page_wanted.add(number)
            ids = [r.id for r in self._rows[number * PAGE:(number + 1) * PAGE]]

            def read() -> dict[int, VideoRecord] | None:
                # scrolled far past it while it waited (a scrollbar drag): skip it
                if abs(number - self._last_wanted) > 2:
                    return None
                return self.app.records_for(ids)

            self.worker.submit(f"page:{number}", read,
                               lambda found: self._page_arrived(number, ids, found))
        return None

    def _page_arrived(self, number: int, ids: list[int],
                      found: dict[int, VideoRecord] | None) -> None:
        self._page_wanted.discard(number)
        if found is None:
            return
        now = [r.id for r in self._rows[number * PAGE:(number + 1) * PAGE]]
        if now != ids:  # the rows were re-sorted or re-filtered meanwhile: a stale page
            return
        self._store_page(number, [found.get(i) for i in ids])
        first, last = number * PAGE, min(len(self._rows), (number + 1) * PAGE) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self.COLUMNS) - 1))

    def record(self, row: int) -> VideoRecord | None:
        if not 0 <= row < len(self._rows):
            return None
        return self._page(row // PAGE)[row % PAGE]

    def record_soon(self, row: int) -> VideoRecord | None:
        """``record`` without waiting (None until its page is read): what painting uses."""
        if not 0 <= row < len(self._rows):
            return None
        page = self._page_soon(row // PAGE)
        return page[row % PAGE] if page is not None else None

    def row_of(self, video_id: int) -> int | None:
        return self._index.get(video_id)

    def video_id(self, row: int) -> int:
        return self._rows[row].id

    def light(self, row: int) -> Row:
        return self._rows[row]

    def ids_between(self, first: int, last: int) -> list[int]:
        """The video ids of rows ``first`` to ``last`` (inclusive)."""
        return [r.id for r in self._rows[first:last + 1]]

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

    @staticmethod
    def _prob_key(probs: dict[int, float]):  # noqa: ANN205 - a key function
        return lambda r: (probs.get(r.id, -1.0), r.title.casefold())

    @staticmethod
    def _text_key(text: dict[int, str]):  # noqa: ANN205 - a key function
        # videos without genres last in ascending order, then by what the column shows
        return lambda r: (r.id not in text, text.get(r.id, "").casefold(), r.title.casefold())

    def sort_by_genre(self, genre: str | None,
                      order: Qt.SortOrder = Qt.SortOrder.DescendingOrder) -> None:
        """Sort by ``genre``'s model probability (None: back to the column sort)."""
        self._sort_genre = genre
        self._sort_order = order
        self._resort()

    @property
    def sort_genre(self) -> str | None:
        return self._sort_genre

    def _resort(self) -> None:
        if self.big:
            pending = self.loading  # a filter in flight: re-read with it, else reuse the rows
            self._submit(self.filter, None if pending else self._rows)
            return
        self._swap(self._load(self.filter, self._rows, self._sort_spec()))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort_genre = None  # a header click sorts by that column again
        if self.big or column == self.GENRES:
            self._sort_column, self._sort_order = column, order
            self._resort()
            return
        self.layoutAboutToBeChanged.emit()
        old = [r.id for r in self._rows]
        persistent = self.persistentIndexList()
        self._sort_column, self._sort_order = column, order
        loaded = self._load(self.filter, self._rows, self._sort_spec())
        self._rows, self._index, self._sort_data = loaded.rows, loaded.index, loaded.sort_data
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
            if section == self.GENRES and self._sort_genre is not None:
                return f"Genres (sorted by {self._sort_genre} probability)"
            return self.COLUMNS[section]
        return None

    def multiData(self, index: QModelIndex | QPersistentModelIndex, span: Any) -> None:  # noqa: N802
        """Every role a view asks for, in one call: painting a cell then costs one call
        into Python instead of seven, and each such call waits for the GIL when a worker
        thread is reading (see ``query_worker``)."""
        if not index.isValid():
            for rd in span:
                rd.clearData()
            return
        row, col = index.row(), index.column()  # once per cell, not once per role
        light = self._rows[row]
        value_of = self._value
        for rd in span:
            value = value_of(row, col, light, rd.role())
            if value is None:
                rd.clearData()
            else:
                rd.setData(value)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = index.row()
        return self._value(row, index.column(), self._rows[row], role)

    def _value(self, row: int, col: int, light: Row, role: int) -> Any:
        """``data`` of the cell (``row``, ``col``) whose light row is ``light``."""
        if role == VideoIdRole:
            return light.id
        if role == RecordRole:
            return self.record_soon(row)
        if role == _DECORATIONROLE and col == self.TITLE and self.show_icons:
            return self._icon(self.record_soon(row))
        if role == _DISPLAYROLE:
            if col == self.TITLE:
                return light.title
            if col == self.GENRES:
                rec = self.record_soon(row)
                return ", ".join(rec.genres) if rec is not None else ""
            if col == self.STATUS:
                rec = self.record_soon(row) if light.status == VIDEO_READY else None
                return status_text(light, stale=bool(rec and rec.stale))
            if col == self.DURATION:
                return format_duration(light.duration)
            if col == self.FOLDER:
                return os.path.dirname(light.path)
        if role == _TOOLTIPROLE:
            if col == self.GENRES:
                rec = self.record_soon(row)
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
        if role == _FOREGROUNDROLE:
            if light.status == VIDEO_MISSING:
                return QColor("#8a8a8a")
            if col == self.STATUS and light.status == VIDEO_FAILED and light.job_status is None:
                return QColor("#c0392b")
        if role == _FONTROLE and col == self.STATUS and light.status == VIDEO_MISSING:
            f = QFont()
            f.setItalic(True)
            return f
        if role == _TEXTALIGNMENTROLE and col == self.DURATION:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None
