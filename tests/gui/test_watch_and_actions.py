"""The window with the folder watcher on, pause/resume, exports, and bulk edits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import select

from tests.gui.support import fill
from trailertagger.core.jobs.watcher import watched_folder_paths
from trailertagger.core.library import queries
from trailertagger.core.library.schema import Job, Video


def _statuses(win) -> dict[str, str]:
    m = win.model
    return {m.light(r).title: m.light(r).status for r in range(m.rowCount())}


def test_watched_folder_new_and_deleted_files(qtbot, make_window, lib, real_clips,
                                              tmp_path: Path) -> None:
    folder = tmp_path / "watched"
    folder.mkdir()
    win = make_window(workers=0, watch=True)
    win.add_folder(folder)
    qtbot.waitUntil(lambda: win.folder_list.count() == 1, timeout=10000)
    # the watcher is restarted on the new folder list in the background
    qtbot.waitUntil(lambda: win.bridge.watcher is not None and any(
        p == str(folder) for _, p, _ in win.bridge.watcher._folders), timeout=10000)
    shutil.copy(real_clips["bbb"], folder / "dropped.mp4")
    qtbot.waitUntil(lambda: _statuses(win).get("dropped") == "ready", timeout=30000)
    (folder / "dropped.mp4").unlink()
    qtbot.waitUntil(lambda: _statuses(win).get("dropped") == "missing", timeout=30000)
    row = win.model.row_of(win.model.all_ids()[0])
    assert win.model.data(win.model.index(row, 2)) == "missing"
    assert win.model.data(win.model.index(row, 0), Qt.ItemDataRole.ForegroundRole) is not None
    # remove the folder: no longer watched, the video keeps its row and tags
    win.folder_list.setCurrentRow(0)
    win.remove_selected_folder()
    qtbot.waitUntil(lambda: win.folder_list.count() == 0, timeout=10000)
    assert watched_folder_paths(lib) == []
    assert win.model.rowCount() == 1
    assert lib.integrity_check() == []


def test_pause_resume_and_status_bar(qtbot, make_window, lib, real_clips, tmp_path: Path) -> None:
    folder = tmp_path / "paused"
    folder.mkdir()
    shutil.copy(real_clips["bbb"], folder / "a.mp4")
    win = make_window(workers=0)
    win.act_pause.trigger()  # checked -> pause
    qtbot.waitUntil(lambda: win.bridge.is_paused(), timeout=5000)
    win.add_folder(folder)
    qtbot.waitUntil(lambda: win.model.rowCount() == 1, timeout=10000)
    qtbot.waitUntil(lambda: "1 queued" in win.counts_label.text()
                    and "PAUSED" in win.counts_label.text(), timeout=5000)
    assert win.model.data(win.model.index(0, 2)) == "queued"
    assert win.act_pause.text() == "Resume processing"
    win.act_pause.trigger()  # unchecked -> resume
    qtbot.waitUntil(lambda: win.model.light(0).status == "ready", timeout=30000)
    qtbot.waitUntil(lambda: "0 queued" in win.counts_label.text(), timeout=5000)
    assert not win.bridge.is_paused()


def test_exports_and_bulk_correction(qtbot, make_window, lib, tmp_path: Path) -> None:
    ids = fill(lib, 450)  # more rows than one page: the bulk refresh path
    win = make_window(start=False)
    win.table.selectAll()
    assert len(win.selected_ids()) == 450
    assert "450 selected" in win.detail.scope.text()
    win.detail.rows["Horror"].check.setChecked(True)
    win.detail.rows["Horror"].check.click()  # -> unticked: "-Horror" on all 450
    assert win.pending_question is not None and "450 videos" in win.pending_question.text()
    win.pending_question.button(QMessageBox.StandardButton.Yes).click()  # it asks first
    qtbot.waitUntil(lambda: win.bridge.busy is False and _manual(lib) == 450, timeout=10000)
    qtbot.waitUntil(lambda: "Horror" not in (win.model.data(win.model.index(440, 1)) or "x"),
                    timeout=5000)
    with lib.read() as s:
        assert queries.video_ids(s, genres=["Horror"]) == []
    win.act_undo.trigger()
    qtbot.waitUntil(lambda: _manual(lib) == 0, timeout=10000)
    # JSON of everything in view (nothing selected), with the current filter
    win.table.clearSelection()
    win.search.setText("film 0001")  # every word must match: 00001 and 00010-00019
    win.apply_filter()
    assert win.model.rowCount() == 11
    out = tmp_path / "view.json"
    win.export("json", out, confirm=False)
    qtbot.waitUntil(out.exists, timeout=5000)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(d["path"] for d in data) == sorted(
        f"/films/film {i:05d}.mp4" for i in [1, *range(10, 20)])
    # NFO export skips videos whose file is missing, and says so
    win.export("nfo", confirm=False)
    qtbot.waitUntil(lambda: "NFO" in win.activity.text(), timeout=5000)
    assert "11 skipped" in win.activity.text()
    # the selection survives a reload
    win.search.clear()
    win.apply_filter()
    win.reselect(ids[5:8])
    win.schedule_reload()
    qtbot.waitUntil(lambda: not win._refresh_timer.isActive(), timeout=3000)
    assert win.selected_ids() == ids[5:8]
    assert lib.integrity_check() == []


def _manual(lib) -> int:
    from trailertagger.core.library.schema import GenreAssignment

    with lib.read() as s:
        return len(s.execute(select(GenreAssignment.id).where(
            GenreAssignment.source == "manual")).all())


def test_rerun_all_queues_classification_for_present_videos(qtbot, make_window, lib) -> None:
    ids = fill(lib, 5)
    with lib.session() as s:
        s.get(Video, ids[0]).status = "missing"
    win = make_window(start=False)  # nothing processes: the jobs stay queued
    win.rerun_all()
    qtbot.waitUntil(lambda: "4 video(s) queued" in win.activity.text(), timeout=5000)
    with lib.read() as s:
        jobs = s.execute(select(Job.video_id, Job.stages)).all()
    assert sorted(v for v, _ in jobs) == ids[1:] and {st for _, st in jobs} == {"classify"}
    qtbot.waitUntil(lambda: win.model.data(win.model.index(win.model.row_of(ids[1]), 2))
                    == "queued (re-run)", timeout=5000)


def test_cancel_selected_and_purge_missing(qtbot, make_window, lib) -> None:
    ids = fill(lib, 4)
    with lib.session() as s:
        s.get(Video, ids[0]).status = "missing"
    win = make_window(start=False)
    win.rerun_all()
    qtbot.waitUntil(lambda: "3 video(s) queued" in win.activity.text(), timeout=5000)
    win.reselect(ids[1:3])
    win.cancel_selected()
    qtbot.waitUntil(lambda: "2 job(s) cancelled" in win.activity.text(), timeout=5000)
    with lib.read() as s:
        states = dict(s.execute(select(Job.video_id, Job.status)).all())
    assert states == {ids[1]: "cancelled", ids[2]: "cancelled", ids[3]: "queued"}
    win.table.selectAll()  # purge only erases the missing one among them
    win.purge_missing(confirm=False)
    qtbot.waitUntil(lambda: win.model.rowCount() == 3, timeout=5000)
    assert ids[0] not in win.model.all_ids()
    assert lib.integrity_check() == []


def test_folder_list_is_read_in_background_and_flags_missing_folders(qtbot, make_window, lib,
                                                                     tmp_path: Path) -> None:
    from trailertagger.core.jobs.watcher import add_watched_folder

    here, gone = tmp_path / "here", tmp_path / "gone"
    for folder in (here, gone):
        folder.mkdir()
        add_watched_folder(lib, folder)
    gone.rmdir()  # e.g. an unmounted share
    win = make_window(start=False)
    qtbot.waitUntil(lambda: win.folder_list.count() == 2, timeout=5000)
    texts = sorted(win.folder_list.item(i).text() for i in range(2))
    assert texts == [f"{gone}  (not found)", str(here)]
    assert sorted(win.folder_list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(2)) \
        == [str(gone), str(here)]


def test_export_of_view_uses_the_applied_filter(qtbot, make_window, lib, tmp_path: Path) -> None:
    fill(lib, 12)
    win = make_window(start=False)
    win.search.setText("film 00003")  # typed, not applied yet (the search waits 250 ms)
    out = tmp_path / "view.json"
    win.export("json", out, confirm=False)
    qtbot.waitUntil(out.exists, timeout=5000)
    assert len(json.loads(out.read_text(encoding="utf-8"))) == 12  # the 12 rows in view


def test_steady_job_events_refresh_rows_during_the_burst(qtbot, make_window, lib,
                                                         monkeypatch) -> None:
    from PySide6.QtCore import QTimer

    from trailertagger.core.jobs import events as ev

    ids = fill(lib, 20)
    win = make_window(start=False)
    refreshed: list[int] = []
    real = win.model.refresh_ids
    monkeypatch.setattr(win.model, "refresh_ids", lambda vids: (refreshed.extend(vids), real(vids)))
    sent = iter(ids)
    during: list[int] = []

    def send() -> None:  # a job finishes every 100 ms, e.g. a re-run of many videos
        vid = next(sent, None)
        if vid is None:
            timer.stop()
            during.append(len(refreshed))
            return
        win.on_job_event(ev.JobEvent(ev.DONE, video_id=vid, path=f"/films/{vid}.mp4"))

    timer = QTimer(interval=100)
    timer.timeout.connect(send)
    timer.start()
    qtbot.waitUntil(lambda: bool(during), timeout=10000)
    assert during[0] >= 10  # rows were refreshed while events kept coming, not only after
