"""The three genre heads of the seed paper, with the masking the seed code lacked.

All heads share one calling convention so training, evaluation and ONNX export treat them
alike::

    logits = model(values, masks, present)   # lists in ``config.modalities`` order
    values[m]: [B, T_m, D_m] float, masks[m]: [B, T_m] bool (True = real row),
    present: [B, M] bool (False = modality missing for that video)

* ``mlp``: per-modality masked time-mean, concatenated, two-layer MLP.  A missing modality is
  replaced by a learned vector rather than a zero mean that would look like real data.
* ``single``: every modality's rows projected to ``d_model``, plus a learned modality token and
  learned positions, one CLS, one encoder.  Padded rows and all rows of a missing modality
  are excluded from attention by the key mask.
* ``multi``: one CLS + encoder per modality; the CLS outputs are concatenated into a linear
  head.  A missing modality's CLS output is replaced by a learned "missing" embedding.

Padding never changes the output: padded rows are excluded as keys, positions are absolute,
and normalisation is per row.  Because the CLS token is always a valid key no attention row
is empty, so even a video with every modality missing gives finite logits (the prior).

Inputs are standardised with per-dimension statistics of the training features, kept as
buffers (and therefore inside the exported ONNX graph): frozen extractor outputs differ in
scale by orders of magnitude (AudioSet probabilities vs. EfficientNet activations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import TrainingError
from ..genres import GENRES
from .batching import ModalitySpec

KINDS = ("mlp", "single", "multi")


@dataclass
class ModelConfig:
    """Architecture hyper-parameters; saved as JSON beside every checkpoint."""

    kind: str = "multi"
    modalities: list[ModalitySpec] = field(default_factory=list)
    d_model: int = 128
    layers: int = 2
    heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.1
    mlp_hidden: int = 512
    n_out: int = len(GENRES)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TrainingError(f"unknown model kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        self.modalities = [m if isinstance(m, ModalitySpec) else ModalitySpec.from_dict(m)
                           for m in self.modalities]
        if self.kind != "mlp" and self.d_model % self.heads:
            raise TrainingError(f"d_model {self.d_model} is not divisible by heads {self.heads}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["modalities"] = [m.to_dict() for m in self.modalities]
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> ModelConfig:
        return cls(**dict(d))


class InputNorm(nn.Module):
    """``(x - mean) / std`` with statistics fitted on training rows (identity until then)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer with a key mask.

    Written out (rather than ``nn.TransformerEncoderLayer``) so the same code path runs in
    training, eager inference and the ONNX graph: torch's built-in layer switches to a fused
    "fast path" in eval mode whose handling of padded rows differs from training.
    """

    def __init__(self, d: int, heads: int, ff: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)
        self.attn_dropout = dropout

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        b, t, d = x.shape
        h = self.norm1(x)
        qkv = self.qkv(h).reshape(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = F.scaled_dot_product_attention(
            q, k, v, attn_mask=key_mask[:, None, None, :],
            dropout_p=self.attn_dropout if self.training else 0.0,
        )
        x = x + self.drop(self.proj(a.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.ff(self.norm2(x)))


class Encoder(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(cfg.d_model, cfg.heads, cfg.ff_mult * cfg.d_model, cfg.dropout)
            for _ in range(cfg.layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, x: Tensor, key_mask: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, key_mask)
        return self.norm(x)


class GenreModel(nn.Module):
    """Base: input normalisation and the shared signature."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.norms = nn.ModuleList(InputNorm(m.dim) for m in cfg.modalities)

    def forward(self, values: Sequence[Tensor], masks: Sequence[Tensor], present: Tensor) -> Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def set_input_stats(self, stats: Mapping[str, tuple[Tensor, Tensor]]) -> None:
        """Install per-dimension mean/std for each modality (std floored to avoid blow-ups)."""
        for spec, norm in zip(self.cfg.modalities, self.norms, strict=True):
            if spec.name in stats:
                mean, std = stats[spec.name]
                norm.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
                norm.std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(1e-3))


