"""The GUI responsiveness benchmark still runs end to end (on a small library: the numbers
are the benchmark's business, not a test's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gui_responsiveness_benchmark_prints_its_table(tmp_path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gui_responsiveness.py"),
                          "--videos", "6000", "--keep", str(tmp_path / "lib"), "--busy", "1"],
                         env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert "1 busy process(es) at nice 10" in text
    for row in ("start: library opened, window painted", "open: painted until rows shown",
                "tick a genre (filter)", "clear the search", "sort by a genre's probability",
                "select all (Ctrl+A)", "drag the scrollbar top to bottom", "undo it (one step"):
        assert f"| {row}" in text, row
    assert "longest stall overall:" in text
