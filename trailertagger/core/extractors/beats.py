"""BEATs (Chen et al. 2022, "Audio Pre-Training with Acoustic Tokenizers") in plain torch,
and the seed authors' audio feature made with it (profile ``seed``, modality ``seed_beats``).

Written here from the paper's description and the published checkpoint layout so that the
checkpoint ``BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt2.pt`` (a ``torch.save`` dict with
``cfg``, ``model`` and ``label_dict``; read with ``weights_only=True``) loads with
``strict=True``.  No torchaudio: the Kaldi filter-bank front-end is :func:`kaldi_fbank`.

The network:
  * input: 128 Kaldi log-mel filter banks of the 16 kHz waveform scaled to int16 range,
    25 ms Povey windows every 10 ms, normalised as ``(fbank - 15.41663) / (2 * 6.55582)``;
  * 16 x 16 patches of the (time x mel) image -> Conv2d (no bias) -> LayerNorm -> Linear to
    768 (``post_extract_proj``);
  * a wav2vec2-style encoder: a grouped Conv1d positional embedding (weight norm over the
    kernel axis, the even kernel's last output dropped, GELU) added to the input, LayerNorm,
    then post-norm layers with DeepNorm residual scaling ``(2 L)^(1/4)``; each layer's
    attention adds a T5-style bucketed relative position bias (shared by all layers, 320
    buckets) scaled per query by a learned GRU-like gate (``grep_linear``, ``grep_a``).

The seed feature (their ``BEATSRunner``): the audio cut into 3 s windows every 1.5 s
(window starts ``0, 1.5, ...`` strictly before ``len - 3 s``), each window's encoder output
averaged over its patches: one 768-d row per window.  Audio shorter than 3 s gives no rows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ModelMissingError
from ..progress import CancelToken, check
from ..runtime import resolve_device
from .base import ExtractorBase, Needs

if TYPE_CHECKING:
    from torch import Tensor

    from ..features.types import ModalityFeatures
    from ..media.types import DecodedMedia
    from ..models.store import ModelStore

log = logging.getLogger(__name__)

MODEL_ID = "beats-iter3-plus-as2m-cpt2"
RATE = 16000
WINDOW_S = 3.0
HOP_S = 1.5
FBANK_MEAN = 15.41663
FBANK_STD = 6.55582
DIM = 768

#: The published fine-tuned checkpoints' settings; a checkpoint's own ``cfg`` overrides them.
DEFAULT_CFG: dict[str, Any] = {
    "input_patch_size": 16, "embed_dim": 512, "conv_bias": False, "encoder_layers": 12,
    "encoder_embed_dim": 768, "encoder_ffn_embed_dim": 3072, "encoder_attention_heads": 12,
    "activation_fn": "gelu", "layer_norm_first": False, "deep_norm": True,
    "conv_pos": 128, "conv_pos_groups": 16, "relative_position_embedding": True,
    "num_buckets": 320, "max_distance": 800, "gru_rel_pos": True, "finetuned_model": True,
    "predictor_class": 527,
}


# ----------------------------------------------------------------------------- front-end


def _mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def kaldi_mel_banks(n_mels: int = 128, n_fft: int = 512, rate: int = RATE,
                    low: float = 20.0, high: float = 0.0) -> np.ndarray:
    """``[n_mels, n_fft // 2 + 1]`` triangular Kaldi mel filters (last column zero)."""
    nyquist = rate / 2
    high = nyquist + high if high <= 0 else high
    lo, hi = _mel(low), _mel(high)
    delta = (hi - lo) / (n_mels + 1)
    bins = _mel(np.arange(n_fft // 2) * rate / n_fft)[None, :]
    left = lo + np.arange(n_mels)[:, None] * delta
    up = (bins - left) / delta
    down = (left + 2 * delta - bins) / delta
    w = np.maximum(0.0, np.minimum(up, down))
    return np.pad(w, ((0, 0), (0, 1))).astype(np.float32)


def kaldi_fbank(wave: Tensor, n_mels: int = 128, rate: int = RATE,
                frame_ms: float = 25.0, shift_ms: float = 10.0) -> Tensor:
    """Kaldi ``compute-fbank-feats`` defaults (as torchaudio.compliance.kaldi.fbank):
    snip edges, DC removal, pre-emphasis 0.97, Povey window, power spectrum, log (floor
    float32 eps).  ``wave``: ``[N]`` float samples (already in the scale the model wants)."""
    import torch

    win = int(rate * frame_ms / 1000)
    hop = int(rate * shift_ms / 1000)
    n_fft = 1 << (win - 1).bit_length()
    if wave.shape[-1] < win:
        return wave.new_zeros((0, n_mels))
    frames = wave.unfold(-1, win, hop)  # [F, win]
    frames = frames - frames.mean(-1, keepdim=True)
    prev = torch.cat([frames[:, :1], frames[:, :-1]], dim=-1)
    frames = frames - 0.97 * prev
    n = torch.arange(win, dtype=wave.dtype, device=wave.device)
    window = (0.5 - 0.5 * torch.cos(2 * math.pi * n / (win - 1))).pow(0.85)
    spec = torch.fft.rfft(frames * window, n=n_fft).abs().pow(2)
    banks = torch.from_numpy(kaldi_mel_banks(n_mels, n_fft, rate)).to(wave.device, wave.dtype)
    return (spec @ banks.T).clamp_min(torch.finfo(torch.float32).eps).log()


def window_starts(n_samples: int, rate: int = RATE) -> np.ndarray:
    """Start samples of the seed's 3 s audio windows every 1.5 s: ``0, hop, ...`` strictly
    below ``n_samples - window`` (their recipe; audio of 3 s or less gives none)."""
    win, hop = int(round(WINDOW_S * rate)), int(round(HOP_S * rate))
    return np.arange(0, n_samples - win, hop, dtype=np.int64)


# ----------------------------------------------------------------------------- network


def _modules():
    """The torch classes, built on first use so importing this module needs no torch."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class WeightNormConv(nn.Module):
        """Conv1d whose kernel is ``g * v / ||v||`` with the norm over all axes but the kernel
        axis (old-style ``weight_norm(dim=2)``, so the checkpoint keys are weight_g/weight_v)."""

        def __init__(self, d: int, k: int, groups: int) -> None:
            super().__init__()
            self.weight_g = nn.Parameter(torch.ones(1, 1, k))
            self.weight_v = nn.Parameter(torch.zeros(d, d // groups, k))
            self.bias = nn.Parameter(torch.zeros(d))
            self.k, self.groups = k, groups

        def forward(self, x: Tensor) -> Tensor:
            v = self.weight_v
            w = v * (self.weight_g / v.pow(2).sum(dim=(0, 1), keepdim=True).sqrt())
            y = F.conv1d(x, w, self.bias, padding=self.k // 2, groups=self.groups)
            return y[..., :-1] if self.k % 2 == 0 else y

    class Attention(nn.Module):
        def __init__(self, cfg: Mapping[str, Any], has_bias: bool) -> None:
            super().__init__()
            d = cfg["encoder_embed_dim"]
            self.h = cfg["encoder_attention_heads"]
            self.dh = d // self.h
            self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
            self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)
            self.num_buckets, self.max_distance = cfg["num_buckets"], cfg["max_distance"]
            if has_bias:
                self.relative_attention_bias = nn.Embedding(self.num_buckets, self.h)
            self.gated = bool(cfg["gru_rel_pos"])
            if self.gated:
                self.grep_linear = nn.Linear(self.dh, 8)
                self.grep_a = nn.Parameter(torch.ones(1, self.h, 1, 1))

        def buckets(self, t: int, device) -> Tensor:
            rel = torch.arange(t, device=device)[None, :] - torch.arange(t, device=device)[:, None]
            half = self.num_buckets // 2
            out = (rel > 0).long() * half
            rel = rel.abs()
            exact = half // 2
            big = exact + (torch.log(rel.float().clamp_min(1) / exact)
                           / math.log(self.max_distance / exact) * (half - exact)).long()
            big = big.clamp_max(half - 1)
            return out + torch.where(rel < exact, rel, big)

        def position_bias(self, t: int, device) -> Tensor:
            return self.relative_attention_bias(self.buckets(t, device)).permute(2, 0, 1)  # [H,T,T]

        def forward(self, x: Tensor, bias: Tensor | None) -> Tensor:
            b, t, d = x.shape
            q = self.q_proj(x).view(b, t, self.h, self.dh).transpose(1, 2)
            k = self.k_proj(x).view(b, t, self.h, self.dh).transpose(1, 2)
            v = self.v_proj(x).view(b, t, self.h, self.dh).transpose(1, 2)
            logits = (q @ k.transpose(-1, -2)) * self.dh ** -0.5
            if bias is not None:
                if self.gated:
                    ga, gb = torch.sigmoid(self.grep_linear(q).view(b, self.h, t, 2, 4).sum(-1)).chunk(2, -1)
                    bias = (ga * (gb * self.grep_a - 1.0) + 2.0) * bias[None]
                logits = logits + bias
            a = torch.softmax(logits, dim=-1) @ v
            return self.out_proj(a.transpose(1, 2).reshape(b, t, d))

    class Layer(nn.Module):
        def __init__(self, cfg: Mapping[str, Any], has_bias: bool) -> None:
            super().__init__()
            d, ff = cfg["encoder_embed_dim"], cfg["encoder_ffn_embed_dim"]
            self.self_attn = Attention(cfg, has_bias)
            self.self_attn_layer_norm = nn.LayerNorm(d)
            self.fc1, self.fc2 = nn.Linear(d, ff), nn.Linear(ff, d)
            self.final_layer_norm = nn.LayerNorm(d)
            self.alpha = math.pow(2 * cfg["encoder_layers"], 0.25) if cfg["deep_norm"] else 1.0
            self.act = {"gelu": F.gelu, "relu": F.relu}[cfg["activation_fn"]]

        def forward(self, x: Tensor, bias: Tensor | None) -> Tensor:
            x = self.self_attn_layer_norm(x * self.alpha + self.self_attn(x, bias))
            return self.final_layer_norm(x * self.alpha + self.fc2(self.act(self.fc1(x))))

    class Encoder(nn.Module):
        def __init__(self, cfg: Mapping[str, Any]) -> None:
            super().__init__()
            d = cfg["encoder_embed_dim"]
            self.pos_conv = nn.ModuleList([WeightNormConv(d, cfg["conv_pos"], cfg["conv_pos_groups"])])
            self.layer_norm = nn.LayerNorm(d)
            rel = bool(cfg["relative_position_embedding"])
            self.layers = nn.ModuleList(Layer(cfg, rel) for _ in range(cfg["encoder_layers"]))
            if rel:  # one table for every layer, as in the checkpoint (stored under each layer)
                shared = self.layers[0].self_attn.relative_attention_bias
                for layer in self.layers[1:]:
                    layer.self_attn.relative_attention_bias = shared
            self.rel = rel

        def forward(self, x: Tensor) -> Tensor:
            x = x + F.gelu(self.pos_conv[0](x.transpose(1, 2))).transpose(1, 2)
            x = self.layer_norm(x)
            bias = self.layers[0].self_attn.position_bias(x.shape[1], x.device) if self.rel else None
            for layer in self.layers:
                x = layer(x, bias)
            return x

    class BEATs(nn.Module):
        def __init__(self, cfg: Mapping[str, Any]) -> None:
            super().__init__()
            c = {**DEFAULT_CFG, **dict(cfg)}
            if c["layer_norm_first"]:
                raise ModelMissingError("BEATs: pre-norm (layer_norm_first) checkpoints are not supported")
            self.cfg = c
            p = c["input_patch_size"]
            self.patch_embedding = nn.Conv2d(1, c["embed_dim"], p, stride=p, bias=c["conv_bias"])
            self.layer_norm = nn.LayerNorm(c["embed_dim"])
            if c["embed_dim"] != c["encoder_embed_dim"]:
                self.post_extract_proj = nn.Linear(c["embed_dim"], c["encoder_embed_dim"])
            self.encoder = Encoder(c)
            if c["finetuned_model"]:
                self.predictor = nn.Linear(c["encoder_embed_dim"], c["predictor_class"])

        def fbank(self, waves: Tensor) -> Tensor:
            """``[B, N]`` waveforms in [-1, 1] -> normalised ``[B, F, 128]`` filter banks."""
            fb = torch.stack([kaldi_fbank(w * 32768.0) for w in waves])
            return (fb - FBANK_MEAN) / (2 * FBANK_STD)

        def tokens(self, waves: Tensor) -> Tensor:
            """Encoder output ``[B, patches, 768]`` (what the seed feature averages)."""
            x = self.patch_embedding(self.fbank(waves).unsqueeze(1))
            x = self.layer_norm(x.flatten(2).transpose(1, 2))
            if hasattr(self, "post_extract_proj"):
                x = self.post_extract_proj(x)
            return self.encoder(x)

        def forward(self, waves: Tensor) -> Tensor:
            return self.tokens(waves).mean(1)

    return BEATs


def build_beats(cfg: Mapping[str, Any] | None = None):
    return _modules()(cfg or {})


def load_beats_checkpoint(path, device: str = "cpu"):
    """The model from a published checkpoint (``cfg`` + ``model`` state dict), strict."""
    import torch

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "model" not in ckpt or "cfg" not in ckpt:
        raise ModelMissingError(f"{path}: not a BEATs checkpoint (needs 'cfg' and 'model')")
    model = build_beats(ckpt["cfg"])
    state = dict(ckpt["model"])
    if not model.cfg["finetuned_model"]:
        state.pop("predictor.weight", None)
        state.pop("predictor.bias", None)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ModelMissingError(f"{path}: BEATs weights do not fit this architecture ({err})") from err
    return model.to(device).eval(), ckpt.get("label_dict")


# ----------------------------------------------------------------------------- extractor


class SeedBeatsExtractor(ExtractorBase):
    """One 768-d row per 3 s window (hop 1.5 s): BEATs encoder output averaged over patches."""

    name: ClassVar[str] = "seed.beats"
    modality: ClassVar[str] = "seed_beats"
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs(audio_rate=RATE)
    model_ids: ClassVar[tuple[str, ...]] = (MODEL_ID,)

    def __init__(self, batch_size: int = 8) -> None:
        super().__init__()
        self.batch_size = max(1, batch_size)
        self._model: Any = None

    @property
    def dim(self) -> int:
        return DIM

    def _load(self, store: ModelStore, device: str) -> None:
        res = store.resolve(MODEL_ID)  # ModelMissingError names the file and the folder
        self.device = resolve_device(device, what=self.name)
        self._model, _ = load_beats_checkpoint(res.path, self.device)
        self.model_id, self.weights_sha256 = res.model_id, res.sha256
        log.info("loaded %s from %s (%s)", res.model_id, res.path, res.source)

    def embed(self, wave: np.ndarray, cancel: CancelToken | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(rows [W, 768], start times [W])`` for mono 16 kHz audio (``cancel`` checked
        between batches)."""
        import torch

        if self._model is None:
            raise RuntimeError(f"{self.name}: call load() first")
        starts = window_starts(len(wave))
        win = int(round(WINDOW_S * RATE))
        out = np.zeros((len(starts), self._model.cfg["encoder_embed_dim"]), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(starts), self.batch_size):
                check(cancel)
                chunk = np.stack([wave[s : s + win] for s in starts[i : i + self.batch_size]])
                x = torch.from_numpy(chunk.astype(np.float32)).to(self.device)
                out[i : i + len(chunk)] = self._model(x).float().cpu().numpy()
        return out, (starts / RATE).astype(np.float32)

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        from ..features.types import ModalityFeatures

        wave = media.audio_at(RATE)
        values, times = self.embed(np.zeros(0, np.float32) if wave is None else wave, cancel)
        return ModalityFeatures(modality=self.modality, values=values, times=times,
                                extractor=self.name, extractor_version=self.version,
                                model_id=self.model_id, weights_sha256=self.weights_sha256)
