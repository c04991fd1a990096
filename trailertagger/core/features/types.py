"""Feature sequences: one ``[T, D]`` array per modality, never pooled over time."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class ModalityFeatures:
    """The sequence one extractor produced for one video.

    ``times`` holds each row's start time in seconds, so a sequence can be aligned with
    scenes or audio windows.  ``texts`` holds the text of each row for text modalities
    (OCR lines, ASR segments).  ``labels``/``scores`` carry readable class scores when the
    model has classes (ImageNet classes, AudioSet tags, music tags): the zero-shot head and
    the UI use them.  Provenance (model id, weights checksum, extractor version) travels with
    the data so a cached file can be judged stale.
    """

    modality: str
    values: np.ndarray  # [T, D] float32; T may be 0 (e.g. no text found)
    times: np.ndarray  # [T] float32 seconds
    extractor: str
    extractor_version: str
    model_id: str
    weights_sha256: str
    texts: list[str] | None = None
    labels: list[str] | None = None  # class names for ``scores`` columns
    scores: np.ndarray | None = None  # [T, C] float32 class probabilities

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float32)
        if self.values.ndim != 2:
            raise ValueError(f"{self.modality}: values must be [T, D], got {self.values.shape}")
        self.times = np.asarray(self.times, dtype=np.float32).reshape(-1)
        if len(self.times) != len(self.values):
            raise ValueError(f"{self.modality}: {len(self.times)} times for {len(self.values)} rows")
        if self.texts is not None and len(self.texts) != len(self.values):
            raise ValueError(f"{self.modality}: {len(self.texts)} texts for {len(self.values)} rows")
        if self.scores is not None:
            self.scores = np.asarray(self.scores, dtype=np.float32)

    @property
    def length(self) -> int:
        return int(self.values.shape[0])

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])


@dataclass
class FeatureSet:
    """All modalities of one video, with the reasons for any that are missing.

    A modality is *missing* (in ``missing``) when it could not be computed (no audio stream,
    model unavailable); an *empty* modality (T == 0, e.g. no speech) is present with length 0.
    Classifiers treat both as absent but the UI tells them apart.
    """

    content_hash: str
    duration: float
    modalities: dict[str, ModalityFeatures] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    profile: str = ""
    #: "video"/"audio" -> why that stream decoded only in part (truncated file, decode
    #: errors): the features exist but cover less than the file claims.
    media_problems: dict[str, str] = field(default_factory=dict)
    #: How the video was read (``DecodedMedia.provenance``): the sampling plan and its
    #: parameters, the coverage achieved, the audio track and the speech-text source.
    provenance: dict = field(default_factory=dict)

    def lengths(self) -> dict[str, int]:
        return {k: v.length for k, v in self.modalities.items()}
