"""Training on small planted-signal data: learns, keeps the best epoch, resumes, is deterministic.

Planted-signal trailers (``devtools.synthetic``) carry genre evidence whose Bayes score is
known, so "training improves mAP" is checked against the constant (label-frequency) floor.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from trailertagger.core.classify.card import load_card
from trailertagger.core.classify.runtime import OnnxHead
from trailertagger.core.classify.train import (
    BEST_WEIGHTS,
    LAST_CKPT,
    TrainConfig,
    export_head,
    fit,
    load_trained,
    positive_weights,
    predict_probs,
)
from trailertagger.core.features.types import FeatureSet, ModalityFeatures
from trailertagger.core.genres import GENRES
from trailertagger.devtools.synthetic import PlantedData, make_task


@pytest.fixture(scope="module")
def data():
    torch.set_num_threads(1)
    task = make_task("spread")
    return PlantedData(task, 200, seed=1), PlantedData(task, 100, seed=2)


def _cfg(**kw) -> TrainConfig:
    base = dict(model="mlp", epochs=3, d_model=16, layers=1, heads=2, mlp_hidden=64, batch_size=32,
                lr=3e-3, seed=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("kind", ["mlp", "single", "multi"])
def test_training_learns_and_keeps_best_epoch(kind, data, tmp_path) -> None:
    train, val = data
    events = []
    result = fit(train, val, _cfg(model=kind, checkpoint_dir=str(tmp_path)), progress=events.append)
    maps = [h["val_macro_map"] for h in result.history]
    assert len(maps) == 3
    constant = float(val.labels.mean(0).mean())
    assert max(maps) > constant + 0.1, (maps, constant)
    assert result.best_epoch == int(np.argmax(maps))
    # the returned model is the best epoch's, and its metrics are recomputed from it
    assert result.metrics["macro_map"] == pytest.approx(max(maps), abs=1e-6)
    assert set(result.thresholds) == set(GENRES)
    assert all(0 < t < 1 for t in result.thresholds.values())
    assert [e.kind for e in events].count("epoch") == 3 and events[0].kind == "step"
    assert (tmp_path / BEST_WEIGHTS).exists() and (tmp_path / LAST_CKPT).exists()
    reloaded = load_trained(tmp_path)
    np.testing.assert_allclose(reloaded.predict([val[i][0] for i in range(8)]),
                               result.predict([val[i][0] for i in range(8)]), atol=1e-6)


def test_deterministic_with_seed(data) -> None:
    train, val = data
    a = fit(train, val, _cfg(epochs=2, model="single"))
    b = fit(train, val, _cfg(epochs=2, model="single"))
    c = fit(train, val, _cfg(epochs=2, model="single", seed=1))
    pa, pb, pc = (predict_probs(r.model, val) for r in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert np.abs(pa - pc).max() > 1e-4


def test_resume_continues_exactly(data, tmp_path) -> None:
    train, val = data
    full = fit(train, val, _cfg(epochs=4, model="multi"))

    class Stop(Exception):
        pass

    def interrupt(ev) -> None:
        if ev.kind == "epoch" and ev.epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        fit(train, val, _cfg(epochs=4, model="multi", checkpoint_dir=str(tmp_path)), progress=interrupt)
    # interrupted during epoch 1's report: the checkpoint holds epoch 0, nothing half-written
    assert torch.load(tmp_path / LAST_CKPT, weights_only=True)["epoch"] == 0
    seen = []
    resumed = fit(train, val, _cfg(epochs=4, model="multi", checkpoint_dir=str(tmp_path)),
                  progress=lambda ev: seen.append(ev.epoch))
    assert min(seen) == 1  # did not start over
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2, 3]
    np.testing.assert_allclose(predict_probs(resumed.model, val), predict_probs(full.model, val), atol=1e-6)
    assert resumed.best_epoch == full.best_epoch
    # other settings in the same folder are refused, not silently mixed
    with pytest.raises(ValueError, match="other settings"):
        fit(train, val, _cfg(epochs=4, model="multi", lr=1e-3, checkpoint_dir=str(tmp_path)))
    # --no-resume starts over
    fresh = fit(train, val, _cfg(epochs=1, model="multi", lr=1e-3, checkpoint_dir=str(tmp_path), resume=False))
    assert [h["epoch"] for h in fresh.history] == [0]


def test_positive_weights() -> None:
    y = np.zeros((100, 21), dtype=np.float32)
    y[:50, 0] = 1
    y[:1, 1] = 1
    w = positive_weights(y, TrainConfig())
    assert w[0] == pytest.approx(1.0) and w[1] == pytest.approx(30.0)  # 99 capped at 30
    assert w[2] == 1.0  # no positives: neutral
    assert positive_weights(y, TrainConfig(pos_weight=None)) is None
    assert (positive_weights(y, TrainConfig(pos_weight=3.0)) == 3.0).all()


def _featureset(rng, key: str) -> FeatureSet:
    def mod(name, t, d):
        return ModalityFeatures(name, rng.normal(size=(t, d)), np.arange(t), f"{name}.x", "2", f"{name}-w", "")
    mods = {"image": mod("image", int(rng.integers(2, 9)), 10)}
    if rng.random() < 0.7:
        mods["audio"] = mod("audio", int(rng.integers(1, 6)), 6)
    return FeatureSet(key, 5.0, mods, profile="default")


def test_featuresets_train_export_and_onnx_head(tmp_path) -> None:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(48):
        fs = _featureset(rng, f"v{i}")
        y = np.zeros(21, dtype=np.float32)
        y[i % 3] = 1
        fs.modalities["image"].values[:, 0] += 2.0 * (i % 3)  # a learnable cue
        samples.append((fs, y))
    result = fit(samples[:32], samples[32:], _cfg(model="single", epochs=2))
    assert result.provenance["image"] == {"extractor": "image.x", "extractor_version": "2",
                                          "model_id": "image-w"}
    assert result.profile == "default"
    head_dir = export_head(result, tmp_path / "head", {"dataset": "unit"})
    card = load_card(head_dir)
    assert card.kind == "onnx" and card.arch == "single" and card.genres == list(GENRES)
    assert [m.name for m in card.modalities] == ["audio", "image"]
    assert card.onnx["parity_max_abs"] <= 1e-4
    assert card.extra["dataset"] == "unit" and card.training["n_train"] == 32
    assert json.loads((head_dir / "card.json").read_text())["metrics"]["macro_map"] is not None
    head = OnnxHead(head_dir)
    fss = [s[0] for s in samples[32:]]
    got = np.array([[p[g] for g in GENRES] for p in head.predict_many(fss)])
    np.testing.assert_allclose(got, result.predict(fss), atol=1e-4)
    assert head.predict(fss[0]).keys() == set(GENRES)
    other = _featureset(rng, "x")
    other.modalities["image"].extractor_version = "3"
    assert any("v3" in n for n in head.describe_mismatch(other))


def test_json_files_are_replaced_whole(tmp_path) -> None:
    from trailertagger.core.classify.card import write_json_atomic

    path = tmp_path / "result.json"
    write_json_atomic(path, {"map": float("nan"), "n": np.int64(3)})
    assert json.loads(path.read_text(encoding="utf-8")) == {"map": None, "n": 3}
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text(encoding="utf-8")) == {"map": None, "n": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temp file left behind
