"""faster-whisper tiny.en on real espeak-ng speech: word error rate, segment times, silence."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures_media import audio_media
from trailertagger.core.extractors.asr import FasterWhisperExtractor, _ChunkMap
from trailertagger.devtools import mediagen

RATE = 16000
SECOND_SENTENCE = "Nobody knew what was waiting for them beyond the mountains."


def spoken(text: str) -> np.ndarray:
    """``text`` said by espeak-ng at a clear 130 words per minute, 16 kHz."""
    with tempfile.TemporaryDirectory() as tmp:
        samples, rate = mediagen.read_wav(mediagen.speech_wav(text, Path(tmp) / "s.wav", wpm=130))
    return mediagen.resample(samples, rate, RATE)


def onset(wave: np.ndarray) -> float:
    return float(np.argmax(np.abs(wave) > 0.02)) / RATE


@pytest.fixture(scope="module")
def asr(offline_store):
    x = FasterWhisperExtractor()
    x.load(offline_store)
    return x


@pytest.fixture(scope="module")
def two_sentences():
    """1 s silence, sentence one, 3 s silence, sentence two, 1 s silence; true onsets."""
    s1, s2 = spoken(mediagen.SPEECH_SENTENCE), spoken(SECOND_SENTENCE)
    lead, gap = np.zeros(RATE, np.float32), np.zeros(3 * RATE, np.float32)
    wave = np.concatenate([lead, s1, gap, s2, lead])
    onsets = (1.0 + onset(s1), 1.0 + len(s1) / RATE + 3.0 + onset(s2))
    return wave, onsets


def test_transcript_word_error_rate(asr, two_sentences):
    import jiwer

    wave, _ = two_sentences
    feats = asr.extract(audio_media(wave, RATE))
    norm = jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])
    reference = f"{mediagen.SPEECH_SENTENCE} {SECOND_SENTENCE}"
    hypothesis = " ".join(feats.texts)
    wer = jiwer.wer(reference, hypothesis, reference_transform=norm, hypothesis_transform=norm)
    print(f"\nASR hypothesis: {hypothesis!r}\nWER = {wer:.3f}")
    assert wer <= 0.3
    assert feats.modality == "asr" and feats.values.shape == (len(feats.texts), 384)
    assert np.all(np.isfinite(feats.values)) and np.all(np.linalg.norm(feats.values, axis=1) > 0.1)
    assert feats.model_id.startswith("whisper-tiny-en+") and len(feats.weights_sha256) == 64


def test_segment_times_follow_the_speech(asr, two_sentences):
    """Each sentence gets a segment that starts at its onset (VAD pads ~0.4 s before)."""
    wave, onsets = two_sentences
    segments = asr.transcribe(wave)
    starts = [s.start for s in segments]
    print("\nsegments:", segments, "onsets:", onsets)
    assert len(segments) >= 2
    assert all(0.0 <= s.start <= s.end <= len(wave) / RATE for s in segments)
    assert starts == sorted(starts)
    for t in onsets:
        assert any(t - 0.8 <= s <= t + 0.3 for s in starts), (t, starts)
    feats = asr.extract(audio_media(wave, RATE))
    np.testing.assert_allclose(feats.times, [s.start for s in segments], atol=1e-3)


def test_silence_gives_an_empty_sequence(asr):
    feats = asr.extract(audio_media(np.zeros(5 * RATE, np.float32), RATE))
    assert feats.length == 0 and feats.values.shape == (0, 384) and feats.texts == []
    quiet_noise = (np.random.default_rng(0).standard_normal(5 * RATE) * 1e-4).astype(np.float32)
    assert asr.extract(audio_media(quiet_noise, RATE)).length == 0


def test_chunk_map_puts_boundary_starts_in_the_next_chunk():
    """The faster-whisper mapping we replace stamped a start on a chunk boundary with the
    *previous* chunk's end; ours keeps it with the speech it overlaps."""
    rate = 100
    m = _ChunkMap([{"start": 100, "end": 300}, {"start": 1000, "end": 1200}], rate)  # 1-3 s, 10-12 s
    assert m.to_original(0.5, 1.5) == (1.5, 2.5)
    assert m.to_original(1.98, 3.5) == (10.0, 11.5)  # starts 0.02 s before the boundary
    assert m.to_original(1.0, 3.0) == (2.0, 11.0)  # spans both chunks
    assert m.to_original(2.0, 2.0) == (10.0, 10.0)


def test_chunk_map_skips_the_silence_put_between_excerpts():
    """Excerpt plans put ``BLOCK_GAP_S`` of silence before an excerpt's first chunk; times in
    the concatenation map back past it, and a segment starting in the silence starts where
    the next excerpt's speech does."""
    rate = 100
    m = _ChunkMap([{"start": 100, "end": 300},
                   {"start": 1000, "end": 1200, "gap": 100}], rate)  # 1-3 s | 1 s silence | 10-12 s
    assert m.to_original(0.5, 1.5) == (1.5, 2.5)
    assert m.to_original(3.5, 4.0) == (10.5, 11.0)
    assert m.to_original(2.5, 4.0) == (10.0, 11.0)


def test_looping_text_is_recognised_by_its_compression_ratio():
    from trailertagger.core.extractors.asr import MAX_COMPRESSION_RATIO, _compression_ratio

    assert _compression_ratio("") == 0.0
    assert _compression_ratio("The phone line was dead, something was whispering her name.") \
        < MAX_COMPRESSION_RATIO
    assert _compression_ratio("The mother of the " * 30) > MAX_COMPRESSION_RATIO
