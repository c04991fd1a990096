"""Issue 13: a pool's extractions share the cores instead of each sizing for the machine.

Fast: no models, no processes.  ``os.cpu_count`` is patched so the rule is checked on the
2-core machine of the issue and on a bigger one whatever runs the tests."""

from __future__ import annotations

import pytest

from trailertagger.core import pipeline
from trailertagger.core.jobs.queue import EXTRACT, JobQueue
from trailertagger.core.jobs.worker import PoolOptions, size_for_extraction
from trailertagger.core.library.db import open_library
from trailertagger.core.runtime import threads


@pytest.fixture(autouse=True)
def whole_machine():
    """Every test starts and ends with no CPU share set (the process-wide default)."""
    threads.set_cpu_share(None)
    yield
    threads.set_cpu_share(None)


def cores(monkeypatch, n: int) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: n)


def test_share_is_the_cores_divided_by_concurrent_extractions(monkeypatch) -> None:
    cores(monkeypatch, 2)
    assert threads.share_for(1) == 2
    assert threads.share_for(2) == 1
    assert threads.share_for(4) == 1  # more extractions than cores: one thread each
    assert threads.share_for(2, cores=16) == 8
    assert threads.share_for(3, cores=8) == 2
    assert threads.share_for(0, cores=4) == 4


def test_pool_options_give_a_share_only_when_extractions_run_side_by_side(monkeypatch) -> None:
    cores(monkeypatch, 2)
    assert PoolOptions(workers=1).extraction_share() is None  # the single-worker path
    assert PoolOptions(workers=1, stage_limits={EXTRACT: 4}).extraction_share() is None
    two = PoolOptions(workers=2, stage_limits={EXTRACT: 2})
    assert two.extraction_share() == 1
    # the effective limits (the library's, forced ones) win over the options' own
    assert two.extraction_share({EXTRACT: 1}) is None
    assert PoolOptions(workers=4, stage_limits={EXTRACT: 2}).extraction_share(cores=16) == 8
    assert PoolOptions(workers=4).extraction_share({EXTRACT: 4}, cores=16) == 4


def test_default_extract_limit_for_two_workers_shares_the_cores(monkeypatch) -> None:
    cores(monkeypatch, 2)
    opts = PoolOptions(workers=2)
    assert opts.default_limits()[EXTRACT] == 2
    assert opts.extraction_share() == 1
    assert PoolOptions(workers=1).default_limits()[EXTRACT] == 1
    assert PoolOptions(workers=4).default_limits()[EXTRACT] == 2
    assert PoolOptions(workers=2, stage_limits={EXTRACT: 1}).default_limits()[EXTRACT] == 1


def test_workers_auto_is_one_per_core_up_to_four_and_the_default(monkeypatch, tmp_path) -> None:
    from trailertagger.core.config import DEFAULTS
    from trailertagger.core.jobs.worker import AUTO_MAX_WORKERS, resolve_workers

    assert DEFAULTS["jobs"]["workers"] == "auto"
    for n, want in ((1, 1), (2, 2), (3, 3), (8, AUTO_MAX_WORKERS), (64, AUTO_MAX_WORKERS)):
        cores(monkeypatch, n)
        assert resolve_workers("auto") == want
        assert PoolOptions.from_config({"jobs": {"workers": "auto"}}).workers == want
        assert PoolOptions.from_config({}).workers == want  # the default
    cores(monkeypatch, 2)
    assert resolve_workers(0) == 0 and resolve_workers(3) == 3  # numbers as given
    opts = PoolOptions.from_config({})
    assert opts.default_limits()[EXTRACT] == 2 and opts.extraction_share() == 1
    # the memory check at pool start still starts fewer when they would not fit
    from trailertagger.core.runtime.memory import RESERVE_MB, workers_that_fit

    assert workers_that_fit(2, 1500, available_mb=RESERVE_MB + 2000)[0] == 1
    # ``status`` says how many a pool would start, and why
    from trailertagger.core.app import LibrarySession

    with LibrarySession.open(tmp_path / "lib.sqlite3", {"jobs": {"workers": "auto"}}) as app:
        n, note = app.worker_count()
        assert n in (1, 2) and note.startswith("auto: one per core, 2 here, at most 4")
        assert app.status().to_dict()["workers"] == n
    with LibrarySession.open(tmp_path / "lib.sqlite3", {"jobs": {"workers": 1}}) as app:
        assert app.worker_count() == (1, "")
    # ``--workers auto`` on the command line means the same
    import argparse

    from trailertagger.cli.common import workers_arg

    assert workers_arg("auto") == 2 and workers_arg("0") == 0 and workers_arg("3") == 3
    with pytest.raises(argparse.ArgumentTypeError):
        workers_arg("-1")


