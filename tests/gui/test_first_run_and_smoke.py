"""The first-run page (once per user) and the built app's ``gui --smoke-test`` mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from trailertagger.gui import first_run


def test_the_first_run_page_says_what_runs_offline_and_shows_once(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    page = first_run.show_once(settings)
    assert page is not None
    qtbot.addWidget(page)
    assert page.isVisible()
    text = first_run.TEXT
    for words in ("Runs offline from the first start", "EfficientNet-Lite0", "Whisper",
                  "YAMNet", "Downloads only when you ask", "models fetch"):
        assert words in text
    page.accept()
    assert first_run.show_once(settings) is None  # remembered


@pytest.mark.slow
def test_gui_smoke_test_mode_tags_a_folder_exports_nfo_and_exits_0(tmp_path, real_clips):
    folder = tmp_path / "films"
    folder.mkdir()
    clip = folder / "clip.mp4"
    clip.write_bytes(real_clips["music"].read_bytes())
    env = dict(os.environ, TRAILERTAGGER_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-m", "trailertagger", "gui", "--smoke-test", str(folder),
                          "--workers", "1", "--smoke-timeout", "400"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "1 video(s) tagged and exported" in out.stdout
    assert Path(folder / "clip.nfo").is_file()
