"""Decoding real files: every kind of bad input gives a clear reason or partial media with
the gap recorded, audio comes out once at the asked rate, and the single-pass frame picker
holds a bounded number of frames however long a scene is."""

from __future__ import annotations

import numpy as np
import pytest

from trailertagger.core.errors import ConfigError, MediaError
from trailertagger.core.media import decode_audio, decode_media, frames_at, probe
from trailertagger.core.media.decode import ScenePicker, _slots_for, media_settings
from trailertagger.core.media.files import iter_videos


@pytest.mark.parametrize(("kind", "reason"), [
    ("zero_length", "empty"),
    ("random_bytes", "not_media"),
    ("unreadable", "unreadable"),
    ("not_found", "not_found"),
    ("subtitles_only", "no_streams"),
])
def test_unusable_files_name_the_reason(bad_files, kind, reason):
    with pytest.raises(MediaError) as err:
        decode_media(bad_files[kind])
    assert err.value.reason == reason
    assert bad_files[kind].name in str(err.value)


def test_truncated_file_gives_partial_media_and_says_so(bad_files):
    media = decode_media(bad_files["truncated"])
    assert media.frames, "what decoded before the cut must be kept"
    assert media.audio is not None and 0.3 < len(media.audio) / media.audio_rate < 3.0
    assert "truncated" in media.missing["video"]
    assert "truncated" in media.missing["audio"]
    assert media.frames[-1].end < 3.0  # the scene ends where the stream does, not at 4 s


def test_audio_only_and_video_only(bad_files):
    a = decode_media(bad_files["audio_only"])
    assert a.frames == [] and a.missing["video"] == "no video stream"
    assert a.audio is not None and len(a.audio) / a.audio_rate == pytest.approx(3.0, abs=0.05)
    v = decode_media(bad_files["video_only"])
    assert v.audio is None and v.missing["audio"] == "no audio stream"
    assert len(v.frames) == 2 and "video" not in v.missing


def test_non_ascii_name_decodes(bad_files):
    media = decode_media(bad_files["unicode_name"])
    assert len(media.frames) == 2 and media.audio is not None and media.missing == {}
    assert probe(bad_files["unicode_name"]).path == str(bad_files["unicode_name"])


def test_audio_decoded_mono_at_each_rate(real_clips):
    clip = real_clips["speech"]
    a16 = decode_audio(clip, 16000)
    a22 = decode_audio(clip, 22050)
    assert a16.dtype == np.float32 and a16.ndim == 1
    assert len(a16) / 16000 == pytest.approx(6.0, abs=0.05)
    assert len(a22) / 22050 == pytest.approx(6.0, abs=0.05)
    media = decode_media(clip)
    res = media.audio_at(22050)
    assert res is media.audio_at(22050), "resampled once per rate, then cached"
    assert len(res) == pytest.approx(len(a22), abs=30)
    # the spoken sentence starts at 0.5 s: silence before, energy after
    assert np.abs(a16[: 6000]).max() < 0.02 < np.abs(a16[8000:40000]).max()


def test_frames_at_returns_the_nearest_frames(real_clips):
    clip = real_clips["cuts"]
    got = frames_at(clip, [7.5, 0.0, 3.0, 100.0], max_side=160)
    assert got[0][0] == pytest.approx(7.5, abs=1 / 48) and got[1][0] == 0.0
    assert got[2][0] == pytest.approx(3.0, abs=1 / 48)
    assert got[0][1].shape == (120, 160, 3)
    assert got[3] is not None and got[3][0] > 7.9  # past the end: the last frame


def test_frame_max_side_limits_the_picture(real_clips):
    media = decode_media(real_clips["bbb"], {"frame_max_side": 320})
    assert media.frames and max(media.frames[0].image.shape[:2]) == 320
    assert media.frames[0].image.shape == (180, 320, 3)


def test_bad_settings_name_the_key():
    with pytest.raises(ConfigError, match="media.scene_threshold"):
        media_settings({"scene_threshold": 3})
    with pytest.raises(ConfigError, match="media.max_scenes"):
        media_settings({"max_scenes": "many"})


class _Frame:
    """Stands in for a decoded frame: the picker only keeps references to them."""

    def __init__(self, t: float) -> None:
        self.t = t


@pytest.mark.parametrize("n_frames", [10, 500, 20000])
def test_picker_holds_a_bounded_number_of_frames(n_frames):
    """Decoding never holds the video: during a scene of any length the picker keeps at most
    ``slots`` frame references, and still lands near the scene's mid-point."""
    fps, slots = 24.0, 8
    converted: list[float] = []
    picker = ScenePicker(lambda f: converted.append(f.t) or np.zeros((1, 1, 3), np.uint8),
                         slots=slots, store_limit=10, frame_dur=1 / fps)
    most = 0
    for i in range(n_frames):
        picker(_Frame(i / fps), i / fps, i, False)
        most = max(most, len(picker._buf))
    picker.finish(n_frames / fps)
    assert most <= slots
    assert len(converted) == 1, "only the picked frame is converted to RGB"
    length = n_frames / fps
    tolerance = max(1 / fps, length / (4 * slots)) + 1e-9
    assert abs(picker.picked[0][0] - length / 2) <= tolerance


def test_slots_follow_the_memory_budget():
    assert _slots_for(1280, 720) == 32
    assert 8 <= _slots_for(3840, 2160) < 32


def test_iter_videos_walks_folders_and_keeps_explicit_files(bad_files, tmp_path):
    found = list(iter_videos([bad_files["zero_length"].parent]))
    names = {p.name for p in found}
    assert "audio only.m4a" not in names  # .m4a is audio, not walked as video
    assert "subtitles only.srt" not in names
    assert "bände trailer ✓ (2024).mp4" in names
    # a folder named like a video, given explicitly, is reported, not silently walked (it
    # is what a botched copy looks like)
    assert list(iter_videos([bad_files["unreadable"]])) == [bad_files["unreadable"]]
    explicit = tmp_path / "notes.txt"
    explicit.write_text("x")
    assert list(iter_videos([explicit])) == [explicit]
