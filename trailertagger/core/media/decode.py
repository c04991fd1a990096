"""Decode a video once: one frame per scene and the whole soundtrack as mono float32.

**One pass for pictures.**  Scene detection has to decode every frame anyway, so scene frames
are picked during that same pass instead of seeking afterwards.  The catch is that a scene's
mid-point is known only when its *next* cut arrives, so the picker keeps a small buffer of
candidate frames (references to decoded frames: no copy, no conversion) for the current
scene only:

* a frame enters the buffer when its index within the scene is a multiple of ``stride``;
* frames that can no longer be nearest to the mid-point are dropped (the scene's end is at
  least the current time, so the mid-point is at least half-way to it);
* when the buffer exceeds its slots, ``stride`` doubles and every other frame goes.

The buffer covers only the second half of the scene so far, so the picked frame is at most
about ``scene_length / (4 * slots)`` from the true mid-point, exact for scenes shorter than
``2 * slots`` frames (a few seconds at 24 fps); ``SceneFrame.time`` is always the time of the
frame actually returned.  Slots follow a memory budget (``_CANDIDATE_BUDGET`` bytes of decoded
frames: 32 slots up to 1080p, ~15 at 4K).  Only the picked frame is converted to RGB.

Measured on a 2-minute 720p synthetic trailer (``benchmarks/``-style, see the report in the
module's tests): the two-pass alternative (scores, then a keyframe seek per scene) decodes
each scene's first half a second time, which cost more than the single pass plus the
buffer bookkeeping.  Seeking remains for videos with more scenes than ``max_scenes`` kept
in memory: their frames are fetched afterwards with ``frames_at``, which seeks to the key
frame before each target and decodes forward (or just decodes forward when no key frame lies
in between), and falls back to a plain sequential decode if seeking fails or lands late.

**Audio** is decoded in its own pass over the audio stream only, through
``AudioResampler(format="flt", layout="mono", rate=audio_rate)``, so a broken video stream
never costs the soundtrack and vice versa.

A stream that is absent or broken is described in ``DecodedMedia.missing``; a stream that
broke part way keeps what decoded (frames and/or audio are present *and* ``missing`` says
why they are partial).  ``MediaError`` is raised only when nothing usable comes out.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.audio.resampler import AudioResampler
from av.video.reformatter import VideoReformatter

from ..config import DEFAULTS
from ..errors import ConfigError, MediaError
from ..progress import Progress
from ..runtime.threads import set_decode_threads
from .plan import RANGES as PLAN_RANGES
from .plan import choose_plan, coverage
from .probe import (
    container_duration,
    container_start,
    open_input,
    probe,
    stream_duration,
    video_streams,
)
from .scenes import iter_decoded, scan_video, truncation_problem
from .subtitles import SUBTITLE_WINDOW_S, find_subtitles
from .tracks import choose_audio
from .types import DecodedMedia, SceneFrame

_CANDIDATE_BUDGET = 192 * 1024 * 1024  # bytes of decoded frames the scene picker may hold
_MIN_SLOTS, _MAX_SLOTS = 8, 32
_FORWARD_LIMIT_S = 2.0  # decode forward rather than seek when the target is this close
#: Excerpt plans: seconds of audio decoded before and after each excerpt for speech
#: recognition only (``speech_context``, ``DecodedMedia.speech_parts``), so speech cut by the
#: excerpt's border is heard on past the cut; the ASR extractor keeps the segments whose
#: midpoint lies in the excerpt proper.  Other models read the excerpts proper.  Measured
#: (issue 13, ``benchmarks/sampling_fidelity.py``'s six corpus films at 3-5 minutes, 7 plans
#: of 5-8 excerpts of 10 s): 1 s lowered the largest genre change in 5 of 7 plans (and in 30
#: of 42 films), the mean change in 5 of 7, for 18-20% more audio heard by Whisper; 0.5,
#: 1.5, 2 and 3 s were no better than none on the 3-minute 6 x 10 s films.
SPEECH_MARGIN_S = 1.0


# --------------------------------------------------------------------------- settings


def media_settings(media_cfg: dict[str, Any] | None) -> dict[str, Any]:
    """``DEFAULTS["media"]`` overlaid with ``media_cfg``, validated (bad values name the key)."""
    cfg = {**DEFAULTS["media"], **(media_cfg or {})}
    checks = {
        "scene_threshold": lambda v: 0 <= float(v) <= 1,
        "scene_analysis_width": lambda v: int(v) >= 8,
        "frame_max_side": lambda v: int(v) >= 16,
        "max_scenes": lambda v: int(v) >= 1,
        "audio_rate": lambda v: 1000 <= int(v) <= 384000,
        "max_duration_s": lambda v: float(v) > 0,
        **{k: (lambda v, lo=lo, hi=hi: lo <= float(v) <= hi) for k, (lo, hi) in PLAN_RANGES.items()},
        "audio_language": lambda v: isinstance(v, str),
        "subtitle_language": lambda v: isinstance(v, str),
        "subtitles": lambda v: isinstance(v, bool),
    }
    for key, ok in checks.items():
        try:
            valid = ok(cfg[key])
        except (TypeError, ValueError):
            valid = False
        if not valid:
            rng = PLAN_RANGES.get(key)
            hint = f" (allowed {rng[0]:g}-{rng[1]:g})" if rng else ""
            raise ConfigError(f"media.{key} has an invalid value {cfg[key]!r}{hint}")
    return cfg


# --------------------------------------------------------------------------- pictures


class RgbScaler:
    """Convert a decoded frame to RGB uint8 with its long side at most ``max_side``.

    Honours a non-square sample aspect ratio (anamorphic DVD rips) so pictures are not
    squashed; never upscales; AREA averaging for a clean downscale; one reused swscale
    context.
    """

    def __init__(self, max_side: int, sample_aspect: float = 1.0) -> None:
        self.max_side = int(max_side)
        self.sar = sample_aspect if sample_aspect and sample_aspect > 0 else 1.0
        self._reformatter = VideoReformatter()

    def size(self, width: int, height: int) -> tuple[int, int]:
        disp_w = width * self.sar
        scale = min(1.0, self.max_side / max(disp_w, height, 1))
        return max(1, int(round(disp_w * scale))), max(1, int(round(height * scale)))

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        w, h = self.size(frame.width, frame.height)
        rgb = self._reformatter.reformat(frame, width=w, height=h, format="rgb24",
                                         interpolation="AREA")
        turns = frame_turns(frame)
        if turns:  # a phone video stored sideways with a display matrix: show it upright
            return np.ascontiguousarray(np.rot90(rgb.to_ndarray(), turns))
        return np.array(rgb.to_ndarray(), dtype=np.uint8, copy=True)  # own the memory


def frame_turns(frame: av.VideoFrame) -> int:
    """Quarter turns (counter-clockwise, for ``np.rot90``) that the frame's display matrix
    asks for; 0 when it has none or an angle that is not a multiple of 90 degrees."""
    try:
        angle = float(frame.rotation or 0)
    except (AttributeError, TypeError, ValueError, OverflowError):
        return 0
    if not -360 <= angle <= 360 or angle % 90:
        return 0
    return int(round(angle / 90)) % 4


def _sample_aspect(stream: av.video.stream.VideoStream) -> float:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return float(sar) if sar else 1.0


class ScenePicker:
    """Collects one frame per scene during the scoring pass (see the module docstring).

    Feed it every frame through ``__call__`` (it is a ``scenes.FrameHook``), then call
    ``finish(end)``.  ``scenes`` lists every scene's (start, end); ``picked`` maps a scene
    index to (frame time, RGB image) for the first ``store_limit`` scenes, so memory stays
    bounded by what the caller will return anyway.
    """

    def __init__(self, to_rgb: Callable[[av.VideoFrame], np.ndarray], slots: int,
                 store_limit: int, frame_dur: float, start: float = 0.0) -> None:
        self.to_rgb = to_rgb
        self.slots = max(2, slots)
        self.store_limit = store_limit
        self.frame_dur = frame_dur
        self.scenes: list[tuple[float, float]] = []
        self.picked: dict[int, tuple[float, np.ndarray]] = {}
        self._start_t = float(start)  # an excerpt's first scene starts where it does
        self._start_i = 0
        self._stride = 1
        self._buf: list[tuple[int, float, av.VideoFrame]] = []

    def __call__(self, frame: av.VideoFrame, t: float, index: int, is_cut: bool) -> None:
        if is_cut:
            self._close(t)
            self._start_t, self._start_i, self._stride = t, index, 1
        buf = self._buf
        if (index - self._start_i) % self._stride == 0:
            buf.append((index, t, frame))
        # The scene ends no earlier than the next frame, so its mid-point is at least `lo`:
        # keep the last candidate at or before `lo` and everything after it.
        lo = (self._start_t + t + self.frame_dur) / 2.0
        j = 0
        while j + 1 < len(buf) and buf[j + 1][1] <= lo:
            j += 1
        if j:
            del buf[:j]
        while len(buf) > self.slots:
            self._stride *= 2
            s0, stride = self._start_i, self._stride
            kept = [c for c in buf if (c[0] - s0) % stride == 0]
            self._buf = buf = kept if kept else buf[-1:]

    def _close(self, end: float) -> None:
        k = len(self.scenes)
        self.scenes.append((self._start_t, end))
        if self._buf and k < self.store_limit:
            mid = (self._start_t + end) / 2.0
            _, t, frame = min(self._buf, key=lambda c: abs(c[1] - mid))
            self.picked[k] = (t, self.to_rgb(frame))
        self._buf = []

    def finish(self, end: float) -> None:
        """Close the last scene at ``end`` (the video's end)."""
        if self._buf or not self.scenes:
            self._close(max(end, self._start_t))


def _slots_for(width: int, height: int) -> int:
    frame_bytes = max(1, int(width * height * 1.5))
    return int(min(_MAX_SLOTS, max(_MIN_SLOTS, _CANDIDATE_BUDGET // frame_bytes)))


def _subsample(n: int, max_scenes: int) -> list[int]:
    """Same rule as ``scenes.scene_spans``: evenly spread, first and last kept."""
    if n <= max_scenes:
        return list(range(n))
    return sorted({int(i) for i in np.round(np.linspace(0, n - 1, max_scenes))})


# --------------------------------------------------------------------------- seeking


def _seek(container: av.container.InputContainer, stream: av.stream.Stream, pts: int) -> None:
    """Seek to the key frame at or before ``pts`` (module-level so tests can break it)."""
    container.seek(pts, stream=stream, backward=True, any_frame=False)


class _FrameReader:
    """Random access to frames by time over one open container: seek when a key frame lies
    between here and the target and the target is not close, else decode forward."""

    def __init__(self, path: Path, keyframes: Sequence[float] | None,
                 problems: list[str]) -> None:
        self.path = path
        self.keyframes = sorted(keyframes) if keyframes else None
        self.problems = problems
        self.container = open_input(path)
        streams = video_streams(self.container)
        if not streams:
            self.container.close()
            raise MediaError(path, "no_video", "the file has no video stream")
        self.stream = streams[0]
        set_decode_threads(self.stream)
        self.start = container_start(self.container)
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.frame_dur = 1.0 / float(rate) if rate else 0.04
        self.sar = _sample_aspect(self.stream)
        self.sequential = False  # set once seeking proved unreliable for this file
        self._it: Iterator[av.Frame] | None = None
        self._older: tuple[float, av.VideoFrame] | None = None
        self._cur: tuple[float, av.VideoFrame] | None = None

    def close(self) -> None:
        self.container.close()

    @property
    def _t(self) -> float:
        return self._cur[0] if self._cur is not None else -math.inf

    def _new_iter(self) -> None:
        self._it = iter_decoded(self.container, self.stream, self.problems,
                                lambda: max(self._t, 0.0))
        self._older = self._cur = None

    def _restart_sequential(self) -> None:
        """Reopen and decode from the start: the fallback when seeking fails or lands late."""
        self.container.close()
        self.container = open_input(self.path)
        self.stream = video_streams(self.container)[0]
        set_decode_threads(self.stream)
        self._new_iter()
        self.sequential = True

    def _key_between(self, a: float, b: float) -> bool:
        if self.keyframes is None:
            return True
        i = bisect.bisect_right(self.keyframes, a)
        return i < len(self.keyframes) and self.keyframes[i] <= b

    def _next(self) -> tuple[float, av.VideoFrame] | None:
        assert self._it is not None
        for frame in self._it:
            ft = frame.time
            t = (ft - self.start) if ft is not None else self._t + self.frame_dur
            self._older, self._cur = self._cur, (t, frame)
            return self._cur
        return None

    def _seek_to(self, target: float) -> None:
        tb = self.stream.time_base
        for back in (0.0, 5.0):
            pts = int(math.floor(max(target - back + self.start, 0.0) / tb)) if tb else 0
            try:
                _seek(self.container, self.stream, pts)
            except (av.error.FFmpegError, OSError, ValueError) as err:
                self.problems.append(f"seek failed ({err}); decoding sequentially")
                self._restart_sequential()
                return
            self._new_iter()
            first = self._next()
            if first is None or first[0] <= target + self.frame_dur / 2:
                return
            # The demuxer landed after the target (a bad index): try further back once.
        self._restart_sequential()

    def at(self, target: float) -> tuple[float, av.VideoFrame] | None:
        """The decoded frame nearest to ``target`` seconds (None when nothing decodes)."""
        half = self.frame_dur / 2
        if self._it is None or target < self._t - half:  # nothing open yet, or behind us
            if self.sequential:
                self._restart_sequential()
            else:
                self._seek_to(target)
        elif (not self.sequential and target - self._t > _FORWARD_LIMIT_S
              and self._key_between(self._t, target)):
            self._seek_to(target)
        while self._cur is None or self._cur[0] < target:
            if self._next() is None:
                break
        cands = [c for c in (self._older, self._cur) if c is not None]
        return min(cands, key=lambda c: abs(c[0] - target)) if cands else None


def frames_at(path: Path, times: Sequence[float], max_side: int = 960, *,
              keyframes: Sequence[float] | None = None, problems: list[str] | None = None,
              progress: Progress | None = None) -> list[tuple[float, np.ndarray] | None]:
    """RGB frames nearest to ``times`` (seconds from the container start), in input order.

    Each entry is ``(time of the frame decoded, HxWx3 uint8)`` or None past the end.
    ``keyframes`` (from ``SceneDetection``) lets it decode forward instead of seeking when
    no key frame lies in between.  Seek failures fall back to sequential decoding.
    """
    path = Path(path)
    problems = problems if problems is not None else []
    order = sorted(range(len(times)), key=lambda i: times[i])
    out: list[tuple[float, np.ndarray] | None] = [None] * len(times)
    reader = _FrameReader(path, keyframes, problems)
    try:
        to_rgb = RgbScaler(max_side, reader.sar)
        for done, i in enumerate(order):
            got = reader.at(float(times[i]))
            if got is not None:
                out[i] = (got[0], to_rgb(got[1]))
            if progress is not None:
                progress("frames", done + 1, len(order))
    finally:
        reader.close()
    return out


# --------------------------------------------------------------------------- audio


def _audio_stream(container: av.container.InputContainer,
                  stream_index: int | None) -> av.audio.stream.AudioStream | None:
    if not container.streams.audio:
        return None
    if stream_index is not None and 0 <= stream_index < len(container.streams):
        chosen = container.streams[stream_index]
        if chosen.type == "audio":
            return chosen
    try:
        return container.streams.best("audio") or container.streams.audio[0]
    except (AttributeError, av.error.FFmpegError):  # pragma: no cover - old PyAV
        return container.streams.audio[0]


def decode_audio(path: Path, rate: int = 16000, *, max_duration: float | None = None,
                 progress: Progress | None = None,
                 problems: list[str] | None = None,
                 stream_index: int | None = None) -> np.ndarray | None:
    """One audio stream as mono float32 at ``rate`` Hz, on the container's clock.

    ``stream_index`` (from ``tracks.choose_audio``) names the track; without it, ffmpeg's
    best audio stream.  Leading silence is inserted when the audio starts after the
    container start, so sample ``i`` is at ``i / rate`` seconds like every other time this
    package reports.  Returns None when the file has no audio stream or nothing decodes;
    problems go to ``problems``.
    """
    path = Path(path)
    problems = problems if problems is not None else []
    with open_input(path) as container:
        stream = _audio_stream(container, stream_index)
        if stream is None:
            return None
        start = container_start(container)
        total = stream_duration(stream, container_duration(container))
        if max_duration:
            total = min(total, max_duration) if total > 0 else max_duration
        limit = int(round(max_duration * rate)) if max_duration else None
        resampler = AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[np.ndarray] = []
        n = 0
        now = [0.0]  # seconds decoded so far, for error messages
        first = True
        for k, frame in enumerate(iter_decoded(container, stream, problems, lambda: now[0])):
            if first:
                first = False
                offset = (frame.time - start) if frame.time is not None else 0.0
                if offset > 0.5 / rate:
                    pad = int(round(offset * rate))
                    pad = min(pad, limit) if limit is not None else pad
                    chunks.append(np.zeros(pad, dtype=np.float32))
                    n += pad
            try:
                outs = resampler.resample(frame)
            except ValueError:  # the input format changed mid-stream: start a new resampler
                for o in resampler.resample(None):
                    chunks.append(o.to_ndarray().reshape(-1))
                    n += chunks[-1].size
                resampler = AudioResampler(format="flt", layout="mono", rate=rate)
                outs = resampler.resample(frame)
            for o in outs:
                chunks.append(o.to_ndarray().reshape(-1))
                n += chunks[-1].size
            now[0] = n / rate
            if progress is not None and k % 50 == 0:
                progress("audio", now[0], total)
            if limit is not None and n >= limit:
                break
        else:
            for o in resampler.resample(None):
                chunks.append(o.to_ndarray().reshape(-1))
                n += chunks[-1].size
    if not chunks:
        return None
    audio = np.concatenate(chunks).astype(np.float32, copy=False)
    if limit is not None:
        audio = audio[:limit]
    end = audio.size / rate
    if limit is None or audio.size < limit:
        msg = truncation_problem(end, total, 0.05)
        if msg:
            problems.append(msg)
    if progress is not None:
        progress("audio", end, max(end, total))
    return audio


def decode_audio_excerpts(path: Path, rate: int, excerpts: Sequence[tuple[float, float]], *,
                          stream_index: int | None = None,
                          problems: list[str] | None = None,
                          progress: Progress | None = None) -> list[tuple[float, np.ndarray]]:
    """Mono float32 audio at ``rate`` Hz of each ``(start, end)`` span, one seek each.

    Returns ``(time of the first sample, samples)`` per span that decoded; a span where
    the seek landed late starts later (its time says so).  Only the spans are decoded, so
    the cost and the memory do not depend on the file's length.
    """
    return [p for p in _decode_spans(path, rate, excerpts, stream_index=stream_index,
                                     problems=problems, progress=progress) if p is not None]


def _decode_spans(path: Path, rate: int, excerpts: Sequence[tuple[float, float]], *,
                  stream_index: int | None = None, problems: list[str] | None = None,
                  progress: Progress | None = None) -> list[tuple[float, np.ndarray] | None]:
    """``decode_audio_excerpts``, one entry per span in order (None where it failed)."""
    path = Path(path)
    problems = problems if problems is not None else []
    parts: list[tuple[float, np.ndarray] | None] = [None] * len(excerpts)
    with open_input(path) as container:
        stream = _audio_stream(container, stream_index)
        if stream is None:
            return parts
        start0 = container_start(container)
        tb = stream.time_base
        for k, (a, b) in enumerate(excerpts):
            try:
                pts = int(math.floor(max(a + start0, 0.0) / tb)) if tb else 0
                _seek(container, stream, pts)
            except (av.error.FFmpegError, OSError, ValueError) as err:
                problems.append(f"audio seek to {a:.1f} s failed ({err})")
                continue
            resampler = AudioResampler(format="flt", layout="mono", rate=rate)
            chunks: list[np.ndarray] = []
            n = 0
            first_t: float | None = None
            now = [a]  # time reached, for error messages
            for frame in iter_decoded(container, stream, problems, lambda now=now: now[0]):
                if frame.time is None:
                    continue
                t = frame.time - start0
                if first_t is None:
                    if t + frame.samples / max(frame.sample_rate or rate, 1) <= a:
                        continue  # wholly before the span
                    first_t = t
                try:
                    outs = resampler.resample(frame)
                except ValueError:  # the input format changed mid-stream
                    resampler = AudioResampler(format="flt", layout="mono", rate=rate)
                    outs = resampler.resample(frame)
                for o in outs:
                    chunks.append(o.to_ndarray().reshape(-1))
                    n += chunks[-1].size
                now[0] = first_t + n / rate
                if now[0] >= b:
                    break
            for o in resampler.resample(None):
                chunks.append(o.to_ndarray().reshape(-1))
            if first_t is None or not chunks:
                continue
            wave = np.concatenate(chunks).astype(np.float32, copy=False)
            skip = int(round((a - first_t) * rate)) if first_t < a else 0
            begin = max(a, first_t)
            wave = wave[skip: skip + int(round((b - begin) * rate))]
            if wave.size:
                parts[k] = (round(begin, 4), np.ascontiguousarray(wave))
            if progress is not None:
                progress("audio", k + 1, len(excerpts))
    return parts


def speech_context(path: Path, rate: int, spans: Sequence[tuple[float, float]],
                   parts: Sequence[tuple[float, np.ndarray] | None], duration: float,
                   stream_index: int | None = None,
                   margin: float | None = None) -> list[tuple[float, np.ndarray, float, float]] | None:
    """The audio speech recognition hears for each excerpt: ``(start, samples, excerpt
    start, excerpt end)``, the excerpt widened by ``margin`` seconds (``SPEECH_MARGIN_S``)
    each side, clipped to the file (0 and ``duration`` when known).

    ``parts`` are the excerpts proper as decoded (``_decode_spans``, None where one
    failed); an excerpt whose widened span does not decode keeps its proper part (no
    margin), a failed excerpt gets no entry.  None when ``margin`` is 0.
    """
    margin = SPEECH_MARGIN_S if margin is None else float(margin)
    if margin <= 0:
        return None
    wide = [(max(0.0, a - margin), min(duration, b + margin) if duration > 0 else b + margin)
            for a, b in spans]
    got = _decode_spans(path, rate, wide, stream_index=stream_index, problems=[])
    out = []
    for (a, b), proper, ctx in zip(spans, parts, got, strict=True):
        if proper is None:
            continue
        t0, w = ctx if ctx is not None and ctx[0] <= proper[0] + 1e-3 else proper
        out.append((t0, w, max(a, proper[0]), b))
    return out


# --------------------------------------------------------------------------- all together


def _decode_video(path: Path, cfg: dict[str, Any], progress: Progress | None,
                  problems: list[str]) -> tuple[list[SceneFrame], list[float], list[tuple[float, float]], int]:
    """Scenes and one frame per scene, in one decoding pass (plus seeks on overflow).

    Returns frames, cuts, the span analysed and the number of frames decoded."""
    max_scenes = int(cfg["max_scenes"])
    with open_input(path) as container:
        streams = video_streams(container)
        if not streams:
            return [], [], [], 0
        stream = streams[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        frame_dur = 1.0 / float(rate) if rate else 0.04
        picker = ScenePicker(RgbScaler(int(cfg["frame_max_side"]), _sample_aspect(stream)),
                             slots=_slots_for(ctx.width or 1920, ctx.height or 1080),
                             store_limit=max_scenes, frame_dur=frame_dur)
        det = scan_video(container, stream, threshold=float(cfg["scene_threshold"]),
                         analysis_width=int(cfg["scene_analysis_width"]), progress=progress,
                         max_duration=float(cfg["max_duration_s"]), on_frame=picker)
        problems.extend(det.problems)
        if det.n_frames == 0:
            return [], [], [], det.decoded
        picker.finish(det.end)

    chosen = _subsample(len(picker.scenes), max_scenes)
    todo = [k for k in chosen if k not in picker.picked]
    if todo:  # more scenes than we could hold while scanning: fetch the chosen ones by seeking
        mids = [(picker.scenes[k][0] + picker.scenes[k][1]) / 2 for k in todo]
        got = frames_at(path, mids, int(cfg["frame_max_side"]), keyframes=det.keyframes,
                        problems=problems, progress=progress)
        for k, g in zip(todo, got, strict=True):
            if g is not None:
                picker.picked[k] = g
    frames: list[SceneFrame] = []
    for k in chosen:
        if k in picker.picked:
            t, img = picker.picked[k]
            start, end = picker.scenes[k]
            frames.append(SceneFrame(index=len(frames), time=float(t), start=float(start),
                                     end=float(end), image=img))
    if progress is not None:
        progress("frames", len(frames), len(chosen))
    return frames, [float(c) for c in det.cuts], [(det.start, det.end)], det.decoded


def _decode_video_excerpts(path: Path, cfg: dict[str, Any], excerpts: Sequence[tuple[float, float]],
                           progress: Progress | None, problems: list[str]
                           ) -> tuple[list[SceneFrame], list[float], list[tuple[float, float]], int]:
    """Scene detection and one frame per scene inside each excerpt, one seek each.

    Each excerpt starts with a fresh scorer (its first frame is no cut) and its start and
    end bound its first and last scene.  At most ``1.5 * max_scenes / N`` frames are held
    per excerpt while scanning, then ``max_scenes`` are kept evenly spread over all scenes.
    """
    max_scenes = int(cfg["max_scenes"])
    per_excerpt = max(4, int(math.ceil(1.5 * max_scenes / max(1, len(excerpts)))))
    scenes: list[tuple[float, float, float, np.ndarray]] = []
    cuts: list[float] = []
    spans: list[tuple[float, float]] = []
    decoded = 0
    seen_problems: set[str] = set()
    with open_input(path) as container:
        streams = video_streams(container)
        if not streams:
            return [], [], [], 0
        stream = streams[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        frame_dur = 1.0 / float(rate) if rate else 0.04
        start0 = container_start(container)
        tb = stream.time_base
        set_decode_threads(stream)
        to_rgb = RgbScaler(int(cfg["frame_max_side"]), _sample_aspect(stream))
        slots = _slots_for(ctx.width or 1920, ctx.height or 1080)
        for k, (a, b) in enumerate(excerpts):
            try:
                pts = int(math.floor(max(a + start0, 0.0) / tb)) if tb else 0
                _seek(container, stream, pts)
            except (av.error.FFmpegError, OSError, ValueError) as err:
                problems.append(f"seek to {a:.1f} s failed ({err}); excerpt skipped")
                continue
            picker = ScenePicker(to_rgb, slots=slots, store_limit=per_excerpt,
                                 frame_dur=frame_dur, start=a)
            det = scan_video(container, stream, threshold=float(cfg["scene_threshold"]),
                             analysis_width=int(cfg["scene_analysis_width"]),
                             max_duration=b, on_frame=picker, start_at=a)
            decoded += det.decoded
            for msg in det.problems:
                if msg not in seen_problems:
                    seen_problems.add(msg)
                    problems.append(msg)
            if det.n_frames:
                picker.finish(det.end)
                spans.append((det.start, det.end))
                cuts.extend(float(c) for c in det.cuts)
                for j, (s0, s1) in enumerate(picker.scenes):
                    if j in picker.picked:
                        t, img = picker.picked[j]
                        scenes.append((float(s0), float(s1), float(t), img))
            if progress is not None:
                progress("scenes", k + 1, len(excerpts))
    frames = [SceneFrame(index=i, time=scenes[k][2], start=scenes[k][0], end=scenes[k][1],
                         image=scenes[k][3])
              for i, k in enumerate(_subsample(len(scenes), max_scenes))]
    if progress is not None:
        progress("frames", len(frames), len(frames))
    return frames, cuts, spans, decoded


def decode_media(path: Path, media_cfg: dict[str, Any] | None = None,
                 progress: Progress | None = None,
                 on_audio: Callable[[DecodedMedia], None] | None = None) -> DecodedMedia:
    """Probe ``path``, plan what to read, decode one audio track, look for subtitle text,
    then find its scenes and take one RGB frame per scene.

    Settings come from ``media_cfg`` over ``DEFAULTS["media"]``.  The sampling plan
    (``plan.choose_plan``) reads short videos whole and long ones as spread excerpts; the
    audio track follows ``tracks.choose_audio``; subtitle text (``subtitles.find_subtitles``)
    replaces ASR when the file has some.  ``DecodedMedia.provenance`` records all three and
    the coverage achieved.  Audio comes first: ``on_audio(media)``, when given, receives a
    ``DecodedMedia`` with the audio and subtitles but no frames yet, so audio models can
    start while the pictures decode (the pipeline does that).  ``progress(stage, done,
    total)`` is called with stages ``"scenes"`` (seconds, or excerpts), ``"frames"``
    (count) and ``"audio"`` (seconds, or excerpts).  Raises ``MediaError`` for files
    ``probe`` rejects, and with reason ``decode_error`` when neither a frame nor any audio
    could be decoded.
    """
    path = Path(path)
    cfg = media_settings(media_cfg)
    info = probe(path)
    plan = choose_plan(info.duration, cfg)
    spans = [(e.start, e.end) for e in plan.excerpts]
    missing: dict[str, str] = {}

    # the subtitle text first: where it replaces ASR, no speech margin is decoded
    subs = None
    speech_text: dict[str, Any] = {"source": "asr",
                                   "reason": "subtitles disabled ([media] subtitles)"}
    if cfg["subtitles"]:
        windows = None
        if not plan.full:
            half = max(SUBTITLE_WINDOW_S, plan.params["excerpt_s"]) / 2
            windows = _merge_windows([((a + b) / 2 - half, (a + b) / 2 + half) for a, b in spans])
        subs, speech_text = find_subtitles(path, info, str(cfg["subtitle_language"]),
                                           int(cfg["subtitle_max_lines"]), windows)
    audio: np.ndarray | None = None
    parts: list[tuple[float, np.ndarray]] | None = None
    speech: list[tuple[float, np.ndarray, float, float]] | None = None
    rate = int(cfg["audio_rate"])
    track = choose_audio(info.streams, str(cfg["audio_language"]))
    audio_spans: list[tuple[float, float]] = []
    if info.has_audio:
        aproblems: list[str] = []
        index = track.stream.index if track.stream is not None and track.stream.index >= 0 else None
        if plan.full:
            audio = decode_audio(path, rate, max_duration=float(cfg["max_duration_s"]),
                                 progress=progress, problems=aproblems, stream_index=index)
            if audio is not None and audio.size:
                audio_spans = [(0.0, audio.size / rate)]
        else:
            got = _decode_spans(path, rate, spans, stream_index=index, problems=aproblems,
                                progress=progress)
            if subs is None:  # Whisper will run: the excerpts with their speech margin
                speech = speech_context(path, rate, spans, got, info.duration, index)
            parts = [p for p in got if p is not None]
            audio_spans = [(t0, t0 + w.size / rate) for t0, w in parts]
            audio = np.concatenate([w for _, w in parts]) if parts else None
            parts = parts or None
        if audio is None or audio.size == 0:
            audio, parts, speech = None, None, None
            missing["audio"] = "no audio decoded" + (f": {'; '.join(aproblems)}" if aproblems
                                                     else "")
        elif aproblems:
            missing["audio"] = "; ".join(aproblems)
    else:
        missing["audio"] = "no audio stream"

    provenance: dict[str, Any] = {
        "plan": plan.to_dict(),
        "audio_track": track.to_dict(),
        "speech_text": speech_text,
    }
    if on_audio is not None and (audio is not None or subs is not None):
        on_audio(DecodedMedia(probe=info, frames=[], cuts=[], audio=audio, audio_rate=rate,
                              missing=dict(missing), audio_parts=parts, subtitles=subs,
                              speech_parts=speech, provenance=provenance))

    frames: list[SceneFrame] = []
    cuts: list[float] = []
    video_spans: list[tuple[float, float]] = []
    decoded_frames = 0
    if info.has_video:
        vproblems: list[str] = []
        if plan.full:
            frames, cuts, video_spans, decoded_frames = _decode_video(path, cfg, progress, vproblems)
        else:
            frames, cuts, video_spans, decoded_frames = _decode_video_excerpts(
                path, cfg, spans, progress, vproblems)
        if not frames:
            missing["video"] = "no frame decoded" + (f": {'; '.join(vproblems)}" if vproblems
                                                     else "")
        elif vproblems:
            missing["video"] = "; ".join(vproblems)
    else:
        missing["video"] = "no video stream"

    if not frames and audio is None:
        raise MediaError(path, "decode_error", "; ".join(f"{k}: {v}" for k, v in missing.items()))
    provenance["coverage"] = {**coverage(plan, video_spans, audio_spans),
                              "frames_decoded": decoded_frames}
    if speech is not None:  # excerpts heard by speech recognition with a margin
        provenance["coverage"]["asr_margin_s"] = SPEECH_MARGIN_S
    return DecodedMedia(probe=info, frames=frames, cuts=cuts, audio=audio, audio_rate=rate,
                        missing=missing, audio_parts=parts, subtitles=subs,
                        speech_parts=speech, provenance=provenance)


def _merge_windows(windows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted((max(0.0, a), b) for a, b in windows):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
