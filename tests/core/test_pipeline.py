"""The pipeline's own logic (cache reuse, version invalidation, missing modalities, failures)
with small deterministic extractors over real decoded media."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from trailertagger.core.errors import MediaError, ModelMissingError
from trailertagger.core.extractors import base
from trailertagger.core.extractors.base import ExtractorBase, Needs
from trailertagger.core.features.types import ModalityFeatures
from trailertagger.core.pipeline import ExtractionSession

CALLS: list[str] = []


class FrameMeans(ExtractorBase):
    """Mean colour of each scene frame: a real function of the decoded frames."""

    name = "test.frames"
    modality = "t_frames"
    version = "1"
    needs = Needs(frames=True)
    dim = 3

    def _load(self, store, device):
        self.model_id = "frame-means"

    def extract(self, media, cancel=None):
        CALLS.append(self.name)
        v = np.stack([f.image.reshape(-1, 3).mean(0) for f in media.frames])
        return ModalityFeatures(self.modality, v, [f.time for f in media.frames], self.name,
                                self.version, self.model_id, "")


class AudioRms(ExtractorBase):
    name = "test.audio"
    modality = "t_audio"
    version = "1"
    needs = Needs(audio_rate=8000)
    dim = 1

    def _load(self, store, device):
        self.model_id = "rms"

    def extract(self, media, cancel=None):
        CALLS.append(self.name)
        a = media.audio_at(8000)
        win = a[: len(a) // 8000 * 8000].reshape(-1, 8000)
        return ModalityFeatures(self.modality, np.sqrt((win**2).mean(1, keepdims=True)),
                                np.arange(len(win), dtype=float), self.name, self.version, self.model_id, "")


class Broken(FrameMeans):
    name = "test.broken"
    modality = "t_broken"

    def extract(self, media, cancel=None):
        raise RuntimeError("kaboom")


class Unavailable(FrameMeans):
    name = "test.unavailable"
    modality = "t_unavail"

    def _load(self, store, device):
        raise ModelMissingError("weights for test model are not installed")


NAMES = ["test.frames", "test.audio", "test.broken", "test.unavailable"]


@pytest.fixture(autouse=True)
def _registry(monkeypatch):
    """Test extractors registered the public way (a decorator), removed afterwards."""
    for cls in (FrameMeans, AudioRms, Broken, Unavailable):
        base.register_extractor(cls, optional=cls is Unavailable)
    CALLS.clear()
    yield
    for cls in (FrameMeans, AudioRms, Broken, Unavailable):
        base.unregister_extractor(cls.name)


def session(**kw):
    return ExtractionSession("default", extractors=kw.pop("extractors", NAMES), store=object(), **kw)


def test_extracts_caches_and_reuses(real_clips, tmp_path):
    clip = tmp_path / "a clip ✓.mp4"
    shutil.copyfile(real_clips["speech"], clip)
    r1 = session().run(clip)
    assert not r1.from_cache and r1.feature_path and r1.feature_path.exists()
    assert r1.features.modalities["t_frames"].length >= 1
    assert r1.features.modalities["t_audio"].length >= 1
    assert "kaboom" in r1.missing["t_broken"]
    assert "not installed" in r1.missing["t_unavail"]
    assert sorted(CALLS) == ["test.audio", "test.frames"]

    CALLS.clear()
    moved = tmp_path / "moved.mp4"
    clip.rename(moved)
    r2 = session(extractors=["test.frames", "test.audio"]).run(moved)
    assert r2.from_cache and CALLS == [], "a renamed file must reuse its cached features"
    np.testing.assert_array_equal(r2.features.modalities["t_frames"].values,
                                  r1.features.modalities["t_frames"].values)


def test_version_bump_recomputes_only_that_modality(real_clips, monkeypatch):
    session(extractors=["test.frames", "test.audio"]).run(real_clips["speech"])
    CALLS.clear()
    monkeypatch.setattr(AudioRms, "version", "2")
    r = session(extractors=["test.frames", "test.audio"]).run(real_clips["speech"])
    assert CALLS == ["test.audio"]
    assert r.features.modalities["t_audio"].extractor_version == "2"


def test_video_only_file_records_missing_audio(bad_files):
    r = session(extractors=["test.frames", "test.audio"]).run(bad_files["video_only"])
    assert r.features.modalities["t_frames"].length >= 1
    assert r.missing["t_audio"].startswith("no audio")


def test_audio_only_file_records_missing_video(bad_files):
    r = session(extractors=["test.frames", "test.audio"]).run(bad_files["audio_only"])
    assert r.features.modalities["t_audio"].length >= 1
    assert r.missing["t_frames"].startswith("no video")


@pytest.mark.parametrize("kind", ["zero_length", "random_bytes", "not_found"])
def test_unusable_files_raise_media_error(bad_files, kind):
    with pytest.raises(MediaError):
        session().run(bad_files[kind])


def test_read_only_cache_still_returns_features(real_clips, tmp_path, monkeypatch):
    from trailertagger.core.features.cache import FeatureCache

    cache = FeatureCache(tmp_path / "cache")

    def refuse(fs):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(cache, "save", refuse)
    r = session(extractors=["test.frames"], cache=cache).run(real_clips["speech"])
    assert r.feature_path is None and "not written" in r.warnings[0]
    assert r.features.modalities["t_frames"].length >= 1


def test_required_extractor_missing_is_an_error(real_clips):
    base.register_extractor(Unavailable, optional=False)
    with pytest.raises(ModelMissingError):
        session(extractors=["test.unavailable"]).run(real_clips["speech"])


def test_file_changed_during_processing(real_clips, tmp_path):
    clip = tmp_path / "c.mp4"
    shutil.copyfile(real_clips["speech"], clip)

    class Toucher(FrameMeans):
        def extract(self, media, cancel=None):
            with open(clip, "ab") as fh:
                fh.write(b"\0")
            return super().extract(media)

    s = session(extractors=["test.frames"])
    s._instances["test.frames"] = Toucher()
    with pytest.raises(MediaError) as err:
        s.run(clip)
    assert err.value.reason == "changed_during_processing"


def test_thread_plan_from_settings(monkeypatch):
    from trailertagger.core import pipeline

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert pipeline.plan_threads({}) == (2, 1)  # a lane per core, one thread each
    assert pipeline.plan_threads({"lanes": 1}) == (1, 2)  # sequential: all cores per model
    assert pipeline.plan_threads({"lanes": 3, "threads": 2}) == (3, 2)
    monkeypatch.setattr("os.cpu_count", lambda: 16)
    assert pipeline.plan_threads({}) == (pipeline.MAX_LANES, 4)


def test_parallel_lanes_give_the_same_features_as_one_lane(real_clips, tmp_path):
    from trailertagger.core.features.cache import FeatureCache

    names = ["test.frames", "test.audio", "test.broken"]
    results = {}
    for lanes in (1, 2):
        s = session(extractors=names, cfg={"extract": {"lanes": lanes}, "media": {}},
                    cache=FeatureCache(tmp_path / f"cache {lanes}"))
        assert s.lanes == lanes
        results[lanes] = s.run(real_clips["speech"])
    r1, r2 = results[1], results[2]
    assert not r2.from_cache and r2.missing == r1.missing and "kaboom" in r2.missing["t_broken"]
    assert set(r2.timings) >= set(names)
    for mod in ("t_frames", "t_audio"):
        np.testing.assert_array_equal(r2.features.modalities[mod].values,
                                      r1.features.modalities[mod].values)


class SplitFrames(FrameMeans):
    """FrameMeans that divides into one part per frame (``SplitExtractor``); each part
    sleeps a little so parts in two lanes overlap, and records how many ran at once."""

    name = "test.split"
    modality = "t_split"
    fail_on: int | None = None
    running = 0
    most_at_once = 0
    calls: list[str] = []

    def split(self, media):
        return list(range(len(media.frames)))

    def extract_part(self, media, part, cancel=None):
        import threading
        import time

        cls = SplitFrames
        with _LOCK:
            cls.running += 1
            cls.most_at_once = max(cls.most_at_once, cls.running)
        try:
            cls.calls.append(threading.current_thread().name)
            time.sleep(0.05)
            if part == cls.fail_on:
                raise RuntimeError(f"part {part} broke")
            return media.frames[part].image.reshape(-1, 3).mean(0), media.frames[part].time
        finally:
            with _LOCK:
                cls.running -= 1

    def join(self, media, partials, cancel=None):
        return ModalityFeatures(self.modality, np.stack([v for v, _ in partials]),
                                [t for _, t in partials], self.name, self.version, self.model_id, "")

    def extract(self, media, cancel=None):
        return self.join(media, [self.extract_part(media, p, cancel) for p in self.split(media)], cancel)


_LOCK = __import__("threading").Lock()


@pytest.mark.parametrize("fail_on", [None, 1])
def test_a_divisible_extractor_runs_its_parts_in_every_lane_with_the_same_output(
        real_clips, tmp_path, monkeypatch, fail_on):
    """Parts fill the free lanes (two at once here), the joined output equals one lane's,
    and a failing part fails that modality alone, with its reason."""
    from trailertagger.core.features.cache import FeatureCache

    base.register_extractor(SplitFrames)
    monkeypatch.setattr(SplitFrames, "fail_on", fail_on)
    results = {}
    try:
        for lanes in (1, 2):
            monkeypatch.setattr(SplitFrames, "most_at_once", 0)
            monkeypatch.setattr(SplitFrames, "calls", [])
            s = session(extractors=["test.split", "test.frames"], cache=FeatureCache(tmp_path / f"c{lanes}"),
                        cfg={"extract": {"lanes": lanes}, "media": {}})
            results[lanes] = s.run(real_clips["cuts"])
            if lanes == 2:
                assert SplitFrames.most_at_once == 2, "the parts never ran side by side"
                assert len(set(SplitFrames.calls)) == 2
    finally:
        base.unregister_extractor(SplitFrames.name)
    r1, r2 = results[1], results[2]
    assert len(r2.features.modalities["t_frames"].times) >= 3  # several frames, so several parts
    np.testing.assert_array_equal(r2.features.modalities["t_frames"].values,
                                  r1.features.modalities["t_frames"].values)
    if fail_on is None:
        np.testing.assert_array_equal(r2.features.modalities["t_split"].values,
                                      r1.features.modalities["t_split"].values)
        np.testing.assert_array_equal(r2.features.modalities["t_split"].values,
                                      r2.features.modalities["t_frames"].values)
        assert "test.split" in r2.timings
    else:
        assert "t_split" not in r2.features.modalities
        assert r2.missing["t_split"] == r1.missing["t_split"] == "extractor test.split failed: part 1 broke"


class Chunked(FrameMeans):
    """Works in 50 ms chunks for up to 30 s, checking the cancel token between chunks."""

    name = "test.chunked"
    modality = "t_chunked"
    started = None  # set per test: a threading.Event

    def extract(self, media, cancel=None):
        import time

        CALLS.append(self.name)
        if Chunked.started is not None:
            Chunked.started.set()
        for _ in range(600):
            if cancel is not None:
                cancel.raise_if_cancelled()
            time.sleep(0.05)
        return super().extract(media)


@pytest.mark.parametrize("lanes", [1, 2])
def test_cancel_during_an_extractor_stops_the_run_and_writes_nothing(real_clips, tmp_path, monkeypatch,
                                                                      lanes):
    import threading
    import time

    from trailertagger.core.errors import Cancelled
    from trailertagger.core.features.cache import FeatureCache
    from trailertagger.core.media.identity import content_hash
    from trailertagger.core.progress import CancelToken

    base.register_extractor(Chunked)
    monkeypatch.setattr(Chunked, "started", threading.Event())
    cache = FeatureCache(tmp_path / "cache")
    s = session(extractors=["test.frames", "test.chunked"], cache=cache,
                cfg={"extract": {"lanes": lanes}, "media": {}})
    token = CancelToken()
    cancelled_at: list[float] = []

    def cancel_once_started() -> None:
        assert Chunked.started.wait(60)
        time.sleep(0.2)
        cancelled_at.append(time.monotonic())
        token.cancel("stop")

    t = threading.Thread(target=cancel_once_started)
    t.start()
    try:
        with pytest.raises(Cancelled, match="stop"):
            s.run(real_clips["speech"], cancel=token)
        waited = time.monotonic() - cancelled_at[0]
    finally:
        t.join()
        base.unregister_extractor(Chunked.name)
    assert waited < 2.0, f"the run took {waited:.2f} s to notice the cancel"
    assert cache.load(content_hash(real_clips["speech"])) is None  # nothing half-written


def test_cancel_before_the_run_raises_before_decoding(real_clips):
    from trailertagger.core.errors import Cancelled
    from trailertagger.core.progress import CancelToken

    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        session(extractors=["test.frames"]).run(real_clips["speech"], cancel=token)
    assert CALLS == []


def test_job_stage_view_of_the_cache_keeps_media_problems(real_clips, tmp_path, monkeypatch):
    """The one freshness rule: the queue's probe stage (``DefaultServices``) and the
    pipeline agree on what is fresh, and both keep ``media_problems``."""
    from trailertagger.core.features.cache import FeatureCache
    from trailertagger.core.jobs.stages import DefaultServices
    from trailertagger.core.pipeline import profile_view, stale_extractors

    monkeypatch.setitem(base.PROFILES, "test", ("test.frames", "test.audio"))
    cache = FeatureCache(tmp_path / "cache")
    monkeypatch.setattr(DefaultServices, "_cache", lambda self: cache)
    r = ExtractionSession("test", store=object(), cache=cache, cfg={"extract": {}, "media": {}}).run(
        real_clips["speech"])
    fs = cache.load(r.content_hash)
    fs.media_problems = {"audio": "truncated at 1.0 s"}
    cache.save(fs)
    svc = DefaultServices(cfg={"extract": {}})
    assert svc.features_cached(r.content_hash, "test")
    assert stale_extractors(cache.load(r.content_hash), ["test.frames", "test.audio"]) == []
    view = svc.load_features(r.content_hash, "test")
    assert view.media_problems == {"audio": "truncated at 1.0 s"}
    same = profile_view(cache.load(r.content_hash), ["test.frames", "test.audio"], "test")
    assert sorted(view.modalities) == sorted(same.modalities) == ["t_audio", "t_frames"]
    assert view.media_problems == same.media_problems and view.profile == same.profile == "test"
    monkeypatch.setattr(AudioRms, "version", "2")
    assert not svc.features_cached(r.content_hash, "test")
    assert stale_extractors(cache.load(r.content_hash), ["test.frames", "test.audio"]) == ["test.audio"]


def test_cached_excerpts_serve_only_the_plan_the_settings_choose_now(tmp_path, monkeypatch):
    """A film read as excerpts is read again when the excerpt settings or the way excerpts are
    read (plan version) change, or when the settings now ask for the whole file; a whole-file
    read serves every later plan, and unchanged settings reuse the cache."""
    from trailertagger.core.config import DEFAULTS
    from trailertagger.core.features.cache import FeatureCache
    from trailertagger.core.media import plan
    from trailertagger.devtools import mediagen

    clip = tmp_path / "long film é.mp4"
    mediagen.make_clip(clip, duration=80.0, size=(96, 64), fps=12,
                       cuts=[k * 4.0 for k in range(1, 20)], audio="music", seed=3)
    cache = FeatureCache(tmp_path / "features")
    names = ["test.frames", "test.audio"]

    def run(**media):
        CALLS.clear()
        cfg = {"media": {**DEFAULTS["media"], "full_max_s": 60.0, "excerpt_count": 3,
                         "excerpt_s": 4.0, **media}}
        r = ExtractionSession("default", cfg, store=object(), cache=cache, extractors=names).run(clip)
        return r, r.features.provenance["plan"]

    r, p = run()
    assert not r.from_cache and p["kind"] == "excerpts" and p["params"]["excerpt_count"] == 3
    assert run()[0].from_cache and CALLS == []  # same settings: the cache serves
    r, p = run(excerpt_count=4)
    assert not r.from_cache and sorted(CALLS) == sorted(names) and len(p["excerpts"]) == 4
    monkeypatch.setattr(plan, "PLAN_VERSION", plan.PLAN_VERSION + 1)  # excerpts read anew
    r, p = run(excerpt_count=4)
    assert not r.from_cache and p["version"] == plan.PLAN_VERSION
    r, p = run(full_max_s=120.0)  # the settings now ask for the whole file
    assert not r.from_cache and p["kind"] == "full"
    r, p = run(excerpt_count=5)  # a whole read is the reference every excerpt plan approximates
    assert r.from_cache and CALLS == [] and p["kind"] == "full"


def test_plan_rule_for_recorded_plans():
    from trailertagger.core.config import DEFAULTS
    from trailertagger.core.media.plan import PLAN_VERSION, choose_plan, serves

    cfg = {**DEFAULTS["media"], "full_max_s": 60.0}
    rec = choose_plan(600.0, cfg).to_dict()
    assert rec["kind"] == "excerpts" and serves(rec, cfg)
    assert serves(None, cfg) and serves({}, cfg)  # from before plans: every one a whole read
    assert not serves({**rec, "version": PLAN_VERSION - 1}, cfg)
    assert not serves(rec, {**cfg, "excerpt_s": cfg["excerpt_s"] + 1})
    assert not serves(rec, {**cfg, "full_max_s": 900.0})
    assert serves(rec, {**cfg, "subtitle_max_lines": 7})  # not a setting of the plan
    assert serves(choose_plan(600.0, {**cfg, "full_max_s": 900.0}).to_dict(), cfg)
