"""The ``gui`` sub-command: help and usage errors, a real start and close, Ctrl-C (130)."""

from __future__ import annotations

import builtins
import os
import signal
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from tests.gui.support import fill
from trailertagger.cli.main import main
from trailertagger.core.library.db import open_library


def test_gui_help_and_usage_errors(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["gui", "--help"])
    assert exc.value.code == 0
    assert "--library" in capsys.readouterr().out
    assert main(["gui", "--workers", "-1"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_gui_without_pyside6_says_how_to_install(monkeypatch, capsys) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):  # noqa: ANN001, ANN202
        if name.endswith("gui.app"):  # gui_cmd's lazy "from ..gui.app import run_app"
            raise ImportError("No module named 'PySide6'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert main(["gui", "--no-watch"]) == 2
    assert "trailertagger[gui]" in capsys.readouterr().err


def _close_soon(ms: int, action) -> None:  # noqa: ANN001
    QTimer.singleShot(ms, action)


def test_gui_runs_and_closes(qapp, tmp_path: Path) -> None:
    path = tmp_path / "lib.sqlite3"
    with open_library(path) as lib:
        fill(lib, 3)
    shown = []

    def close() -> None:
        wins = [w for w in QApplication.topLevelWidgets() if w.isVisible()
                and w.windowTitle().startswith("trailertagger")]
        shown.extend(w.model.rowCount() for w in wins)
        for w in wins:
            w.close()

    _close_soon(800, close)
    assert main(["gui", "--library", str(path), "--workers", "0", "--no-watch"]) == 0
    assert shown == [3]
    with open_library(path) as lib:
        assert lib.integrity_check() == []


def test_gui_ctrl_c_exits_130(qapp, tmp_path: Path) -> None:
    path = tmp_path / "lib.sqlite3"
    _close_soon(800, lambda: os.kill(os.getpid(), signal.SIGINT))
    assert main(["gui", "--library", str(path), "--workers", "0", "--no-watch"]) == 130
    assert not [w for w in QApplication.topLevelWidgets() if w.isVisible()
                and w.windowTitle().startswith("trailertagger")]
