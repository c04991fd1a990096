"""Records that describe a video and what was decoded from it.

``DecodedMedia`` is what every extractor receives: scene frames (already chosen, one per scene)
and mono audio decoded once.  Extractors never open the file themselves, so a video is decoded
once however many extractors run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StreamInfo:
    kind: str  # "video" | "audio" | "subtitle" | ...
    codec: str
    width: int = 0
    height: int = 0
    fps: float = 0.0
    sample_rate: int = 0
    channels: int = 0


@dataclass(frozen=True)
class ProbeInfo:
    """What a quick look at the container tells, before any decoding."""

    path: str
    size: int
    mtime: float
    duration: float  # seconds; 0.0 when the container does not say
    streams: tuple[StreamInfo, ...]
    container: str = ""

    @property
    def has_video(self) -> bool:
        return any(s.kind == "video" for s in self.streams)

    @property
    def has_audio(self) -> bool:
        return any(s.kind == "audio" for s in self.streams)


@dataclass
class SceneFrame:
    """One frame per scene: taken at the mid-point between two cuts."""

    index: int
    time: float  # seconds of the frame actually decoded
    start: float  # scene start (cut) in seconds
    end: float  # scene end (next cut) in seconds
    image: np.ndarray  # HxWx3 uint8 RGB, long side at most media.frame_max_side


@dataclass
class DecodedMedia:
    """Scene frames and mono audio of one video.

    ``audio`` is float32 mono at ``audio_rate`` (None when the file has no usable audio);
    ``audio_at(rate)`` resamples once per rate and caches, so each model gets its own rate.
    ``missing`` maps "video"/"audio" to the reason that stream is absent or broken.
    """

    probe: ProbeInfo
    frames: list[SceneFrame]
    cuts: list[float]  # scene-change times in seconds (not including 0 and the end)
    audio: np.ndarray | None
    audio_rate: int
    missing: dict[str, str] = field(default_factory=dict)
    _resampled: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def duration(self) -> float:
        if self.probe.duration > 0:
            return self.probe.duration
        if self.audio is not None and self.audio_rate:
            return len(self.audio) / self.audio_rate
        return self.frames[-1].end if self.frames else 0.0

    def audio_at(self, rate: int) -> np.ndarray | None:
        """Mono float32 audio at ``rate`` Hz (polyphase resampling, cached per rate)."""
        if self.audio is None:
            return None
        if rate == self.audio_rate:
            return self.audio
        if rate not in self._resampled:
            from math import gcd

            from scipy.signal import resample_poly

            g = gcd(rate, self.audio_rate)
            self._resampled[rate] = resample_poly(
                self.audio, rate // g, self.audio_rate // g
            ).astype(np.float32)
        return self._resampled[rate]
