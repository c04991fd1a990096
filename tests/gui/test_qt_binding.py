"""The Qt binding itself must not leak references: PySide6 6.12.0 on Python 3.11 dropped one
reference to ``None`` per setter call, which aborts the app ("deallocating None") after a few
thousand clicks and timer ticks.  Tests of the app make too few calls to hit it, so measure it."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QCheckBox, QLabel, QProgressBar


def test_setter_calls_keep_none_refcount(qtbot):
    box, label, bar = QCheckBox(), QLabel(), QProgressBar()
    for w in (box, label, bar):
        qtbot.addWidget(w)
    before = sys.getrefcount(None)
    for i in range(300):
        box.setChecked(i % 2 == 0)
        label.setText(str(i))
        bar.setValue(i % 100)
    lost = before - sys.getrefcount(None)
    assert lost < 50, f"the Qt binding lost {lost} references to None in 900 setter calls"
