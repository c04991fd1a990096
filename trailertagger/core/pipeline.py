"""From a video file to per-modality feature sequences: probe → hash → cache → decode once →
extractors → cache.

``ExtractionSession`` keeps a profile's extractors loaded so a worker process pays the model
load once and then runs video after video.  Extractors load lazily, only when some video
needs a modality that is not cached yet, so re-running a fully cached library loads nothing.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import DEFAULTS, load_config
from .errors import Cancelled, MediaError, ModelMissingError
from .extractors import base as extractor_base
from .extractors.base import Extractor, extractor_class, profile_extractors
from .features.cache import FeatureCache
from .features.types import FeatureSet
from .media.identity import content_hash, file_signature
from .media.types import ProbeInfo
from .paths import app_dirs
from .progress import CancelToken, Progress, check, no_progress
from .runtime.threads import torch_threads

log = logging.getLogger(__name__)

MAX_LANES = 4


@dataclass
class ExtractionResult:
    features: FeatureSet
    probe: ProbeInfo
    content_hash: str
    from_cache: bool  # True when no extractor had to run
    feature_path: Path | None  # None when the cache could not be written
    missing: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def stale_extractors(cached: FeatureSet | None, names: Sequence[str]) -> list[str]:
    """The extractors among ``names`` whose output ``cached`` lacks or holds from another
    extractor or version: what must run before the cache serves this profile.  The one
    freshness rule the pipeline and the job queue's probe stage both use."""
    return [n for n in names
            if not FeatureCache.is_fresh(cached, extractor_class(n).modality, n, extractor_class(n).version)]


def profile_view(fs: FeatureSet, names: Sequence[str], profile: str) -> FeatureSet:
    """Only the modalities the extractors ``names`` produce, so heads see consistent
    inputs; ``media_problems`` (streams that decoded only in part) are kept."""
    wanted = {extractor_class(n).modality for n in names}
    return FeatureSet(
        content_hash=fs.content_hash,
        duration=fs.duration,
        modalities={k: v for k, v in fs.modalities.items() if k in wanted},
        missing={k: v for k, v in fs.missing.items() if k in wanted},
        profile=profile,
        media_problems=dict(fs.media_problems),
    )


