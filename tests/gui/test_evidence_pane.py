"""Issue 11: the detail pane shows the evidence the feature cache holds for a real clip.

The clip is decoded for real (PyAV, ffmpeg's scene score) by the real ``ExtractionSession``;
the extractors are small deterministic stand-ins that record what the real ones record per
row (scene times, timed transcript and on-screen text, sound-tag labels with scores), so the
test is about what is stored and shown, not about model weights.  The slow test after it
goes the whole way with the real default models on a voice-over trailer.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from trailertagger.core.extractors import base
from trailertagger.core.extractors.base import ExtractorBase, Needs
from trailertagger.core.features.cache import FeatureCache
from trailertagger.core.features.types import ModalityFeatures
from trailertagger.core.genres import GENRES
from trailertagger.core.library.classification import note_active_head, store_predictions
from trailertagger.core.library.identity import new_video
from trailertagger.core.library.schema import Video
from trailertagger.core.paths import app_dirs
from trailertagger.core.pipeline import ExtractionSession


class Scenes(ExtractorBase):
    name, modality, version, needs, dim = "test.scenes", "image", "1", Needs(frames=True), 3

    def _load(self, store, device):  # noqa: ANN001, ANN202
        self.model_id = "frame-means"

    def extract(self, media, cancel=None):  # noqa: ANN001, ANN202
        v = np.stack([f.image.reshape(-1, 3).mean(0) for f in media.frames])
        return ModalityFeatures(self.modality, v, [f.time for f in media.frames], self.name,
                                self.version, self.model_id, "")


class Speech(Scenes):
    name, modality = "test.speech", "asr"

    def extract(self, media, cancel=None):  # noqa: ANN001, ANN202
        return ModalityFeatures(self.modality, np.zeros((2, 3)), [1.5, 7.25], self.name,
                                self.version, self.model_id, "",
                                texts=["they came from the dark", "run!"])


class Titles(Scenes):
    name, modality = "test.titles", "ocr"

    def extract(self, media, cancel=None):  # noqa: ANN001, ANN202
        return ModalityFeatures(self.modality, np.zeros((1, 3)), [3.0], self.name,
                                self.version, self.model_id, "", texts=["COMING SOON"])


class Sounds(Scenes):
    name, modality = "test.sounds", "audio"

    def extract(self, media, cancel=None):  # noqa: ANN001, ANN202
        scores = np.array([[0.9, 0.1, 0.3], [0.7, 0.2, 0.5]], dtype=np.float32)
        return ModalityFeatures(self.modality, np.zeros((2, 3)), [0.0, 1.0], self.name,
                                self.version, self.model_id, "",
                                labels=["Scream", "Speech", "Music"], scores=scores)


EXTRACTORS = (Scenes, Speech, Titles, Sounds)


@pytest.fixture()
def _registry():
    for cls in EXTRACTORS:
        base.register_extractor(cls)
    yield
    for cls in EXTRACTORS:
        base.unregister_extractor(cls.name)


def test_evidence_of_a_real_extracted_clip(qtbot, make_window, lib, trailer, _registry) -> None:
    clip, _cuts = trailer
    result = ExtractionSession("default", extractors=[c.name for c in EXTRACTORS], store=object(),
                               cache=FeatureCache(app_dirs().features)).run(clip)
    scenes = result.features.modalities["image"].times.tolist()
    assert len(scenes) >= 3  # a real scene detection on the planted cuts
    with lib.session() as s:
        head, _ = note_active_head(s, "test-head", "1", "onnx")
        v = new_video(s, str(clip), clip.stat().st_size, clip.stat().st_mtime_ns)
        v.content_hash, v.duration, v.status = result.content_hash, 20.0, "ready"
        probs = {g: 0.0 for g in GENRES} | {"Horror": 0.39, "Western": 0.03}
        store_predictions(s, s.get(Video, v.id), head, probs,
                          thresholds={g: 0.5 for g in GENRES} | {"Western": 0.02},
                          explanations={"Western": "dusty wide shots"})
        vid = v.id
    win = make_window(start=False)
    win.reselect([vid])
    pane = win.evidence
    qtbot.waitUntil(lambda: "they came from the dark" in pane.transcript.text(), timeout=10000)
    assert "[0:02] they came from the dark" in pane.transcript.text()  # 1.5 s rounds to 0:02
    assert "[0:07] run!" in pane.transcript.text()
    assert pane.onscreen.text() == "[0:03] COMING SOON"
    assert pane.reading.text().startswith("Read whole (0:")  # how the file was read
    assert pane.audio.text().startswith("Sounds: Scream 80%, Music 40%")
    assert "music" in pane.music.text().lower()  # not extracted: said, not hidden
    assert len(pane.scene_buttons) == len(scenes)
    # the scene strip: real frames taken from the file at the recorded times, cached small
    qtbot.waitUntil(lambda: all(b.icon().availableSizes() for b in pane.scene_buttons),
                    timeout=20000)
    assert all(p is not None and p.is_file() for p in pane.thumbs)
    assert pane.enlarge(0) is not None
    # each genre's threshold is drawn on its bar, and the explanation is there
    western = win.detail.rows["Western"]
    assert western.check.isChecked() and western.bar.threshold == pytest.approx(0.02)
    assert western.bar.format() == "3%" and "threshold 0.02" in western.bar.toolTip()
    assert not win.detail.rows["Horror"].check.isChecked()
    assert win.detail.rows["Horror"].bar.marker_x() == pytest.approx(
        0.5 * (win.detail.rows["Horror"].bar.width() - 1), abs=1)
    assert "dusty wide shots" in win.detail.why.text()
    assert win.detail.rows["Western"].check.checkState() == Qt.CheckState.Checked


@pytest.mark.slow
def test_evidence_pane_on_a_voice_over_trailer_scanned_with_the_real_models(qtbot, tmp_path,
                                                                            capsys) -> None:
    """The whole way with real weights: scan a held-out voice-over trailer (espeak-ng
    speech, an on-screen title) with the default profile, open the window on that library,
    and read Whisper's words, RapidOCR's title, YAMNet's sound tags and the scene strip in
    the detail pane."""
    from PySide6.QtCore import QSettings

    from trailertagger.cli.main import main
    from trailertagger.core.app import LibrarySession
    from trailertagger.core.jobs.worker import PoolOptions
    from trailertagger.devtools.coldstart_set import make_script_clip
    from trailertagger.devtools.samples import DEMO_SCRIPTS
    from trailertagger.gui.bridge import JobBridge
    from trailertagger.gui.main_window import MainWindow

    name = "Dust and Iron (voice-over).mp4"
    folder = tmp_path / "clips"
    folder.mkdir()
    make_script_clip(DEMO_SCRIPTS[name], folder / name, seed=100, size=(640, 360))
    assert main(["scan", str(folder), "--workers", "0"]) == 0
    capsys.readouterr()
    session = LibrarySession.open(app_dirs().library_db)
    bridge = JobBridge(session, PoolOptions(workers=0), watch=False, rescan_seconds=None)
    win = MainWindow(session, bridge, settings=QSettings(str(tmp_path / "gui.ini"),
                                                         QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: win.model.rowCount() == 1, timeout=10000)
        win.reselect([win.model.light(0).id])
        pane = win.evidence
        qtbot.waitUntil(lambda: "[0:" in pane.transcript.text(), timeout=20000)
        words = pane.transcript.text().lower()
        assert sum(w in words for w in ("gunslinger", "desert", "sheriff", "outlaws",
                                        "saloon", "cattle", "frontier")) >= 4, words
        assert "DUST" in pane.onscreen.text().upper(), pane.onscreen.text()
        assert pane.audio.text().startswith("Sounds:") and "%" in pane.audio.text()
        assert pane.music.text().startswith("Music:") and "%" in pane.music.text()
        print(pane.transcript.text(), pane.onscreen.text(), pane.audio.text(), pane.music.text(),
              sep="\n")
        assert len(pane.scene_buttons) >= 1
        qtbot.waitUntil(lambda: all(b.icon().availableSizes() for b in pane.scene_buttons),
                        timeout=20000)
        assert win.detail.record is not None and win.detail.record.model_id
    finally:
        win.close()
