"""From a video file to per-modality feature sequences: probe → hash → cache → decode once →
extractors → cache.

``ExtractionSession`` keeps a profile's extractors loaded so a worker process pays the model
load once and then runs video after video.  Extractors load lazily, only when some video
needs a modality that is not cached yet, so re-running a fully cached library loads nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import DEFAULTS, load_config
from .errors import Cancelled, MediaError, ModelMissingError
from .extractors import base as extractor_base
from .extractors.base import Extractor, extractor_class, profile_extractors, split_parts
from .features.cache import FeatureCache
from .features.types import FeatureSet
from .media.identity import content_hash, file_signature
from .media.types import ProbeInfo
from .paths import app_dirs
from .progress import CancelToken, Progress, check, no_progress
from .runtime.memory import limit_malloc_arenas, release_free_memory
from .runtime.openvino import set_openvino
from .runtime.threads import cpu_share, torch_threads

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


def usable_cache(cached: FeatureSet | None, media_cfg: dict[str, Any] | None) -> FeatureSet | None:
    """``cached``, or None when it was read under a sampling plan the ``[media]`` settings
    no longer choose (``media.plan.serves``): then every modality in it, this profile's or
    another's, is read again, so a file never mixes two plans under one provenance."""
    from .media.plan import serves

    if cached is None or media_cfg is None:
        return cached
    media = {**DEFAULTS["media"], **media_cfg}
    return cached if serves(cached.provenance.get("plan"), media) else None


def stale_extractors(cached: FeatureSet | None, names: Sequence[str],
                     media_cfg: dict[str, Any] | None = None) -> list[str]:
    """The extractors among ``names`` whose output ``cached`` lacks or holds from another
    extractor or version, or all of them when ``cached`` was read under a sampling plan the
    ``[media]`` settings ``media_cfg`` no longer choose (``usable_cache``): what must run
    before the cache serves this profile.  The one freshness rule the pipeline and the job
    queue's probe stage both use."""
    cached = usable_cache(cached, media_cfg)
    return [n for n in names
            if not FeatureCache.is_fresh(cached, extractor_class(n).modality, n, extractor_class(n).version)]