class MLPHead(GenreModel):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        total = sum(m.dim for m in cfg.modalities)
        self.missing = nn.ParameterList(nn.Parameter(torch.zeros(m.dim)) for m in cfg.modalities)
        self.net = nn.Sequential(
            nn.LayerNorm(total), nn.Dropout(cfg.dropout), nn.Linear(total, cfg.mlp_hidden),
            nn.GELU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.mlp_hidden, cfg.n_out),
        )

    def forward(self, values: Sequence[Tensor], masks: Sequence[Tensor], present: Tensor) -> Tensor:
        pooled = []
        for j, (x, m) in enumerate(zip(values, masks, strict=True)):
            w = (m & present[:, j : j + 1]).to(x.dtype).unsqueeze(-1)
            mean = (self.norms[j](x) * w).sum(1) / w.sum(1).clamp_min(1.0)
            pooled.append(torch.where(present[:, j : j + 1], mean, self.missing[j].to(mean.dtype)))
        return self.net(torch.cat(pooled, dim=-1))


class _Tokens(nn.Module):
    """Projection + learned positions for one modality's rows."""

    def __init__(self, spec: ModalitySpec, d: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.Linear(spec.dim, d)
        self.pos = nn.Parameter(torch.randn(spec.max_len, d) * 0.02)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(x) + self.pos[: x.shape[1]])


class SingleTransformer(GenreModel):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        d = cfg.d_model
        self.tokens = nn.ModuleList(_Tokens(m, d, cfg.dropout) for m in cfg.modalities)
        self.modality_emb = nn.Parameter(torch.randn(len(cfg.modalities), d) * 0.02)
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.encoder = Encoder(cfg)
        self.head = nn.Linear(d, cfg.n_out)

    def forward(self, values: Sequence[Tensor], masks: Sequence[Tensor], present: Tensor) -> Tensor:
        b = present.shape[0]
        seq = [self.cls.expand(b, 1, -1)]
        keys = [torch.ones_like(present[:, :1])]
        for j, (x, m) in enumerate(zip(values, masks, strict=True)):
            seq.append(self.tokens[j](self.norms[j](x)) + self.modality_emb[j])
            keys.append(m & present[:, j : j + 1])
        h = self.encoder(torch.cat(seq, dim=1), torch.cat(keys, dim=1))
        return self.head(h[:, 0])


class MultiTransformer(GenreModel):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        d = cfg.d_model
        n = len(cfg.modalities)
        self.tokens = nn.ModuleList(_Tokens(m, d, cfg.dropout) for m in cfg.modalities)
        self.cls = nn.Parameter(torch.randn(n, d) * 0.02)
        self.missing = nn.Parameter(torch.zeros(n, d))
        self.encoders = nn.ModuleList(Encoder(cfg) for _ in cfg.modalities)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(n * d, cfg.n_out)

    def forward(self, values: Sequence[Tensor], masks: Sequence[Tensor], present: Tensor) -> Tensor:
        b = present.shape[0]
        outs = []
        for j, (x, m) in enumerate(zip(values, masks, strict=True)):
            seq = torch.cat([self.cls[j].expand(b, 1, -1), self.tokens[j](self.norms[j](x))], dim=1)
            keys = torch.cat([torch.ones_like(m[:, :1]), m], dim=1)
            cls_out = self.encoders[j](seq, keys)[:, 0]
            outs.append(torch.where(present[:, j : j + 1], cls_out, self.missing[j].to(cls_out.dtype)))
        return self.head(self.drop(torch.cat(outs, dim=-1)))


def build_model(cfg: ModelConfig) -> GenreModel:
    """A freshly initialised head for ``cfg`` (the caller seeds torch for reproducibility)."""
    if not cfg.modalities:
        raise TrainingError("a genre head needs at least one modality")
    cls = {"mlp": MLPHead, "single": SingleTransformer, "multi": MultiTransformer}[cfg.kind]
    return cls(cfg)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def to_tensors(batch, device: torch.device | str = "cpu") -> tuple[list[Tensor], list[Tensor], Tensor]:
    """Turn a :class:`~.batching.InputBatch` into the ``(values, masks, present)`` tensors."""
    values = [torch.from_numpy(batch.values[n]).to(device) for n in batch.modalities]
    masks = [torch.from_numpy(batch.masks[n]).to(device) for n in batch.modalities]
    return values, masks, torch.from_numpy(batch.present).to(device)
