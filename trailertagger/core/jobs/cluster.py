"""Feature extraction on a Dask cluster, for archives larger than one machine.

The job queue does not change: ``scan``/``rerun``/``jobs run --cluster ADDRESS`` start the
usual worker pool on this machine with ``ClusterServices``, whose extraction session sends
each video to the cluster instead of running the models here.  So everything the queue
already guarantees holds on a cluster too: leases and heartbeats, Ctrl-C handing jobs back,
progress events, the identity rules, one transaction per stage.

* **One writer.**  Cluster workers only read videos (and, where the disk is shared, the
  feature cache).  They return the computed feature set; this machine writes the feature file
  (the same ``FeatureCache.save`` a local run uses, so the bytes are the same) and the library
  rows.  The library is SQLite and never leaves this machine.
* **Warm models.**  A worker keeps one ``ExtractionSession`` per (profile, device, settings)
  for as long as it lives: the models load on its first video, or at once with
  ``preload``'s worker plugin.
* **Retries.**  A task that raises for a reason other than the video itself (a worker's
  transient failure) is retried ``retries`` times; a worker that dies mid-task has its task
  rescheduled on another worker by the scheduler (``distributed.scheduler.allowed-failures``).
  A video's own failure (unreadable media, a missing model) comes back as that error, once,
  and fails the job as a local run would.
* **Stop.**  The waiting stage checks the pool's stop and cancel requests twice a second;
  either cancels the task and the job goes back to the queue (Ctrl-C) or is cancelled.

Paths: the cluster's workers must see the videos at the same paths as this machine (a shared
mount), and should run the same trailertagger version and models (README, "Cluster").
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError, TrailerTaggerError
from ..features.cache import FeatureCache
from ..features.types import FeatureSet
from ..progress import CancelToken, Progress, check, no_progress
from .stages import DefaultServices

log = logging.getLogger(__name__)

#: how often a stage waiting on the cluster looks at stop/cancel requests (seconds)
POLL_SECONDS = 0.5
#: task-level retries for failures that are not the video's own
DEFAULT_RETRIES = 2
MAX_SLOTS = 64  # the [jobs] workers range: one local dispatcher per cluster thread at most


def require_distributed() -> Any:
    """The ``distributed`` module, or a ``ConfigError`` saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise ConfigError("--cluster needs Dask's scheduler client: pip install "
                          "'trailertagger[cluster]' (dask[distributed])") from None
    return distributed


def connect(address: str, timeout: float = 30.0) -> Any:
    """A ``distributed.Client`` for ``address`` (``tcp://host:8786``, or a scheduler file)."""
    distributed = require_distributed()
    kwargs: dict[str, Any] = {"set_as_default": False, "timeout": timeout}
    try:
        if address.endswith(".json") and os.path.isfile(address):
            return distributed.Client(scheduler_file=address, **kwargs)
        return distributed.Client(address, **kwargs)
    except (OSError, TimeoutError) as err:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {err}") from None


def cluster_slots(address: str) -> int:
    """How many tasks the cluster runs at once (its worker threads), at least 1."""
    client = connect(address)
    try:
        return max(1, min(MAX_SLOTS, sum(client.nthreads().values())))
    finally:
        client.close()


# -- the cluster worker's side ----------------------------------------------------------------
class _CapturingCache(FeatureCache):
    """The client's feature cache as a cluster worker sees it: read where the disk is shared
    (fresh modalities are not computed again), never written; ``save`` keeps the set for the
    task's result and the client writes the file."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.saved: dict[str, FeatureSet] = {}

    def load(self, content_hash: str) -> FeatureSet | None:
        try:
            return super().load(content_hash)
        except OSError:
            return None

    def save(self, fs: FeatureSet) -> Path:
        self.saved[fs.content_hash] = fs
        return self.path_for(fs.content_hash)


@dataclass
class RemoteResult:
    """What a cluster task sends back: the pipeline's result (``feature_path`` None), the full
    feature set to cache (None when nothing had to run), or the video's own error."""

    result: Any = None  # pipeline.ExtractionResult
    merged: FeatureSet | None = None
    error: TrailerTaggerError | None = None
    worker: str = ""
    load_seconds: float = 0.0


