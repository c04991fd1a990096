"""Genre heads: key-padding masks, missing modalities, sampling, and ONNX export parity.

Every architecture is built for real with random weights (no training needed to show that
padding and missing modalities are handled exactly): the property "padding never changes the
output" must hold for any weights, so random ones are the honest test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trailertagger.core.classify.batching import (
    ModalitySpec,
    arrays_from_featureset,
    input_names,
    pack_batch,
    sample_indices,
)
from trailertagger.core.classify.models import KINDS, ModelConfig, build_model, to_tensors
from trailertagger.core.features.types import FeatureSet, ModalityFeatures
from trailertagger.core.genres import GENRES

SPECS = [ModalitySpec("image", 12, 20), ModalitySpec("audio", 8, 16), ModalitySpec("asr", 6, 10)]


def _model(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(ModelConfig(kind=kind, modalities=SPECS, d_model=16, layers=2, heads=2,
                                    mlp_hidden=32, dropout=0.1))
    # non-trivial input statistics, so the standardisation is part of what is tested
    rng = np.random.default_rng(seed)
    model.set_input_stats({s.name: (rng.normal(size=s.dim), rng.uniform(0.5, 2, size=s.dim))
                           for s in SPECS})
    return model.eval()


def _items(n: int, seed: int = 0, lengths=None) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        item = {}
        for s in SPECS:
            t = lengths[i][s.name] if lengths else int(rng.integers(1, s.max_len + 1))
            item[s.name] = rng.normal(size=(t, s.dim)).astype(np.float32)
        out.append(item)
    return out


@torch.no_grad()
def _logits(model, items, **kw) -> np.ndarray:
    return model(*to_tensors(pack_batch(items, SPECS, **kw))).numpy()


@pytest.mark.random_weights
@pytest.mark.parametrize("kind", KINDS)
def test_padding_never_changes_output_random_weights(kind: str) -> None:
    model = _model(kind)
    items = _items(4, seed=1)
    alone = np.concatenate([_logits(model, [it]) for it in items])  # no padding at all
    batched = _logits(model, items)  # padded to the longest in the batch
    padded = _logits(model, items, pad_to={s.name: s.max_len for s in SPECS})  # padded to the cap
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    np.testing.assert_allclose(padded, alone, atol=1e-5)
    # garbage in padded rows must be invisible too (the mask, not zeros, hides them)
    batch = pack_batch(items, SPECS, pad_to={s.name: s.max_len for s in SPECS})
    for name in batch.modalities:
        v, m = batch.values[name], batch.masks[name]
        v[~m] = 1e3
    with torch.no_grad():
        garbage = model(*to_tensors(batch)).numpy()
    np.testing.assert_allclose(garbage, alone, atol=1e-5)


@pytest.mark.random_weights
@pytest.mark.parametrize("kind", KINDS)
def test_missing_modalities_random_weights(kind: str) -> None:
    model = _model(kind)
    items = _items(3, seed=2)
    full = _logits(model, items)
    # the same videos with audio missing: absent key, empty array, or dropped, all the same
    no_audio = [{k: v for k, v in it.items() if k != "audio"} for it in items]
    empty_audio = [{**it, "audio": np.zeros((0, 8), np.float32)} for it in items]
    dropped = np.zeros((3, len(SPECS)), dtype=bool)
    dropped[:, 1] = True
    a = _logits(model, no_audio)
    np.testing.assert_allclose(_logits(model, empty_audio), a, atol=1e-6)
    np.testing.assert_allclose(_logits(model, items, drop=dropped), a, atol=1e-6)
    assert np.abs(a - full).max() > 1e-4  # and it does matter that audio is gone
    # whatever sits in a missing modality's slot is ignored
    batch = pack_batch(items, SPECS, drop=dropped)
    batch.values["audio"][:] = 50.0
    batch.masks["audio"][:] = True
    with torch.no_grad():
        np.testing.assert_allclose(model(*to_tensors(batch)).numpy(), a, atol=1e-5)
    # a video with nothing at all gives the same finite prior in any batch
    nothing = _logits(model, [{}, {}])
    assert np.isfinite(nothing).all()
    np.testing.assert_allclose(nothing[0], nothing[1], atol=1e-6)
    mixed = _logits(model, [items[0], {}])
    np.testing.assert_allclose(mixed[1], nothing[0], atol=1e-5)
    np.testing.assert_allclose(mixed[0], full[0], atol=1e-5)
    assert nothing.shape == (2, len(GENRES))


def test_sample_indices_even_and_jittered() -> None:
    np.testing.assert_array_equal(sample_indices(5, 10), np.arange(5))
    even = sample_indices(300, 150)
    assert len(even) == 150 and (np.diff(even) > 0).all() and even[0] == 1 and even[-1] == 299
    rng = np.random.default_rng(0)
    draws = [sample_indices(1000, 100, rng) for _ in range(5)]
    for d in draws:
        assert len(d) == 100 and (np.diff(d) > 0).all() and d.min() >= 0 and d.max() < 1000
        assert ((d // 10) == np.arange(100)).all()  # one row from every bin, in time order
    assert any(not np.array_equal(draws[0], d) for d in draws[1:])  # training draws differ


def test_pack_batch_rejects_wrong_dim_and_caps_length() -> None:
    with pytest.raises(ValueError, match="audio"):
        pack_batch([{"audio": np.zeros((3, 5), np.float32)}], SPECS)
    batch = pack_batch([{"image": np.ones((100, 12), np.float32)}], SPECS)
    assert batch.values["image"].shape == (1, 20, 12)  # max_len 20, evenly subsampled
    assert batch.masks["asr"].shape == (1, 1) and not batch.present[0, 2]
    assert list(batch.feeds()) == input_names(SPECS)


def test_featureset_with_wrong_dim_is_treated_as_missing() -> None:
    def mod(name, t, d):
        return ModalityFeatures(name, np.ones((t, d)), np.arange(t), "x", "1", "m", "")
    fs = FeatureSet("h", 10.0, {"image": mod("image", 4, 12), "audio": mod("audio", 4, 99)})
    arrays = arrays_from_featureset(fs, SPECS)
    assert set(arrays) == {"image"}


@pytest.mark.random_weights
@pytest.mark.parametrize("kind", KINDS)
def test_onnx_export_parity_dynamic_axes_random_weights(kind: str, tmp_path) -> None:
    import onnxruntime as ort

    from trailertagger.core.classify.onnx_export import export_onnx

    model = _model(kind, seed=3)
    path = tmp_path / "model.onnx"
    diff = export_onnx(model, path)
    assert diff <= 1e-4
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for b, seed in ((1, 4), (7, 5), (32, 6)):
        rng = np.random.default_rng(seed)
        lengths = [{s.name: int(rng.integers(1, s.max_len + 1)) for s in SPECS} for _ in range(b)]
        items = _items(b, seed, lengths)
        if b > 1:
            items[1] = {"image": items[1]["image"]}  # some modalities missing
        batch = pack_batch(items, SPECS)
        with torch.no_grad():
            ref = torch.sigmoid(model(*to_tensors(batch))).numpy()
        got = sess.run(["probs"], batch.feeds())[0]
        assert got.shape == (b, len(GENRES))
        np.testing.assert_allclose(got, ref, atol=1e-4)
    # the maximal sequence length (positions run to max_len) also matches
    items = _items(2, 7, [{s.name: s.max_len for s in SPECS}] * 2)
    batch = pack_batch(items, SPECS)
    with torch.no_grad():
        ref = torch.sigmoid(model(*to_tensors(batch))).numpy()
    np.testing.assert_allclose(sess.run(["probs"], batch.feeds())[0], ref, atol=1e-4)


def test_providers_prefer_cuda_when_onnxruntime_gpu_offers_it() -> None:
    from trailertagger.core.runtime.onnx import choose_providers

    both = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(both) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers([]) == ["CPUExecutionProvider"]
    assert "CPUExecutionProvider" in choose_providers()  # the installed onnxruntime
