"""The evidence part of the detail pane (issue 11): why a video has its genres.

``EvidencePanel`` shows an ``app.evidence.Evidence`` (read off the GUI thread by the window):
a strip of scene thumbnails (taken on demand, also off the GUI thread; click one to see it
large), the transcript and the on-screen text with their times, the top sound and music
tags.  ``ThresholdBar`` is a genre's probability bar with the head's threshold drawn on it
as a marker line, so "Western ticked at 3 %" reads as "its threshold is 2 %".
``MixedCheckBox`` shows a multi-selection's genre as ticked, unticked or mixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .library_model import format_duration

SCENE_W, SCENE_H = 96, 54


class ThresholdBar(QWidget):
    """A probability bar (0-1000) with the genre's threshold as a dark marker line and its
    value beside it; the probability is written at the end the marker leaves free.

    A plain widget that paints itself on the next paint event: ``QProgressBar.setValue``
    repaints at once, and 21 bars repainted synchronously per selection change (with a
    style sheet) were most of the detail pane's cost on a busy GUI thread."""

    ON, OFF = QColor("#3a8ee6"), QColor("#aab4c0")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.threshold: float | None = None
        self._value, self._max, self._format, self._on = 0, 1000, "", False
        self.setMinimumHeight(12)

    # the QProgressBar calls the detail pane makes
    def setRange(self, lo: int, hi: int) -> None:  # noqa: N802 - Qt-style API
        self._max = max(1, hi - lo)

    def setTextVisible(self, _on: bool) -> None:  # noqa: N802
        pass

    def setValue(self, v: int) -> None:  # noqa: N802
        if v != self._value:
            self._value = v
            self.update()

    def value(self) -> int:
        return self._value

    def setFormat(self, text: str) -> None:  # noqa: N802
        if text != self._format:
            self._format = text
            self.update()

    def format(self) -> str:
        return self._format

    def set_model_on(self, on: bool) -> None:
        if on != self._on:
            self._on = on
            self.update()

    def set_threshold(self, threshold: float | None) -> None:
        if threshold != self.threshold:
            self.threshold = threshold
            self.update()

    def marker_x(self) -> int | None:
        if self.threshold is None:
            return None
        t = min(1.0, max(0.0, float(self.threshold)))
        return int(round(t * (self.width() - 1)))

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        r = self.rect().adjusted(0, 0, -1, -1)
        p.setPen(QPen(QColor("#c8ccd2"), 1))
        p.setBrush(QColor("#f4f5f7"))
        p.drawRect(r)
        w = int(round(r.width() * min(1.0, self._value / self._max)))
        if w > 0:
            p.fillRect(r.x() + 1, r.y() + 1, max(0, w - 1), r.height() - 1,
                       self.ON if self._on else self.OFF)
        x = self.marker_x()
        fm = p.fontMetrics()
        text_w = fm.horizontalAdvance(self._format) + 8
        # the probability at the left, unless the threshold's marker and label sit there
        left = x is None or x > text_w + 4
        if x is not None:
            p.setPen(QPen(QColor("#1b1b1b"), 2))
            p.drawLine(QPoint(x, 0), QPoint(x, self.height()))
            label = f"{self.threshold:.0%}"
            lw = fm.horizontalAdvance(label)
            lx = x + 4 if x + 4 + lw < self.width() - (0 if left else text_w) else x - 4 - lw
            p.setPen(QColor("#555"))
            p.drawText(lx, 0, lw, self.height(), Qt.AlignmentFlag.AlignVCenter, label)
        if self._format:
            p.setPen(QColor("#1b1b1b"))
            p.drawText(self.rect().adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter
                       | (Qt.AlignmentFlag.AlignLeft if left else Qt.AlignmentFlag.AlignRight),
                       self._format)
        p.end()


class MixedCheckBox(QCheckBox):
    """Shows three states (a multi-selection's "some have it") but a click only ever ticks
    (from unticked or mixed) or unticks (from ticked): a person never *asks* for "mixed"."""

    def nextCheckState(self) -> None:  # noqa: N802 - Qt API
        self.setCheckState(Qt.CheckState.Unchecked if self.checkState() == Qt.CheckState.Checked
                           else Qt.CheckState.Checked)

    def set_mixed(self, on_count: int, selected: int) -> None:
        if 0 < on_count < selected:
            self.setTristate(True)
            self.setCheckState(Qt.CheckState.PartiallyChecked)
        else:
            self.setTristate(False)
            self.setChecked(on_count > 0)


def _stamp(t: float) -> str:
    return format_duration(t) or "0:00"


def timed_lines(items: list[Any], limit: int = 400) -> str:
    """``[m:ss] text`` per line, at most ``limit`` lines."""
    lines = [f"[{_stamp(x.time)}] {x.text}" for x in items[:limit]]
    if len(items) > limit:
        lines.append(f"… {len(items) - limit} more")
    return "\n".join(lines)


def tags_text(tags: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} {score:.0%}" for name, score in tags)


