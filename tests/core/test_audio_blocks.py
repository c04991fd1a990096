"""Audio in blocks: the blocked front-ends give the numbers of one pass (to float32
rounding), and audio extractors on an excerpt plan analyse each excerpt on its own at its own
time."""

from __future__ import annotations

import numpy as np

from tests.fixtures_media import audio_media
from trailertagger.core.extractors import logmel
from trailertagger.devtools import mediagen

RATE = 16000


def test_blocked_front_ends_equal_one_pass(monkeypatch):
    wave = (np.random.default_rng(0).standard_normal(RATE * 7) * 0.1).astype(np.float32)
    yam, mus = logmel.yamnet_log_mel(wave), logmel.musicnn_log_mel(wave)
    monkeypatch.setattr(logmel, "BLOCK_FRAMES", 97)  # a block size that divides nothing
    monkeypatch.setattr(logmel.blocked_frames, "__defaults__", (97,))
    # Equal up to float32 rounding: the mel projection is one BLAS matmul, and OpenBLAS may
    # split a 97-row product differently from a 700-row one (seen: 4.8e-7 on log-mel values
    # with numpy 2.4's OpenBLAS 0.3.31, bitwise equal with earlier builds).
    np.testing.assert_allclose(logmel.yamnet_log_mel(wave), yam, rtol=0, atol=1e-5)
    np.testing.assert_allclose(logmel.musicnn_log_mel(wave), mus, rtol=0, atol=1e-5)
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


def test_asr_one_call_for_all_excerpts_at_excerpt_times(offline_store, monkeypatch):
    from trailertagger.core.extractors.asr import FasterWhisperExtractor

    asr = FasterWhisperExtractor()
    asr.load(offline_store)
    calls = []
    real = asr._model.transcribe

    def counting(audio, **kw):
        calls.append(len(audio))
        return real(audio, **kw)

    monkeypatch.setattr(asr._model, "transcribe", counting)
    voice = mediagen.resample(mediagen.speech(), mediagen.AUDIO_RATE, RATE).astype(np.float32)
    pad = np.zeros(RATE, np.float32)
    spoken = np.concatenate([pad, voice, pad])  # speech from 1 s into the excerpt
    parts = [(60.0, spoken), (300.0, np.zeros(RATE * 3, np.float32)), (600.0, spoken)]
    feats = asr.extract(_excerpt_media(parts))
    assert len(calls) == 1  # one Whisper call for every excerpt's speech
    assert calls[0] <= 2 * len(spoken)  # the speech only: nothing of the silent excerpt
    words = " ".join(feats.texts).lower()
    assert words.count("harbor") == 2 and words.count("storm") == 2
    first = [t for t in feats.times if t < 300]
    second = [t for t in feats.times if t >= 300]
    assert first and second
    assert 60.5 <= min(first) <= 62.0 and 600.5 <= min(second) <= 602.0
    assert all(60 <= t < 60 + len(spoken) / RATE for t in first)
