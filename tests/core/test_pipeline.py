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

    def extract(self, media):
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

    def extract(self, media):
        CALLS.append(self.name)
        a = media.audio_at(8000)
        win = a[: len(a) // 8000 * 8000].reshape(-1, 8000)
        return ModalityFeatures(self.modality, np.sqrt((win**2).mean(1, keepdims=True)),
                                np.arange(len(win), dtype=float), self.name, self.version, self.model_id, "")


class Broken(FrameMeans):
    name = "test.broken"
    modality = "t_broken"

    def extract(self, media):
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
        def extract(self, media):
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
