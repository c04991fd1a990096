"""Audio in blocks: the blocked front-ends give the very numbers of one pass, and audio
extractors on an excerpt plan analyse each excerpt on its own at its own time."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures_media import audio_media
from trailertagger.core.extractors import logmel
from trailertagger.devtools import mediagen

RATE = 16000


def test_blocked_front_ends_equal_one_pass(monkeypatch):
    wave = (np.random.default_rng(0).standard_normal(RATE * 7) * 0.1).astype(np.float32)
    yam, mus = logmel.yamnet_log_mel(wave), logmel.musicnn_log_mel(wave)
    monkeypatch.setattr(logmel, "BLOCK_FRAMES", 97)  # a block size that divides nothing
    monkeypatch.setattr(logmel.blocked_frames, "__defaults__", (97,))
    assert np.array_equal(logmel.yamnet_log_mel(wave), yam)
    assert np.array_equal(logmel.musicnn_log_mel(wave), mus)
    assert yam.shape == (1 + (len(wave) - 400) // 160, 64)


def test_blocked_frames_bounds_each_piece():
    sizes = []

    def rows(x):
        sizes.append(len(x))
        return logmel.stft_magnitude(x, 400, 160, 512)

    x = np.zeros(RATE * 30, np.float32)
    out = logmel.blocked_frames(x, 400, 160, rows, block=500)
    assert len(out) == 1 + (len(x) - 400) // 160
    assert max(sizes) == 499 * 160 + 400  # memory follows the block, not the signal


def _excerpt_media(parts):
    media = audio_media(np.concatenate([w for _, w in parts]), RATE)
    media.audio_parts = parts
    return media


def test_yamnet_rows_per_excerpt_at_excerpt_times(offline_store):
    from trailertagger.core.extractors.audio_tags import YamnetExtractor

    yam = YamnetExtractor()
    yam.load(offline_store)
    a = mediagen.resample(mediagen.music(4.0), mediagen.AUDIO_RATE, RATE).astype(np.float32)
    b = mediagen.resample(mediagen.speech(), mediagen.AUDIO_RATE, RATE)[: RATE * 3].astype(np.float32)
    parts = [(100.0, a), (2000.0, b)]
    feats = yam.extract(_excerpt_media(parts))
    alone_a, alone_b = yam.extract(audio_media(a, RATE)), yam.extract(audio_media(b, RATE))
    assert feats.length == alone_a.length + alone_b.length
    assert np.allclose(feats.times, np.concatenate([alone_a.times + 100.0, alone_b.times + 2000.0]))
    assert np.allclose(feats.values, np.concatenate([alone_a.values, alone_b.values]), atol=1e-6)


def test_asr_segments_per_excerpt_at_excerpt_times(offline_store, monkeypatch):
    from trailertagger.core.extractors.asr import FasterWhisperExtractor, Segment

    asr = FasterWhisperExtractor()
    asr.load(offline_store)
    seen = []

    def fake(wave):
        seen.append(len(wave))
        return [Segment(0.5, 1.25, f"line {len(seen)}")]

    monkeypatch.setattr(asr, "transcribe", fake)
    parts = [(60.0, np.zeros(RATE * 2, np.float32)), (600.0, np.zeros(RATE * 3, np.float32))]
    feats = asr.extract(_excerpt_media(parts))
    assert seen == [RATE * 2, RATE * 3]  # each excerpt on its own, never the concatenation
    assert feats.times.tolist() == pytest.approx([60.5, 600.5])
    assert feats.texts == ["line 1", "line 2"]
