"""Audio track choice and subtitle text: embedded SRT/ASS streams and sidecar files become the
speech-text sequence (not ASR), bitmap subtitles fall back to ASR and say so."""

from __future__ import annotations

import numpy as np
import pytest

from trailertagger.core.app.evidence import reading_lines
from trailertagger.core.media import decode_media, probe
from trailertagger.core.media.subtitles import find_subtitles, read_sidecar, sidecar_files
from trailertagger.core.media.tracks import choose_audio, choose_subtitle, norm_language
from trailertagger.core.media.types import ProbeInfo, StreamInfo
from trailertagger.devtools import mediagen

CUES = ((0.5, 1.7, "Hello there, keeper."), (2.0, 3.2, "<i>The storm</i> is coming."),
        (3.5, 4.4, "Run!"))
FR_CUES = ((0.5, 1.7, "Bonjour."), (2.0, 3.2, "La tempête arrive."))


def _audio(kind, codec="aac", index=1, language="", title="", flags=()):
    return StreamInfo(kind, codec, index=index, language=language, title=title, flags=tuple(flags))


def _info(path, *streams, duration=5.0):
    return ProbeInfo(path=str(path), size=1, mtime=0.0, duration=duration,
                     streams=(StreamInfo("video", "h264", index=0), *streams))


# ----------------------------------------------------------------- choosing tracks (probe records)


def test_language_tags_normalise():
    assert {norm_language(t) for t in ("eng", "EN", "en-US", "en_GB")} == {"en"}
    assert norm_language("fre") == norm_language("fra") == "fr"
    assert norm_language("und") == "" and norm_language("") == ""


def test_audio_choice_default_language_and_never_commentary():
    film = [_audio("audio", index=1, language="eng", title="Director's Commentary",
                   flags=("default",)),
            _audio("audio", index=2, language="fre", flags=("dub",)),
            _audio("audio", index=3, language="eng"),
            _audio("audio", index=4, language="eng", flags=("descriptions",))]
    # the default flag sits on a commentary: never chosen, the original track instead
    assert choose_audio(film).stream.index == 3
    assert choose_audio(film, "fr").stream.index == 2
    assert "preferred language" in choose_audio(film, "fr").reason
    plain = [_audio("audio", index=1, language="jpn", flags=("default",)),
             _audio("audio", index=2, language="eng")]
    assert choose_audio(plain).stream.index == 1
    assert choose_audio(plain, "en").stream.index == 2
    got = choose_audio(plain, "de")  # no German track: the default, and it says so
    assert got.stream.index == 1 and "no 'de' track" in got.reason
    assert choose_audio([StreamInfo("video", "h264")]).stream is None


def test_subtitle_choice_text_language_and_bitmap():
    subs = [_audio("subtitle", "hdmv_pgs_subtitle", index=2, language="eng"),
            _audio("subtitle", "subrip", index=3, language="eng", flags=("forced",)),
            _audio("subtitle", "ass", index=4, language="fre"),
            _audio("subtitle", "subrip", index=5, language="eng")]
    got = choose_subtitle(subs, "en")
    assert got.stream.index == 5 and got.skipped_bitmap == (2,)  # full beats forced
    assert choose_subtitle(subs, "fr").stream.index == 4
    only_bitmap = choose_subtitle([subs[0], _audio("subtitle", "dvd_subtitle", index=6)], "en")
    assert only_bitmap.stream is None and "bitmap" in only_bitmap.reason
    assert only_bitmap.skipped_bitmap == (2, 6)


def test_bitmap_only_file_falls_back_to_asr_and_says_so(tmp_path):
    video = tmp_path / "film.mkv"
    video.write_bytes(b"x")
    info = _info(video, _audio("subtitle", "hdmv_pgs_subtitle", index=2, language="eng"),
                 _audio("subtitle", "dvd_subtitle", index=3, language="eng"))
    subs, decision = find_subtitles(video, info, "en")
    assert subs is None
    assert decision["source"] == "asr" and decision["bitmap_skipped"] == [2, 3]
    assert "bitmap" in decision["reason"] and "ASR" in decision["reason"]
    assert reading_lines({"speech_text": decision}, notable_only=True) == [
        "Speech: transcribed from the soundtrack (the file's subtitles are pictures, not text)"]


# ----------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def base_clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("tracks")
    return mediagen.make_clip(d / "base.mp4", duration=5.0, size=(160, 96), cuts=[2.5],
                              audio="music", seed=7)


