"""Builders for files in the seed authors' formats (features.pkl, stats.pt), for tests.

``write_seed_pickle`` writes what their ``preprocessing/src/extract_features.py`` writes: a
plain pickle (``pickle.dump``) of ``{"samples": {youtube_id: {"features": {...}, "label":
multi-hot}}, "stats": {feature: {mean, std, min, max}}, "idx_to_label": {...}}`` with numpy
arrays of their real dimensions, ``[]`` for a feature an extractor found nothing for, and
numpy float32 statistic scalars.  Writing a pickle is harmless; only reading one needs care.
"""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np

from trailertagger.core.features.seed_format import SEED_DIMS
from trailertagger.core.genres import GENRES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "seed"


def real_stats() -> dict[str, dict[str, float]]:
    """The authors' real ``stats.pt`` numbers (committed as JSON: 20 floats)."""
    return json.loads((FIXTURES / "stats.json").read_text(encoding="utf-8"))["stats"]


def numpy_stats() -> dict[str, dict[str, np.float32]]:
    return {f: {k: np.float32(v) for k, v in st.items()} for f, st in real_stats().items()}


def youtube_ids(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    ids = {"".join(rng.choice(alphabet, 11)) for _ in range(n * 2)}
    return sorted(i for i in ids if not i.startswith("."))[:n]


def make_samples(n: int, seed: int = 0, lengths: dict[str, int] | None = None,
                 signal: bool = False) -> dict[str, dict]:
    """``n`` trailers in their sample layout; some features empty (``[]``) as in theirs.

    With ``signal`` the features carry a weak trace of the labels, so a trained head can do
    better than chance (for the reproduction test)."""
    rng = np.random.default_rng(seed)
    lengths = lengths or {"beats": 20, "clip": 24, "face_emotion": 10}
    samples = {}
    dirs = {f: rng.normal(size=(len(GENRES), d)).astype(np.float32) for f, d in SEED_DIMS.items()}
    for i, key in enumerate(youtube_ids(n, seed)):
        k = 1 + int(rng.integers(0, 3))
        genres = sorted(rng.choice(len(GENRES), size=k, replace=False).tolist())
        label = np.zeros(len(GENRES), dtype=np.float32)
        label[genres] = 1.0
        feats: dict = {}
        for f, d in SEED_DIMS.items():
            if f in ("asr_sentiment", "ocr_sentiment"):
                t = 1 if (i + len(f)) % 5 else 0
            else:
                hi = lengths[f]
                t = int(rng.integers(0, hi + 1)) if f == "face_emotion" else int(rng.integers(1, hi + 1))
            if t == 0:
                feats[f] = []
                continue
            x = rng.normal(size=(t, d)).astype(np.float32)
            if signal:
                x += 0.8 * label @ dirs[f]
            feats[f] = x
        samples[key] = {"features": feats, "label": label}
    return samples


def write_seed_pickle(path: Path, samples: dict, stats: dict | None = None, protocol: int = 4) -> Path:
    data = {"samples": samples, "stats": numpy_stats() if stats is None else stats,
            "idx_to_label": dict(enumerate(sorted(GENRES)))}
    with open(path, "wb") as fh:
        pickle.dump(data, fh, protocol=protocol)
    return path


def write_seed_csv(path: Path, samples: dict) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["imdb_id", "youtube_id", "genres", "title", "duration"])
        for i, (key, s) in enumerate(samples.items()):
            genres = [GENRES[j] for j in np.flatnonzero(s["label"])]
            w.writerow([f"tt{i:07d}", key, repr(genres), f"Film {i}", 120.0])
    return path


def write_seed_splits(path: Path, keys: list[str]) -> dict[str, list[str]]:
    """Their recipe: ids sorted, sliced 70 / 10 / 20."""
    keys = sorted(keys)
    a, b = round(len(keys) * 0.7), len(keys) - round(len(keys) * 0.2)
    splits = {"trn": keys[:a], "val": keys[a:b], "tst": keys[b:]}
    path.write_text(json.dumps(splits), encoding="utf-8")
    return splits


# ----------------------------------------------------------------------------- classifier parity
# The reference outputs in tests/fixtures/seed/classifiers.npz were made by running the
# authors' own classes on weights and inputs made by the two functions below (see
# tests/core/test_seed_heads.py for the script's description).

