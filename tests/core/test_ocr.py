"""OCR with the shipped PP-OCR models (rapidocr) on real encoded clips with PIL-drawn text:
the overlay is read, repeated text across scenes is one row, text-free frames give none."""

from __future__ import annotations

import numpy as np
import pytest

from trailertagger.core.errors import ModelMissingError
from trailertagger.core.extractors.ocr import (
    EasyOcrExtractor,
    RapidOcrExtractor,
    TextLine,
    dedupe_lines,
    normalize_text,
)
from trailertagger.core.media import decode_media
from trailertagger.core.models.store import ModelStore
from trailertagger.devtools import mediagen


@pytest.fixture(scope="module")
def ocr():
    ext = RapidOcrExtractor()
    ext.load(ModelStore(allow_download=False))
    return ext


def test_reads_the_drawn_title(ocr, real_clips):
    feats = ocr.extract(decode_media(real_clips["text"]))
    assert feats.texts and normalize_text(feats.texts[0]) == normalize_text(mediagen.OVERLAY_TEXT)
    assert feats.values.shape == (1, 384)
    np.testing.assert_allclose(np.linalg.norm(feats.values, axis=1), 1.0, rtol=1e-5)
    assert 0.5 <= feats.times[0] <= 3.5
    assert feats.model_id == "ppocr+minilm-l6-v2" and len(feats.weights_sha256) == 64


def test_text_over_two_scenes_is_one_row(ocr, media_dir):
    clip = mediagen.make_clip(media_dir / "title over a cut.mp4", duration=4.0, size=(640, 360),
                              cuts=[2.0], text=[(0.5, 3.5, "COMING SOON")], audio=None, seed=21)
    media = decode_media(clip)
    assert len(media.frames) == 2
    per_frame = [ocr.read_frame(f.image) for f in media.frames]
    assert all(normalize_text(t) == "coming soon" for lines in per_frame for t, _ in lines)
    feats = ocr.extract(media)
    assert [normalize_text(t) for t in feats.texts] == ["coming soon"]
    assert feats.times[0] == pytest.approx(media.frames[0].time)


def test_frames_without_text_give_an_empty_sequence(ocr, real_clips):
    feats = ocr.extract(decode_media(real_clips["cuts"]))
    assert feats.length == 0 and feats.values.shape == (0, 384) and feats.texts == []


def test_dedupe_merges_near_duplicates_and_drops_specks():
    lines = [
        TextLine(5.0, "Coming Soon!", 0.9),
        TextLine(1.0, "COMING SOON", 0.8),
        TextLine(2.0, "C0MING SOON", 0.7),  # misread: near-duplicate
        TextLine(3.0, "|", 0.99),  # a stray glyph
        TextLine(4.0, "Only in cinemas", 0.9),
    ]
    kept = dedupe_lines(lines)
    assert [(ln.time, ln.text) for ln in kept] == [(1.0, "COMING SOON"), (4.0, "Only in cinemas")]
    assert normalize_text("  Ｍidnight—EXPRESS  ") == "midnight express"


def test_easyocr_absent_is_a_clear_model_missing(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "easyocr", None)
    with pytest.raises(ModelMissingError) as err:
        EasyOcrExtractor().load(ModelStore(allow_download=False))
    assert "pip install easyocr" in str(err.value) and "easyocr-en" in str(err.value)


def test_parts_read_at_once_in_any_order_join_to_what_one_extract_gives(ocr, media_dir):
    """The pipeline reads OCR's parts (runs of frames) in several lanes at once and in any
    order of completion; the joined rows must be exactly those of one ``extract`` call."""
    from concurrent.futures import ThreadPoolExecutor

    from trailertagger.core.extractors import ocr as ocr_module
    from trailertagger.core.extractors.base import split_parts

    cuts = [1.0 * i for i in range(1, 10)]
    clip = mediagen.make_clip(media_dir / "ten titled scenes.mp4", duration=10.0, size=(640, 360),
                              cuts=cuts, audio=None, seed=33,
                              text=[(0.2, 2.8, "COMING SOON"), (4.2, 5.8, "THE LAST HARBOUR"),
                                    (7.2, 9.8, "COMING SOON")])
    media = decode_media(clip)
    assert len(media.frames) == 10
    parts = split_parts(ocr, media)
    assert parts is not None and len(parts) == -(-10 // ocr_module.FRAMES_PER_PART)
    assert [i for p in parts for i in p] == list(range(10))
    with ThreadPoolExecutor(2) as pool:
        partials = list(pool.map(lambda p: ocr.extract_part(media, p), reversed(parts)))[::-1]
    joined, whole = ocr.join(media, partials), ocr.extract(media)
    assert [normalize_text(t) for t in whole.texts] == ["coming soon", "the last harbour"]
    assert joined.texts == whole.texts
    np.testing.assert_array_equal(joined.times, whole.times)
    np.testing.assert_array_equal(joined.values, whole.values)


def test_detection_on_openvino_reads_what_onnx_runtime_reads(ocr, media_dir):
    """The default extractor detects text on OpenVINO (installed with the extract extra);
    switched off, it runs on ONNX Runtime.  Both must read the same lines with the same
    confidences from the same frames."""
    from trailertagger.core.runtime.openvino import OpenVinoModel, set_openvino

    assert ocr.det_runtime.startswith("openvino ")
    assert isinstance(ocr._engine.text_det.session, OpenVinoModel)
    set_openvino(False)
    try:
        on_ort = RapidOcrExtractor()
        on_ort.load(ModelStore(allow_download=False))
    finally:
        set_openvino(True)
    assert on_ort.det_runtime == "onnxruntime"
    clip = mediagen.make_clip(media_dir / "three titles.mp4", duration=6.0, size=(854, 480),
                              cuts=[2.0, 4.0], audio=None, seed=41,
                              text=[(0.2, 1.8, "NOW SHOWING"), (2.2, 3.8, "THE LAST HARBOUR"),
                                    (4.2, 5.8, "Friday 13 June")])
    frames = [f.image for f in decode_media(clip).frames]
    assert len(frames) == 3
    read_ov = [ocr.read_frame(f) for f in frames]
    read_ort = [on_ort.read_frame(f) for f in frames]
    assert [[t for t, _ in lines] for lines in read_ov] == [[t for t, _ in lines] for lines in read_ort]
    assert all(lines for lines in read_ov)
    for a, b in zip(read_ov, read_ort, strict=True):
        np.testing.assert_allclose([s for _, s in a], [s for _, s in b], atol=1e-3)
