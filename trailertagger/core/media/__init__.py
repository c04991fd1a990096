"""Media: probe files, find scene cuts, decode one frame per scene and mono audio (PyAV).

Everything a caller needs is re-exported here; the modules are ``probe`` (what is in a file,
clear errors), ``scenes`` (ffmpeg's scene score, streamed) and ``decode`` (one pass for
frames, one for audio).
"""

from __future__ import annotations

from .decode import decode_audio, decode_media, frames_at, media_settings
from .probe import open_input, probe
from .scenes import SceneDetection, SceneScorer, detect_scenes, scene_spans
from .types import DecodedMedia, ProbeInfo, SceneFrame, StreamInfo

__all__ = [
    "DecodedMedia",
    "ProbeInfo",
    "SceneDetection",
    "SceneFrame",
    "SceneScorer",
    "StreamInfo",
    "decode_audio",
    "decode_media",
    "detect_scenes",
    "frames_at",
    "media_settings",
    "open_input",
    "probe",
    "scene_spans",
]
