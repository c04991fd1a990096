"""The seed authors' three classifiers, reproduced, and the converter for their checkpoints.

The authors (arXiv 2410.19760; code serkansulun/movie-genre-classification; checkpoints on
Zenodo record 13909366) release ``mlp.pt``, ``single_transformer.pt`` and
``multi_transformer.pt`` (state dicts) with ``*_config.pt`` (their training settings).  This
module re-implements the three forward passes so that their state dicts load with
``strict=True`` under the same parameter names, and wraps them in trailertagger's head
signature ``model(values, masks, present)`` so the existing ONNX exporter and runtime serve
them like any trained head.

What the wrapper does before their network, to feed it exactly what their data loader fed it:

* rows beyond their ``feature_lengths`` are subsampled at ``round(linspace(0, n-1, L))`` (the
  runtime's ``sampling="linspace"``, recorded in the card), not our bin centres;
* real rows are min-max normalised or standardised with their scalar statistics when their
  config says so (padding is not normalised, as in theirs);
* padded rows and every row of a missing modality are set to zero, and each sequence is
  zero-padded to its full ``L`` inside the graph: their networks have no key mask and attend
  to the zero rows, so the output depends on them.  This is the one way in which the "mask"
  enters: it zeroes rows; it is never an attention mask, because an attention mask would
  change their outputs for any trailer shorter than ``L``.  For full-length inputs every
  choice agrees.

Their networks, as read from their ``classifiers.py`` (batch-first here, same arithmetic):

* ``mlp``: time-mean of each (padded) feature, concatenated in sorted feature order,
  ``Linear -> Dropout -> ReLU`` blocks (``n_layers`` Linear layers, width ``d_model``);
* ``single_transformer``: per feature a Linear to ``d_model``, a learned ``<SEP>`` vector in
  front, learned positions; the features concatenated in sorted order after one ``<CLS>``; a
  post-norm ``TransformerEncoder`` (ReLU, ``d_ff = 4 d_model``, final LayerNorm); Linear on
  the ``<CLS>`` output;
* ``multi_transformer``: per sequence feature an optional Linear, a ``<CLS>`` vector, learned
  (or sinusoidal) positions and its own encoder; the per-video features (``asr_sentiment``,
  ``ocr_sentiment``) skip the encoder; the first rows concatenated into a Linear.

Their softmax ranking and logit thresholds are not carried over: the graph outputs sigmoid
probabilities, and thresholds are tuned on the validation split when features are given.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError, HeadError
from ..features.seed_format import (
    SEED_REPO,
    SEED_TO_MODALITY,
    SEED_ZENODO,
    SINGULAR,
    load_torch_file,
    read_stats,
)
from ..genres import GENRES
from .batching import ModalitySpec

log = logging.getLogger(__name__)

SEED_KINDS = {"mlp": "mlp", "single_transformer": "single", "multi_transformer": "multi"}
SAMPLING = "linspace"


# ----------------------------------------------------------------------------- config


@dataclass
class SeedConfig:
    """The parts of their ``config.pt`` that define the network and its inputs."""

    model: str
    features: list[str]
    feature_lengths: dict[str, int]
    feature_dims: dict[str, int]
    n_layers: int
    d_model: int
    n_heads: int = 8
    n_labels: int = len(GENRES)
    fixed_position_encoding: bool = False
    normalize: bool = False
    standardize: bool = False
    labels: list[str] = field(default_factory=lambda: list(GENRES))

    @classmethod
    def from_theirs(cls, cfg: Mapping[str, Any], where: str = "config") -> SeedConfig:
        if not isinstance(cfg, Mapping):
            raise ConfigError(f"{where}: not one of the seed authors' configs (expected a dict)")
        need = ("model", "feature_lengths", "feature_dims", "n_layers", "d_model")
        lacking = [k for k in need if k not in cfg]
        if lacking:
            raise ConfigError(f"{where}: not one of the seed authors' configs (no {', '.join(lacking)})")
        model = str(cfg["model"])
        if model not in SEED_KINDS:
            raise ConfigError(f"{where}: unknown model {model!r}; the seed code has "
                              f"{', '.join(SEED_KINDS)}")
        dims = {str(k): int(v) for k, v in dict(cfg["feature_dims"]).items()}
        lengths = {str(k): int(v) for k, v in dict(cfg["feature_lengths"]).items()}
        feats = sorted(cfg.get("features") or dims)
        unknown = [f for f in feats if f not in SEED_TO_MODALITY]
        if unknown or not feats:
            raise ConfigError(f"{where}: unknown feature(s) {', '.join(unknown) or '(none)'}; "
                              f"the seed format has {', '.join(SEED_TO_MODALITY)}")
        if any(f not in dims or f not in lengths for f in feats):
            raise ConfigError(f"{where}: feature_dims/feature_lengths do not cover {feats}")
        labels = list(cfg.get("labels") or GENRES)
        if labels != list(GENRES):
            raise ConfigError(f"{where}: genre order {labels} differs from trailertagger's {list(GENRES)}")
        out = cls(model=model, features=feats, feature_lengths={f: lengths[f] for f in feats},
                  feature_dims={f: dims[f] for f in feats}, n_layers=int(cfg["n_layers"]),
                  d_model=int(cfg["d_model"]), n_heads=int(cfg.get("n_heads", 8)),
                  n_labels=int(cfg.get("n_labels", len(GENRES))),
                  fixed_position_encoding=bool(cfg.get("fixed_position_encoding", False)),
                  normalize=bool(cfg.get("normalize", False)),
                  standardize=bool(cfg.get("standardize", False)), labels=labels)
        if out.n_labels != len(GENRES):
            raise ConfigError(f"{where}: {out.n_labels} outputs, expected {len(GENRES)}")
        return out

    def input_length(self, feature: str) -> int:
        """Rows their data loader gave the network for ``feature``."""
        return 1 if feature in SINGULAR else self.feature_lengths[feature]

    def specs(self) -> list[ModalitySpec]:
        return [ModalitySpec(SEED_TO_MODALITY[f], self.feature_dims[f], self.input_length(f))
                for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# ----------------------------------------------------------------------------- their network


class _SelfAttention(nn.Module):
    """Multi-head self-attention with ``nn.MultiheadAttention``'s packed parameters."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        if d % heads:
            raise ConfigError(f"d_model {d} is not divisible by n_heads {heads}")
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d))
        self.out_proj = nn.Linear(d, d)

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        h = self.heads
        qkv = nn.functional.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.reshape(b, t, 3, h, d // h).permute(2, 0, 3, 1, 4)
        att = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(d // h), dim=-1)
        return self.out_proj((att @ v).transpose(1, 2).reshape(b, t, d))


class _PostNormLayer(nn.Module):
    """``nn.TransformerEncoderLayer`` as they used it: post-norm, ReLU, eps 1e-5."""

    def __init__(self, d: int, heads: int, d_ff: int) -> None:
        super().__init__()
        self.self_attn = _SelfAttention(d, heads)
        self.linear1 = nn.Linear(d, d_ff)
        self.linear2 = nn.Linear(d_ff, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(x + self.self_attn(x))
        return self.norm2(x + self.linear2(torch.relu(self.linear1(x))))


class _Body(nn.Module):
    def __init__(self, d: int, heads: int, d_ff: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(_PostNormLayer(d, heads, d_ff) for _ in range(layers))
        self.norm = nn.LayerNorm(d)

    def forward(self, x: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


def _sinusoid(max_len: int, d: int) -> Tensor:
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(max_len, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    return pe[:, None, :]  # [max_len, 1, d], their (sequence-first) layout


class _Positions(nn.Module):
    """Their ``PositionalEncoding``: ``pe`` ``[max_len, 1, d]`` added to the first rows."""

    def __init__(self, d: int, max_len: int, learned: bool) -> None:
        super().__init__()
        if learned:
            self.pe = nn.Parameter(torch.zeros(max_len, 1, d))
        else:
            self.register_buffer("pe", _sinusoid(max_len, d))

    def forward(self, x: Tensor) -> Tensor:  # x: [B, T, d]
        return x + self.pe[: x.shape[1], 0][None]


class _Encoder(nn.Module):
    """Their ``Transformer`` wrapper: optional positions, then the body."""

    def __init__(self, d: int, heads: int, layers: int, max_len: int, positions: bool,
                 learned: bool) -> None:
        super().__init__()
        if positions:
            self.pos_encoder = _Positions(d, max_len, learned)
        self.transformer_body = _Body(d, heads, 4 * d, layers)

    def forward(self, x: Tensor) -> Tensor:
        if hasattr(self, "pos_encoder"):
            x = self.pos_encoder(x)
        return self.transformer_body(x)


class SeedMLP(nn.Module):
    def __init__(self, cfg: SeedConfig) -> None:
        super().__init__()
        sizes = [sum(cfg.feature_dims.values())] + [cfg.d_model] * (cfg.n_layers - 1) + [cfg.n_labels]
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers += [nn.Dropout(0.0), nn.ReLU()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Mapping[str, Tensor]) -> Tensor:
        return self.model(torch.cat([x[k].mean(1) for k in sorted(x)], dim=-1))


class SeedSingleTransformer(nn.Module):
    def __init__(self, cfg: SeedConfig) -> None:
        super().__init__()
        d = cfg.d_model
        total = sum(cfg.feature_lengths.values()) + len(cfg.feature_lengths) + 1
        self.encoders = nn.ModuleDict({f: nn.Linear(cfg.feature_dims[f], d) for f in cfg.features})
        self.sep_vectors = nn.ParameterDict({f: nn.Parameter(torch.zeros(1, 1, d)) for f in cfg.features})
        self.positional_encoding = nn.ModuleDict({f: _Positions(d, total, True) for f in cfg.features})
        self.transformer = _Encoder(d, cfg.n_heads, cfg.n_layers, total, positions=False, learned=True)
        self.cls_vector = nn.Parameter(torch.zeros(1, 1, d))
        self.decoder = nn.Linear(d, cfg.n_labels)

    def forward(self, x: Mapping[str, Tensor]) -> Tensor:
        parts = []
        for k in sorted(x):
            h = self.encoders[k](x[k])
            sep = self.sep_vectors[k][0].expand(h.shape[0], -1, -1)
            parts.append(self.positional_encoding[k](torch.cat([sep, h], dim=1)))
        h = torch.cat(parts, dim=1)
        cls = self.cls_vector[0].expand(h.shape[0], -1, -1)
        h = self.transformer(torch.cat([cls, h], dim=1))
        return self.decoder(h[:, 0])


class SeedMultiTransformer(nn.Module):
    def __init__(self, cfg: SeedConfig) -> None:
        super().__init__()
        self.project = cfg.d_model > 0
        self.encoders = nn.ModuleDict()
        self.transformers = nn.ModuleDict()
        self.cls_vectors = nn.ParameterDict()
        width = 0
        for f in cfg.features:
            d = cfg.d_model if self.project else cfg.feature_dims[f]
            if self.project:
                self.encoders[f] = nn.Linear(cfg.feature_dims[f], d)
            width += d
            if f not in SINGULAR:
                self.transformers[f] = _Encoder(d, cfg.n_heads, cfg.n_layers, cfg.feature_lengths[f] + 1,
                                                positions=True, learned=not cfg.fixed_position_encoding)
                self.cls_vectors[f] = nn.Parameter(torch.zeros(1, 1, d))
        self.decoder = nn.Linear(width, cfg.n_labels)

    def forward(self, x: Mapping[str, Tensor]) -> Tensor:
        firsts = []
        for k in sorted(x):
            h = self.encoders[k](x[k]) if self.project else x[k]
            if k not in SINGULAR:
                cls = self.cls_vectors[k][0].expand(h.shape[0], -1, -1)
                h = self.transformers[k](torch.cat([cls, h], dim=1))
            firsts.append(h[:, 0])
        return self.decoder(torch.cat(firsts, dim=-1))


_NETS = {"mlp": SeedMLP, "single_transformer": SeedSingleTransformer,
         "multi_transformer": SeedMultiTransformer}


@dataclass
class _HeadCfg:
    """What ``onnx_export`` reads from a head: its modalities."""

    modalities: list[ModalitySpec]


class SeedHead(nn.Module):
    """Their network behind trailertagger's ``(values, masks, present)`` signature."""

    def __init__(self, cfg: SeedConfig, stats: Mapping[str, Mapping[str, float]] | None = None) -> None:
        super().__init__()
        self.seed_cfg = cfg
        self.cfg = _HeadCfg(cfg.specs())
        self.net = _NETS[cfg.model](cfg)
        # per feature: x -> (x - shift) / scale on real rows (identity without normalisation)
        shift, scale = [], []
        for f in cfg.features:
            if (cfg.normalize or cfg.standardize) and (not stats or f not in stats):
                raise ConfigError(f"the {cfg.model} checkpoint was trained with "
                                  f"{'min-max normalisation' if cfg.normalize else 'standardisation'}"
                                  f" but no statistics for {f!r} were given (pass --stats "
                                  f"stats.pt from {SEED_REPO} or import-features' seed_stats.json)")
            s0, s1 = 0.0, 1.0
            if cfg.normalize:  # their dataset applies min-max first, then standardisation
                s0, s1 = stats[f]["min"], stats[f]["max"] - stats[f]["min"]
            if cfg.standardize:
                m, sd = stats[f]["mean"], stats[f]["std"]
                s0, s1 = s0 + m * s1, s1 * sd
            shift.append(s0)
            scale.append(s1)
        self.register_buffer("shift", torch.tensor(shift, dtype=torch.float32))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32))

    def load_theirs(self, state: Mapping[str, Tensor], where: str = "checkpoint") -> None:
        """Load their state dict; any other layout is refused, naming the keys that differ."""
        if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
            raise ConfigError(f"{where}: not a state dict of tensors")
        state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
        mine = self.net.state_dict()
        missing = sorted(set(mine) - set(state))
        unexpected = sorted(set(state) - set(mine))
        shapes = [f"{k} {tuple(state[k].shape)} (expected {tuple(mine[k].shape)})"
                  for k in sorted(set(mine) & set(state)) if state[k].shape != mine[k].shape]
        if missing or unexpected or shapes:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}")
            if unexpected:
                parts.append(f"unexpected {', '.join(unexpected[:6])}{' ...' if len(unexpected) > 6 else ''}")
            if shapes:
                parts.append(f"shape {'; '.join(shapes[:4])}")
            raise ConfigError(f"{where}: unknown parameter layout for the seed authors' "
                              f"{self.seed_cfg.model} ({'; '.join(parts)}); only their released "
                              "mlp / single_transformer / multi_transformer layouts convert")
        self.net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)

    def forward(self, values: Sequence[Tensor], masks: Sequence[Tensor], present: Tensor) -> Tensor:
        x: dict[str, Tensor] = {}
        for j, f in enumerate(self.seed_cfg.features):
            v, m = values[j], masks[j]
            keep = (m & present[:, j : j + 1]).to(v.dtype).unsqueeze(-1)
            v = (v - self.shift[j]) / self.scale[j] * keep
            length = self.seed_cfg.input_length(f)
            pad = torch.zeros_like(v[:, :1]).expand(-1, length, -1)
            x[f] = torch.cat([v, pad], dim=1)[:, :length]
        return self.net(x)


# ----------------------------------------------------------------------------- conversion


CHECKPOINTS = ("mlp", "single_transformer", "multi_transformer")


def find_checkpoints(folder: Path) -> list[tuple[str, Path, Path]]:
    """``(name, weights, config)`` for each released model found in ``folder``.

    Accepts their Zenodo names (``mlp.pt`` + ``mlp_config.pt``) and the layout their
    download script makes (``mlp/model.pt`` + ``mlp/config.pt``).
    """
    folder = Path(folder)
    found = []
    for name in CHECKPOINTS:
        for w, c in ((folder / f"{name}.pt", folder / f"{name}_config.pt"),
                     (folder / name / "model.pt", folder / name / "config.pt")):
            if w.is_file():
                if not c.is_file():
                    raise ConfigError(f"{w}: found the weights but not {c.name} beside them "
                                      f"(both come from {SEED_ZENODO})")
                found.append((name, w, c))
                break
    if not found:
        raise ConfigError(f"{folder}: none of {', '.join(n + '.pt' for n in CHECKPOINTS)} (with "
                          f"*_config.pt) found; download them from {SEED_ZENODO}")
    return found


def build_seed_head(weights: Path, config: Path,
                    stats: Mapping[str, Mapping[str, float]] | None = None) -> SeedHead:
    cfg = SeedConfig.from_theirs(load_torch_file(config, "seed config"), str(config))
    state = load_torch_file(weights, "seed checkpoint")
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    head = SeedHead(cfg, stats)
    head.load_theirs(state, str(weights))
    return head.eval()


@dataclass
class SeedImport:
    name: str
    head_dir: Path
    parity: float
    thresholds_tuned: bool
    metrics: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "head": str(self.head_dir), "onnx_parity_max_abs": self.parity,
                "thresholds_tuned": self.thresholds_tuned, "val_metrics": self.metrics}

    def format(self) -> str:
        how = "thresholds tuned on val" if self.thresholds_tuned else "thresholds 0.5 (no validation features given)"
        extra = "".join(f", val {k} {v:.4f}" for k, v in self.metrics.items() if k == "macro_map")
        return f"{self.name}: {self.head_dir} (ONNX parity {self.parity:.1e}; {how}{extra})"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def seed_val_items(labels_csv: Path, splits_json: Path, features_dir: Path, split: str = "val"):
    """``(arrays, labels)`` of one split of the imported features (seed CSV + splits)."""
    from .datasets import load_seed_dataset

    ds = load_seed_dataset(labels_csv, splits_json, features_dir=features_dir)
    samples = ds[split]
    items = [{k: m.values for k, m in samples[i][0].modalities.items()} for i in range(len(samples))]
    return items, samples.labels, ds.report


def import_seed_heads(folder: Path, out: Path, *, stats: Path | Mapping | None = None,
                      labels_csv: Path | None = None, splits_json: Path | None = None,
                      features_dir: Path | None = None) -> list[SeedImport]:
    """Convert every released checkpoint in ``folder`` into a head folder under ``out``."""
    from ... import __version__
    from .card import HeadCard, ModalityProvenance, save_card
    from .metrics import summary, tune_thresholds
    from .onnx_export import DEFAULT_OPSET, export_onnx
    from .runtime import OnnxHead

    folder, out = Path(folder), Path(out)
    found = find_checkpoints(folder)
    if stats is None:
        for cand in (folder / "stats.pt", folder / "seed_stats.json",
                     *( [Path(features_dir) / "seed_stats.json"] if features_dir else [])):
            if cand.is_file():
                stats = cand
                break
    stat_values = read_stats(stats) if stats is not None else None
    val = None
    if labels_csv or splits_json or features_dir:
        if not (labels_csv and splits_json and features_dir):
            raise ConfigError("tuning thresholds needs all of --data, --splits and --features")
        val = seed_val_items(Path(labels_csv), Path(splits_json), Path(features_dir))
        if not val[0]:
            raise ConfigError(f"{splits_json}: the val split has no imported features to tune on")
    results = []
    for name, weights, config in found:
        head = build_seed_head(weights, config, stat_values)
        head_dir = out / f"seed-{name}"
        head_dir.mkdir(parents=True, exist_ok=True)
        diff = export_onnx(head, head_dir / "model.onnx", opset=DEFAULT_OPSET)
        if not diff <= 1e-4:
            raise HeadError(f"{name}: ONNX export differs from torch by {diff:.2e}; not saved")
        cfg = head.seed_cfg
        mods = [ModalityProvenance(SEED_TO_MODALITY[f], cfg.feature_dims[f], cfg.input_length(f),
                                   model_id=f"seed:{f}") for f in cfg.features]
        sha = _sha256(head_dir / "model.onnx")
        norm = "minmax" if cfg.normalize else ""
        norm = "+".join(x for x in (norm, "standard" if cfg.standardize else "") if x) or "none"
        card = HeadCard(
            model_id=f"seed-{name}", version=_sha256(weights)[:12], kind="onnx",
            arch=SEED_KINDS[name], genres=list(GENRES), thresholds={g: 0.5 for g in GENRES},
            modalities=mods, profile="seed", model_config=cfg.to_dict(),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            trailertagger_version=__version__,
            training={"source": f"the seed authors' released {name} ({SEED_ZENODO})",
                      "weights": {"file": weights.name, "sha256": _sha256(weights)},
                      "config": {"file": config.name, "sha256": _sha256(config)}},
            onnx={"file": "model.onnx", "sha256": sha, "opset": DEFAULT_OPSET,
                  "parity_max_abs": diff, "torch": torch.__version__},
            extra={"sampling": SAMPLING, "normalization": {"mode": norm, "stats": {
                       f: dict(stat_values[f]) for f in cfg.features} if stat_values else {}},
                   "seed_feature_names": {SEED_TO_MODALITY[f]: f for f in cfg.features},
                   "notes": "sigmoid probabilities; the authors' softmax ranking and logit "
                            "thresholds are not carried over"},
        )
        save_card(card, head_dir)
        tuned = False
        metrics: dict[str, float] = {}
        if val is not None:
            probs = OnnxHead(head_dir, providers=["CPUExecutionProvider"]).predict_arrays(val[0])
            th = tune_thresholds(val[1], probs)
            card.thresholds = {g: float(t) for g, t in zip(GENRES, th, strict=True)}
            metrics = summary(val[1], probs, th)
            card.metrics = {f"val_{k}": v for k, v in metrics.items()} | {"n_val": len(val[0])}
            save_card(card, head_dir)
            tuned = True
        results.append(SeedImport(name, head_dir, diff, tuned, metrics))
    return results