def _tone(freq, seconds=5.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(wave, rate=16000):
    spec = np.abs(np.fft.rfft(wave[:rate * 2]))
    return float(np.argmax(spec) * rate / (2 * rate))


def test_embedded_srt_stream_is_the_speech_text(base_clip, tmp_path):
    film = mediagen.add_tracks(base_clip, tmp_path / "film srt.mkv", subtitles=[
        mediagen.SubtitleTrack(FR_CUES, language="fre"),
        mediagen.SubtitleTrack(CUES, language="eng")])
    info = probe(film)
    assert [s.codec for s in info.streams if s.kind == "subtitle"] == ["srt", "srt"]
    media = decode_media(film)
    assert media.subtitles is not None
    assert media.subtitles.texts == ["Hello there, keeper.", "The storm is coming.", "Run!"]
    # times on the package's clock (from the container start: the remuxed AAC's priming
    # puts that 23 ms before the first picture, as in real mkv files)
    assert [c.start for c in media.subtitles.cues] == pytest.approx([0.5, 2.0, 3.5], abs=0.03)
    assert [c.end for c in media.subtitles.cues] == pytest.approx([1.7, 3.2, 4.4], abs=0.03)
    speech = media.provenance["speech_text"]
    assert speech["source"] == "embedded" and speech["preferred_language"] == "en"
    assert speech["language"] == "eng"
    assert speech["codec"] == "srt" and speech["cues_kept"] == 3
    french = decode_media(film, {"subtitle_language": "fr"})
    assert french.subtitles.texts == ["Bonjour.", "La tempête arrive."]
    # what the evidence pane and ``extract`` say about it
    assert reading_lines(media.provenance, notable_only=True) == [
        "Speech: the file's subtitles (stream 3, eng, srt), not a transcript"]
    assert reading_lines(media.provenance)[0] == "Read whole (0:05)"
    assert reading_lines({"audio_track": {"index": 1, "language": "und"}}) == []  # unknown
    assert reading_lines({"audio_track": {"index": 2, "language": "fre", "title": "VF"}}) == [
        "Audio: track 2 (fre, VF)"]


def test_embedded_ass_stream_loses_its_styling(base_clip, tmp_path):
    film = mediagen.add_tracks(base_clip, tmp_path / "film ass.mkv", subtitles=[
        mediagen.SubtitleTrack(((1.0, 2.0, r"{\i1}Whispers{\i0}\Nin the dark"),), codec="ass")])
    media = decode_media(film)
    assert media.subtitles.texts == ["Whispers in the dark"]
    assert media.provenance["speech_text"]["codec"] in ("ass", "ssa")


def test_sidecar_srt_in_the_preferred_language(base_clip, tmp_path):
    video = tmp_path / "Lighthouse (2024).mp4"
    video.write_bytes(base_clip.read_bytes())
    mediagen.write_subtitles(tmp_path / "Lighthouse (2024).fr.srt", FR_CUES)
    mediagen.write_subtitles(tmp_path / "Lighthouse (2024).en.srt", CUES)
    mediagen.write_subtitles(tmp_path / "Lighthouse (2024) extras.srt", FR_CUES)  # not a sidecar
    found = {(s.path.name, s.language) for s in sidecar_files(video)}
    assert found == {("Lighthouse (2024).fr.srt", "fr"), ("Lighthouse (2024).en.srt", "en")}
    media = decode_media(video)
    assert media.subtitles.texts[0] == "Hello there, keeper."
    assert "Speech: subtitles from Lighthouse (2024).en.srt, not a transcript" in reading_lines(
        media.provenance)
    assert [c.start for c in media.subtitles.cues] == [0.5, 2.0, 3.5]
    speech = media.provenance["speech_text"]
    assert speech["source"] == "sidecar" and speech["file"] == "Lighthouse (2024).en.srt"
    off = decode_media(video, {"subtitles": False})
    assert off.subtitles is None and off.provenance["speech_text"]["source"] == "asr"


def test_sidecar_in_windows_1252_is_read(tmp_path):
    f = tmp_path / "old.srt"
    f.write_bytes("1\n00:00:01,000 --> 00:00:02,500\nCaf\xe9 cr\xe8me\n".encode("latin-1"))
    assert [(c.start, c.end, c.text) for c in read_sidecar(f)] == [(1.0, 2.5, "Café crème")]


def test_asr_extractor_uses_subtitles_and_falls_back_to_whisper(base_clip, tmp_path,
                                                               offline_store, monkeypatch):
    from trailertagger.core.extractors.asr import FasterWhisperExtractor, Segment

    asr = FasterWhisperExtractor()
    asr.load(offline_store)
    calls = []

    def fake_transcribe(blocks, cancel=None):
        calls.append(len(blocks))
        return [Segment(1.0, 2.0, "transcribed by whisper")]

    monkeypatch.setattr(asr, "transcribe_blocks", fake_transcribe)
    film = mediagen.add_tracks(base_clip, tmp_path / "film.mkv",
                               subtitles=[mediagen.SubtitleTrack(CUES, language="eng")])
    feats = asr.extract(decode_media(film))
    assert calls == []  # subtitle text: Whisper never ran
    assert feats.texts == ["Hello there, keeper.", "The storm is coming.", "Run!"]
    assert feats.times.tolist() == pytest.approx([0.5, 2.0, 3.5], abs=0.03)
    assert feats.values.shape == (3, 384)
    assert np.allclose(np.linalg.norm(feats.values, axis=1), 1.0, atol=1e-3)
    plain = asr.extract(decode_media(base_clip))  # no subtitles anywhere: ASR
    assert len(calls) == 1 and plain.texts == ["transcribed by whisper"]


def test_audio_track_by_language_never_mixed(base_clip, tmp_path):
    film = mediagen.add_tracks(
        base_clip, tmp_path / "tracks.mkv", src_audio_language="eng",
        audio=[mediagen.AudioTrack(_tone(440.0), language="fre", flags=("dub",)),
               mediagen.AudioTrack(_tone(1000.0), language="eng", title="Commentary",
                                   flags=("comment",))])
    info = probe(film)
    assert [(s.language, s.flags) for s in info.streams if s.kind == "audio"] == [
        ("eng", ("default",)), ("fre", ("dub",)), ("eng", ("comment",))]
    default = decode_media(film)
    assert default.provenance["audio_track"]["index"] == 1
    french = decode_media(film, {"audio_language": "fr"})
    assert french.provenance["audio_track"]["index"] == 2
    assert _peak_hz(french.audio) == pytest.approx(440.0, abs=2.0)  # the dub alone, no mix
    english = decode_media(film, {"audio_language": "en"})
    assert english.provenance["audio_track"]["index"] == 1  # not the English commentary
    assert _peak_hz(english.audio) != pytest.approx(1000.0, abs=5.0)
