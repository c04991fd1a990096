"""Excerpts heard with a speech margin: Whisper hears the speech that overlaps an excerpt
whole, and a segment is kept only when its midpoint lies in an excerpt proper."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from trailertagger.core.extractors.asr import (
    ASR_RATE,
    FasterWhisperExtractor,
    in_excerpts,
    speech_overlapping,
)


def test_midpoint_decides_which_excerpt_keeps_a_segment():
    spans = [(10.0, 20.0), (50.0, 60.0)]
    assert in_excerpts(12.0, 14.0, spans)
    assert in_excerpts(8.0, 13.0, spans)  # starts before, most of it inside
    assert not in_excerpts(5.0, 12.0, spans)  # mostly before the excerpt
    assert in_excerpts(18.0, 21.0, spans) and not in_excerpts(19.0, 23.0, spans)
    assert in_excerpts(45.0, 56.0, spans) and not in_excerpts(30.0, 40.0, spans)
    assert not in_excerpts(17.0, 23.0, spans)  # the midpoint at the end belongs to no excerpt


def test_speech_chunks_overlapping_the_excerpt_are_kept_whole():
    r = ASR_RATE
    chunks = [{"start": 0, "end": r}, {"start": 2 * r, "end": 5 * r},
              {"start": 8 * r, "end": 10 * r}, {"start": 12 * r, "end": 14 * r},
              {"start": 14 * r + r // 2, "end": 15 * r}]
    kept = speech_overlapping(chunks, 3.0, 13.0, r)
    assert kept == chunks[1:4]


class _FakeWhisper:
    """Records what it hears; returns one segment per (start, end) given, in the
    concatenated audio's time."""

    def __init__(self, segments):
        self.segments, self.heard = segments, []

    def transcribe(self, audio, **_):
        self.heard.append(len(audio) / ASR_RATE)
        return iter(SimpleNamespace(start=s, end=e, text=t) for s, e, t in self.segments), None


def test_excerpt_heard_with_margin_keeps_segments_centred_inside(monkeypatch):
    r = ASR_RATE
    # one excerpt 103-113 s heard as 100-116 s; speech at 100-101 (before), 102-105 (across
    # the start), 108-110 (inside) and 114.5-115.5 s (after)
    found = [{"start": 0, "end": r}, {"start": 2 * r, "end": 5 * r},
             {"start": 8 * r, "end": 10 * r}, {"start": int(14.5 * r), "end": int(15.5 * r)}]
    import faster_whisper.vad

    monkeypatch.setattr(faster_whisper.vad, "get_speech_timestamps", lambda *a, **k: found)
    ext = FasterWhisperExtractor()
    # in the concatenation (3 s + 2 s of speech): 0-1.2 (midpoint 102.6 s: outside),
    # 1.2-3.0 (104.1 s: inside), 3.0-5.0 (108-110 s: inside)
    ext._model = _FakeWhisper([(0.0, 1.2, "cut before"), (1.2, 3.0, "across the border"),
                               (3.0, 5.0, "inside")])
    wave = np.full(16 * r, 0.1, np.float32)
    segs = ext.transcribe_excerpts([(100.0, wave, 103.0, 113.0)])
    assert ext._model.heard == [pytest.approx(5.0)]  # only speech that touches the excerpt
    assert [s.text for s in segs] == ["across the border", "inside"]
    assert [(s.start, s.end) for s in segs] == [(103.2, 105.0), (108.0, 110.0)]


def test_extract_uses_the_speech_margin_on_excerpt_plans_only(monkeypatch):
    from tests.fixtures_media import audio_media

    ext = FasterWhisperExtractor()
    ext._embedder = SimpleNamespace(embed=lambda texts: np.zeros((len(texts), 384), np.float32))
    calls = []
    monkeypatch.setattr(ext, "transcribe_excerpts",
                        lambda blocks, cancel=None: calls.append(("margin", len(blocks))) or [])
    monkeypatch.setattr(ext, "transcribe_blocks",
                        lambda blocks, cancel=None: calls.append(("blocks", len(blocks))) or [])
    monkeypatch.setattr(ext, "transcribe",
                        lambda wave, cancel=None: calls.append(("whole", 1)) or [])
    wave = np.zeros(ASR_RATE * 4, np.float32)
    ext.extract(audio_media(wave, ASR_RATE))  # the full plan
    media = audio_media(wave, ASR_RATE)
    media.audio_parts = [(10.0, wave[:ASR_RATE * 2]), (50.0, wave[ASR_RATE * 2:])]
    ext.extract(media)  # excerpts without their margin (nothing decoded around them)
    media = audio_media(wave, ASR_RATE)
    media.audio_parts = [(10.0, wave[:ASR_RATE * 2]), (50.0, wave[ASR_RATE * 2:])]
    media.speech_parts = [(8.0, wave, 10.0, 12.0), (48.0, wave, 50.0, 52.0)]
    ext.extract(media)
    assert calls == [("whole", 1), ("blocks", 2), ("margin", 2)]


def test_runs_of_one_repeated_segment_are_dropped():
    from trailertagger.core.extractors.asr import Segment, drop_repeats

    said = ["Dear Mother,", "The", "the.", "The", "The", "Run!", "Run!", "home"]
    segs = [Segment(float(i), i + 0.5, t) for i, t in enumerate(said)]
    kept = drop_repeats(segs)
    assert [s.text for s in kept] == ["Dear Mother,", "Run!", "Run!", "home"]  # twice is fine
    assert drop_repeats([]) == [] and drop_repeats(segs, most=10) == segs
