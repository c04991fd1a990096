"""Sampling plans: short videos are read whole (unchanged path), long ones as spread
excerpts, each decoded after a seek, so what is decoded is bounded by the excerpts."""

from __future__ import annotations

import numpy as np
import pytest

from trailertagger.core.config import DEFAULTS
from trailertagger.core.errors import ConfigError
from trailertagger.core.media import decode_media, detect_scenes
from trailertagger.core.media.decode import decode_audio, decode_audio_excerpts, media_settings
from trailertagger.core.media.plan import choose_plan
from trailertagger.devtools import mediagen

FPS = 24
LONG_S = 96.0
# a plan that makes a 96 s clip "long": 4 excerpts of 6 s
LONG_CFG = {"full_max_s": 60.0, "excerpt_count": 4, "excerpt_s": 6.0}


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """96 s, 160x96, a hard cut every 3 s, key frames every 2 s (so seeks land close)."""
    cuts = [round(k * 3.0, 3) for k in range(1, 32)]
    path = tmp_path_factory.mktemp("plan") / "long clip.mp4"
    mediagen.make_clip(path, duration=LONG_S, size=(160, 96), fps=FPS, cuts=cuts,
                       audio="music", seed=5)
    return path, cuts


def test_short_videos_keep_the_full_plan_long_ones_get_spread_excerpts():
    cfg = media_settings({})
    short = choose_plan(120.0, cfg)
    assert short.full and short.excerpts[0].start == 0.0 and short.excerpts[0].end == 120.0
    assert choose_plan(480.0, cfg).full  # the boundary is inclusive
    long = choose_plan(7200.0, cfg)
    assert long.kind == "excerpts" and len(long.excerpts) == cfg["excerpt_count"]
    lengths = {round(e.length, 3) for e in long.excerpts}
    assert lengths == {cfg["excerpt_s"]}
    centres = np.array([(e.start + e.end) / 2 for e in long.excerpts])
    assert np.allclose(np.diff(centres), 7200.0 / cfg["excerpt_count"])  # evenly spread
    assert long.excerpts[0].start > 0 and long.excerpts[-1].end < 7200.0
    assert long.planned_s == pytest.approx(cfg["excerpt_count"] * cfg["excerpt_s"])
    d = long.to_dict()
    assert d["kind"] == "excerpts" and d["params"]["full_max_s"] == DEFAULTS["media"]["full_max_s"]
    # excerpts that would overlap mean the whole file is cheaper: read it all
    assert choose_plan(100.0, media_settings({**LONG_CFG, "excerpt_count": 20})).full


@pytest.mark.parametrize(("key", "bad"), [("full_max_s", 10.0), ("excerpt_count", 1),
                                          ("excerpt_s", 500.0), ("subtitle_max_lines", 0)])
def test_plan_settings_out_of_range_are_config_errors(key, bad):
    with pytest.raises(ConfigError, match=key):
        media_settings({key: bad})


def test_short_video_is_read_whole_as_before(real_clips):
    media = decode_media(real_clips["cuts"])
    prov = media.provenance
    assert prov["plan"]["kind"] == "full"
    assert prov["coverage"]["video_fraction"] == pytest.approx(1.0, abs=0.01)
    assert prov["coverage"]["audio_fraction"] == pytest.approx(1.0, abs=0.01)
    assert prov["coverage"]["frames_decoded"] == 8 * FPS
    assert media.audio_parts is None
    (t0, wave), = media.audio_blocks(16000)
    assert t0 == 0.0 and wave is media.audio  # one block: the whole soundtrack, no copy


def test_long_video_decodes_only_its_excerpts(long_clip):
    path, cuts = long_clip
    full = detect_scenes(path)
    media = decode_media(path, LONG_CFG)
    plan, cov = media.provenance["plan"], media.provenance["coverage"]
    assert plan["kind"] == "excerpts" and len(plan["excerpts"]) == 4
    # Frames decoded = from the key frame at or before each excerpt's start to its end.
    keys = np.array(full.keyframes)
    expected = sum(int(round((b - keys[keys <= a + 1e-6].max()) * FPS)) for a, b in plan["excerpts"])
    assert abs(cov["frames_decoded"] - expected) <= 2 * len(plan["excerpts"])
    assert cov["frames_decoded"] < 0.5 * full.n_frames
    assert cov["video_s"] == pytest.approx(24.0, abs=0.2)
    assert cov["video_fraction"] == pytest.approx(24.0 / LONG_S, abs=0.01)
    # every scene frame lies in an excerpt, and the cuts found are the planted ones there
    spans = plan["excerpts"]
    for f in media.frames:
        assert any(a - 1e-3 <= f.start <= f.time <= f.end <= b + 1e-3 for a, b in spans)
    inside = [c for c in cuts if any(a < c < b for a, b in spans)]
    assert len(media.cuts) == len(inside)
    assert np.allclose(sorted(media.cuts), inside, atol=1.5 / FPS)


