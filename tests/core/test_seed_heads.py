"""``heads import-seed``: the authors' checkpoints -> ONNX heads with the authors' outputs.

Reference (``tests/fixtures/seed/classifiers.npz``): a scratch script (not committed) fetched
serkansulun/movie-genre-classification (commit caac031) into /tmp, and for each config of
``seed_support.PARITY_CONFIGS`` (their ``config.py`` lengths and dimensions, small
``d_model``): built the model with their ``classifiers.init_model``, took its state-dict key
shapes, loaded ``seeded_state_dict(shapes, 100 + i)`` with ``strict=True``, prepared
``parity_items(cfg, 200 + i)`` the way their ``dataset.py`` does (min-max and/or
standardisation with the real ``stats.pt`` numbers on real rows, ``np.pad`` to the length,
``round(linspace)`` subsampling of longer sequences, zeros for a missing feature), ran the
model in eval mode and saved the logits and the key shapes.  The test rebuilds the same
weights from the shapes and seed, saves them the way their trainer does (``model.pt`` state
dict, ``config.pt`` dict with ``pathlib`` paths and a ``torch.device``), converts them, and
compares ONNX Runtime's probabilities with ``sigmoid(reference logits)``.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
import torch

from tests.core.seed_support import (
    FIXTURES,
    PARITY_CONFIGS,
    make_samples,
    parity_items,
    real_stats,
    seeded_state_dict,
    their_config,
    write_seed_csv,
    write_seed_pickle,
    write_seed_splits,
)
from trailertagger.cli.main import main
from trailertagger.core.classify.card import load_card
from trailertagger.core.classify.runtime import OnnxHead
from trailertagger.core.classify.seed_heads import build_seed_head, import_seed_heads
from trailertagger.core.errors import ConfigError
from trailertagger.core.features.seed_format import SEED_TO_MODALITY
from trailertagger.core.features.seed_import import import_seed_features

pytestmark = pytest.mark.random_weights

REF = np.load(FIXTURES / "classifiers.npz")


def _shapes(name: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v) for k, v in json.loads(bytes(REF[f"{name}.shapes"]).decode()).items()}


def _write_checkpoint(folder: pathlib.Path, name: str, file_name: str, index: int) -> dict:
    cfg = their_config(name)
    state = seeded_state_dict(_shapes(name), 100 + index)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / f"{file_name}.pt")
    saved = dict(cfg, device=torch.device("cpu"), output_dir=pathlib.Path("classification/output/x"),
                 restart_dir=None, lr=1e-5, note="None")
    torch.save(saved, folder / f"{file_name}_config.pt")
    return cfg


def _our_items(cfg: dict, index: int) -> list[dict[str, np.ndarray]]:
    out = []
    for item in parity_items(cfg, 200 + index):
        out.append({SEED_TO_MODALITY[f]: (np.asarray(x, dtype=np.float32) if len(x) else
                                          np.zeros((0, cfg["feature_dims"][f]), np.float32))
                    for f, x in item.items()})
    return out


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_random_weights_released_layouts_convert_and_match_the_authors(tmp_path):
    src = tmp_path / "zenodo"
    names = list(PARITY_CONFIGS)
    cfgs = {n: _write_checkpoint(src, n, n, i) for i, n in enumerate(names[:3])}
    results = import_seed_heads(src, tmp_path / "heads", stats=FIXTURES / "stats.json")
    assert [r.name for r in results] == names[:3]
    for i, r in enumerate(results):
        assert r.parity <= 1e-4 and not r.thresholds_tuned
        head = OnnxHead(r.head_dir, providers=["CPUExecutionProvider"])
        assert head.sampling == "linspace"
        probs = head.predict_arrays(_our_items(cfgs[r.name], i))
        ref = _sigmoid(REF[f"{r.name}.logits"])
        np.testing.assert_allclose(probs, ref, atol=1e-4, rtol=0)
        card = load_card(r.head_dir)
        assert card.genres == sorted(card.genres) and card.profile == "seed"
        assert [m.name for m in card.modalities] == [SEED_TO_MODALITY[f] for f in cfgs[r.name]["features"]]
        assert card.extra["normalization"]["stats"]["beats"] == real_stats()["beats"]
        assert set(card.thresholds.values()) == {0.5}


def test_random_weights_torch_head_matches_reference_for_every_config(tmp_path):
    for i, name in enumerate(PARITY_CONFIGS):
        cfg = _write_checkpoint(tmp_path / name, name, "m", i)
        head = build_seed_head(tmp_path / name / "m.pt", tmp_path / name / "m_config.pt", real_stats())
        from trailertagger.core.classify.batching import pack_batch
        from trailertagger.core.classify.models import to_tensors

        batch = pack_batch(_our_items(cfg, i), head.cfg.modalities, sampling="linspace")
        with torch.no_grad():
            logits = head(*to_tensors(batch)).numpy()
        np.testing.assert_allclose(logits, REF[f"{name}.logits"], atol=1e-4, rtol=0)


def test_random_weights_fixed_position_subset_converts(tmp_path):
    src = tmp_path / "z"
    cfg = _write_checkpoint(src, "multi_fixed_subset", "multi_transformer", 3)
    (r,) = import_seed_heads(src, tmp_path / "heads")  # no normalisation: no stats needed
    probs = OnnxHead(r.head_dir, providers=["CPUExecutionProvider"]).predict_arrays(_our_items(cfg, 3))
    np.testing.assert_allclose(probs, _sigmoid(REF["multi_fixed_subset.logits"]), atol=1e-4, rtol=0)


def test_unknown_layout_is_refused_clearly(tmp_path):
    src = tmp_path / "z"
    _write_checkpoint(src, "single_transformer", "single_transformer", 1)
    state = torch.load(src / "single_transformer.pt", weights_only=True)
    state["extra_adapter.weight"] = torch.zeros(3, 3)
    del state["decoder.bias"]
    torch.save(state, src / "single_transformer.pt")
    with pytest.raises(ConfigError, match="unknown parameter layout.*missing decoder.bias.*unexpected extra_adapter"):
        import_seed_heads(src, tmp_path / "heads", stats=FIXTURES / "stats.json")


def test_normalised_model_without_stats_and_bad_folder_are_refused(tmp_path):
    src = tmp_path / "z"
    _write_checkpoint(src, "mlp", "mlp", 0)
    with pytest.raises(ConfigError, match="min-max normalisation.*stats"):
        import_seed_heads(src, tmp_path / "heads")
    with pytest.raises(ConfigError, match="none of mlp.pt"):
        import_seed_heads(tmp_path / "empty", tmp_path / "heads")


def test_refuses_a_config_that_runs_code(tmp_path):
    src = tmp_path / "z"
    _write_checkpoint(src, "mlp", "mlp", 0)
    marker = tmp_path / "marker"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch '{marker}'",))

    torch.save({"model": "mlp", "x": Evil()}, src / "mlp_config.pt")
    with pytest.raises(ConfigError, match="cannot read this seed config safely.*system"):
        import_seed_heads(src, tmp_path / "heads", stats=FIXTURES / "stats.json")
    assert not marker.exists()


def test_cli_import_seed_tunes_thresholds_on_val(tmp_path, capsys):
    src = tmp_path / "z"
    _write_checkpoint(src, "mlp", "mlp", 0)
    samples = make_samples(60, seed=9)
    import_seed_features(write_seed_pickle(tmp_path / "f.pkl", samples), tmp_path / "feats")
    write_seed_csv(tmp_path / "l.csv", samples)
    write_seed_splits(tmp_path / "s.json", list(samples))
    rc = main(["heads", "import-seed", str(src), "--out", str(tmp_path / "heads"), "--data",
               str(tmp_path / "l.csv"), "--splits", str(tmp_path / "s.json"), "--features",
               str(tmp_path / "feats")])  # stats found beside the features (seed_stats.json)
    assert rc == 0
    assert "thresholds tuned on val" in capsys.readouterr().out
    card = load_card(tmp_path / "heads" / "seed-mlp")
    assert card.metrics["n_val"] == 6 and len(set(card.thresholds.values())) > 1
