"""Issue 11: filters, bulk edits, the context menu, export confirmation and the query worker
that keeps a big library's view off the GUI thread (real SQLite libraries in tmp dirs)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import func, select

from tests.gui.support import fill
from trailertagger.core.app import LibrarySession, Selection
from trailertagger.core.genres import GENRES
from trailertagger.core.library import queries
from trailertagger.core.library.schema import GenreAssignment, Job
from trailertagger.gui.library_model import LibraryFilter, LibraryTableModel
from trailertagger.gui.query_worker import QueryWorker


def _yes(win) -> str:
    box = win.pending_question
    assert box is not None, "it did not ask"
    text = box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    return text


def _manual_rows(lib) -> int:
    with lib.read() as s:
        return s.execute(select(func.count()).select_from(GenreAssignment)
                         .where(GenreAssignment.source == "manual")).scalar_one()


def test_filter_any_all_threshold_and_counts_follow(qtbot, make_window, lib) -> None:
    fill(lib, 42)
    win = make_window(start=False)
    a, b = GENRES[0], GENRES[5]
    ia, ib = win.genre_list.item(0), win.genre_list.item(5)
    ia.setCheckState(Qt.CheckState.Checked)
    ib.setCheckState(Qt.CheckState.Checked)
    with lib.read() as s:
        both = set(queries.video_ids(s, genres=[a, b]))
        either = set(queries.video_ids(s, genres=[a])) | set(queries.video_ids(s, genres=[b]))
    qtbot.waitUntil(lambda: set(win.model.all_ids()) == both, timeout=5000)
    # the counts beside the genres follow the filter: within "a and b", b counts |both|
    qtbot.waitUntil(lambda: ib.text() == f"{b}  ({len(both)})", timeout=5000)
    assert win.genre_list.item(1).text() == f"{GENRES[1]}  (0)"
    win.filters.match.setCurrentIndex(win.filters.match.findData("any"))
    qtbot.waitUntil(lambda: set(win.model.all_ids()) == either, timeout=5000)
    assert len(either) > len(both)
    # a threshold below every probability (0.1 off, 0.9 on) takes in every video
    win.filters.threshold.setValue(5)
    win.filters.use_threshold.setChecked(True)
    qtbot.waitUntil(lambda: win.model.rowCount() == 42, timeout=5000)
    win.filters.threshold.setValue(95)  # above every one: none
    qtbot.waitUntil(lambda: win.model.rowCount() == 0, timeout=5000)
    # state filter: nothing is queued yet
    win.filters.use_threshold.setChecked(False)
    for i in (0, 5):
        win.genre_list.item(i).setCheckState(Qt.CheckState.Unchecked)
    win.only["queued"].setChecked(True)
    qtbot.waitUntil(lambda: win.model.rowCount() == 0, timeout=5000)


def test_sort_by_genre_probability_and_by_the_genres_column(qtbot, lib) -> None:
    from trailertagger.core.library.classification import note_active_head, store_predictions
    from trailertagger.core.library.identity import new_video
    from trailertagger.core.library.schema import Video

    with lib.session() as s:
        head, _ = note_active_head(s, "h", "1", "onnx")
        for i, p in enumerate((0.2, 0.9, 0.5, 0.7)):
            v = new_video(s, f"/f/{'dcba'[i]}.mp4", 10 + i, 1)
            store_predictions(s, s.get(Video, v.id), head,
                              {g: (p if g == "Horror" else (0.8 if g == "Action" and i == 0 else 0.0))
                               for g in GENRES})
    model = LibraryTableModel(LibrarySession(lib))
    model.reload()
    model.sort_by_genre("Horror")
    titles = [model.light(r).title for r in range(4)]
    assert titles == ["c", "a", "b", "d"]  # 0.9, 0.7, 0.5, 0.2
    assert "Horror" in model.headerData(1, Qt.Orientation.Horizontal)
    model.sort(LibraryTableModel.GENRES, Qt.SortOrder.AscendingOrder)
    shown = [model.data(model.index(r, 1)) for r in range(4)]
    assert shown == sorted(shown, key=str.casefold) and shown == ["Action", "Horror", "Horror", "Horror"]


def test_bulk_correction_asks_mixed_state_and_undoes_in_one_step(qtbot, make_window, lib) -> None:
    ids = fill(lib, 210)
    win = make_window(start=False)
    win.table.selectAll()
    assert len(win.selected_ids()) == 210
    horror = win.detail.rows["Horror"].check
    # some of the selection have Horror: the box shows a mixed state (read in the background)
    qtbot.waitUntil(lambda: horror.checkState() == Qt.CheckState.PartiallyChecked, timeout=5000)
    with lib.read() as s:
        have = len(set(queries.video_ids(s, genres=["Horror"])) & set(ids))
    assert f"{have} of 210" in horror.toolTip()
    horror.click()  # mixed -> ticked: "+Horror" on all 210, after asking
    assert _manual_rows(lib) == 0  # nothing written before the answer
    text = _yes(win)
    assert "210 videos" in text and "Horror" in text
    qtbot.waitUntil(lambda: win.bridge.busy is False and _manual_rows(lib) > 0, timeout=10000)
    with lib.read() as s:
        assert set(queries.video_ids(s, genres=["Horror"])) >= set(ids)
    assert win.undo_stack.count() == 1  # one step for 210 videos
    qtbot.waitUntil(lambda: horror.checkState() == Qt.CheckState.Checked, timeout=5000)
    win.act_undo.trigger()
    qtbot.waitUntil(lambda: win.bridge.busy is False and _manual_rows(lib) == 0, timeout=10000)
    # cancelling the question changes nothing
    win.table.selectAll()
    win.detail.rows["War"].check.click()
    win.pending_question.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.wait(200)
    assert _manual_rows(lib) == 0 and win.undo_stack.index() == 0


def test_context_menu_fits_the_selection_and_reruns(qtbot, make_window, lib) -> None:
    ids = fill(lib, 6)
    win = make_window(start=False)
    win.reselect(ids[:2])
    menu = win.context_menu(win.model.index(win.model.row_of(ids[0]), 0))
    acts = {a.objectName(): a for a in menu.actions() if a.objectName()}
    assert {"ctx-play", "ctx-open", "ctx-copy", "ctx-rerun", "ctx-reextract", "ctx-cancel",
            "ctx-clear", "ctx-export", "ctx-erase"} <= set(acts)
    assert "2 videos" in acts["ctx-rerun"].text()
    # what does not apply is disabled, and says why
    assert not acts["ctx-cancel"].isEnabled() and "queued" in acts["ctx-cancel"].toolTip()
    assert not acts["ctx-clear"].isEnabled() and "corrections" in acts["ctx-clear"].toolTip()
    assert not acts["ctx-erase"].isEnabled() and "missing" in acts["ctx-erase"].toolTip()
    assert acts["ctx-rerun"].isEnabled()
    acts["ctx-rerun"].trigger()
    qtbot.waitUntil(lambda: win.bridge.busy is False and _jobs(lib) == 2, timeout=10000)
    with lib.read() as s:
        queued = set(s.execute(select(Job.video_id).where(Job.status == "queued")).scalars())
    assert queued == set(ids[:2])
    # now cancel applies to those two
    menu = win.context_menu(win.model.index(win.model.row_of(ids[0]), 0))
    acts = {a.objectName(): a for a in menu.actions() if a.objectName()}
    assert acts["ctx-cancel"].isEnabled()
    # a right-click on an unselected row selects it first: the menu is about that one
    menu = win.context_menu(win.model.index(win.model.row_of(ids[5]), 0))
    assert win.selected_ids() == [ids[5]]
    acts = {a.objectName(): a for a in menu.actions() if a.objectName()}
    assert not acts["ctx-cancel"].isEnabled()
    acts["ctx-copy"].trigger()
    from PySide6.QtWidgets import QApplication

    qtbot.waitUntil(lambda: QApplication.clipboard().text().endswith("film 00005.mp4"),
                    timeout=5000)


def _jobs(lib) -> int:
    with lib.read() as s:
        return s.execute(select(func.count()).select_from(Job)).scalar_one()


def test_export_asks_with_the_count_selected_vs_shown(qtbot, make_window, lib,
                                                      tmp_path: Path) -> None:
    ids = fill(lib, 30)
    win = make_window(start=False)
    win.search.setText("film 0001")
    win.apply_filter()
    assert win.model.rowCount() == 11  # 00001 and 00010-00019
    win._fill_export_menu()
    texts = [a.text() for a in win.export_menu.actions() if a.text()]
    assert any("selected (0)" in t for t in texts) and any("all shown (11)" in t for t in texts)
    # nothing selected: "all shown", said with the count
    out = tmp_path / "shown.json"
    win.export("json", out)
    assert "all 11 videos shown" in _yes(win)
    qtbot.waitUntil(out.exists, timeout=5000)
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 11
    # three selected
    win.reselect([i for i in ids if win.model.row_of(i) is not None][:3])
    out2 = tmp_path / "selected.json"
    win.export("json", out2)
    assert "3 selected videos" in _yes(win)
    qtbot.waitUntil(out2.exists, timeout=5000)
    assert len(json.loads(out2.read_text(encoding="utf-8"))) == 3
    # "selected" with nothing selected writes nothing and asks nothing
    win.table.clearSelection()
    win.export("nfo", scope="selected")
    assert win.pending_question is None and "nothing selected" in win.activity.text()


def test_stale_generation_is_dropped(qtbot) -> None:
    worker = QueryWorker()
    gate = threading.Event()
    shown: list[str] = []

    started = threading.Event()

    def slow() -> str:
        started.set()
        gate.wait(5)
        return "old"

    g1 = worker.submit("rows", slow, shown.append)
    assert started.wait(5)  # it is running when the newer request comes
    g2 = worker.submit("rows", lambda: "new", shown.append)
    assert g2 == g1 + 1
    gate.set()
    qtbot.waitUntil(lambda: not worker.busy(), timeout=5000)
    assert shown == ["new"]
    assert worker.dropped == 1  # the old one ran (it had started) and was thrown away
    # a request already stale when its turn comes never runs
    ran: list[str] = []
    gate.clear()
    started.clear()
    worker.submit("rows", lambda: (started.set(), gate.wait(5), ran.append("a"))[2], shown.append)
    assert started.wait(5)
    worker.submit("rows", lambda: ran.append("b"), shown.append)
    worker.submit("rows", lambda: ran.append("c") or "c", shown.append)
    gate.set()
    qtbot.waitUntil(lambda: not worker.busy(), timeout=5000)
    assert ran == ["a", "c"] and shown[-1] == "c"
    worker.close()


def test_big_library_loads_in_the_background_newest_filter_wins(qtbot, lib) -> None:
    fill(lib, 60)
    worker = QueryWorker()
    model = LibraryTableModel(LibrarySession(lib), worker=worker)
    model.library_size = 10**6  # as if big: every load goes to the worker
    busy: list[bool] = []
    model.busyChanged.connect(busy.append)
    model.request_reload()
    assert model.rowCount() == 0 and model.loading  # nothing read on this thread
    qtbot.waitUntil(lambda: model.rowCount() == 60 and not model.loading, timeout=5000)
    assert busy == [True, False]
    loads = model.loads
    model.set_filter(LibraryFilter(genres=("Horror",)))
    model.set_filter(LibraryFilter(text="film 0000"))  # supersedes the genre filter
    qtbot.waitUntil(lambda: not worker.busy(), timeout=5000)
    assert model.rowCount() == 10 and model.loads == loads + 1
    # pages are read in the background too: the first paint gets None, then dataChanged
    assert model.data(model.index(0, 1)) == ""
    with qtbot.waitSignal(model.dataChanged, timeout=5000):
        pass
    assert model.data(model.index(0, 1)) != ""
    ids = LibrarySession(lib).ids(Selection(text="film 0000"))
    assert sorted(model.all_ids()) == ids
    worker.close()


def test_thumbnail_grid_shares_model_and_selection(qtbot, make_window, lib) -> None:
    ids = fill(lib, 8)
    win = make_window(start=False)
    assert win.grid.model() is None  # not laid out while hidden
    win.act_grid.trigger()
    assert win.views.currentWidget() is win.grid and win.grid.model() is win.model
    assert win.grid.selectionModel() is win.table.selectionModel()
    win.grid.selectionModel().select(
        win.model.index(win.model.row_of(ids[3]), 0),
        win.grid.selectionModel().SelectionFlag.ClearAndSelect
        | win.grid.selectionModel().SelectionFlag.Rows)
    assert win.selected_ids() == [ids[3]]
    assert win.detail.record is not None and win.detail.record.id == ids[3]
    win.act_grid.trigger()
    assert win.views.currentWidget() is win.table and win.grid.model() is None
    assert win.selected_ids() == [ids[3]]  # the table kept it