class SceneView(QDialog):
    """One scene frame, large (from the small cached picture, or the file when possible)."""

    def __init__(self, pix: QPixmap, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(caption)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        lay = QVBoxLayout(self)
        label = QLabel()
        label.setPixmap(pix.scaled(QSize(640, 360), Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation))
        lay.addWidget(label)
        lay.addWidget(QLabel(caption))


def _timed_text(lay: QVBoxLayout, title: str) -> tuple[QLabel, QLabel]:
    """A bold title and, under it, a selectable plain-text label for timed lines (the
    transcript, the on-screen text: words a person may want to copy)."""
    heading = QLabel(f"<b>{title}</b>")
    lay.addWidget(heading)
    body = QLabel()
    body.setWordWrap(True)
    body.setTextFormat(Qt.TextFormat.PlainText)
    body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    lay.addWidget(body)
    return heading, body


class EvidencePanel(QWidget):
    """See the module doc.  ``show_evidence(None)`` clears it."""

    sceneClicked = Signal(int)  # index into the evidence's scene times

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.evidence: Any = None
        self.thumbs: list[Path | None] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.heading = QLabel("<b>Evidence</b>")
        lay.addWidget(self.heading)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #777;")
        lay.addWidget(self.note)
        # how the file was read: a film's genres rest on excerpts, maybe on its subtitles
        self.reading = QLabel()
        self.reading.setWordWrap(True)
        self.reading.setObjectName("reading")
        lay.addWidget(self.reading)
        self.scenes_label = QLabel()
        lay.addWidget(self.scenes_label)
        strip = QWidget()
        self.strip = QHBoxLayout(strip)
        self.strip.setContentsMargins(0, 0, 0, 0)
        self.strip.setSpacing(2)
        self.strip.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(strip)
        scroll.setWidgetResizable(True)
        scroll.setFixedHeight(SCENE_H + 22)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.strip_area = scroll
        lay.addWidget(scroll)
        self.scene_buttons: list[QToolButton] = []
        self.audio = QLabel()
        self.audio.setWordWrap(True)
        lay.addWidget(self.audio)
        self.music = QLabel()
        self.music.setWordWrap(True)
        lay.addWidget(self.music)
        self.transcript_title, self.transcript = _timed_text(lay, "Speech")
        self.onscreen_title, self.onscreen = _timed_text(lay, "On-screen text")
        self.show_evidence(None)

    def loading(self) -> None:
        self.note.setText("reading the evidence…")

    def show_evidence(self, ev: Any) -> None:
        self.evidence = ev
        self.thumbs = []
        self._clear_strip()
        if ev is None:
            self.note.setText("")
            for w in (self.reading, self.scenes_label, self.audio, self.music, self.transcript,
                      self.onscreen):
                w.setText("")
            self.strip_area.hide()
            return
        self.note.setText(ev.note or "")
        self.reading.setText("\n".join(ev.reading))
        self.reading.setVisible(bool(ev.reading))
        missing = ev.missing or {}
        n = len(ev.scene_times)
        self.scenes_label.setText(f"{n} scene{'s' if n != 1 else ''}" if ev.features_found else "")
        self.strip_area.setVisible(n > 0)
        for i, t in enumerate(ev.scene_times):
            b = QToolButton()
            b.setFixedSize(SCENE_W, SCENE_H)
            b.setIconSize(QSize(SCENE_W - 4, SCENE_H - 4))
            b.setText(_stamp(t))
            b.setToolTip(f"scene {i + 1} at {_stamp(t)}: click to enlarge")
            b.clicked.connect(lambda _=False, i=i: self.sceneClicked.emit(i))
            self.strip.insertWidget(self.strip.count() - 1, b)
            self.scene_buttons.append(b)

        def line(title: str, tags: list[tuple[str, float]], modality: str) -> str:
            if tags:
                return f"{title}: {tags_text(tags)}"
            if modality in missing:
                return f"{title}: — ({missing[modality]})"
            return f"{title}: —" if ev.features_found else ""

        self.audio.setText(line("Sounds", ev.audio_tags, "audio"))
        self.music.setText(line("Music", ev.music_tags, "music"))
        self.transcript.setText(timed_lines(ev.transcript) or
                                (f"— ({missing['asr']})" if "asr" in missing else
                                 "— (no speech found)" if ev.features_found else ""))
        self.onscreen.setText(timed_lines(ev.onscreen_text) or
                              (f"— ({missing['ocr']})" if "ocr" in missing else
                               "— (no text found)" if ev.features_found else ""))

    def show_thumbnails(self, video_id: int, paths: list[Path | None]) -> None:
        """Pictures for the strip (they arrive after the evidence, from a background read)."""
        if self.evidence is None or self.evidence.video_id != video_id:
            return
        self.thumbs = list(paths)
        for b, p in zip(self.scene_buttons, paths, strict=False):
            if p is None:
                continue
            pix = QPixmap(str(p))
            if not pix.isNull():
                b.setIcon(pix)
                b.setText("")
                b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)

    def enlarge(self, i: int) -> QDialog | None:
        if not (0 <= i < len(self.thumbs)) or self.thumbs[i] is None:
            return None
        pix = QPixmap(str(self.thumbs[i]))
        if pix.isNull():
            return None
        t = self.evidence.scene_times[i]
        dlg = SceneView(pix, f"scene {i + 1} of {len(self.thumbs)} at {_stamp(t)}", self)
        dlg.show()
        return dlg

    def _clear_strip(self) -> None:
        for b in self.scene_buttons:
            self.strip.removeWidget(b)
            b.deleteLater()
        self.scene_buttons = []
