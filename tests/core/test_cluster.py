"""Cluster extraction (``--cluster ADDRESS``) against a Dask cluster this test starts: two
worker processes on this machine.

The slow test runs the real ``minimal`` profile (EfficientNet-Lite0 + YAMNet) on six tiny
clips, once locally and once on the cluster with one cluster worker killed mid-run, and asks
for the same library (genres and probabilities) and byte-identical feature files.  The fast
tests cover the pieces without a cluster: errors crossing processes, the client-side write,
the stage limit a cluster run forces.
"""

from __future__ import annotations

import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trailertagger.core.errors import DiskFullError, MediaError
from trailertagger.core.features.cache import FeatureCache
from trailertagger.core.features.types import FeatureSet, ModalityFeatures
from trailertagger.devtools import mediagen

distributed = pytest.importorskip("distributed")

PROFILE = "minimal"  # real models, the fastest profile: the point here is the plumbing
N_CLIPS = 6


# -- fast: no cluster -----------------------------------------------------------------------
def test_errors_a_cluster_task_returns_survive_pickling():
    err = pickle.loads(pickle.dumps(MediaError("/a b.mp4", "no_streams", "empty")))
    assert (err.path, err.reason, err.detail, str(err)) == \
        ("/a b.mp4", "no_streams", "empty", "/a b.mp4: no_streams (empty)")
    full = pickle.loads(pickle.dumps(DiskFullError("/tmp", "x")))
    assert full.detail == "x" and full.exit_code == 5


def _fs(chash: str) -> FeatureSet:
    import numpy as np

    return FeatureSet(content_hash=chash, duration=2.0, profile=PROFILE, modalities={
        "image": ModalityFeatures(modality="image", values=np.ones((2, 4), np.float32),
                                  times=np.array([0.0, 1.0], np.float32),
                                  extractor="image.effnet_lite0", extractor_version="1",
                                  model_id="m", weights_sha256="0" * 64)})


def test_the_client_writes_the_feature_file_the_worker_computed(tmp_path):
    from trailertagger.core.jobs.cluster import RemoteExtraction, RemoteResult, _CapturingCache
    from trailertagger.core.pipeline import ExtractionResult

    chash = "sha256:" + "ab" * 32
    worker_cache = _CapturingCache(tmp_path / "elsewhere")  # the worker never writes
    fs = _fs(chash)
    worker_cache.save(fs)
    assert not (tmp_path / "elsewhere").exists() and worker_cache.saved[chash] is fs
    here = FeatureCache(tmp_path / "features")
    runner = RemoteExtraction(client=None, profile=PROFILE, device="cpu", cfg={}, cache=here)
    result = ExtractionResult(fs, None, chash, False, None, {})
    out = runner.finish(RemoteResult(result, fs))
    assert out.feature_path == here.path_for(chash) and out.feature_path.is_file()
    assert here.load(chash).modalities["image"].values.shape == (2, 4)
    with pytest.raises(MediaError):
        runner.finish(RemoteResult(error=MediaError("x.mp4", "unreadable")))


def test_a_cluster_run_forces_its_width_on_extract_whatever_the_library_says(tmp_path, monkeypatch):
    from trailertagger.core.app import processing
    from trailertagger.core.jobs import cluster
    from trailertagger.core.jobs.queue import EXTRACT, JobQueue
    from trailertagger.core.library.db import open_library

    monkeypatch.setattr(cluster, "cluster_slots", lambda address: 5)
    opts = processing.pool_options({"jobs": {"workers": 1}}, cluster="tcp://nowhere:1", device="auto")
    assert opts.workers == 5 and opts.forced_limits == {EXTRACT: 5}
    assert opts.services.endswith(":ClusterServices")
    assert opts.services_kwargs == {"address": "tcp://nowhere:1", "device": "auto"}
    lib = open_library(tmp_path / "lib.sqlite3")
    q = JobQueue(lib)
    q.set_stage_limits({EXTRACT: 1})  # a local run's choice, stored in the library
    assert q.stage_limits(defaults=opts.default_limits(), forced=opts.forced_limits)[EXTRACT] == 5
    assert q.stage_limits()[EXTRACT] == 1  # not stored
    lib.close()


def test_device_for_one_local_run_reaches_the_workers_settings():
    from trailertagger.core.app import processing

    cfg = {"jobs": {"workers": 2}, "extract": {"device": "auto", "profile": "default"}}
    opts = processing.pool_options(cfg, device="cpu")
    assert opts.services_kwargs["cfg"]["extract"] == {"device": "cpu", "profile": "default"}
    assert cfg["extract"]["device"] == "auto"  # the caller's settings are not changed
    assert "cfg" not in processing.pool_options(cfg).services_kwargs