def test_long_video_audio_is_the_excerpts_of_the_soundtrack(long_clip):
    path, _ = long_clip
    media = decode_media(path, LONG_CFG)
    spans = media.provenance["plan"]["excerpts"]
    assert media.audio_parts is not None and len(media.audio_parts) == len(spans)
    whole = decode_audio(path, 16000)
    for (t0, part), (a, b) in zip(media.audio_parts, spans, strict=True):
        assert t0 == pytest.approx(a, abs=0.07)
        assert len(part) / 16000 == pytest.approx(b - t0, abs=0.07)
        # the same sound as a whole-file decode at the same time (aligned to the sample;
        # the resampler's phase and the AAC decoder's restart after a seek differ a little)
        i0 = int(round(t0 * 16000))
        mid = slice(4096, len(part) - 64)
        ref = whole[i0:i0 + len(part)][mid]
        assert np.corrcoef(part[mid], ref)[0, 1] > 0.99
        shifted = whole[i0 + 8:i0 + 8 + len(part)][mid]  # half a millisecond off is worse
        assert np.abs(part[mid] - ref).mean() < 0.5 * np.abs(part[mid] - shifted).mean()
    assert media.audio.size == sum(len(p) for _, p in media.audio_parts)
    blocks = media.audio_blocks(32000)
    assert [t for t, _ in blocks] == [t for t, _ in media.audio_parts]


def test_audio_excerpts_decode_only_the_spans(long_clip):
    path, _ = long_clip
    parts = decode_audio_excerpts(path, 8000, [(10.0, 12.0), (50.0, 51.5)])
    assert [round(t, 1) for t, _ in parts] == [10.0, 50.0]
    assert [round(len(w) / 8000, 2) for _, w in parts] == [2.0, 1.5]


