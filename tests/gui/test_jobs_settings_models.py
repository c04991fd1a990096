"""The jobs panel, the settings and models dialogs, the empty state and the window's size,
driven on the real window over a real library (issue 11, part A)."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import select

from trailertagger.core.app import settings_file
from trailertagger.core.library.schema import GenreAssignment, Job, Video


def _job_status(lib, job_id: int) -> str | None:
    with lib.read() as s:
        return s.execute(select(Job.status).where(Job.id == job_id)).scalar_one_or_none()


def _status_text(win, title: str) -> str | None:
    m = win.model
    for r in range(m.rowCount()):
        if m.light(r).title == title:
            return m.data(m.index(r, 2))
    return None


def test_empty_state_jobs_panel_cancel_and_retry(qtbot, make_window, lib, real_clips,
                                                 tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(real_clips["bbb"], folder / "alpha.mp4")
    shutil.copy(real_clips["speech"], folder / "beta.mp4")
    # a worker process as the app runs them (its heartbeat carries the cancel); each
    # extraction 20 steps of 0.25 s: slow enough to watch and cancel
    win = make_window(workers=1, step_seconds=0.25, steps=20)
    assert win.center.currentWidget() is win.empty  # an empty library shows the three steps
    assert "Add folder" in win.empty.add_button.text()
    win.act_jobs.trigger()
    assert win.side_tabs.currentWidget() is win.jobs_panel and win.jobs_panel.isVisible()
    panel = win.jobs_panel

    win.add_folder(folder)
    qtbot.waitUntil(lambda: win.center.currentWidget() is win.views, timeout=15000)
    # a job reaches extraction: the panel lists it with a rising progress bar
    qtbot.waitUntil(lambda: any(j.stage == "extract" for j in panel.overview.running), timeout=30000)
    running = next(j for j in panel.overview.running if j.stage == "extract")
    seen: list[float] = []
    for _ in range(6):
        qtbot.wait(250)
        seen.append(panel.progress_of(running.job_id))
    assert seen == sorted(seen) and seen[-1] > 0, seen  # monotonic and moving
    assert panel.overview.stage("extract").running == 1

    # cancel it from the panel: the row says so at once, then the job is cancelled
    title = Path(running.path).stem
    panel.running.selectRow(0)
    panel.cancel_selected()
    qtbot.waitUntil(lambda: (_status_text(win, title) or "").startswith(("cancelling", "not processed")),
                    timeout=5000)
    qtbot.waitUntil(lambda: _job_status(lib, running.job_id) == "cancelled", timeout=15000)
    qtbot.waitUntil(lambda: _status_text(win, title) == "not processed (cancelled)", timeout=5000)
    win.table.selectRow(win.model.row_of(running.video_id))
    assert win.detail.info.text().startswith("not processed (cancelled)")  # not "pending"
    qtbot.waitUntil(lambda: any(f.job_id == running.job_id and f.status == "cancelled"
                                for f in panel.overview.failed), timeout=5000)

    # the other video is tagged (the panel shows the queue empty)
    qtbot.waitUntil(lambda: panel.overview.active == 0, timeout=60000)
    with lib.read() as s:
        other = s.execute(select(Video).where(~Video.path.like(f"%{title}.mp4"))).scalar_one()
        assert other.status == "ready"
        assert s.execute(select(GenreAssignment).where(GenreAssignment.video_id == other.id)).first()

    # per-item retry of the cancelled job, with feedback
    messages: list[str] = []
    panel.message.connect(messages.append)
    row = next(r for r in range(panel.failed.rowCount())
               if panel.failed.item(r, 0).data(256) == running.job_id)
    panel.failed.selectRow(row)
    panel.retry_selected()
    qtbot.waitUntil(lambda: bool(messages), timeout=5000)
    assert messages[0].startswith("1 job(s) queued again")
    qtbot.waitUntil(lambda: _status_text(win, title) == "ready", timeout=60000)
    # retry all failed with nothing failed says 0, never silence
    messages.clear()
    win.retry_failed()
    qtbot.waitUntil(lambda: bool(messages), timeout=5000)
    assert messages[0].startswith("0 failed job(s) queued again")


def test_cancel_reaches_a_running_job_in_the_apps_own_process(qtbot, make_window, lib,
                                                              real_clips, tmp_path: Path) -> None:
    """``--workers 0``: the in-process runner reads the cancel at the stage's next progress
    report, as a worker process's heartbeat does (it used to run the stage to its end)."""
    folder = tmp_path / "inline"
    folder.mkdir()
    shutil.copy(real_clips["bbb"], folder / "long.mp4")
    win = make_window(workers=0, step_seconds=0.2, steps=100)  # 20 s of extraction
    panel = win.jobs_panel
    win.add_folder(folder)
    qtbot.waitUntil(lambda: (panel.refresh() or True) and any(
        j.stage == "extract" for j in panel.overview.running), timeout=30000)
    job = panel.overview.running[0]
    panel.cancel_jobs([job.job_id])
    qtbot.waitUntil(lambda: _job_status(lib, job.job_id) == "cancelled", timeout=6000)


