"""The one small protocol every extractor follows, its registry, and profiles.

An extractor is a frozen pretrained model that turns ``DecodedMedia`` into one
``ModalityFeatures`` sequence.  Loading is separate from extracting so a worker process can
keep models warm across videos.  Extractors register themselves by name; a *profile* is a
named list of extractor names (``default`` runs offline on weights shipped in packages).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..features.types import ModalityFeatures
    from ..media.types import DecodedMedia
    from ..models.store import ModelStore


@dataclass(frozen=True)
class Needs:
    """What an extractor reads from the decoded media."""

    frames: bool = False
    audio_rate: int = 0  # 0: no audio needed; else the sample rate the model wants


@runtime_checkable
class Extractor(Protocol):
    name: ClassVar[str]  # registry key, e.g. "image.effnet_lite0"
    modality: ClassVar[str]  # output modality key, e.g. "image"
    version: ClassVar[str]  # bump when output changes: invalidates cached features
    needs: ClassVar[Needs]

    @property
    def dim(self) -> int: ...

    def load(self, store: ModelStore, device: str = "cpu") -> None:
        """Load weights (once); raise ModelMissingError with a clear message if absent."""

    def extract(self, media: DecodedMedia) -> ModalityFeatures:
        """Return a [T, D] sequence; T may be 0.  Never pools over time."""

    def provenance(self) -> dict[str, str]:
        """{"model_id": ..., "weights_sha256": ...} of the weights actually loaded."""


def cpu_threads() -> int:
    """Threads for native runtimes (ONNX Runtime, CTranslate2): torch's setting, which the
    pipeline sets from ``extract.threads``, so every extractor honours the same knob."""
    try:
        import torch

        return max(1, int(torch.get_num_threads()))
    except ImportError:  # pragma: no cover - torch is part of the extract extra
        return max(1, os.cpu_count() or 1)


class ExtractorBase:
    """Shared plumbing: load once under a lock, remember provenance."""

    name: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs()
    #: Model-store ids the extractor loads with its default settings; ``models check``
    #: uses it to tell a profile's required models from merely optional ones.
    model_ids: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False
        self.model_id = ""
        self.weights_sha256 = ""
        self.device = "cpu"

    def load(self, store: ModelStore, device: str = "cpu") -> None:
        with self._lock:
            if not self._loaded:
                self.device = device
                self._load(store, device)
                self._loaded = True

    def _load(self, store: ModelStore, device: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def provenance(self) -> dict[str, str]:
        return {"model_id": self.model_id, "weights_sha256": self.weights_sha256}


# name -> "module:Class"; modules import lazily so listing extractors costs nothing.
_REGISTRY: dict[str, str] = {
    "image.effnet_lite0": "trailertagger.core.extractors.image:EfficientNetLite0Extractor",
    "image.clip_vit_b32": "trailertagger.core.extractors.image_clip:OpenClipExtractor",
    "ocr.rapidocr": "trailertagger.core.extractors.ocr:RapidOcrExtractor",
    "ocr.easyocr": "trailertagger.core.extractors.ocr:EasyOcrExtractor",
    "asr.faster_whisper": "trailertagger.core.extractors.asr:FasterWhisperExtractor",
    "audio.yamnet": "trailertagger.core.extractors.audio_tags:YamnetExtractor",
    "audio.panns": "trailertagger.core.extractors.audio_tags:PannsExtractor",
    "music.musicnn": "trailertagger.core.extractors.music:MusicnnExtractor",
    # the seed authors' feature set (arXiv 2410.19760), see extractors/seed.py
    "seed.clip": "trailertagger.core.extractors.seed:SeedClipExtractor",
    "seed.beats": "trailertagger.core.extractors.beats:SeedBeatsExtractor",
    "seed.face_emotion": "trailertagger.core.extractors.seed:SeedFaceEmotionExtractor",
    "seed.asr_sentiment": "trailertagger.core.extractors.seed:SeedAsrSentimentExtractor",
    "seed.ocr_sentiment": "trailertagger.core.extractors.seed:SeedOcrSentimentExtractor",
}

# Profiles name extractor sets.  "default" runs offline on weights shipped in packages.
PROFILES: dict[str, tuple[str, ...]] = {
    "default": ("image.effnet_lite0", "ocr.rapidocr", "asr.faster_whisper", "audio.yamnet", "music.musicnn"),
    "minimal": ("image.effnet_lite0", "audio.yamnet"),
    "paper": ("image.clip_vit_b32", "ocr.rapidocr", "asr.faster_whisper", "audio.panns", "music.musicnn"),
    # the seed authors' own features; heads from `heads import-seed` read these modalities
    "seed": ("seed.clip", "seed.beats", "seed.face_emotion", "seed.asr_sentiment", "seed.ocr_sentiment"),
}
# Extractors whose absence (package not installed) is reported and skipped, not fatal.
# seed.ocr_sentiment: its text pipeline (language detection, spelling, translation) is heavy
# and optional; without it the modality is recorded missing, as the seed code does.
OPTIONAL: frozenset[str] = frozenset({"music.musicnn", "ocr.easyocr", "seed.ocr_sentiment"})


def register(name: str, target: str) -> None:
    _REGISTRY[name] = target


def extractor_names() -> list[str]:
    return sorted(_REGISTRY)


def extractor_class(name: str) -> Callable[[], Extractor]:
    if name not in _REGISTRY:
        raise KeyError(f"unknown extractor {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    module, _, cls = _REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def profile_extractors(profile: str) -> tuple[str, ...]:
    if profile not in PROFILES:
        raise KeyError(f"unknown profile {profile!r}; known: {', '.join(sorted(PROFILES))}")
    return PROFILES[profile]