_SESSIONS: dict[str, tuple[Any, threading.Lock]] = {}
_SESSIONS_LOCK = threading.Lock()


def _session_key(profile: str, device: str, cfg: dict[str, Any], cache_root: str) -> str:
    return json.dumps([profile, device, cfg, cache_root], sort_keys=True, default=str)


def warm_session(profile: str, device: str, cfg: dict[str, Any], cache_root: str,
                 load: bool = False) -> tuple[Any, threading.Lock, float]:
    """This worker's session for these settings (created once; models stay loaded).
    Returns (session, its lock, seconds spent loading now)."""
    key = _session_key(profile, device, cfg, cache_root)
    with _SESSIONS_LOCK:
        entry = _SESSIONS.get(key)
        if entry is None:
            from ..pipeline import ExtractionSession

            session = ExtractionSession(profile, cfg, device, cache=_CapturingCache(Path(cache_root)))
            entry = _SESSIONS[key] = (session, threading.Lock())
    session, lock = entry
    t = time.perf_counter()
    if load:
        with lock:
            session.load_all()
    return session, lock, time.perf_counter() - t


def remote_extract(path: str, profile: str, device: str, cfg: dict[str, Any],
                   cache_root: str) -> RemoteResult:
    """The task a cluster worker runs for one video."""
    session, lock, _ = warm_session(profile, device, cfg, cache_root)
    t = time.perf_counter()
    with lock:  # one video at a time per session (run a worker per GPU/core group instead)
        session.cache.saved.clear()
        try:
            result = session.run(Path(path))
        except TrailerTaggerError as err:  # the video's (or the setup's) own failure: no retry
            return RemoteResult(error=err, worker=socket.gethostname())
        merged = session.cache.saved.pop(result.content_hash, None)
    result = replace(result, feature_path=None)
    return RemoteResult(result, merged, worker=f"{socket.gethostname()}:{os.getpid()}",
                        load_seconds=time.perf_counter() - t)


class WarmModels:
    """A Dask worker plugin that loads a profile's models when a worker starts (and on every
    worker that joins later), so the first video does not pay for them."""

    name = "trailertagger-warm-models"

    def __init__(self, profile: str, device: str, cfg: dict[str, Any], cache_root: str) -> None:
        self.args = (profile, device, cfg, cache_root)

    def setup(self, worker: Any = None) -> None:
        try:
            warm_session(*self.args, load=True)
        except Exception as err:  # noqa: BLE001 - the tasks report it per video instead
            log.warning("could not preload the models on %s: %s", worker, err)

    def teardown(self, worker: Any = None) -> None:  # pragma: no cover - worker exit
        pass

    def transition(self, *args: Any, **kwargs: Any) -> None:
        pass


