"""The settings dialog: device, workers, profile, classification, watched folders.

What applies when:
* jobs of each stage at once (probe / extract / classify): live, in every pool sharing the
  library (``LibrarySession.stage_limits``, the CLI's ``jobs limits``); kept in the library;
* device, worker processes, profile, classification: written to ``config.toml`` (checked
  with the same ranges the file is checked with at start, atomically, comments kept); the
  profile applies to new jobs at once, genres per video to the next classification (the
  workers reload their head when the file changes), the rest at the next start;
* watched folders: added/removed at once (the library keeps them).
A profile whose models are not installed is refused when picked, with one message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.app import settings_file
from .icons import icon

STAGES = ("probe", "extract", "classify")


def _spin(section: str, key: str, value: int) -> QSpinBox:
    lo, hi = settings_file.ranges().get((section, key), (0, 64))
    box = QSpinBox()
    box.setRange(int(lo), int(hi))
    box.setValue(int(value))
    box.setToolTip(f"[{section}] {key}: {int(lo)} to {int(hi)}")
    return box


def _workers_value(value: Any) -> int:
    """The spin box's value for ``[jobs] workers``: -1 for ``"auto"``."""
    return -1 if isinstance(value, str) else int(value)


class SettingsDialog(QDialog):
    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window_ = window
        self.app = window.app
        self.setWindowTitle("Settings")
        self.setWindowIcon(icon("settings"))
        self.setMinimumWidth(560)
        self.error = ""  # the last refusal (tests read it)
        cfg = self.app.cfg
        v = QVBoxLayout(self)
        self.tabs = QTabWidget()
        v.addWidget(self.tabs)

        # -- processing
        page = QWidget()
        form = QFormLayout(page)
        self.device = QComboBox()
        devices = self.app.devices()
        self.device.addItem("Automatic (GPU when there is one)" if "cuda" in devices
                            else "Automatic (CPU: torch sees no GPU)", "auto")
        for d in devices:
            self.device.addItem("CPU" if d == "cpu" else "GPU (CUDA)", d)
        current = str(cfg["extract"]["device"])
        if self.device.findData(current) < 0:  # e.g. "cuda:1" from the file: kept as it is
            self.device.addItem(f"{current} (from the settings file)", current)
        self.device.setCurrentIndex(self.device.findData(current))
        if "cuda" not in devices:
            self.device.setToolTip("no CUDA GPU visible to torch: the GPU is not offered")
        form.addRow("Device", self.device)
        # -1 stands for "auto" (one per core, fewer when memory is short): the spin box's
        # lowest value, shown as "Auto (N)"
        self.workers = _spin("jobs", "workers", 0)
        auto_n, auto_max = settings_file.auto_workers()
        self.workers.setMinimum(-1)  # before the value: "auto" would be clamped to 0
        self.workers.setValue(_workers_value(cfg["jobs"]["workers"]))
        self.workers.setSpecialValueText(f"Auto ({auto_n} here)")
        self.workers.setToolTip(f"[jobs] workers: auto (one per core, at most {auto_max}, fewer "
                                "when memory is short), 0 (in the app's process) or 1 to 64")
        form.addRow("Worker processes", self.workers)
        limits = self.app.stage_limits()
        self.limits: dict[str, QSpinBox] = {}
        box = QGroupBox("Jobs of each stage at once (applied now, to the running workers)")
        lf = QHBoxLayout(box)
        for st in STAGES:
            spin = QSpinBox()
            spin.setRange(0, 64)
            spin.setValue(int(limits.get(st, 1)))
            spin.setToolTip(f"0 holds the {st} stage")
            lf.addWidget(QLabel(st))
            lf.addWidget(spin)
            self.limits[st] = spin
        form.addRow(box)
        note = QLabel("Device and worker processes apply at the next start; the per-stage "
                      "limits apply at once (up to the number of worker processes).")
        note.setWordWrap(True)
        note.setStyleSheet("color:#566573")
        form.addRow(note)
        self.tabs.addTab(page, icon("jobs"), "Processing")

        # -- profile and classification
        page = QWidget()
        form = QFormLayout(page)
        self.profile = QComboBox()
        for p in self.app.profiles():
            self.profile.addItem(p, p)
        self._profile_ok = str(cfg["extract"]["profile"])
        self.profile.setCurrentIndex(max(0, self.profile.findData(self._profile_ok)))
        self.profile.activated.connect(lambda _i: self.check_profile())
        form.addRow("Extractor profile", self.profile)
        self.max_genres = _spin("classify", "max_genres", cfg["classify"]["max_genres"])
        form.addRow("Genres per video at most", self.max_genres)
        self.retrain_every = QSpinBox()
        self.retrain_every.setRange(0, 100000)
        self.retrain_every.setValue(int(cfg["classify"]["retrain_every"]))
        self.retrain_every.setToolTip("0: only when asked")
        form.addRow("Retrain after new labels", self.retrain_every)
        self.tabs.addTab(page, icon("models"), "Profile && genres")

        # -- folders
        page = QWidget()
        fv = QVBoxLayout(page)
        fv.addWidget(QLabel("Watched folders (new and changed videos are processed by themselves):"))
        self.folders = QListWidget()
        fv.addWidget(self.folders)
        row = QHBoxLayout()
        add = QPushButton(icon("add-folder"), "Add folder…")
        add.clicked.connect(self.add_folder)
        rem = QPushButton(icon("remove"), "Remove")
        rem.clicked.connect(self.remove_folder)
        row.addWidget(add)
        row.addWidget(rem)
        row.addStretch(1)
        fv.addLayout(row)
        self.tabs.addTab(page, icon("add-folder"), "Folders")
        self._fill_folders()

        self.path_label = QLabel(f"Settings file: {settings_file.config_path()}")
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.path_label.setStyleSheet("color:#566573")
        self.path_label.setWordWrap(True)
        v.addWidget(self.path_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        v.addWidget(buttons)

    # -- folders ------------------------------------------------------------------------------
    def _fill_folders(self) -> None:
        self.folders.clear()
        for f in self.app.folders(check=False):
            item = QListWidgetItem(f.path)
            item.setData(Qt.ItemDataRole.UserRole, f.path)
            self.folders.addItem(item)

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of videos",
                                                  str(self.window_.start_folder()))
        if folder:
            self.window_.add_folder(Path(folder), then=self._fill_folders)

    def remove_folder(self) -> None:
        item = self.folders.currentItem()
        if item is not None:
            self.window_.remove_folder(item.data(Qt.ItemDataRole.UserRole), then=self._fill_folders)

    # -- profile ------------------------------------------------------------------------------
    def check_profile(self) -> bool:
        """Refuse a profile whose models are missing, once, with what to install."""
        wanted = self.profile.currentData()
        problem = self.app.profile_problem(wanted)
        if problem:
            self.error = problem
            self.profile.setCurrentIndex(max(0, self.profile.findData(self._profile_ok)))
            self._say(QMessageBox.Icon.Warning, f"Profile {wanted!r} cannot run yet", problem)
            return False
        self._profile_ok = wanted
        return True

    # -- saving -------------------------------------------------------------------------------
    def changes(self) -> dict[tuple[str, str], Any]:
        cfg = self.app.cfg
        wanted = {("extract", "device"): self.device.currentData(),
                  ("jobs", "workers"): ("auto" if self.workers.value() < 0
                                        else self.workers.value()),
                  ("extract", "profile"): self.profile.currentData(),
                  ("classify", "max_genres"): self.max_genres.value(),
                  ("classify", "retrain_every"): self.retrain_every.value()}
        return {k: v for k, v in wanted.items() if cfg.get(k[0], {}).get(k[1]) != v}

    def save(self, changes: dict[tuple[str, str], Any] | None = None) -> bool:
        """Apply live limits, write the file; a bad value is refused with the checks' message
        and the dialog stays open.  Returns whether it saved."""
        changes = self.changes() if changes is None else changes
        if ("extract", "profile") in changes and not self.check_profile():
            return False
        try:
            if changes:
                self.app.apply_settings(changes)
        except Exception as err:  # noqa: BLE001 - ConfigError: shown, nothing written
            self.error = str(err)
            self._say(QMessageBox.Icon.Warning, "Settings not saved", self.error)
            return False
        limits = {st: spin.value() for st, spin in self.limits.items()}
        self.window_.set_stage_limits(limits)
        if ("extract", "profile") in changes:
            self.window_.bridge.profile = changes[("extract", "profile")]
            self.window_.check_processing()  # a profile that can run starts what was off
        self.error = ""
        self.window_.activity.setText(
            "settings saved" + (f": {', '.join(f'[{s}] {k}' for s, k in changes)}" if changes else "")
            + "; stage limits " + ", ".join(f"{k}={v}" for k, v in limits.items()))
        self.accept()
        return True

    def _say(self, kind: QMessageBox.Icon, title: str, text: str) -> None:
        box = QMessageBox(kind, title, text, QMessageBox.StandardButton.Ok, self)
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.last_box = box
