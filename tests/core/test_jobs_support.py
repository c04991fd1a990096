"""Fake ``Services`` for the job tests (no test functions here on purpose).

Worker processes are *spawned*, so the fakes must be importable by path
(``tests.core.test_jobs_support:FakeServices``) and configured through plain keyword
arguments.  Everything cheap is real: file signature, content hash, PyAV probe (optional) and
the on-disk feature cache under ``TRAILERTAGGER_HOME``; only the heavy extractors and the
genre head are replaced by deterministic stand-ins derived from the file's content hash.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trailertagger.core.errors import MediaError
from trailertagger.core.features.cache import FeatureCache
from trailertagger.core.features.types import FeatureSet, ModalityFeatures
from trailertagger.core.genres import GENRES
from trailertagger.core.media.identity import content_hash, file_signature
from trailertagger.core.media.types import ProbeInfo
from trailertagger.core.paths import app_dirs

SPEC = "tests.core.test_jobs_support:FakeServices"
FAKE_MODALITY = "image"


def hash_probs(chash: str, model_id: str = "fake-head") -> dict[str, float]:
    """Deterministic per-(content, model) genre probabilities in [0, 1)."""
    digest = hashlib.sha256(f"{model_id}|{chash}".encode()).digest()
    return {g: digest[i] / 256.0 for i, g in enumerate(GENRES)}


@dataclass
class FakeHead:
    model_id: str = "fake-head"
    version: str = "1"
    kind: str = "fake"

    @property
    def thresholds(self) -> dict[str, float]:
        return {g: 0.5 for g in GENRES}

    def predict(self, fs: FeatureSet) -> dict[str, float]:
        return hash_probs(fs.content_hash, self.model_id)


@dataclass
class _Result:
    features: FeatureSet
    content_hash: str
    feature_path: Path | None
    warnings: list[str]


class FakeSession:
    """Stands in for ``ExtractionSession``: reads the whole file (like a decoder would),
    reports progress in ``steps`` steps of ``step_seconds`` each, writes the feature cache."""

    def __init__(self, step_seconds: float, steps: int) -> None:
        self.step_seconds = step_seconds
        self.steps = steps

    def run(self, path: Path, progress: Any = None, cancel: Any = None) -> _Result:
        sig = file_signature(path)
        chash = content_hash(path)
        data = path.read_bytes()
        if len(data) < 64 or b"ftyp" not in data[:64]:
            raise MediaError(path, "corrupt", "no MP4 header (truncated or not a video)")
        for i in range(self.steps):
            if cancel is not None:
                cancel.raise_if_cancelled()
            if progress is not None:
                progress("fake extract", i, self.steps)
            time.sleep(self.step_seconds)
        if file_signature(path) != sig:
            raise MediaError(path, "changed_during_processing", "modified while read")
        seed = int(chash.split(":")[-1][:8], 16)
        values = np.random.default_rng(seed).standard_normal((3, 8)).astype(np.float32)
        fs = FeatureSet(chash, 1.0, {FAKE_MODALITY: ModalityFeatures(
            FAKE_MODALITY, values, np.arange(3, dtype=np.float32), "fake.extractor", "1",
            "fake", "0" * 64)}, {}, "default")
        cache = FeatureCache(app_dirs().features)
        warnings: list[str] = []
        try:
            fpath: Path | None = cache.save(fs)
        except OSError as err:
            fpath = None
            warnings.append(f"feature cache not written ({cache.root}): {err}")
        return _Result(fs, chash, fpath, warnings)


class FakeServices:
    """``Services`` with real identity/cache and fake extraction/head (see module doc)."""

    def __init__(self, step_seconds: float = 0.0, steps: int = 1, real_probe: bool = False,
                 model_id: str = "fake-head", version: str = "1") -> None:
        self.session = FakeSession(step_seconds, steps)
        self.real_probe = real_probe
        self._head = FakeHead(model_id, version)

    def signature(self, path: Path) -> tuple[int, int]:
        return file_signature(path)

    def content_hash(self, path: Path) -> str:
        return content_hash(path)

    def probe(self, path: Path) -> Any:
        if self.real_probe:
            from trailertagger.core.media.probe import probe

            return probe(path)
        if not path.exists():
            raise MediaError(path, "not_found", "gone")
        st = path.stat()
        return ProbeInfo(path=str(path), size=st.st_size, mtime=st.st_mtime, duration=1.0,
                         streams=(), container="mp4")

    def thumbnail(self, path: Path, content_hash: str, duration: float) -> Path | None:
        return None

    def extraction_session(self, profile: str) -> FakeSession:
        return self.session

    def features_cached(self, content_hash: str, profile: str) -> bool:
        return FeatureCache(app_dirs().features).load(content_hash) is not None

    def load_features(self, content_hash: str, profile: str) -> FeatureSet | None:
        return FeatureCache(app_dirs().features).load(content_hash)

    def head(self) -> FakeHead:
        return self._head


class AsrServices(FakeServices):
    """Real probe and the real pipeline with only the speech extractor (faster-whisper
    tiny.en from the installed packages, downloads off); the transcription writes
    ``<marker_dir>/asr-started`` when it begins, so a test can cancel during it."""

    def __init__(self, marker_dir: str, store_dir: str) -> None:
        super().__init__(real_probe=True)
        from trailertagger.core.extractors import base
        from trailertagger.core.models.store import ModelStore
        from trailertagger.core.pipeline import ExtractionSession

        base.register_extractor(MarkedAsr)  # in the worker process, which is this test's own
        MarkedAsr.marker = Path(marker_dir) / "asr-started"
        store = ModelStore(override_dir=Path(store_dir) / "override", cache_dir=Path(store_dir) / "cache",
                           allow_download=False)
        self.real_session = ExtractionSession("default", cfg={"extract": {"lanes": 1}, "media": {}},
                                              store=store, extractors=[MarkedAsr.name])

    def extraction_session(self, profile: str) -> Any:
        return self.real_session


def _marked_asr_class() -> type:
    from trailertagger.core.extractors.asr import FasterWhisperExtractor

    class MarkedAsr(FasterWhisperExtractor):
        name = "asr.marked"
        marker: Path | None = None

        def transcribe(self, wave16k, cancel=None):  # noqa: ANN001, ANN202
            if MarkedAsr.marker is not None:
                MarkedAsr.marker.write_text("started")
            return super().transcribe(wave16k, cancel)

    return MarkedAsr


MarkedAsr = _marked_asr_class()
