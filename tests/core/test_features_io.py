from __future__ import annotations

import numpy as np
import pytest

from trailertagger.core.features.cache import FeatureCache
from trailertagger.core.features.io import load_featureset, save_featureset
from trailertagger.core.features.types import FeatureSet, ModalityFeatures


def _mod(name: str, t: int, d: int, texts: bool = False, version: str = "1") -> ModalityFeatures:
    rng = np.random.default_rng(t)
    return ModalityFeatures(
        modality=name, values=rng.normal(size=(t, d)), times=np.arange(t) * 0.5,
        extractor=f"{name}.x", extractor_version=version, model_id=f"{name}-model",
        weights_sha256="ab" * 32, texts=[f"línea {i} ✓" for i in range(t)] if texts else None,
        labels=[f"c{i}" for i in range(3)] if not texts else None,
        scores=rng.random((t, 3)) if not texts else None,
    )


def test_roundtrip_keeps_arrays_texts_and_provenance(tmp_path):
    fs = FeatureSet("tt1:abc", 12.5, {"image": _mod("image", 7, 16), "asr": _mod("asr", 3, 8, texts=True),
                                      "ocr": _mod("ocr", 0, 8, texts=True)},
                    missing={"music": "no audio: no audio stream"}, profile="default")
    path = tmp_path / "sub dir é" / "f.npz"
    save_featureset(path, fs)
    back = load_featureset(path)
    assert back.content_hash == "tt1:abc" and back.duration == 12.5 and back.profile == "default"
    assert back.missing == fs.missing
    for k, m in fs.modalities.items():
        b = back.modalities[k]
        np.testing.assert_array_equal(b.values, m.values.astype(np.float32))
        np.testing.assert_array_equal(b.times, m.times.astype(np.float32))
        assert (b.texts, b.labels, b.model_id, b.extractor_version) == (m.texts, m.labels, m.model_id, m.extractor_version)
    assert back.modalities["ocr"].values.shape == (0, 8)
    np.testing.assert_array_equal(back.modalities["image"].scores, fs.modalities["image"].scores)
    assert not list(path.parent.glob(".tmp-*")), "temporary file left behind"


def test_interrupted_write_leaves_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "f.npz"
    save_featureset(path, FeatureSet("tt1:a", 1.0, {"image": _mod("image", 2, 4)}))

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        save_featureset(path, FeatureSet("tt1:a", 2.0, {"image": _mod("image", 5, 4)}))
    assert load_featureset(path).duration == 1.0
    assert not list(tmp_path.glob(".tmp-*"))


def test_bad_rows_are_rejected():
    with pytest.raises(ValueError):
        ModalityFeatures("x", np.zeros(5), np.zeros(5), "e", "1", "m", "s")
    with pytest.raises(ValueError):
        ModalityFeatures("x", np.zeros((5, 2)), np.zeros(4), "e", "1", "m", "s")


def test_cache_freshness_and_corrupt_file(tmp_path):
    cache = FeatureCache(tmp_path)
    fs = FeatureSet("tt1:ff00", 3.0, {"image": _mod("image", 2, 4, version="2")},
                    missing={"audio": "no audio: no audio stream", "music": "optional extractor unavailable"})
    cache.save(fs)
    got = cache.load("tt1:ff00")
    assert got is not None
    assert cache.is_fresh(got, "image", "image.x", "2")
    assert not cache.is_fresh(got, "image", "image.x", "3"), "a version bump must invalidate"
    assert cache.is_fresh(got, "audio", "audio.y", "1"), "no audio stream is a fact of the content"
    assert not cache.is_fresh(got, "music", "music.z", "1"), "a missing model must be retried"
    cache.path_for("tt1:ff00").write_bytes(b"garbage")
    assert cache.load("tt1:ff00") is None


def test_interrupted_write_leaves_neither_file_nor_temporary(tmp_path, monkeypatch):
    """Ctrl-C while the arrays are being written: the old file (if any) stays intact and no
    half-written file or temporary is left next to it."""
    import trailertagger.core.features.io as fio

    path = tmp_path / "f.npz"
    old = FeatureSet("tt1:old", 1.0, {"image": _mod("image", 2, 4)})
    save_featureset(path, old)
    real_savez = np.savez

    def interrupted(fh, **arrays):
        real_savez(fh, **dict(list(arrays.items())[:1]))
        raise KeyboardInterrupt

    monkeypatch.setattr(fio.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_featureset(path, FeatureSet("tt1:new", 2.0, {"image": _mod("image", 5, 4)}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npz"]
    assert load_featureset(path).content_hash == "tt1:old"


def test_media_problems_roundtrip(tmp_path):
    fs = FeatureSet("tt1:x", 4.0, {"image": _mod("image", 1, 4)},
                    media_problems={"video": "stream ends at 1.3 s of 4.0 s"})
    save_featureset(tmp_path / "m.npz", fs)
    assert load_featureset(tmp_path / "m.npz").media_problems == fs.media_problems