def test_pause_says_the_running_job_finishes_its_stage(qtbot, make_window, real_clips,
                                                       tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    shutil.copy(real_clips["bbb"], folder / "a.mp4")
    win = make_window(workers=0, step_seconds=0.2, steps=15)
    panel = win.jobs_panel
    win.add_folder(folder)
    qtbot.waitUntil(lambda: (panel.refresh() or True) and any(
        j.stage == "extract" for j in panel.overview.running), timeout=30000)
    panel.toggle_pause()
    qtbot.waitUntil(lambda: panel.overview.paused, timeout=5000)
    assert panel.overview.state == "pausing"
    assert "finishes its current stage" in panel.note.text()
    # the stage ends, nothing new starts: classify waits queued
    qtbot.waitUntil(lambda: (panel.refresh() or True) and not panel.overview.running, timeout=20000)
    qtbot.wait(800)
    panel.refresh()
    qtbot.waitUntil(lambda: panel.overview.stage("classify").queued == 1, timeout=5000)
    assert panel.overview.running == [] and panel.note.text().startswith("paused")
    panel.toggle_pause()
    qtbot.waitUntil(lambda: (panel.refresh() or True) and panel.overview.state == "idle",
                    timeout=30000)


def test_settings_round_trip_and_live_stage_limits(qtbot, make_window, tt_home: Path) -> None:
    from trailertagger.gui.settings_dialog import SettingsDialog

    win = make_window(workers=1)
    path = settings_file.config_path()
    assert path.is_relative_to(tt_home)
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    dlg = SettingsDialog(win)
    qtbot.addWidget(dlg)
    assert dlg.workers.text().startswith("Auto (") and ("jobs", "workers") not in dlg.changes()
    assert [dlg.device.itemData(i) for i in range(dlg.device.count())] in (
        ["auto", "cpu"], ["auto", "cpu", "cuda"])  # the GPU only when torch sees CUDA
    # a bad value is refused with the config checks' message; nothing is written
    assert not dlg.save({("classify", "max_genres"): 9})
    assert "max_genres" in dlg.error and "from 1 to 5" in dlg.error
    assert (path.read_text(encoding="utf-8") if path.exists() else "") == before

    dlg.max_genres.setValue(4)
    dlg.workers.setValue(2)
    dlg.limits["extract"].setValue(2)
    assert dlg.save()
    text = path.read_text(encoding="utf-8")
    assert "max_genres = 4" in text and "workers = 2" in text
    assert text.startswith("# trailertagger settings")  # the template's comments stay
    assert win.app.cfg["classify"]["max_genres"] == 4
    # "Auto" is the spin box's lowest entry and is written as the word
    dlg_auto = SettingsDialog(win)
    qtbot.addWidget(dlg_auto)
    assert dlg_auto.workers.value() == 2
    dlg_auto.workers.setValue(dlg_auto.workers.minimum())
    assert dlg_auto.workers.text().startswith("Auto (")
    assert dlg_auto.changes()[("jobs", "workers")] == "auto"
    # the per-stage limit reaches the running pool: its next claim reads it from the library
    pool = win.bridge.background.pool
    qtbot.waitUntil(lambda: pool.queue.stage_limits(
        defaults=pool.options.default_limits())["extract"] == 2, timeout=5000)
    assert win.app.stage_limits()["extract"] == 2
    # a comment and an unknown key the user wrote survive the next save
    path.write_text(path.read_text(encoding="utf-8") + "\n[mine]\n# keep me\nanswer = 42\n")
    dlg2 = SettingsDialog(win)
    qtbot.addWidget(dlg2)
    dlg2.max_genres.setValue(2)
    assert dlg2.save()
    text = path.read_text(encoding="utf-8")
    assert "max_genres = 2" in text and "# keep me" in text and "answer = 42" in text


def test_profile_without_models_is_refused_once(qtbot, make_window, monkeypatch) -> None:
    from trailertagger.gui.settings_dialog import SettingsDialog

    win = make_window(workers=0, start=False)
    problem = win.app.profile_problem("paper")
    assert problem and "clip-vit-b32" in problem  # no package ships CLIP weights
    assert win.app.profile_problem("default") is None
    dlg = SettingsDialog(win)
    qtbot.addWidget(dlg)
    dlg.profile.setCurrentIndex(dlg.profile.findData("paper"))
    assert not dlg.check_profile()
    assert dlg.profile.currentData() == "default" and "clip-vit-b32" in dlg.error
    # at start: processing stays off, one message, not one failure per video
    shown: list[QMessageBox] = []
    monkeypatch.setattr(QMessageBox, "open", lambda self: shown.append(self))
    win.bridge.profile = "paper"
    assert win.check_processing() == problem
    assert win.check_processing() == problem
    assert len(shown) == 1 and not win.bridge.started
    win.bridge.profile = "default"
    assert win.check_processing() is None and win.bridge.started


def test_models_dialog_lists_models_with_status(qtbot, make_window) -> None:
    from trailertagger.gui.models_dialog import ModelsDialog

    win = make_window(workers=0, start=False)
    dlg = ModelsDialog(win)
    qtbot.addWidget(dlg)
    assert "Reading" in dlg.header.text()  # read off the GUI thread (a first read hashes)
    qtbot.waitUntil(dlg.ready, timeout=30000)
    infos = {i.id: i for i in win.app.model_infos()}
    assert dlg.table.rowCount() == len(infos) > 3
    rows = {dlg.table.item(r, 0).text(): r for r in range(dlg.table.rowCount())}
    needed = [i for i in infos.values() if i.required]
    assert needed and all(i.status == "ok" for i in needed)  # the default profile is bundled
    for i in needed:
        assert dlg.table.item(rows[i.id], 1).text() == "ok"
        assert dlg.table.item(rows[i.id], 2).text() == "yes"
    clip = rows["clip-vit-b32"]
    assert dlg.table.item(clip, 1).text() == "missing"
    dlg.table.selectRow(clip)
    assert "put its files in" in dlg.detail.text()
    assert "every needed model is installed" in dlg.header.text()


def test_config_error_dialog_and_settings_file_path(qtbot, make_window, tt_home: Path,
                                                    monkeypatch) -> None:
    win = make_window(workers=0, start=False)
    path = settings_file.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[jobs]\nworkers = 999\n", encoding="utf-8")
    cfg, error = settings_file.load_settings()
    assert error and "workers" in error and cfg["jobs"]["workers"] == "auto"  # defaults, said why
    win.show_config_error(error)
    assert "workers = 999" in win.config_box.text()
    # no program opens .toml files: the path is shown, selectable
    from trailertagger.gui import main_window

    monkeypatch.setattr(main_window.QDesktopServices, "openUrl", staticmethod(lambda _u: False))
    win.open_settings()
    assert str(path) in win.settings_path_box.text()


def test_window_fits_the_screen_and_restores_geometry(qtbot, make_window, tmp_path: Path,
                                                      monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "Videos").mkdir()
    win = make_window(workers=0, start=False)
    assert win.width() <= 1280 and win.height() <= 800
    assert win.start_folder() == tmp_path / "Videos"
    # the offscreen test screen is 800x800 and restoring clamps a window to its screen: the
    # height is what fits; the width is the window's minimum (which a 1280 screen holds)
    # the smallest the window goes still fits under a 1280x800 screen's title bar
    tall = win.minimumSizeHint().height() + 10
    assert tall <= 770, tall
    win.resize(640, tall)
    win.act_jobs.trigger()
    qtbot.wait(50)
    size = (win.width(), win.height())
    assert size[1] == tall and size[0] <= 1000
    win.close()
    again = make_window(workers=0, start=False)
    assert again.height() == tall
    assert again.side_tabs.currentWidget() is again.jobs_panel
    settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    assert settings.value("window/geometry") is not None


def test_gui_command_with_a_bad_settings_file_opens_and_says_why(qapp, tmp_path: Path) -> None:
    """``trailertagger gui`` with ``workers = 999`` in the file: the window opens on the
    defaults and a dialog names the key and its range (not exit 2 on a terminal)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from trailertagger.cli.main import main

    path = settings_file.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[jobs]\nworkers = 999\n", encoding="utf-8")
    seen: list[str] = []

    def close() -> None:
        for w in QApplication.topLevelWidgets():
            if isinstance(w, QMessageBox) and w.isVisible():
                seen.append(w.text())
        for w in QApplication.topLevelWidgets():
            if w.isVisible() and w.windowTitle().startswith("trailertagger"):
                w.close()

    QTimer.singleShot(1500, close)
    assert main(["gui", "--library", str(tmp_path / "lib.sqlite3"), "--workers", "0",
                 "--no-watch"]) == 0
    assert any("workers = 999" in t and "from 0 to 64" in t for t in seen), seen


def test_models_dialog_fetch_shows_progress_cancels_and_resumes(qtbot, make_window,
                                                                tmp_path: Path) -> None:
    """A downloadable model served over HTTP on this machine (slowly): Fetch runs in the
    background with progress, Cancel stops it (the part file kept), a second Fetch finishes
    and the row turns "ok" from the user cache."""
    import hashlib
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from trailertagger.core.models import specs
    from trailertagger.gui.models_dialog import ModelsDialog

    payload = bytes(range(256)) * (4 * 1024 * 2)  # 2 MiB

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            for i in range(0, len(payload), 1 << 16):
                self.wfile.write(payload[i:i + (1 << 16)])
                time.sleep(0.05)

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    manifest = tmp_path / "test-download.toml"
    manifest.write_text(
        'id = "test-download"\ndescription = "a test model served locally"\n'
        'license = "MIT"\n[[files]]\nname = "model.bin"\n'
        f'url = "http://127.0.0.1:{server.server_port}/model.bin"\n'
        f'sha256 = "{hashlib.sha256(payload).hexdigest()}"\nsize = {len(payload)}\n')
    specs.register_manifest(manifest)
    try:
        win = make_window(workers=0, start=False)
        dlg = ModelsDialog(win)
        qtbot.addWidget(dlg)
        dlg.show()
        qtbot.waitUntil(dlg.ready, timeout=30000)
        assert dlg.info("test-download").status == "missing"
        seen: list[tuple[int, int]] = []
        dlg.fetchProgress.connect(lambda _l, done, total: seen.append((done, total)))
        dlg.fetch("test-download")
        qtbot.waitUntil(lambda: bool(seen) and seen[-1][0] > 0, timeout=10000)
        assert dlg.bar.isVisible() and seen[-1][1] == len(payload)
        dlg.cancel_fetch()
        qtbot.waitUntil(lambda: dlg.fetching is None and dlg.ready(), timeout=10000)
        assert type(dlg.last_result).__name__ == "DownloadCancelled"
        assert "cancelled" in dlg.detail.text()
        assert dlg.info("test-download").status == "missing"
        dlg.fetch("test-download")
        qtbot.waitUntil(lambda: dlg.fetching is None and dlg.ready(), timeout=30000)
        assert not isinstance(dlg.last_result, Exception), dlg.last_result
        info = dlg.info("test-download")
        assert (info.status, info.source) == ("ok", "cache")
    finally:
        specs.unregister_manifest(manifest)
        server.shutdown()


def test_window_paints_before_building_the_jobs_panel_and_empty_page(qtbot, make_window,
                                                                      lib) -> None:
    """Start-up builds only what the first paint shows: the jobs panel follows in the next
    turn of the event loop, and a library with videos never builds the empty-library page."""
    from tests.gui.support import fill

    fill(lib, 5)
    win = make_window(start=False)
    assert win._jobs_panel is None and win._empty is None  # not built by the constructor
    placeholder = win.side_tabs.widget(1)
    qtbot.waitUntil(lambda: win._jobs_panel is not None, timeout=5000)  # after the first paint
    assert win.side_tabs.widget(1) is win.jobs_panel and placeholder is not win.jobs_panel
    assert win.side_tabs.currentIndex() == 0 and win.side_tabs.tabText(1) == "Jobs"
    assert win.center.currentWidget() is win.views and win._empty is None
    win.act_jobs.trigger()
    assert win.side_tabs.currentWidget() is win.jobs_panel and win.jobs_panel.isVisible()
