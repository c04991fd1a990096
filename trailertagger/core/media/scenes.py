"""Shot-cut detection with ffmpeg's ``select`` scene score, streamed one frame at a time.

The score (libavfilter ``f_select.c``, ``get_scene_score``), as computed here:

* each decoded frame is downscaled to ``analysis_width`` pixels wide (area averaging) and
  only its **luma plane** is kept: for YUV input ffmpeg scores the Y plane alone;
* ``mafd``  = mean absolute difference between this frame's and the previous frame's luma,
  in 8-bit levels (0..255);
* ``diff``  = ``|mafd - prev_mafd|``;
* ``scene`` = ``clip(min(mafd, diff) / 100, 0, 1)``; the first frame scores 0.

A frame whose score is above ``threshold`` (``gt(scene, threshold)``) is the first frame of a
new scene.  ``min(mafd, diff)`` is what makes the score a *cut* detector rather than a motion
detector: steady fast motion gives a high ``mafd`` every frame but a small ``diff``, while a
cut is a sudden jump in ``mafd``.  The unit is easy to misread: the score is the luma change
in 8-bit levels divided by 100, so the default 0.27 means "the picture changed by 27 grey
levels on average".  ``tests/core/test_media_scenes.py`` checks these numbers against
ffmpeg's own ``select`` filter (run through PyAV's filter graph) on the same frames.

Streaming: frames are decoded with threads, downscaled by swscale straight to a tiny grey
image, scored and dropped; only the previous 160x90 luma image is kept, so memory does not
grow with the video.  ``scan_video`` hands every decoded frame to an optional callback so
``decode.decode_media`` can pick scene frames in the same pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import MediaError
from ..progress import Progress
from ..runtime.threads import set_decode_threads
from .probe import container_duration, container_start, open_input, stream_duration, video_streams

#: ``on_frame(frame, time, index, is_cut)``: called for every analysed frame, in order.
FrameHook = Callable[[av.VideoFrame, float, int, bool], None]

_MAX_PROBLEMS = 5  # decode errors listed one by one; the rest are counted
_GIVE_UP_AFTER = 200  # consecutive undecodable packets before a stream is declared broken


@dataclass
class SceneDetection:
    """Cuts and the per-frame scores they came from.

    ``cuts`` are the times (seconds from the container start) of the first frame of each new
    scene; 0 and the end are not cuts.  ``end`` is where the analysed video ends (last frame
    time plus one frame), the right "duration" for ``scene_spans``.  ``keyframes`` (times of
    key frames) lets a later seek decide whether decoding forward is cheaper.  ``problems``
    lists decode errors and truncation, in words for users.
    """

    cuts: list[float]
    scores: np.ndarray  # [n_frames] float32, 0..1
    times: np.ndarray  # [n_frames] float64 seconds
    fps: float
    n_frames: int
    end: float = 0.0
    keyframes: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    decoded: int = 0  # frames decoded, including pre-roll before ``start_at``
    start: float = 0.0  # time of the first analysed frame


class SceneScorer:
    """ffmpeg's scene score, one luma image at a time (see the module docstring)."""

    def __init__(self) -> None:
        self._prev: np.ndarray | None = None
        self._prev_mafd = 0.0

    def push(self, luma: np.ndarray) -> float:
        """Score ``luma`` (HxW uint8) against the previous image and remember it."""
        cur = luma.astype(np.int16)
        prev, self._prev = self._prev, cur
        if prev is None or prev.shape != cur.shape:
            return 0.0  # ffmpeg also scores 0 on the first frame and on a size change
        mafd = float(np.abs(cur - prev).mean())
        diff = abs(mafd - self._prev_mafd)
        self._prev_mafd = mafd
        return min(max(min(mafd, diff) / 100.0, 0.0), 1.0)