def profile_view(fs: FeatureSet, names: Sequence[str], profile: str) -> FeatureSet:
    """Only the modalities the extractors ``names`` produce, so heads see consistent
    inputs; ``media_problems`` (streams that decoded only in part) and ``provenance`` (how
    the file was read: sampling plan, coverage, tracks) are kept."""
    wanted = {extractor_class(n).modality for n in names}
    return FeatureSet(
        content_hash=fs.content_hash,
        duration=fs.duration,
        modalities={k: v for k, v in fs.modalities.items() if k in wanted},
        missing={k: v for k, v in fs.missing.items() if k in wanted},
        profile=profile,
        media_problems=dict(fs.media_problems),
        provenance=dict(fs.provenance),
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
        limit_malloc_arenas()  # before the lanes' threads first allocate
        set_openvino(bool(self.cfg.get("extract", {}).get("openvino", True)))  # read at load

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
        from .media.probe import probe

        outer = progress or no_progress

        def progress(stage: str, done: float, total: float | None) -> None:
            check(cancel)
            outer(stage, done, total)

        path = Path(path)
        check(cancel)
        # the pool's worker may have been given another CPU share since the last video (the
        # extract stage limit changed): lanes and torch threads follow it; pools that native
        # runtimes sized at load keep their size
        self.lanes, self.threads = plan_threads(self.cfg.get("extract", {}))
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        info = probe(path)
        sig_before = file_signature(path)
        chash = content_hash(path)
        timings["probe+hash"] = time.perf_counter() - t0

        check(cancel)
        cached = usable_cache(self.cache.load(chash), self.cfg.get("media", {}))
        stale = stale_extractors(cached, self.names)
        merged = cached or FeatureSet(content_hash=chash, duration=info.duration, profile=self.profile)
        warnings: list[str] = []

        if stale:
            stale = order_by_cost(stale)
            self._decode_and_extract(path, stale, merged, timings, progress, cancel)
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

    def _decode_and_extract(self, path: Path, stale: list[str], merged: FeatureSet,
                            timings: dict[str, float], progress: Progress,
                            cancel: CancelToken | None = None) -> None:
        """Decode once and run ``stale`` extractors, ``self.lanes`` at a time.

        Audio decodes first (``decode_media``'s ``on_audio``): extractors that read only
        audio are submitted then, and run while the main thread decodes the pictures; the
        rest start when the frames are there.  ``stale`` is ordered longest first
        (``order_by_cost``) so the longest extractor is never the one left running alone.

        Why lanes of single-threaded extractors instead of one multi-threaded extractor
        after another: every model here is small, so a multi-threaded operator spends much
        of its time synchronising its threads (and spinning when the machine is busy);
        measured on two shared cores, EfficientNet's batch took 4.1 s with two torch threads
        and 1.0 s with one.  Extractors are independent (each reads the decoded media
        only), so two of them side by side keep both cores busy with no such overhead.
        Per-stage timings then overlap: their sum exceeds the wall time.

        An extractor that divides into parts (``extractors.base.SplitExtractor``: OCR reads
        its frames in runs of four) is handed out part by part after the indivisible ones,
        so its parts fill whichever lanes are free instead of one lane running it alone at
        the end; its output is the same as from one ``extract`` call.
        """
        from .media.decode import decode_media

        def one(name: str, inst: Extractor, media: Any) -> tuple[str, Any, float]:
            t = time.perf_counter()
            try:
                check(cancel)
                return name, inst.extract(media, cancel=cancel), time.perf_counter() - t
            except (MemoryError, Cancelled):
                raise
            except Exception as err:  # noqa: BLE001 - one modality's failure is recorded
                log.exception("extractor %s failed on %s", name, path)
                return name, f"extractor {name} failed: {err}", time.perf_counter() - t
            finally:  # the next extractor's peak starts from what this one really keeps
                release_free_memory()

        def record(name: str, out: Any, seconds: float) -> None:
            modality = extractor_class(name).modality
            if isinstance(out, str):
                merged.missing[modality] = out
            else:
                merged.modalities[modality] = out
            timings[name] = seconds

        def prepare(name: str, media: Any) -> Extractor | None:
            """Load (in this thread) or record why the modality cannot be computed."""
            cls = extractor_class(name)
            merged.modalities.pop(cls.modality, None)
            merged.missing.pop(cls.modality, None)
            reason = self._media_gap(cls.needs, media.missing, media, cls.modality)
            if reason:
                merged.missing[cls.modality] = reason
                return None
            check(cancel)  # loading a model can take seconds
            inst = self.extractor(name)
            if inst is None:
                merged.missing[cls.modality] = self._unavailable[name]
            return inst

        pool = (ThreadPoolExecutor(max_workers=self.lanes, thread_name_prefix="extract")
                if self.lanes > 1 and len(stale) > 1 else None)
        futures: list[Future] = []
        started: set[str] = set()

        def on_audio(partial: Any) -> None:
            if pool is None:
                return
            for name in stale:
                needs = extractor_class(name).needs
                if needs.frames or not needs.audio_rate:
                    continue
                started.add(name)
                inst = prepare(name, partial)
                if inst is not None:
                    futures.append(pool.submit(one, name, inst, partial))

        try:
            with torch_threads(self.threads):
                t = time.perf_counter()
                media = decode_media(path, self.cfg.get("media", DEFAULTS["media"]), progress,
                                     on_audio=on_audio)
                timings["decode"] = time.perf_counter() - t
                merged.duration = media.duration
                merged.provenance = dict(media.provenance)
                # Streams that decoded only in part: features are computed from what
                # decoded, and the file says so (a stream absent altogether is a
                # per-modality "missing").
                merged.media_problems = {k: v for k, v in media.missing.items()
                                         if (k == "video" and media.frames)
                                         or (k == "audio" and media.audio is not None)}
                todo: list[tuple[str, Extractor]] = []
                for name in stale:  # load (in this thread, in order) before running anything
                    if name in started:
                        continue
                    inst = prepare(name, media)
                    if inst is not None:
                        todo.append((name, inst))
                total = len(todo) + len(futures)
                progress("extract", 0, total)
                if pool is None:
                    for i, (name, inst) in enumerate(todo):
                        progress(name, i, total)
                        record(*one(name, inst, media))
                else:
                    # indivisible extractors first (longest first), then the parts of
                    # divisible ones (``SplitExtractor``), which fill the lanes at the end
                    splits = {name: _SplitRun(inst, parts) for name, inst in todo
                              if (parts := split_parts(inst, media)) is not None}
                    futures += [pool.submit(one, name, inst, media) for name, inst in todo
                                if name not in splits]
                    for name, run in splits.items():
                        futures += [pool.submit(run.part, name, i, media, cancel)
                                    for i in range(len(run.parts))]
                    done = 0
                    for fut in as_completed(futures):
                        result = fut.result()
                        if isinstance(result, _PartDone):
                            run = splits[result.name]
                            if not run.add(result):
                                continue  # parts still running
                            result = self._join(result.name, run, media, path, cancel)
                        record(*result)
                        done += 1
                        progress(result[0], done, total)
                progress("extract", total, total)
        finally:  # on Ctrl-C: drop what has not started, let running ones finish
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _join(name: str, run: _SplitRun, media: Any, path: Path,
              cancel: CancelToken | None) -> tuple[str, Any, float]:
        """A divisible extractor's output from its parts (or the first part's failure);
        seconds: from its first part's start to the end of the join."""
        try:
            if run.failure is not None:
                return name, run.failure, time.perf_counter() - run.started
            check(cancel)
            out = run.extractor.join(media, run.ordered(), cancel)
            return name, out, time.perf_counter() - run.started
        except (MemoryError, Cancelled):
            raise
        except Exception as err:  # noqa: BLE001 - one modality's failure is recorded
            log.exception("extractor %s failed on %s", name, path)
            return name, f"extractor {name} failed: {err}", time.perf_counter() - run.started
        finally:
            release_free_memory()

    @staticmethod
    def _media_gap(needs, media_missing: dict[str, str], media, modality: str = "") -> str:
        if needs.frames and not media.frames:
            return "no video: " + media_missing.get("video", "no decodable frames")
        if modality == "asr" and getattr(media, "subtitles", None) is not None:
            return ""  # speech text from the file's subtitles needs no audio
        if needs.audio_rate and media.audio is None:
            return "no audio: " + media_missing.get("audio", "no decodable audio")
        return ""

    def _profile_view(self, merged: FeatureSet) -> FeatureSet:
        return profile_view(merged, self.names, self.profile)


@dataclass
class _PartDone:
    name: str
    index: int
    out: Any = None
    failure: str | None = None


class _SplitRun:
    """One divisible extractor's parts in flight (``SplitExtractor``): what came back, the
    first failure, and when the first part started."""

    def __init__(self, extractor: Any, parts: list[object]) -> None:
        self.extractor = extractor
        self.parts = parts
        self.results: dict[int, Any] = {}
        self.failure: str | None = None
        self.started = time.perf_counter()
        self._started = False

    def part(self, name: str, index: int, media: Any, cancel: CancelToken | None) -> _PartDone:
        """Run one part (in a lane); a failure is returned, not raised, like ``one``'s."""
        if not self._started:
            self._started, self.started = True, time.perf_counter()
        if self.failure is not None:
            return _PartDone(name, index, failure=self.failure)  # an earlier part failed
        try:
            check(cancel)
            return _PartDone(name, index, self.extractor.extract_part(media, self.parts[index], cancel))
        except (MemoryError, Cancelled):
            raise
        except Exception as err:  # noqa: BLE001 - one modality's failure is recorded
            log.exception("extractor %s failed on part %d", name, index)
            self.failure = f"extractor {name} failed: {err}"
            return _PartDone(name, index, failure=self.failure)

    def add(self, done: _PartDone) -> bool:
        """Record a finished part; True once every part is in."""
        if done.failure is not None and self.failure is None:
            self.failure = done.failure
        self.results[done.index] = done.out
        return len(self.results) == len(self.parts)

    def ordered(self) -> list[Any]:
        return [self.results[i] for i in range(len(self.parts))]


#: Relative cost per modality on a 2-minute trailer (issue 13's measurements: musicnn
#: 7-10 s, ASR 9-17 s, OCR 6-15 s, image and YAMNet a few seconds).  Only the order matters:
#: the longest start first so no long extractor is left running alone at the end.  An
#: extractor class may set ``cost_hint`` (a number) to place itself.
COST_RANK: dict[str, float] = {"music": 10.0, "asr": 9.0, "ocr": 8.0, "image": 4.0, "audio": 3.0}


def order_by_cost(names: list[str]) -> list[str]:
    """``names`` with the most expensive extractors first (stable for equal costs)."""
    def cost(name: str) -> float:
        cls = extractor_class(name)
        hint = getattr(cls, "cost_hint", None)
        return float(hint) if hint is not None else COST_RANK.get(cls.modality, 5.0)

    return sorted(names, key=lambda n: -cost(n))


def plan_threads(extract_cfg: dict[str, Any], cores: int | None = None) -> tuple[int, int]:
    """(lanes, threads per lane) from ``extract.lanes`` / ``extract.threads`` (0 = auto).

    Auto: one lane per core, at most ``MAX_LANES`` (more lanes than extractors in a
    profile are useless), and the cores shared out between lanes, at least one thread
    each.  ``cores``: the cores this extraction may use, by default this process's CPU
    share (``runtime.threads.cpu_share``): every core, or in a pool that runs N
    extractions at once ``cores // N`` of them, so the pool's lanes add up to the machine
    (on 2 cores, two concurrent extractions get one lane of one thread each instead of two
    lanes each).  Explicit settings win."""
    cores = max(1, int(cores) if cores is not None else cpu_share())
    lanes = int(extract_cfg.get("lanes", 0) or 0) or min(cores, MAX_LANES)
    threads = int(extract_cfg.get("threads", 0) or 0) or max(1, cores // lanes)
    return max(1, lanes), threads