# -- this machine's side ------------------------------------------------------------------------
class RemoteExtraction:
    """Stands in for ``ExtractionSession`` in a worker of the local pool: ``run`` sends the
    video to the cluster, waits (checking ``cancel``), then writes the feature file here."""

    def __init__(self, client: Any, profile: str, device: str, cfg: dict[str, Any],
                 cache: FeatureCache, retries: int = DEFAULT_RETRIES) -> None:
        self.client = client
        self.profile = profile
        self.device = device
        self.cfg = cfg
        self.cache = cache
        self.retries = retries

    def submit(self, path: Path) -> Any:
        return self.client.submit(remote_extract, str(path), self.profile, self.device, self.cfg,
                                  str(self.cache.root), pure=False, retries=self.retries,
                                  key=f"tt-extract-{os.getpid()}-{time.monotonic_ns()}")

    def run(self, path: Path, progress: Progress | None = None,
            cancel: CancelToken | None = None) -> Any:
        progress = progress or no_progress
        future = self.submit(path)
        try:
            return self.finish(self.wait(future, progress, cancel))
        finally:
            if not future.done():
                future.cancel()

    @staticmethod
    def wait(future: Any, progress: Progress, cancel: CancelToken | None) -> RemoteResult:
        from distributed import TimeoutError as DaskTimeout

        start = time.monotonic()
        while True:
            check(cancel)
            progress("extract on the cluster", time.monotonic() - start, None)
            try:
                return future.result(timeout=POLL_SECONDS)
            except (DaskTimeout, TimeoutError):
                continue

    def finish(self, remote: RemoteResult) -> Any:
        """The pipeline's result with the feature file written here (or why it was not)."""
        if remote.error is not None:
            raise remote.error
        result = remote.result
        warnings = list(result.warnings)
        feature_path: Path | None = self.cache.path_for(result.content_hash)
        if remote.merged is not None:
            try:
                feature_path = self.cache.save(remote.merged)
            except OSError as err:
                warnings.append(f"feature cache not written ({self.cache.root}): {err}")
                log.warning("%s", warnings[-1])
                feature_path = None
        return replace(result, feature_path=feature_path, warnings=warnings)


class ClusterServices(DefaultServices):
    """``DefaultServices`` with extraction on a Dask cluster (``[jobs] services`` for a
    ``--cluster`` run).  Probing, classifying and all writes stay on this machine."""

    def __init__(self, address: str, device: str | None = None, retries: int = DEFAULT_RETRIES,
                 cfg: dict[str, Any] | None = None) -> None:
        super().__init__(cfg)
        self.address = address
        self.device = device or str(self.cfg.get("extract", {}).get("device", "auto"))
        self.retries = retries
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self.address)
        return self._client

    def extraction_session(self, profile: str) -> Any:
        if profile not in self._sessions:
            self._sessions[profile] = RemoteExtraction(self.client, profile, self.device,
                                                       self.cfg, self._cache(), self.retries)
        return self._sessions[profile]


def preload(client: Any, profile: str, device: str, cfg: dict[str, Any], cache_root: Path) -> None:
    """Register ``WarmModels`` so every worker (and every one that joins) loads the models."""
    plugin = WarmModels(profile, device, cfg, str(cache_root))
    register = getattr(client, "register_plugin", None) or client.register_worker_plugin
    register(plugin, name=WarmModels.name)


def extract_many(address: str, paths: list[Path], profile: str, device: str,
                 cfg: dict[str, Any], cache: FeatureCache, on_result: Any,
                 retries: int = DEFAULT_RETRIES) -> None:
    """``trailertagger extract --cluster``: every video at once on the cluster, results in the
    order they finish.  ``on_result(path, result_or_error)``; Ctrl-C cancels what is left."""
    client = connect(address)
    runner = RemoteExtraction(client, profile, device, cfg, cache, retries)
    futures: dict[Any, Path] = {}
    try:
        for p in paths:
            futures[runner.submit(p)] = p
        pending = dict(futures)
        while pending:
            finished = [f for f in pending if f.done()]
            if not finished:
                time.sleep(0.1)  # (distributed's as_completed wants a default client)
                continue
            for fut in finished:
                path = pending.pop(fut)
                try:
                    outcome: Any = runner.finish(fut.result())
                except (TrailerTaggerError, OSError) as err:
                    outcome = err
                except Exception as err:  # noqa: BLE001 - e.g. every worker died on this file
                    outcome = TrailerTaggerError(
                        f"{path}: cluster task failed: {type(err).__name__}: {err}")
                on_result(path, outcome)
    finally:
        left = [f for f in futures if not f.done()]
        if left:
            client.cancel(left)
        client.close()


__all__ = ["ClusterServices", "RemoteExtraction", "RemoteResult", "WarmModels", "cluster_slots",
           "connect", "extract_many", "preload", "remote_extract"]