class ExtractionSession:
    """Runs one profile's extractors over videos, models kept warm between videos."""

    def __init__(
        self,
        profile: str = "default",
        cfg: dict[str, Any] | None = None,
        device: str = "cpu",
        store: Any = None,
        cache: FeatureCache | None = None,
        extractors: list[str] | None = None,
    ) -> None:
        self.cfg = cfg if cfg is not None else load_config()
        self.profile = profile
        self.device = device
        self.names = list(extractors) if extractors else list(profile_extractors(profile))
        self.cache = cache or FeatureCache(app_dirs().features)
        self._store = store
        self._instances: dict[str, Extractor] = {}
        self._unavailable: dict[str, str] = {}  # optional extractors that failed to load
        self.lanes, self.threads = plan_threads(self.cfg.get("extract", {}))

    # -- models -----------------------------------------------------------------------
    @property
    def store(self):
        if self._store is None:
            from .models.store import ModelStore

            self._store = ModelStore.from_config(self.cfg)
        return self._store

    def extractor(self, name: str) -> Extractor | None:
        """The loaded extractor, or None for an optional one that is unavailable."""
        if name in self._instances:
            return self._instances[name]
        if name in self._unavailable:
            return None
        inst = extractor_class(name)()
        try:
            with torch_threads(self.threads):  # native runtimes size their pools at load
                inst.load(self.store, self.device)
        except ModelMissingError as err:
            if not extractor_base.is_optional(name):
                raise
            log.info("optional extractor %s unavailable: %s", name, err)
            self._unavailable[name] = f"optional extractor {name} unavailable: {err}"
            return None
        self._instances[name] = inst
        return inst

    def load_all(self, progress: Progress = no_progress) -> None:
        """Load every extractor now (a worker does this before taking jobs)."""
        for i, name in enumerate(self.names):
            progress(f"load {name}", i, len(self.names))
            self.extractor(name)
        progress("load", len(self.names), len(self.names))

    # -- one video ---------------------------------------------------------------------
    def run(self, path: Path, progress: Progress | None = None,
            cancel: CancelToken | None = None) -> ExtractionResult:
        """Features of one video.  ``cancel`` is checked between stages, inside decoding
        (at each progress report) and by the extractors between their chunks; a cancel
        raises ``Cancelled`` and leaves the cache as it was."""
        from .media.decode import decode_media
        from .media.probe import probe

        outer = progress or no_progress

        def progress(stage: str, done: float, total: float | None) -> None:
            check(cancel)
            outer(stage, done, total)

        path = Path(path)
        check(cancel)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        info = probe(path)
        sig_before = file_signature(path)
        chash = content_hash(path)
        timings["probe+hash"] = time.perf_counter() - t0

        check(cancel)
        cached = self.cache.load(chash)
        stale = stale_extractors(cached, self.names)
        merged = cached or FeatureSet(content_hash=chash, duration=info.duration, profile=self.profile)
        warnings: list[str] = []

        if stale:
            t = time.perf_counter()
            media = decode_media(path, self.cfg.get("media", DEFAULTS["media"]), progress)
            timings["decode"] = time.perf_counter() - t
            merged.duration = media.duration
            # Streams that decoded only in part: features are computed from what decoded,
            # and the file says so (a stream absent altogether is a per-modality "missing").
            merged.media_problems = {k: v for k, v in media.missing.items()
                                     if (k == "video" and media.frames)
                                     or (k == "audio" and media.audio is not None)}
            todo: list[tuple[str, Extractor]] = []
            for name in stale:  # load (in this thread, in order) before running anything
                cls = extractor_class(name)
                merged.modalities.pop(cls.modality, None)
                merged.missing.pop(cls.modality, None)
                reason = self._media_gap(cls.needs, media.missing, media)
                if reason:
                    merged.missing[cls.modality] = reason
                    continue
                check(cancel)  # loading a model can take seconds
                inst = self.extractor(name)
                if inst is None:
                    merged.missing[cls.modality] = self._unavailable[name]
                    continue
                todo.append((name, inst))
            self._run_extractors(path, media, todo, merged, timings, progress, cancel)
            if file_signature(path) != sig_before:
                raise MediaError(path, "changed_during_processing",
                                 "the file was modified while it was being read; it will be re-queued")

        feature_path: Path | None = self.cache.path_for(chash)
        if stale:
            try:
                feature_path = self.cache.save(merged)
            except OSError as err:
                warnings.append(f"feature cache not written ({self.cache.root}): {err}")
                log.warning("%s", warnings[-1])
                feature_path = None

        features = self._profile_view(merged)
        warnings = [f"{k} partly decoded: {v}" for k, v in sorted(merged.media_problems.items())] + warnings
        timings["total"] = time.perf_counter() - t0
        return ExtractionResult(features, info, chash, not stale, feature_path,
                                dict(features.missing), warnings, timings)

    def _run_extractors(self, path: Path, media: Any, todo: list[tuple[str, Extractor]],
                        merged: FeatureSet, timings: dict[str, float], progress: Progress,
                        cancel: CancelToken | None = None) -> None:
        """Run loaded extractors over one decoded video, ``self.lanes`` at a time.

        Why lanes of single-threaded extractors instead of one multi-threaded extractor
        after another: every model here is small, so a multi-threaded operator spends much
        of its time synchronising its threads (and spinning when the machine is busy);
        measured on two shared cores, EfficientNet's batch took 4.1 s with two torch threads
        and 1.0 s with one.  Extractors are independent (each reads the decoded media
        only), so two of them side by side keep both cores busy with no such overhead.
        Per-stage timings then overlap: their sum exceeds the wall time.
        """
        def one(name: str, inst: Extractor) -> tuple[str, Any, float]:
            t = time.perf_counter()
            try:
                check(cancel)
                return name, inst.extract(media, cancel=cancel), time.perf_counter() - t
            except (MemoryError, Cancelled):
                raise
            except Exception as err:  # noqa: BLE001 - one modality's failure is recorded
                log.exception("extractor %s failed on %s", name, path)
                return name, f"extractor {name} failed: {err}", time.perf_counter() - t

        def record(name: str, out: Any, seconds: float) -> None:
            modality = extractor_class(name).modality
            if isinstance(out, str):
                merged.missing[modality] = out
            else:
                merged.modalities[modality] = out
            timings[name] = seconds

        progress("extract", 0, len(todo))
        with torch_threads(self.threads):
            self._run_lanes(todo, one, record, progress)
        progress("extract", len(todo), len(todo))

    def _run_lanes(self, todo: list[tuple[str, Extractor]], one: Callable, record: Callable,
                   progress: Progress) -> None:
        if self.lanes <= 1 or len(todo) <= 1:
            for i, (name, inst) in enumerate(todo):
                progress(name, i, len(todo))
                record(*one(name, inst))
        else:
            pool = ThreadPoolExecutor(max_workers=self.lanes, thread_name_prefix="extract")
            try:
                futures = [pool.submit(one, name, inst) for name, inst in todo]
                for i, fut in enumerate(as_completed(futures)):
                    name, out, seconds = fut.result()
                    record(name, out, seconds)
                    progress(name, i + 1, len(todo))
            finally:  # on Ctrl-C: drop what has not started, let running ones finish
                pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _media_gap(needs, media_missing: dict[str, str], media) -> str:
        if needs.frames and not media.frames:
            return "no video: " + media_missing.get("video", "no decodable frames")
        if needs.audio_rate and media.audio is None:
            return "no audio: " + media_missing.get("audio", "no decodable audio")
        return ""

    def _profile_view(self, merged: FeatureSet) -> FeatureSet:
        return profile_view(merged, self.names, self.profile)


def plan_threads(extract_cfg: dict[str, Any]) -> tuple[int, int]:
    """(lanes, threads per lane) from ``extract.lanes`` / ``extract.threads`` (0 = auto).

    Auto: one lane per core, at most ``MAX_LANES`` (more lanes than extractors in a
    profile are useless), and the cores shared out between lanes, at least one thread
    each."""
    cores = max(1, os.cpu_count() or 1)
    lanes = int(extract_cfg.get("lanes", 0) or 0) or min(cores, MAX_LANES)
    threads = int(extract_cfg.get("threads", 0) or 0) or max(1, cores // lanes)
    return max(1, lanes), threads