PARITY_CONFIGS: dict[str, dict] = {
    # their config.py defaults for lengths/dims; small d_model so the test stays fast
    "mlp": {"model": "mlp", "n_layers": 3, "d_model": 48, "n_heads": 8, "normalize": True,
            "standardize": False, "fixed_position_encoding": False},
    "single_transformer": {"model": "single_transformer", "n_layers": 2, "d_model": 32,
                           "n_heads": 4, "normalize": False, "standardize": True,
                           "fixed_position_encoding": False},
    "multi_transformer": {"model": "multi_transformer", "n_layers": 1, "d_model": 32,
                          "n_heads": 4, "normalize": True, "standardize": True,
                          "fixed_position_encoding": False},
    # a feature subset, sinusoidal positions, no normalisation
    "multi_fixed_subset": {"model": "multi_transformer", "n_layers": 2, "d_model": 16,
                           "n_heads": 2, "normalize": False, "standardize": False,
                           "fixed_position_encoding": True,
                           "features": ["asr_sentiment", "beats", "clip"]},
}


def their_config(name: str) -> dict:
    """A config dict as their ``classification/src/config.py`` builds it for ``name``."""
    from trailertagger.core.features.seed_format import SEED_LENGTHS

    c = dict(PARITY_CONFIGS[name])
    feats = sorted(c.get("features") or SEED_DIMS)
    lengths = {f: SEED_LENGTHS[f] for f in feats}
    if c["model"] == "multi_transformer":
        lengths = {f: v if "sentiment" in f else v - 1 for f, v in lengths.items()}
    c.update(features=feats, feature_lengths=lengths, feature_dims={f: SEED_DIMS[f] for f in feats},
             n_labels=len(GENRES), labels=sorted(GENRES), dropout=0.0)
    return c


def seeded_state_dict(shapes: dict[str, tuple[int, ...]], seed: int):
    """Their parameter layout filled from one numpy stream, keys in sorted order."""
    import collections

    import torch

    rng = np.random.default_rng(seed)
    return collections.OrderedDict(
        (k, torch.from_numpy(rng.normal(0.0, 0.1, size=shapes[k]).astype(np.float32)))
        for k in sorted(shapes))


def parity_items(cfg: dict, seed: int) -> list[dict[str, np.ndarray | list]]:
    """Five trailers: full length, longer (subsampled), short, features missing, one row."""
    rng = np.random.default_rng(seed)
    items = []
    for case in range(5):
        item: dict = {}
        for f in cfg["features"]:
            d = cfg["feature_dims"][f]
            full = 1 if f in ("asr_sentiment", "ocr_sentiment") else cfg["feature_lengths"][f]
            t = {0: full, 1: full + 7 if full > 1 else 1, 2: min(3, full), 3: full // 2, 4: 1}[case]
            if (case == 2 and f == "asr_sentiment") or (case == 3 and f in ("face_emotion", "ocr_sentiment")):
                item[f] = []
                continue
            item[f] = (rng.normal(size=(t, d)) * 2.0 + 0.3).astype(np.float32)
        items.append(item)
    return items


# ----------------------------------------------------------------------------- BEATs parity

BEATS_SMALL_CFG: dict = {
    "input_patch_size": 16, "embed_dim": 32, "conv_bias": False, "encoder_layers": 2,
    "encoder_embed_dim": 48, "encoder_ffn_embed_dim": 96, "encoder_attention_heads": 4,
    "activation_fn": "gelu", "layer_norm_first": False, "deep_norm": True, "conv_pos": 16,
    "conv_pos_groups": 4, "relative_position_embedding": True, "num_buckets": 320,
    "max_distance": 800, "gru_rel_pos": True, "finetuned_model": True, "predictor_class": 527,
    "dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0, "encoder_layerdrop": 0.0,
    "dropout_input": 0.0, "layer_wise_gradient_decay_ratio": 1.0,
}


def beats_state_dict(shapes: dict[str, tuple[int, ...]], seed: int):
    """Seeded weights; the relative-position table is one module shared by every layer, so
    every layer's copy of it gets layer 0's values."""
    state = seeded_state_dict(shapes, seed)
    shared = "encoder.layers.0.self_attn.relative_attention_bias.weight"
    for k in state:
        if k.endswith("self_attn.relative_attention_bias.weight"):
            state[k] = state[shared].clone()
    return state


def beats_waveform(seconds: float = 4.6, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000.0
    wave = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 97 * t * (1 + t))
    return (wave + 0.05 * rng.normal(size=t.shape)).astype(np.float32)