def test_lanes_and_threads_follow_the_share_and_settings_still_win(monkeypatch) -> None:
    cores(monkeypatch, 2)
    assert pipeline.plan_threads({}) == (2, 1)  # whole machine: as before
    threads.set_cpu_share(1)
    assert pipeline.plan_threads({}) == (1, 1)  # two extractions on 2 cores: one lane each
    assert pipeline.plan_threads({"lanes": 2}) == (2, 1)  # explicit lanes win
    assert pipeline.plan_threads({"lanes": 1, "threads": 2}) == (1, 2)  # explicit threads too
    cores(monkeypatch, 16)
    threads.set_cpu_share(8)
    assert pipeline.plan_threads({}) == (pipeline.MAX_LANES, 2)
    assert pipeline.plan_threads({}, cores=3) == (3, 1)


def test_a_session_replans_for_each_video(monkeypatch, tmp_path) -> None:
    from trailertagger.core.features.cache import FeatureCache

    cores(monkeypatch, 2)
    s = pipeline.ExtractionSession("minimal", {"extract": {}, "media": {}},
                                   cache=FeatureCache(tmp_path / "cache"))
    assert (s.lanes, s.threads) == (2, 1)
    threads.set_cpu_share(1)
    with pytest.raises(Exception):  # noqa: B017 - not a video: only the planning matters here
        s.run(tmp_path / "missing.mp4")
    assert (s.lanes, s.threads) == (1, 1)


class _Ctx:
    thread_count = 0


class _Stream:
    def __init__(self) -> None:
        self.codec_context = _Ctx()
        self.thread_type = "NONE"


def test_decode_threads_auto_for_the_whole_machine_else_the_share(monkeypatch) -> None:
    cores(monkeypatch, 2)
    st = _Stream()
    threads.set_decode_threads(st)
    assert (st.thread_type, st.codec_context.thread_count) == ("AUTO", 0)  # ffmpeg's auto
    threads.set_cpu_share(1)
    st = _Stream()
    threads.set_decode_threads(st)
    assert (st.thread_type, st.codec_context.thread_count) == ("AUTO", 1)
    threads.set_cpu_share(2)  # a "share" of the whole machine changes nothing
    st = _Stream()
    threads.set_decode_threads(st)
    assert st.codec_context.thread_count == 0


def test_decode_threads_on_a_real_stream(monkeypatch, real_clips) -> None:
    import av

    cores(monkeypatch, 4)
    threads.set_cpu_share(2)
    with av.open(str(real_clips["bbb"])) as c:
        stream = c.streams.video[0]
        threads.set_decode_threads(stream)
        assert stream.codec_context.thread_count == 2
        assert next(iter(c.decode(stream))) is not None


def test_native_pools_are_limited_and_can_be_given_back(monkeypatch) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    cv2 = pytest.importorskip("cv2")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)  # restored by monkeypatch afterwards
    before_cv2 = cv2.getNumThreads()
    before = {p["prefix"]: p["num_threads"] for p in threadpoolctl.threadpool_info()}
    try:
        threads.limit_native_pools(1)
        assert cv2.getNumThreads() == 1
        assert all(p["num_threads"] == 1 for p in threadpoolctl.threadpool_info())
        assert threads.os.environ["OPENBLAS_NUM_THREADS"] == "1"
    finally:
        cv2.setNumThreads(before_cv2)
        threadpoolctl.threadpool_limits(limits=before)
    assert cv2.getNumThreads() == before_cv2
    assert {p["prefix"]: p["num_threads"] for p in threadpoolctl.threadpool_info()} == before


def test_a_worker_resizes_when_the_library_limit_changes(monkeypatch, tmp_path) -> None:
    cores(monkeypatch, 2)
    applied: list[int] = []
    monkeypatch.setattr("trailertagger.core.jobs.worker.limit_native_pools", applied.append)
    lib = open_library(tmp_path / "lib.sqlite3")
    try:
        queue = JobQueue(lib)
        opts = PoolOptions(workers=2)
        defaults = opts.default_limits()
        share = size_for_extraction(opts, queue, defaults, None)
        assert share == 1 and threads.cpu_share() == 1 and applied == [1]
        assert size_for_extraction(opts, queue, defaults, share) == 1 and applied == [1]
        queue.set_stage_limits({EXTRACT: 1})  # e.g. from the GUI's settings, at run time
        share = size_for_extraction(opts, queue, defaults, share)
        assert share is None and threads.cpu_share() == 2 and applied == [1, 2]
        # one worker never touches anything
        one = PoolOptions(workers=1)
        queue.set_stage_limits({EXTRACT: 2})
        assert size_for_extraction(one, queue, one.default_limits(), None) is None
        assert applied == [1, 2]
    finally:
        lib.close()
