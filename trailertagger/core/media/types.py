"""Records that describe a video and what was decoded from it.

``DecodedMedia`` is what every extractor receives: scene frames (already chosen, one per scene)
and mono audio decoded once.  Extractors never open the file themselves, so a video is decoded
once however many extractors run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    index: int = -1  # the stream's index in the container (-1: not known)
    language: str = ""  # the container's language tag as written ("eng", "en", "fre")
    title: str = ""
    #: disposition flags that matter for choosing a track: "default", "forced", "comment",
    #: "dub", "hearing_impaired", "visual_impaired", "descriptions"
    flags: tuple[str, ...] = ()


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
    #: Excerpt plans only: ``(start seconds, samples at audio_rate)`` per excerpt, in time
    #: order; ``audio`` is then their concatenation.  None for the full plan (one block).
    audio_parts: list[tuple[float, np.ndarray]] | None = None
    #: Excerpt plans only, for speech recognition: ``(start seconds, samples at audio_rate,
    #: excerpt start, excerpt end)`` per excerpt, the samples covering the excerpt widened by
    #: up to ``decode.SPEECH_MARGIN_S`` each side (within the file), so that a sentence cut
    #: by the excerpt's border can be heard whole (``speech_blocks``).  Other models read
    #: ``audio_parts``, the excerpts proper.  None for the full plan.
    speech_parts: list[tuple[float, np.ndarray, float, float]] | None = None
    #: Subtitle text chosen as the speech-text source (``media.subtitles.SubtitleText``),
    #: or None when the file has none usable (ASR then runs on the audio).
    subtitles: Any = None
    #: What was read and how: the sampling plan, coverage, the audio track and subtitle
    #: decisions.  Saved in the feature file's provenance.
    provenance: dict[str, Any] = field(default_factory=dict)
    _resampled: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _blocks: dict[int, list[tuple[float, np.ndarray]]] = field(default_factory=dict, repr=False)
    _speech: dict[int, list[tuple[float, np.ndarray, float, float]]] = field(
        default_factory=dict, repr=False)

    @property
    def duration(self) -> float:
        if self.probe.duration > 0:
            return self.probe.duration
        if self.audio is not None and self.audio_rate:
            return len(self.audio) / self.audio_rate
        return self.frames[-1].end if self.frames else 0.0

    def audio_blocks(self, rate: int) -> list[tuple[float, np.ndarray]]:
        """``(start seconds, mono float32 at rate)`` blocks to analyse one at a time.

        The full plan gives one block, ``(0.0, audio_at(rate))``, so extractors compute the
        same rows as on the whole signal; an excerpt plan gives one block per excerpt,
        each resampled on its own (no filter ringing across the joins), and extractors add
        the block's start to their row times.  Empty when there is no audio.
        """
        if self.audio is None:
            return []
        if self.audio_parts is None:
            wave = self.audio_at(rate)
            return [(0.0, wave)] if wave is not None else []
        if rate not in self._blocks:
            self._blocks[rate] = [(t0, _resample(part, self.audio_rate, rate))
                                  for t0, part in self.audio_parts]
        return self._blocks[rate]

    def speech_blocks(self, rate: int) -> list[tuple[float, np.ndarray, float, float]] | None:
        """``(start seconds, mono float32 at rate, excerpt start, excerpt end)`` per excerpt,
        the audio reaching past the excerpt by the speech margin (``speech_parts``); None
        when there is no such audio (the full plan, or no audio)."""
        if self.audio is None or not self.speech_parts:
            return None
        if rate not in self._speech:
            self._speech[rate] = [(t0, _resample(w, self.audio_rate, rate), a, b)
                                  for t0, w, a, b in self.speech_parts]
        return self._speech[rate]

    def audio_at(self, rate: int) -> np.ndarray | None:
        """Mono float32 audio at ``rate`` Hz (polyphase resampling, cached per rate)."""
        if self.audio is None:
            return None
        if rate == self.audio_rate:
            return self.audio
        if rate not in self._resampled:
            self._resampled[rate] = _resample(self.audio, self.audio_rate, rate)
        return self._resampled[rate]


def _resample(wave: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Polyphase resampling of mono float32 audio from ``src`` to ``dst`` Hz."""
    if src == dst:
        return wave
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(dst, src)
    return resample_poly(wave, dst // g, src // g).astype(np.float32)
