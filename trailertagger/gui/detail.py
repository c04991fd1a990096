"""The detail panel of the selected video, and the genre "chips" of the library table.

The panel shows what the library knows (thumbnail, path, status, error reason, which model
made the predictions) and the 21 genres as checkboxes with the model's probability as a bar.
It never writes: a click emits ``changeRequested`` with core ``GenreChange``s and the window
applies them through ``core.library.corrections`` (undoable).  A checkbox ticked by hand is
a manual "+Genre", unticked a manual "-Genre" (a rejection later models cannot undo);
"reset" (↺) is "=Genre": the model decides again.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core.app import (
    ADD,
    CLEAR,
    REMOVE,
    SOURCE_MANUAL,
    VIDEO_FAILED,
    VIDEO_MISSING,
    GenreChange,
    VideoRecord,
)
from ..core.genres import GENRES
from .evidence import MixedCheckBox, ThresholdBar
from .library_model import RecordRole, format_duration

THUMB_W, THUMB_H = 320, 180
AUTO_CHIP = QColor("#dfe8f3")
MANUAL_CHIP = QColor("#cdebd3")
REJECTED_CHIP = QColor("#f6d5d1")
ON_BAR = "QProgressBar { text-align: center; } QProgressBar::chunk { background: #3a8ee6; }"
OFF_BAR = "QProgressBar { text-align: center; } QProgressBar::chunk { background: #aab4c0; }"


class GenreRow:
    """The widgets of one genre in the panel."""

    def __init__(self, genre: str, panel: DetailPanel, grid: QGridLayout, row: int) -> None:
        self.genre = genre
        self.check = MixedCheckBox(genre)
        self.bar = ThresholdBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setFixedHeight(14)
        self.bar.setMinimumWidth(90)
        self.mark = QLabel()
        self.mark.setMinimumWidth(70)
        self.reset = QToolButton()
        self.reset.setText("↺")
        self.reset.setToolTip(f"Reset {genre} to automatic (the model decides)")
        self.reset.setAutoRaise(True)
        grid.addWidget(self.check, row, 0)
        grid.addWidget(self.bar, row, 1)
        grid.addWidget(self.mark, row, 2)
        grid.addWidget(self.reset, row, 3)
        self.check.clicked.connect(
            lambda on: panel._request(GenreChange(ADD if on else REMOVE, genre)))
        self.reset.clicked.connect(lambda: panel._request(GenreChange(CLEAR, genre)))

    def show(self, rec: VideoRecord | None) -> None:
        state = rec.states.get(self.genre) if rec is not None else None
        self.check.setTristate(False)
        self.check.setChecked(bool(state and state.on))
        self.check.setEnabled(rec is not None)
        prob = state.probability if state is not None else None
        self.bar.setValue(int(round((prob or 0.0) * 1000)))
        thr = state.threshold if state is not None else None
        self.bar.set_threshold(thr)  # drawn on the bar: why a low probability can be "on"
        self.bar.setFormat("–" if prob is None else f"{prob:.0%}")  # threshold: its marker
        self.bar.setToolTip("" if prob is None else
                            f"model probability {prob:.3f}" + (f", threshold {thr:.2f}" if thr is not None else ""))
        # the bar is blue where the model says yes (probability >= its threshold), grey where no
        model_on = prob is not None and thr is not None and prob >= thr
        self.bar.set_model_on(model_on)
        manual = bool(state and state.source == SOURCE_MANUAL)
        self.reset.setEnabled(manual)
        if self.check.font().bold() != manual:
            font = self.check.font()
            font.setBold(manual)
            self.check.setFont(font)
        if manual:
            self._mark("✎ added" if state.on else "✎ removed",
                       "color: #1e7b34;" if state.on else "color: #b03a2e;")
        elif state is not None and state.stale:
            self._mark("stale", "color: #9a7d0a;")
        else:
            self._mark("", "")

    def _mark(self, text: str, style: str) -> None:
        # a style sheet change re-polishes the widget: only when it changes (a selection
        # change repaints 21 rows; on a busy GUI thread every millisecond counts)
        self.mark.setText(text)
        if self.mark.styleSheet() != style:
            self.mark.setStyleSheet(style)


class DetailPanel(QWidget):
    """Everything about one video; corrections are emitted, never written here."""

    changeRequested = Signal(object)  # list[GenreChange]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.record: VideoRecord | None = None
        self.selected = 0
        self._empty = False
        lay = QVBoxLayout(self)
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB_W, THUMB_H)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setStyleSheet("background: #20242a; color: #aab; border-radius: 4px;")
        lay.addWidget(self.thumb)
        self.title = QLabel()
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.25)
        f.setBold(True)
        self.title.setFont(f)
        self.title.setWordWrap(True)
        lay.addWidget(self.title)
        self.path = QLabel()
        self.path.setWordWrap(True)
        self.path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path.setStyleSheet("color: #666;")
        lay.addWidget(self.path)
        self.info = QLabel()
        self.info.setWordWrap(True)
        lay.addWidget(self.info)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet("color: #b03a2e; font-weight: bold;")
        lay.addWidget(self.error)
        self.model = QLabel()
        self.model.setWordWrap(True)
        self.model.setStyleSheet("color: #555;")
        lay.addWidget(self.model)
        self.scope = QLabel()
        self.scope.setStyleSheet("color: #1f5fa8;")
        lay.addWidget(self.scope)
        # how far to trust the genres: the active head's measured quality, the video's state
        self.head = QLabel()
        self.head.setWordWrap(True)
        self.head.setStyleSheet("color: #555;")
        lay.addWidget(self.head)
        self.state = QLabel()
        self.state.setWordWrap(True)
        lay.addWidget(self.state)
        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setStyleSheet("color: #444;")
        self.why.setTextFormat(Qt.TextFormat.PlainText)
        lay.addWidget(self.why)
        grid = QGridLayout()
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(1, 1)
        self.rows = {g: GenreRow(g, self, grid, i) for i, g in enumerate(GENRES)}
        lay.addLayout(grid)
        lay.addStretch(1)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.show_record(None)

    def _request(self, change: GenreChange) -> None:
        if self.record is not None:
            self.changeRequested.emit([change])

    def show_record(self, rec: VideoRecord | None, selected: int = 1) -> None:
        """Show ``rec`` (None: nothing selected); ``selected`` videos receive the changes."""
        if rec is None and self._empty and selected == self.selected:
            return  # already empty (a reload with nothing selected)
        self._empty = rec is None
        self.record, self.selected = rec, selected
        for row in self.rows.values():
            row.show(rec)
        if rec is None:
            self.thumb.setPixmap(QPixmap())
            self.thumb.setText("No video selected")
            for w in (self.title, self.path, self.info, self.error, self.model, self.scope,
                      self.state, self.why):
                w.setText("")
            self.error.hide()
            return
        pix = QPixmap(rec.thumbnail) if rec.thumbnail and os.path.exists(rec.thumbnail) else QPixmap()
        if pix.isNull():
            self.thumb.setPixmap(QPixmap())
            self.thumb.setText("no thumbnail yet" if rec.status != VIDEO_MISSING else "file missing")
        else:
            self.thumb.setPixmap(pix.scaled(QSize(THUMB_W, THUMB_H),
                                            Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
        self.title.setText(os.path.splitext(os.path.basename(rec.path))[0])
        self.path.setText(rec.path)
        bits = [rec.status]
        if rec.duration is not None:
            bits.append(format_duration(rec.duration))
        if rec.size:
            bits.append(f"{rec.size / 1e6:.1f} MB")
        self.info.setText(" · ".join(bits))
        if rec.error_reason and rec.status in (VIDEO_FAILED, VIDEO_MISSING):
            self.error.setText(("Failed: " if rec.status == VIDEO_FAILED else "Missing: ")
                               + rec.error_reason)
            self.error.show()
        else:
            self.error.hide()
        if rec.model_id:
            when = (_dt.datetime.fromtimestamp(rec.classified_at).strftime("%Y-%m-%d %H:%M")
                    if rec.classified_at else "?")
            stale = " — stale: a newer model is active; re-run to update" if rec.stale else ""
            self.model.setText(f"Predictions: {rec.model_id} {rec.model_version or ''} "
                               f"({when}){stale}")
        else:
            self.model.setText("Not classified yet")
        self.scope.setText(f"Changes apply to all {selected} selected videos" if selected > 1 else "")
        self.state.setText(state_text(rec))
        self.state.setStyleSheet("color: #9a5b00; font-weight: bold;" if rec.cold_start_only
                                 else "color: #1e7b34;")
        self.why.setText(explanation_text(rec))
        for g, row in self.rows.items():
            row.check.setToolTip(rec.explanations.get(g, ""))

    def show_mixed(self, summary: dict[str, int], selected: int) -> None:
        """A multi-selection: each genre ticked (all have it), unticked (none) or mixed."""
        if self.record is None or selected <= 1:
            return
        for g, row in self.rows.items():
            row.check.set_mixed(summary.get(g, 0), selected)
            row.check.setToolTip(f"{summary.get(g, 0)} of {selected} selected videos have {g}")

    def show_head(self, info: Any) -> None:
        """The active head (``runtime.HeadInfo``) and how good it measured."""
        if info is None:
            self.head.setText("")
            return
        q = (f"macro mAP {info.macro_map:.2f}" if info.macro_map is not None else "not measured")
        n = f" on {info.labels} labelled videos" if info.labels is not None else ""
        how = f" ({info.measured})" if info.measured else ""
        self.head.setText(f"Active head: {info.model_id} — {q}{n}{how}")


def state_text(rec: VideoRecord) -> str:
    """The label state in words (``VideoRecord.label_state``)."""
    return {"labelled": "Labelled: genres confirmed by you or your library's metadata",
            "cold start": "Cold start: guessed by the label-free head, unconfirmed",
            "weak evidence": "Weak evidence: the label-free head is not confident about any "
                             "genre; label it to teach the head",
            "trained": "Predicted by a trained head",
            }.get(rec.label_state, "")


def explanation_text(rec: VideoRecord) -> str:
    """Why each shown genre was given, then the cold-start head's other suggestions."""
    lines = [f"{g}: {rec.explanations[g]}" for g in rec.genres if g in rec.explanations]
    extra = [g for g in rec.suggestions if g not in rec.genres]
    if extra:
        lines.append("Suggestions: " + ", ".join(extra))
    return "\n".join(lines)


