"""The library table and filters over a real SQLite library filled through the core."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.gui.support import fill, probs_for
from trailertagger.core.app import LibrarySession
from trailertagger.core.genres import GENRES
from trailertagger.core.library import queries
from trailertagger.core.library.corrections import apply_changes, parse_changes
from trailertagger.core.library.identity import mark_missing
from trailertagger.core.library.schema import Video
from trailertagger.gui.library_model import PAGE, LibraryFilter, LibraryTableModel


def _col(model: LibraryTableModel, col: int) -> list[str]:
    return [model.data(model.index(r, col)) for r in range(model.rowCount())]


def test_model_rows_sort_and_lazy_pages(qtbot, lib) -> None:
    ids = fill(lib, 2 * PAGE + 50)
    model = LibraryTableModel(LibrarySession(lib))
    model.reload()
    assert model.rowCount() == len(ids) and model.columnCount() == 5
    assert model.pages_loaded == 0  # rowCount and titles need no genre rows
    titles = _col(model, LibraryTableModel.TITLE)
    assert titles == sorted(titles) and titles[0] == "film 00000"
    assert model.data(model.index(0, LibraryTableModel.GENRES)) == ", ".join(
        g for g in GENRES if probs_for(0)[g] > 0.5)
    assert model.data(model.index(0, LibraryTableModel.STATUS)) == "ready"
    assert model.data(model.index(0, LibraryTableModel.DURATION)) == "1:00"
    assert model.pages_loaded == 1  # one page of genre states, not 450 rows
    model.sort(LibraryTableModel.DURATION, Qt.SortOrder.DescendingOrder)
    assert model.data(model.index(0, LibraryTableModel.TITLE)) == f"film {len(ids) - 1:05d}"
    rec = model.record(model.rowCount() - 1)
    assert rec is not None and rec.path.endswith("film 00000.mp4") and rec.model_id == "test-head"


def test_genre_filter_search_and_flags_narrow_rows(qtbot, make_window, lib) -> None:
    ids = fill(lib, 42)
    apply_changes(lib, ids[:3], parse_changes(["+Western", "-Action"]))
    with lib.session() as s:
        mark_missing(s, [s.get(Video, ids[-1])], "file not found by a rescan")
        v = s.get(Video, ids[-2])
        v.status, v.error_reason = "failed", "corrupt: no MP4 header"
    win = make_window(start=False)
    assert win.model.rowCount() == 42
    # the genre list shows the core's counts
    with lib.read() as s:
        counts = queries.genre_counts(s)
    item = win.genre_list.item(GENRES.index("Horror"))
    assert item.text() == f"Horror  ({counts['Horror']})"
    item.setCheckState(Qt.CheckState.Checked)  # filter applies at once
    with lib.read() as s:
        horror = set(queries.video_ids(s, genres=["Horror"]))
    assert 0 < win.model.rowCount() == len(horror) < 42
    assert set(win.model.all_ids()) == horror
    item.setCheckState(Qt.CheckState.Unchecked)
    # Western was added by hand to the first three (and is on for some by prediction)
    win.genre_list.item(GENRES.index("Western")).setCheckState(Qt.CheckState.Checked)
    assert set(ids[:3]) <= set(win.model.all_ids())
    win.genre_list.item(GENRES.index("Western")).setCheckState(Qt.CheckState.Unchecked)
    # text search (debounced) narrows to one film
    win.search.setText("FILM 00017")
    qtbot.waitUntil(lambda: win.model.rowCount() == 1, timeout=3000)
    assert win.model.data(win.model.index(0, 0)) == "film 00017"
    win.search.clear()
    qtbot.waitUntil(lambda: win.model.rowCount() == 42, timeout=3000)
    win.only["corrected"].setChecked(True)
    assert sorted(win.model.all_ids()) == sorted(ids[:3])
    win.only["corrected"].setChecked(False)
    win.only["failed"].setChecked(True)
    assert win.model.all_ids() == [ids[-2]]
    assert win.model.data(win.model.index(0, 2)) == "failed: corrupt: no MP4 header"
    win.only["failed"].setChecked(False)
    win.only["missing"].setChecked(True)
    assert win.model.all_ids() == [ids[-1]]
    win.only["missing"].setChecked(False)
    assert win.current_filter() == LibraryFilter()


def test_stale_filter_after_model_change(qtbot, lib) -> None:
    ids = fill(lib, 5)
    fill(lib, 2, folder="/other", model="newer-head")  # a new head: the first five go stale
    model = LibraryTableModel(LibrarySession(lib))
    model.set_filter(LibraryFilter(stale=True))
    assert sorted(model.all_ids()) == sorted(ids)
    assert model.data(model.index(0, LibraryTableModel.STATUS)) == "ready (stale)"


def test_refresh_reads_genre_states_only_for_pages_in_memory(qtbot, lib, monkeypatch) -> None:
    ids = fill(lib, 2 * PAGE + 50)
    model = LibraryTableModel(LibrarySession(lib))
    model.reload()
    first, last = ids[0], ids[-1]
    assert model.record(model.row_of(first)) is not None  # page 0 in memory, page 2 not
    read: list[list[int]] = []
    real = queries.iter_videos

    def counting(s, q=None, **kw):  # noqa: ANN001, ANN202
        recs = list(real(s, q, **kw))
        read.append([r.id for r in recs])
        return iter(recs)

    monkeypatch.setattr(queries, "iter_videos", counting)
    apply_changes(lib, [first, last], parse_changes(["+Western"]))
    model.refresh_ids([first, last])
    assert read == [[first]]  # the row on page 2 is read when it is shown
    assert "Western" in model.record(model.row_of(first)).manual_on
    monkeypatch.setattr(queries, "iter_videos", real)
    assert "Western" in model.record(model.row_of(last)).manual_on