def test_extract_json_shows_the_plan_and_coverage(long_clip, capsys):
    import json

    from trailertagger.cli.main import main
    from trailertagger.core.features.io import load_featureset
    from trailertagger.core.paths import app_dirs

    path, _ = long_clip
    cfg = app_dirs().config_file
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("[media]\nfull_max_s = 60.0\nexcerpt_count = 4\nexcerpt_s = 6.0\n",
                   encoding="utf-8")
    assert main(["extract", "--profile", "minimal", "--json", str(path)]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    prov = rec["provenance"]
    assert prov["plan"]["kind"] == "excerpts" and prov["plan"]["params"]["excerpt_count"] == 4
    assert prov["coverage"]["video_s"] == pytest.approx(24.0, abs=0.2)
    assert prov["audio_track"]["index"] == 1 and prov["speech_text"]["source"] == "asr"
    assert rec["lengths"]["audio"] == pytest.approx(4 * 6.0 / 0.96, abs=4)
    assert load_featureset(rec["feature_file"]).provenance == prov  # kept in the feature file
    # the person reading the result is told the genres rest on excerpts
    assert main(["extract", "--profile", "minimal", str(path)]) == 0
    assert ("sampled: 4 excerpts of 6 s spread over 1:36 (0:24 read, 25% of the running time)"
            in capsys.readouterr().out)


def test_audio_extractors_start_while_the_pictures_decode(real_clips, tmp_path, monkeypatch):
    from trailertagger.core.extractors.audio_tags import YamnetExtractor
    from trailertagger.core.extractors.image import EfficientNetLite0Extractor
    from trailertagger.core.features.cache import FeatureCache
    from trailertagger.core.pipeline import ExtractionSession, order_by_cost

    assert order_by_cost(["audio.yamnet", "image.effnet_lite0", "music.musicnn",
                          "asr.faster_whisper", "ocr.rapidocr"]) == [
        "music.musicnn", "asr.faster_whisper", "ocr.rapidocr", "image.effnet_lite0",
        "audio.yamnet"]
    seen = {}
    real_audio, real_image = YamnetExtractor.extract, EfficientNetLite0Extractor.extract

    def audio(self, media, cancel=None):
        seen["audio_frames"] = len(media.frames)
        return real_audio(self, media, cancel)

    def image(self, media, cancel=None):
        seen["image_frames"] = len(media.frames)
        return real_image(self, media, cancel)

    monkeypatch.setattr(YamnetExtractor, "extract", audio)
    monkeypatch.setattr(EfficientNetLite0Extractor, "extract", image)
    cfg = {"extract": {"lanes": 2, "threads": 1}, "media": {}}
    session = ExtractionSession("minimal", cfg, cache=FeatureCache(tmp_path / "cache"))
    res = session.run(real_clips["cuts"])
    assert seen == {"audio_frames": 0, "image_frames": 6}  # audio ran on the audio-only view
    assert res.features.lengths()["audio"] > 0 and res.features.lengths()["image"] == 6
    assert res.features.provenance["coverage"]["frames_decoded"] == 8 * FPS


def test_speech_context_widens_each_excerpt_within_the_file(long_clip):
    from trailertagger.core.media.decode import _decode_spans, speech_context

    path, _ = long_clip
    spans = [(1.0, 4.0), (40.0, 46.0), (LONG_S - 3.0, LONG_S)]
    parts = _decode_spans(path, 16000, spans)
    ctx = speech_context(path, 16000, spans, parts, LONG_S, margin=3.0)
    assert [v for _, _, a, b in ctx for v in (a, b)] == pytest.approx(
        [v for s in spans for v in s], abs=0.07)
    starts = [t0 for t0, _, _, _ in ctx]
    ends = [t0 + len(w) / 16000 for t0, w, _, _ in ctx]
    assert starts == pytest.approx([0.0, 37.0, LONG_S - 6.0], abs=0.07)  # clipped at 0
    assert ends == pytest.approx([7.0, 49.0, LONG_S], abs=0.07)  # and at the end
    # the excerpt proper inside its widened audio is the same sound
    t0, wide, a, b = ctx[1]
    i0 = int(round((a - t0) * 16000))
    proper = parts[1][1]
    mid = slice(4096, len(proper) - 64)
    assert np.corrcoef(wide[i0:i0 + len(proper)][mid], proper[mid])[0, 1] > 0.99
    assert speech_context(path, 16000, spans, parts, LONG_S, margin=0.0) is None
    # a failed excerpt gets no entry
    assert len(speech_context(path, 16000, spans, [parts[0], None, parts[2]], LONG_S,
                              margin=3.0)) == 2


def test_excerpt_plan_carries_speech_context_and_keeps_the_excerpts_proper(long_clip):
    path, _ = long_clip
    media = decode_media(path, LONG_CFG)
    spans = media.provenance["plan"]["excerpts"]
    alone = decode_audio_excerpts(path, 16000, [tuple(s) for s in spans])
    assert len(media.audio_parts) == len(alone)
    for (t0, part), (t1, ref) in zip(media.audio_parts, alone, strict=True):
        assert t0 == t1 and np.array_equal(part, ref)  # other models read what they read
    assert media.provenance["coverage"]["asr_margin_s"] > 0
    heard = media.speech_blocks(16000)
    assert len(heard) == len(spans)
    for (t0, wave, a, b), (s, e) in zip(heard, spans, strict=True):
        assert (a, b) == pytest.approx((s, e), abs=0.07)
        assert t0 < a and t0 + len(wave) / 16000 > b
    full = decode_media(path, {"full_max_s": 7200.0})
    assert full.speech_blocks(16000) is None and "asr_margin_s" not in full.provenance["coverage"]


def test_excerpt_plan_with_subtitle_text_decodes_no_speech_margin(long_clip, tmp_path):
    """Where the file's own subtitles replace ASR, the margin audio (for Whisper only) is not
    decoded; the other models' excerpts are the same as without subtitles."""
    path, _ = long_clip
    cues = tuple((t + 0.5, t + 2.5, f"line {k}") for k, t in enumerate(range(0, 96, 8)))
    film = mediagen.add_tracks(path, tmp_path / "long clip subs.mkv",
                               subtitles=[mediagen.SubtitleTrack(cues, language="eng")])
    media = decode_media(film, LONG_CFG)
    assert media.provenance["speech_text"]["source"] == "embedded" and media.subtitles.cues
    assert media.speech_parts is None and "asr_margin_s" not in media.provenance["coverage"]
    plain = decode_media(path, LONG_CFG)
    # the same excerpts (the remuxed mkv's clock starts a few ms apart)
    assert [t for t, _ in media.audio_parts] == pytest.approx(
        [t for t, _ in plain.audio_parts], abs=0.05)
    assert plain.speech_parts is not None  # no subtitles: Whisper hears the margin