class GenreChipDelegate(QStyledItemDelegate):
    """Paints a row's genres as chips: automatic (blue), added by hand (green, ✎), removed
    by hand (red, struck through) — corrections are visible at a glance."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        model = index.model()  # straight to the model: no second trip through Qt
        rec: Any = (model.record_soon(index.row()) if hasattr(model, "record_soon")
                    else index.data(RecordRole))
        if rec is None:
            super().paint(painter, option, index)
            return
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else None
        if style is not None:
            option.text = ""
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        # corrections first, so they stay visible when the cell is too narrow for all chips
        chips = [(g, "manual") for g in rec.manual_on] + [(g, "rejected") for g in rec.manual_off]
        chips += [(g, "auto") for g in rec.genres if g not in rec.manual_on]
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(option.font)
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        fm = QFontMetrics(font)
        x = option.rect.x() + 3
        h = min(option.rect.height() - 4, fm.height() + 4)
        y = option.rect.y() + (option.rect.height() - h) // 2
        right = option.rect.right() - 3
        more = fm.horizontalAdvance("…") + 2
        for n, (genre, kind) in enumerate(chips):
            label = genre + (" ✎" if kind == "manual" else "")
            w = fm.horizontalAdvance(label) + 10
            if x + w > right - (0 if n == len(chips) - 1 else more):
                painter.setPen(option.palette.text().color())
                painter.setFont(font)
                painter.drawText(QRect(x, y, max(right - x, 4), h), Qt.AlignmentFlag.AlignVCenter, "…")
                break
            color = {"auto": AUTO_CHIP, "manual": MANUAL_CHIP, "rejected": REJECTED_CHIP}[kind]
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            painter.drawRoundedRect(QRect(x, y, w, h), 6, 6)
            f = QFont(font)
            f.setStrikeOut(kind == "rejected")
            painter.setFont(f)
            painter.setPen(QColor("#1b1b1b"))
            painter.drawText(QRect(x, y, w, h), Qt.AlignmentFlag.AlignCenter, label)
            x += w + 4
        painter.restore()
