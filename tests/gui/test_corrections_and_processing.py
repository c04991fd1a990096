"""Corrections from the detail panel (undoable), and processing driven by the window:
add a folder of real clips, watch rows become ready without the GUI thread stalling,
re-run keeps corrections, closing mid-job re-queues it and leaves the library intact."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QTimer
from sqlalchemy import select

from tests.core.test_jobs_support import hash_probs
from tests.gui.support import fill
from trailertagger.core.genres import GENRES
from trailertagger.core.library import queries
from trailertagger.core.library.classification import note_active_head, store_predictions
from trailertagger.core.library.schema import Job, Video


def _select(win, video_id: int) -> None:
    row = win.model.row_of(video_id)
    win.table.selectionModel().setCurrentIndex(
        win.model.index(row, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)


def _state(lib, vid: int, genre: str):
    with lib.read() as s:
        return queries.get_video(s, vid).states[genre]


def test_toggle_genre_is_manual_survives_rerun_and_undoes(qtbot, make_window, lib) -> None:
    ids = fill(lib, 4)
    win = make_window(start=False)
    vid = ids[0]
    _select(win, vid)
    assert win.detail.record is not None and win.detail.record.id == vid
    off = next(g for g in GENRES if not _state(lib, vid, g).on)
    on = next(g for g in GENRES if _state(lib, vid, g).on)
    win.detail.rows[off].check.click()  # the user ticks a genre the model left off
    qtbot.waitUntil(lambda: _state(lib, vid, off).source == "manual", timeout=5000)
    assert _state(lib, vid, off).on
    qtbot.waitUntil(lambda: win.detail.rows[off].mark.text() == "✎ added", timeout=3000)
    assert off in win.model.record(win.model.row_of(vid)).manual_on  # the table shows it
    win.detail.rows[on].check.click()  # ...and unticks one it predicted
    qtbot.waitUntil(lambda: _state(lib, vid, on).source == "manual", timeout=5000)
    assert not _state(lib, vid, on).on and _state(lib, vid, on).rejected
    # a re-run (what the classify stage writes: all 21 auto rows again) keeps both
    with lib.session() as s:
        head, _ = note_active_head(s, "test-head", "2", "onnx")
        store_predictions(s, s.get(Video, vid), head, {g: 0.99 if g == on else 0.01 for g in GENRES})
    assert _state(lib, vid, off).on and not _state(lib, vid, on).on
    assert _state(lib, vid, on).probability == 0.99 and _state(lib, vid, on).model_version == "2"
    # Edit > Undo twice: the core's undo puts both manual rows back as they were (none)
    assert win.act_undo.isEnabled()
    win.act_undo.trigger()
    qtbot.waitUntil(lambda: _state(lib, vid, on).source == "auto", timeout=5000)
    assert _state(lib, vid, on).on  # the model's 0.99 decides again
    assert _state(lib, vid, off).source == "manual"
    win.act_undo.trigger()
    qtbot.waitUntil(lambda: _state(lib, vid, off).source == "auto", timeout=5000)
    assert not _state(lib, vid, off).on
    win.act_redo.trigger()  # and redo applies it again
    qtbot.waitUntil(lambda: _state(lib, vid, off).source == "manual", timeout=5000)
    # reset to automatic (↺) is "=Genre"
    qtbot.waitUntil(lambda: win.detail.rows[off].reset.isEnabled(), timeout=3000)
    win.detail.rows[off].reset.click()
    qtbot.waitUntil(lambda: _state(lib, vid, off).source == "auto", timeout=5000)
    # a change with several rows selected applies to all of them
    sm = win.table.selectionModel()
    for v in ids[1:3]:
        sm.select(win.model.index(win.model.row_of(v), 0),
                  QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    assert "3 selected" in win.detail.scope.text()
    win.detail.rows["Western"].check.setChecked(False)
    win.detail.rows["Western"].check.click()
    qtbot.waitUntil(lambda: all(_state(lib, v, "Western").source == "manual" for v in ids[:3]),
                    timeout=5000)
    assert _state(lib, ids[3], "Western").source == "auto"
    assert lib.integrity_check() == []


class _Heartbeat:
    """Measures the longest gap between ticks of a 20 ms GUI-thread timer."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.worst = 0.0
        self.timer = QTimer(interval=20)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    def tick(self) -> None:
        t = time.monotonic()
        self.worst = max(self.worst, t - self.last)
        self.last = t


