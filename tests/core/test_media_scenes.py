"""Scene detection on real encoded clips: planted cuts found within one frame, scores equal
to ffmpeg's own ``select`` filter, one frame per scene at the mid-point, even subsampling."""

from __future__ import annotations

import av
import av.filter
import numpy as np
import pytest

from tests.fixtures_media import CUTS_FPS
from trailertagger.core.errors import MediaError
from trailertagger.core.media import decode_media, detect_scenes, scene_spans
from trailertagger.core.media.scenes import SceneScorer


def ffmpeg_scene_scores(path, analysis_width: int = 160) -> np.ndarray:
    """ffmpeg's ``select`` scene score of every frame, through PyAV's filter graph, on the
    same area-downscaled frames the detector scores (no format change: YUV in, Y scored)."""
    scores: list[float] = []
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        graph = av.filter.Graph()
        src = graph.add_buffer(template=stream)
        scale = graph.add("scale", f"{analysis_width}:-2:flags=area")
        select = graph.add("select", "gte(scene\\,0)")
        sink = graph.add("buffersink")
        src.link_to(scale)
        scale.link_to(select)
        select.link_to(sink)
        graph.configure()
        for frame in c.decode(stream):
            graph.push(frame)
            while True:
                try:
                    out = graph.pull()
                except (av.error.BlockingIOError, av.error.EOFError):
                    break
                scores.append(float(out.metadata["lavfi.scene_score"]))
    return np.array(scores)


def test_planted_cuts_found_within_one_frame(real_clips, planted_cuts):
    det = detect_scenes(real_clips["cuts"])
    frame = 1.0 / CUTS_FPS
    assert len(det.cuts) == len(planted_cuts), f"found {det.cuts}, planted {planted_cuts}"
    for found, planted in zip(det.cuts, planted_cuts, strict=True):
        assert abs(found - planted) <= frame + 1e-6, (found, planted)
    assert det.fps == pytest.approx(CUTS_FPS)
    assert det.n_frames == round(8.0 * CUTS_FPS)
    assert det.problems == []


def test_scores_equal_ffmpeg_select_filter(real_clips):
    for clip in (real_clips["cuts"], real_clips["bbb"]):
        det = detect_scenes(clip)
        ref = ffmpeg_scene_scores(clip)
        assert len(ref) == det.n_frames
        # ffmpeg prints the score with 6 decimals
        np.testing.assert_allclose(det.scores, ref, atol=2e-6)


def test_threshold_is_configurable(real_clips, planted_cuts):
    assert detect_scenes(real_clips["cuts"], threshold=1.0).cuts == []  # gt(scene, 1) never fires
    # bbb is one continuous shot: no cut at the default, some motion at a tiny threshold
    assert detect_scenes(real_clips["bbb"]).cuts == []
    assert len(detect_scenes(real_clips["bbb"], threshold=0.001).cuts) > 0


def test_scorer_ignores_steady_motion_but_fires_on_a_jump():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 120, (90, 160), dtype=np.uint8)
    s = SceneScorer()
    assert s.push(base) == 0.0  # first frame scores 0, like ffmpeg
    # fast steady motion: every frame differs a lot from the last (high mafd), but evenly
    scores = [s.push(np.roll(base, 7 * i, axis=1)) for i in range(1, 6)]
    assert max(scores[1:]) < 0.05, "steady motion must not look like a cut"
    # a cut to a bright shot: the change jumps by far more than the motion's
    assert s.push(np.full_like(base, 250)) > 0.27


def test_one_frame_per_scene_at_the_midpoint(real_clips, planted_cuts):
    media = decode_media(real_clips["cuts"])
    bounds = [0.0, *planted_cuts, 8.0]
    assert len(media.frames) == len(bounds) - 1
    frame = 1.0 / CUTS_FPS
    for f, a, b in zip(media.frames, bounds[:-1], bounds[1:], strict=True):
        assert f.start == pytest.approx(a, abs=frame) and f.end == pytest.approx(b, abs=frame)
        assert abs(f.time - (a + b) / 2) <= frame / 2 + 1e-6
        assert f.image.dtype == np.uint8 and f.image.shape == (240, 320, 3)
    # scenes alternate bright and dark palettes, so the chosen frames must too
    means = [f.image.mean() for f in media.frames]
    assert all((means[i] > means[i + 1]) == (i % 2 == 0) for i in range(len(means) - 1))


def test_scene_cap_subsamples_evenly(real_clips, planted_cuts):
    media = decode_media(real_clips["cuts"], {"max_scenes": 3})
    bounds = [0.0, *planted_cuts, 8.0]
    # six scenes, three kept: indices round(linspace(0, 5, 3)) = 0, 2, 5 (first and last kept)
    starts = [f.start for f in media.frames]
    assert starts == pytest.approx([bounds[0], bounds[2], bounds[5]], abs=1 / CUTS_FPS)
    assert [f.index for f in media.frames] == [0, 1, 2]


def test_frames_fetched_by_seeking_when_over_the_store_limit(real_clips, planted_cuts, monkeypatch):
    """More scenes than the picker may hold while scanning: the chosen ones are fetched by
    seeking afterwards, and land on the same mid-points."""
    from trailertagger.core.media import decode

    full = decode_media(real_clips["cuts"])
    monkeypatch.setattr(decode, "ScenePicker", _picker_holding(0))
    sought = decode_media(real_clips["cuts"])
    assert [f.time for f in sought.frames] == pytest.approx([f.time for f in full.frames],
                                                            abs=1 / CUTS_FPS)
    for a, b in zip(full.frames, sought.frames, strict=True):
        assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 3.0


def _picker_holding(limit: int):
    from trailertagger.core.media.decode import ScenePicker

    class Limited(ScenePicker):
        def __init__(self, to_rgb, slots, store_limit, frame_dur):
            super().__init__(to_rgb, slots, limit, frame_dur)

    return Limited


def test_scene_spans_rules():
    assert scene_spans([], 10.0, 5) == [(0.0, 10.0, 5.0)]
    spans = scene_spans([2.0, 4.0, 11.0, -1.0], 10.0, 5)  # out-of-range cuts ignored
    assert spans == [(0.0, 2.0, 1.0), (2.0, 4.0, 3.0), (4.0, 10.0, 7.0)]
    many = scene_spans([float(i) for i in range(1, 100)], 100.0, 10)
    assert len(many) == 10 and many[0][0] == 0.0 and many[-1][1] == 100.0
    with pytest.raises(ValueError):
        scene_spans([], 1.0, 0)


def test_no_video_stream_is_a_clear_error(bad_files):
    with pytest.raises(MediaError) as err:
        detect_scenes(bad_files["audio_only"])
    assert err.value.reason == "no_video"