def analysis_size(width: int, height: int, analysis_width: int) -> tuple[int, int]:
    """Downscaled size with the source aspect; even dimensions, never upscaled."""
    w = max(2, min(int(analysis_width), int(width)) // 2 * 2) if width else int(analysis_width)
    h = max(2, int(round(w * height / width / 2)) * 2) if width and height else w
    return w, h


class LumaScaler:
    """Downscale a decoded frame to a small luma image with one reused swscale context.

    ``format="gray"`` with JPEG ranges on both sides copies the luma values unchanged (no
    16..235 expansion), so scores equal ffmpeg's on the Y plane; AREA averaging avoids the
    aliasing a point/bilinear 8x reduction has, which would make textures look like motion.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        small = self._reformatter.reformat(
            frame, width=self.width, height=self.height, format="gray", interpolation="AREA",
            src_color_range="JPEG", dst_color_range="JPEG")
        return small.to_ndarray()


def iter_decoded(container: av.container.InputContainer, stream: av.stream.Stream,
                 problems: list[str], clock: Callable[[], float]) -> Iterator[av.Frame]:
    """Decode ``stream`` packet by packet, surviving bad packets.

    A packet that fails to decode is skipped (ffmpeg's own behaviour); the first few errors
    are recorded in ``problems`` with the time reached (``clock()``), and a stream that keeps
    failing is abandoned.  A read error (a truncated or unreadable file) ends the stream with
    what was decoded so far.
    """
    errors = consecutive = 0
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as err:
            problems.append(f"read error at {clock():.1f} s: {err.strerror or err}")
            return
        try:
            frames = packet.decode()
        except av.error.FFmpegError as err:
            errors += 1
            consecutive += 1
            if errors <= _MAX_PROBLEMS:
                problems.append(f"decode error at {clock():.1f} s: {err.strerror or err}")
            if consecutive >= _GIVE_UP_AFTER:
                problems.append(f"gave up after {consecutive} undecodable packets in a row")
                return
            continue
        consecutive = 0
        yield from frames
    if errors > _MAX_PROBLEMS:  # pragma: no cover - needs a badly damaged file
        problems.append(f"{errors - _MAX_PROBLEMS} more decode errors")


def truncation_problem(end: float, expected: float, frame_dur: float) -> str | None:
    """A sentence when a stream stops well before the container said it would."""
    if expected > 0 and end < expected - max(0.5, 3 * frame_dur):
        return f"stream ends at {end:.1f} s of {expected:.1f} s (file truncated or damaged?)"
    return None


def scan_video(container: av.container.InputContainer, stream: av.video.stream.VideoStream, *,
               threshold: float = 0.27, analysis_width: int = 160,
               progress: Progress | None = None, max_duration: float | None = None,
               on_frame: FrameHook | None = None, start_at: float = 0.0) -> SceneDetection:
    """Decode ``stream`` once, score every frame and return the cuts.

    ``on_frame`` sees every decoded frame (full resolution, untouched) with its time, index
    and whether it starts a new scene, so callers can collect frames without a second pass.
    Decoding stops at ``max_duration`` seconds.  ``start_at`` is for excerpts: the caller
    has sought to the key frame before it, and frames before it are decoded (they are the
    references of what follows) but neither scored nor shown to ``on_frame``;
    ``SceneDetection.decoded`` counts every frame decoded, those included.
    """
    if not stream.codec_context.is_open:
        # frame + slice threads: ~1.5-2x on 2 cores (settable only before the first decode:
        # excerpts scan one open stream several times)
        set_decode_threads(stream)  # fewer threads in a pool's CPU share
    start = container_start(container)
    total = stream_duration(stream, container_duration(container))
    if max_duration is not None and max_duration > 0:
        total = min(total, max_duration) if total > 0 else max_duration
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    frame_dur = 1.0 / fps if fps > 0 else 0.04

    scorer = SceneScorer()
    scaler: LumaScaler | None = None
    scores: list[float] = []
    times: list[float] = []
    cuts: list[float] = []
    keyframes: list[float] = []
    problems: list[str] = []
    t = -frame_dur
    now = [0.0]  # time reached, for error messages
    stopped_early = False
    report_every = max(1, int(round(fps or 25)) // 2)

    decoded = 0
    for frame in iter_decoded(container, stream, problems, lambda: now[0]):
        decoded += 1
        ft = frame.time
        t = (ft - start) if ft is not None else t + frame_dur
        now[0] = max(t, 0.0)
        if max_duration is not None and max_duration > 0 and t >= max_duration:
            stopped_early = True
            break
        if t < start_at - frame_dur / 2:
            continue  # pre-roll from the key frame before an excerpt
        if scaler is None:
            scaler = LumaScaler(*analysis_size(frame.width, frame.height, analysis_width))
        score = scorer.push(scaler(frame))
        is_cut = score > threshold and len(times) > 0
        if is_cut:
            cuts.append(t)
        if frame.key_frame:
            keyframes.append(t)
        if on_frame is not None:
            on_frame(frame, t, len(times), is_cut)
        scores.append(score)
        times.append(t)
        if progress is not None and len(times) % report_every == 0:
            progress("scenes", t, total)

    n = len(times)
    end = times[-1] + frame_dur if n else 0.0
    if not stopped_early:
        msg = truncation_problem(end, total, frame_dur)
        if msg:
            problems.append(msg)
    if n >= 2 and fps <= 0:
        fps = (n - 1) / max(times[-1] - times[0], 1e-9)
    if progress is not None:
        progress("scenes", end, max(end, total))
    return SceneDetection(cuts=cuts, scores=np.asarray(scores, dtype=np.float32),
                          times=np.asarray(times, dtype=np.float64), fps=fps, n_frames=n,
                          end=end, keyframes=keyframes, problems=problems, decoded=decoded,
                          start=float(times[0]) if n else float(start_at))


def detect_scenes(path: Path, threshold: float = 0.27, analysis_width: int = 160,
                  progress: Progress | None = None) -> SceneDetection:
    """Cut times of ``path``'s first video stream (see the module docstring for the score).

    Raises ``MediaError`` with probe's reasons, ``no_video`` for a file without a video
    stream, and ``decode_error`` when not a single frame decodes.  A file that breaks part
    way returns the scenes found so far, with the problem in ``problems``.
    """
    path = Path(path)
    with open_input(path) as container:
        streams = video_streams(container)
        if not streams:
            raise MediaError(path, "no_video", "the file has no video stream")
        det = scan_video(container, streams[0], threshold=threshold,
                         analysis_width=analysis_width, progress=progress)
    if det.n_frames == 0:
        raise MediaError(path, "decode_error", "; ".join(det.problems) or "no frame decoded")
    return det


def scene_spans(cuts: list[float], duration: float,
                max_scenes: int) -> list[tuple[float, float, float]]:
    """``(start, end, mid)`` of each scene; the video's start and end count as cuts.

    With more scenes than ``max_scenes``, keeps ``max_scenes`` of them evenly spread over the
    scene list (indices ``round(linspace(0, n-1, max_scenes))``): deterministic, keeps the
    first and the last scene, and follows the film's pacing (fast-cut stretches contribute
    more scenes, as they hold more shots).
    """
    if max_scenes < 1:
        raise ValueError(f"max_scenes must be at least 1, got {max_scenes}")
    if duration <= 0:
        return []
    bounds = [0.0]
    for c in sorted(float(c) for c in cuts):
        if bounds[-1] < c < duration:
            bounds.append(c)
    bounds.append(float(duration))
    spans = [(a, b, (a + b) / 2.0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    if len(spans) > max_scenes:
        keep = np.unique(np.round(np.linspace(0, len(spans) - 1, max_scenes)).astype(int))
        spans = [spans[i] for i in keep]
    return spans
