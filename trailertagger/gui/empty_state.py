"""What an empty library shows instead of a blank table: the three steps, what runs
offline, and an "Add folder…" button."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .icons import app_icon, icon

STEPS = (
    ("1", "Add a folder of videos",
     "trailers, films, clips: every video file in it and its subfolders."),
    ("2", "It is watched and processed in the background",
     "new and changed files are picked up by themselves; the Jobs panel shows the queue."),
    ("3", "Check and correct the genres",
     "tick or untick a genre in the detail panel; your corrections always win."),
)


class EmptyState(QWidget):
    """Shown while the library has no videos."""

    addFolderRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("empty-state")
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        box = QVBoxLayout()
        box.setSpacing(14)
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(QSize(72, 72)))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        box.addWidget(logo)
        title = QLabel("Your library is empty")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 1.5)
        f.setBold(True)
        title.setFont(f)
        box.addWidget(title)
        for number, head, text in STEPS:
            row = QHBoxLayout()
            badge = QLabel(number)
            badge.setFixedSize(28, 28)
            badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
            badge.setStyleSheet("background:#2e86c1;color:white;border-radius:14px;font-weight:bold")
            row.addWidget(badge, 0, Qt.AlignmentFlag.AlignTop)
            label = QLabel(f"<b>{head}</b><br>{text}")
            label.setWordWrap(True)
            row.addWidget(label, 1)
            box.addLayout(row)
        self.offline = QLabel(
            "Everything runs on this computer, offline: the default profile uses the models "
            "bundled with the app (image, on-screen text, speech, sounds, music). Nothing is "
            "uploaded, and nothing is downloaded unless you fetch a model (File > Models).")
        self.offline.setWordWrap(True)
        self.offline.setStyleSheet("color:#566573")
        box.addWidget(self.offline)
        self.add_button = QPushButton(icon("add-folder"), "Add folder…")
        self.add_button.setIconSize(QSize(22, 22))
        self.add_button.setMinimumHeight(36)
        self.add_button.clicked.connect(self.addFolderRequested)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.add_button)
        row.addStretch(1)
        box.addLayout(row)
        holder = QHBoxLayout()
        holder.addStretch(1)
        inner = QWidget()
        inner.setLayout(box)
        inner.setMaximumWidth(460)
        holder.addWidget(inner, 3)
        holder.addStretch(1)
        outer.addLayout(holder)
        outer.addStretch(2)
