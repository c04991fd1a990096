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
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont
from sqlalchemy import and_

from ..core.library import queries
from ..core.library.db import Library
from ..core.library.queries import VideoRecord
from ..core.library.schema import (
    JOB_ACTIVE,
    JOB_RUNNING,
    VIDEO_FAILED,
    VIDEO_MISSING,
    VIDEO_READY,
    Job,
    Video,
)

PAGE = 200  # rows whose genre states are read together
CHUNK = queries.CHUNK  # ids per IN (...) list
MAX_PAGES = 64  # pages kept in memory (12,800 rows)
RecordRole = Qt.ItemDataRole.UserRole + 1  # the row's VideoRecord (None until its page loads)
VideoIdRole = Qt.ItemDataRole.UserRole + 2


@dataclass(frozen=True)
class LibraryFilter:
    """What the table shows; every part is optional and they AND together."""

    text: str = ""
    genres: tuple[str, ...] = ()
    failed: bool = False
    missing: bool = False
    corrected: bool = False
    stale: bool = False
    review: bool = False  # "needs review": core.library.review.needs_review_clause

    def query_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``queries.video_query`` for this filter."""
        kw: dict[str, Any] = {"genres": self.genres, "text": self.text or None}
        if self.failed:
            kw["status"] = VIDEO_FAILED
        if self.missing:
            kw["missing"] = True
        if self.corrected:
            kw["corrected"] = True
        wheres = []
        if self.stale:
            wheres.append(queries.stale_clause())
        if self.review:
            from ..core.library.review import needs_review_clause

            wheres.append(needs_review_clause())
        if wheres:
            from sqlalchemy import and_

            kw["where"] = and_(*wheres) if len(wheres) > 1 else wheres[0]
        return kw


@dataclass
class Row:
    """The light part of a row: enough to sort, count and show status without genre rows."""

    id: int
    path: str
    status: str
    duration: float | None
    error_reason: str | None
    added_at: float
    job_status: str | None = None
    job_stage: str | None = None
    job_progress: float = 0.0
    title: str = field(init=False)

    def __post_init__(self) -> None:
        self.title = os.path.splitext(os.path.basename(self.path))[0]


def status_text(row: Row, stale: bool = False) -> str:
    """The Status column: the active job wins over the video's stored status."""
    if row.job_status == JOB_RUNNING:
        pct = f" {row.job_progress:.0%}" if row.job_progress else ""
        return f"processing ({row.job_stage}{pct})"
    if row.job_status is not None:
        return "queued" if row.status != VIDEO_READY else "queued (re-run)"
    if row.status == VIDEO_FAILED:
        return f"failed: {row.error_reason or 'unknown reason'}"
    if row.status == VIDEO_MISSING:
        return "missing"
    if row.status == VIDEO_READY and stale:
        return "ready (stale)"
    return row.status


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class LibraryTableModel(QAbstractTableModel):
    """The library table: Title, Genres, Status, Duration, Folder (see the module doc)."""

    COLUMNS = ("Title", "Genres", "Status", "Duration", "Folder")
    TITLE, GENRES, STATUS, DURATION, FOLDER = range(5)

    def __init__(self, lib: Library, parent: Any = None) -> None:
        super().__init__(parent)
        self.lib = lib
        self.filter = LibraryFilter()
        self._rows: list[Row] = []
        self._index: dict[int, int] = {}  # video id -> row number
        self._pages: OrderedDict[int, list[VideoRecord | None]] = OrderedDict()
        self._sort_column = self.TITLE
        self._sort_order = Qt.SortOrder.AscendingOrder
        self.pages_loaded = 0  # how many page reads happened (tests and benchmarks look)

    # -- loading ---------------------------------------------------------------------------
    def _light_query(self, extra_ids: list[int] | None = None):  # noqa: ANN202 - a Select
        q = queries.video_query(**self.filter.query_kwargs()) if extra_ids is None else \
            queries.video_query(ids=extra_ids)
        return q.with_only_columns(
            Video.id, Video.path, Video.status, Video.duration, Video.error_reason,
            Video.added_at, Job.status, Job.stage, Job.progress,
        ).outerjoin(Job, and_(Job.video_id == Video.id, Job.status.in_(JOB_ACTIVE)))

    def set_filter(self, flt: LibraryFilter) -> None:
        self.filter = flt
        self.reload()

    def reload(self) -> None:
        """Re-read the matching rows (light columns only); genre pages load on demand."""
        with self.lib.read() as s:
            rows = [Row(*r) for r in s.execute(self._light_query()).all()]
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
        light: dict[int, Row] = {}
        records: dict[int, VideoRecord] = {}
        with self.lib.read() as s:
            for start in range(0, len(present), CHUNK):
                part = present[start:start + CHUNK]
                light.update((r[0], Row(*r)) for r in s.execute(self._light_query(part)).all())
            if shown:  # at most PAGE ids: one query
                records = {r.id: r for r in queries.iter_videos(s, queries.video_query(ids=shown))}
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
        with self.lib.read() as s:
            found = {r.id: r for r in queries.iter_videos(s, queries.video_query(ids=ids))}
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


def genre_counts(lib: Library) -> dict[str, int]:
    """How many present videos have each genre on (the genre filter's numbers)."""
    with lib.read() as s:
        return queries.genre_counts(s)
