"""The first-run page: what works offline straight away and what downloads on request.

Shown once per user (``first_run_done`` in the app's settings file), non-modal, after the
main window appears; Help > "What runs offline" shows it again.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

SETTING = "first_run_done"

TEXT = """<h3>Welcome to trailertagger</h3>
<p>Add a folder of videos (<b>File &gt; Add folder</b>); each video is tagged with up to 21
movie genres in the background. Your library, its tags and the feature cache stay on this
computer.</p>
<p><b>Runs offline from the first start</b> (the models ship with the app):</p>
<ul>
<li>pictures: EfficientNet-Lite0 (ImageNet classes)</li>
<li>on-screen text: RapidOCR (PP-OCR)</li>
<li>speech: Whisper tiny.en (faster-whisper) and the MiniLM sentence embedder</li>
<li>sounds: YAMNet (AudioSet tags); music: musicnn (MSD tags)</li>
<li>the cold-start genre head, and heads you train from your own corrections</li>
</ul>
<p><b>Downloads only when you ask</b> (into your user cache, once, checked by SHA-256):
larger models for the <i>paper</i> and <i>seed</i> profiles (CLIP ViT-B/32, PANNs CNN14,
BEATs, larger Whisper models). Run <code>trailertagger models list</code> to see them and
<code>trailertagger models fetch NAME</code> to get one.</p>
<p>A GPU is used when one is present (NVIDIA, with the GPU build of the app); otherwise
everything runs on the CPU.</p>"""


class FirstRunPage(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("What runs offline")
        layout = QVBoxLayout(self)
        label = QLabel(TEXT)
        label.setWordWrap(True)
        label.setTextFormat(label.textFormat().RichText)
        layout.addWidget(label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok)
        buttons.accepted.connect(self.accept)
        layout.addWidget(buttons)


def show_once(settings: QSettings, parent: QWidget | None = None) -> FirstRunPage | None:
    """Open the page (non-blocking) unless it was shown before; remembers that it was."""
    if settings.value(SETTING, False, type=bool):
        return None
    settings.setValue(SETTING, True)
    page = FirstRunPage(parent)
    page.open()
    return page