def test_add_folder_of_real_clips_processes_in_background(qtbot, make_window, lib, real_clips,
                                                           tmp_path: Path) -> None:
    folder = tmp_path / "trailers ü"
    folder.mkdir()
    for name in ("bbb", "music"):
        shutil.copy(real_clips[name], folder / f"{name} trailer.mp4")
    (folder / "broken.mp4").write_bytes(b"\x00" * 200)  # not a video: fails with a reason
    win = make_window(workers=0, steps=3, step_seconds=0.05)
    beat = _Heartbeat()
    win.add_folder(folder)
    qtbot.waitUntil(lambda: win.model.rowCount() == 3, timeout=20000)
    qtbot.waitUntil(lambda: sorted(win.model.light(r).status for r in range(3))
                    == ["failed", "ready", "ready"], timeout=60000)
    beat.timer.stop()
    assert beat.worst < 1.0, f"GUI thread stalled for {beat.worst:.2f}s"
    assert [p for _, p, _ in __import__("trailertagger.core.jobs.watcher", fromlist=["x"])
            .watched_folder_paths(lib)] == [str(folder)]
    assert win.folder_list.count() == 1
    with lib.read() as s:
        recs = {Path(r.path).name: r for r in queries.iter_videos(s)}
    bbb = recs["bbb trailer.mp4"]
    expected = [g for g, p in hash_probs(bbb.content_hash).items() if p >= 0.5]
    qtbot.waitUntil(lambda: win.model.data(win.model.index(win.model.row_of(bbb.id), 1))
                    == ", ".join(expected), timeout=5000)
    assert bbb.thumbnail and Path(bbb.thumbnail).is_file()  # the real thumbnail maker ran
    assert bbb.duration is not None and abs(bbb.duration - 5.3) < 0.3
    broken = recs["broken.mp4"]
    assert "failed" in win.model.data(win.model.index(win.model.row_of(broken.id), 2))
    _select(win, broken.id)
    assert win.detail.error.isVisibleTo(win.detail) and broken.error_reason in win.detail.error.text()
    # select bbb: thumbnail, model provenance
    _select(win, bbb.id)
    assert not win.detail.thumb.pixmap().isNull()
    assert "fake-head 1" in win.detail.model.text()
    # correct a genre, then re-run classification for the selection through the queue
    genre = next(g for g in GENRES if g not in expected)
    win.detail.rows[genre].check.click()
    qtbot.waitUntil(lambda: _state(lib, bbb.id, genre).source == "manual", timeout=5000)
    with lib.read() as s:
        before = s.execute(select(Video.classified_at).where(Video.id == bbb.id)).scalar()
    win.rerun_selected()
    qtbot.waitUntil(lambda: _classified_at(lib, bbb.id) != before, timeout=30000)
    assert _state(lib, bbb.id, genre).on and _state(lib, bbb.id, genre).source == "manual"
    qtbot.waitUntil(lambda: "idle" in win.activity.text() or not win.progress.isVisible(),
                    timeout=10000)
    # export CSV of the selection
    out = tmp_path / "export.csv"
    win.export("csv", out, confirm=False)
    qtbot.waitUntil(out.exists, timeout=5000)
    assert "bbb trailer.mp4" in out.read_text(encoding="utf-8")
    # retry failed: the broken file fails again, with its reason
    win.retry_failed()
    qtbot.waitUntil(lambda: _job_status(lib, broken.id) == "failed", timeout=20000)
    win.grab().save(str(tmp_path / "window.png"))
    assert (tmp_path / "window.png").stat().st_size > 10_000
    assert lib.integrity_check() == []


def _classified_at(lib, vid: int) -> float | None:
    with lib.read() as s:
        return s.execute(select(Video.classified_at).where(Video.id == vid)).scalar()


def _job_status(lib, vid: int) -> str | None:
    with lib.read() as s:
        return s.execute(select(Job.status).where(Job.video_id == vid)
                         .order_by(Job.id.desc()).limit(1)).scalar()


def test_close_during_processing_requeues_job(qtbot, make_window, lib, real_clips,
                                              tmp_path: Path) -> None:
    folder = tmp_path / "slow"
    folder.mkdir()
    shutil.copy(real_clips["bbb"], folder / "bbb.mp4")
    win = make_window(workers=1, watch=True, steps=200, step_seconds=0.1)  # ~20 s extraction
    win.add_folder(folder)

    def extracting() -> bool:
        with lib.read() as s:
            return s.execute(select(Job.id).where(Job.status == "running",
                                                  Job.stage == "extract")).first() is not None

    qtbot.waitUntil(extracting, timeout=60000)
    qtbot.waitUntil(lambda: "processing (extract" in win.model.data(win.model.index(0, 2)),
                    timeout=5000)
    assert win.progress.isVisible()
    t = time.monotonic()
    win.close()
    assert time.monotonic() - t < 15
    assert win.bridge.stopped and win.bridge.watcher is None
    with lib.read() as s:
        job = s.execute(select(Job.status, Job.stage, Job.owner, Job.attempts)).one()
        video_status = s.execute(select(Video.status)).scalar_one()
    assert tuple(job) == ("queued", "extract", None, 0)  # a clean stop is not an attempt
    assert video_status == "pending"
    assert lib.integrity_check() == []