def test_an_unreachable_scheduler_is_a_config_error():
    from trailertagger.core.errors import ConfigError
    from trailertagger.core.jobs.cluster import connect

    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        connect("tcp://127.0.0.1:9", timeout=1.0)


# -- slow: two real cluster workers -----------------------------------------------------------
@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("cluster clips ü")
    for i in range(N_CLIPS):  # tiny but real: H.264 + AAC, two scenes, music
        mediagen.make_clip(d / f"clip {i}.mp4", duration=2.0, size=(160, 120), cuts=[1.0],
                           audio="music", seed=40 + i)
    return d


@pytest.fixture(scope="module")
def dask_cluster():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, memory_limit=0)
    client = distributed.Client(cluster)
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()


def _tt(home: Path, *args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, TRAILERTAGGER_HOME=str(home))
    return subprocess.Popen([sys.executable, "-m", "trailertagger", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _library(home: Path) -> tuple[set, dict]:
    """(genre rows by file name, feature-cache rows by content hash) of a home's library."""
    con = sqlite3.connect(home / "data" / "library.sqlite3")
    try:
        genres = {(Path(p).name, g, src, round(prob, 6), bool(pos)) for p, g, src, prob, pos in con.execute(
            "select v.path, a.genre, a.source, a.probability, a.positive "
            "from genre_assignments a join videos v on v.id = a.video_id")}
        feats = {h: (prof, mods, miss) for h, prof, mods, miss in con.execute(
            "select content_hash, profile, modalities, missing from feature_cache")}
        statuses = [s for (s,) in con.execute("select status from jobs")]
    finally:
        con.close()
    assert statuses and set(statuses) == {"done"}, statuses
    return genres, feats


def _feature_files(home: Path) -> dict[str, bytes]:
    root = home / "cache" / "features"
    return {p.name: p.read_bytes() for p in root.rglob("*.npz")}


@pytest.mark.slow
def test_two_cluster_workers_tag_a_folder_like_a_local_run_even_when_one_dies(
        tmp_path, clip_folder, dask_cluster):
    cluster, client = dask_cluster
    local, remote = tmp_path / "local home", tmp_path / "cluster home"

    t0 = time.monotonic()
    p = _tt(local, "scan", str(clip_folder), "--profile", PROFILE, "--workers", "0")
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    local_s = time.monotonic() - t0

    t0 = time.monotonic()
    p = _tt(remote, "scan", str(clip_folder), "--profile", PROFILE,
            "--cluster", cluster.scheduler_address)
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and p.poll() is None and time.monotonic() < deadline:
        busy = [w for w, keys in client.processing().items()
                if any(str(k).startswith("tt-extract-") for k in keys)]
        if busy:  # a video is on that worker right now: kill the worker process outright
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed = busy[0]
        else:
            time.sleep(0.1)
    out, err = p.communicate(timeout=600)
    cluster_s = time.monotonic() - t0
    print(f"local {local_s:.1f} s, cluster {cluster_s:.1f} s (worker {killed} killed)")
    assert killed is not None, "no extraction task was seen running"
    assert p.returncode == 0, err
    assert f"{N_CLIPS} done, 0 failed" in err

    local_genres, local_feats = _library(local)
    cluster_genres, cluster_feats = _library(remote)
    assert len({g[0] for g in local_genres}) == N_CLIPS
    assert cluster_genres == local_genres
    assert cluster_feats == local_feats
    files = _feature_files(local)
    assert len(files) == N_CLIPS and _feature_files(remote) == files  # byte-identical

    # ``extract --cluster`` (no library): the same feature files, written here
    only = tmp_path / "extract home"
    p = _tt(only, "extract", str(clip_folder), "--profile", PROFILE, "--json",
            "--cluster", cluster.scheduler_address)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert out.count('"ok": true') == N_CLIPS
    assert _feature_files(only) == files


@pytest.mark.slow
def test_ctrl_c_hands_cluster_jobs_back_and_the_next_run_finishes_them(
        tmp_path, clip_folder, dask_cluster):
    cluster, client = dask_cluster
    home = tmp_path / "home"
    p = _tt(home, "scan", str(clip_folder), "--profile", PROFILE,
            "--cluster", cluster.scheduler_address)
    deadline = time.monotonic() + 300
    while p.poll() is None and time.monotonic() < deadline:
        if any(str(k).startswith("tt-extract-") for keys in client.processing().values()
               for k in keys):
            break
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    con = sqlite3.connect(home / "data" / "library.sqlite3")
    statuses = [s for (s,) in con.execute("select status from jobs")]
    con.close()
    assert "running" not in statuses and "failed" not in statuses, statuses
    assert "queued" in statuses  # handed back, not lost
    p = _tt(home, "jobs", "run", "--cluster", cluster.scheduler_address)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    genres, feats = _library(home)
    assert len({g[0] for g in genres}) == N_CLIPS and len(feats) == N_CLIPS
