"""Music tagging with musicnn (MSD_musicnn, 50 Million Song Dataset tags), without TensorFlow.

Why a reimplementation: the ``musicnn`` wheel ships the trained TF1 checkpoint but declares
``tensorflow`` and ``numpy<1.17``, which cannot be installed next to the rest of the app.  The
checkpoint itself is just a TF "tensor bundle": an SSTable index (LevelDB table format, no
compression) of ``name -> BundleEntryProto`` plus one raw little-endian data file.  Both are
simple enough to read in pure Python (``runtime.formats.read_tf_bundle``), so the wheel is installed with ``--no-deps`` for
its weights and the network (a few convolutions, batch norms and two dense layers) is
rebuilt in torch.  The forward pass and the librosa-style front-end were checked against
the original package running on TensorFlow 2.21 (tf.compat.v1 + tf-keras): see
``tests/core/test_music.py`` and the report of the work that added this file.

Input: non-overlapping windows of 187 frames (2.99 s, what the model was trained on) of the
log-mel in ``logmel.musicnn_log_mel``.  The model pools over time, so a clip shorter than one
window still gets one row computed on its real length; a tail shorter than 1 s after the last
full window is dropped (too little music to tag, and it would get a full-weight row).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..errors import ModelChecksumError, ModelMissingError
from ..progress import CancelToken, check
from ..runtime.devices import place, resolve_device
from ..runtime.formats import read_tf_bundle
from ..runtime.precision import inference_autocast
from .base import ExtractorBase, Needs, ZeroShotUse
from .logmel import MUSICNN_HOP, MUSICNN_RATE, musicnn_log_mel

if TYPE_CHECKING:
    import torch

    from ..features.types import ModalityFeatures
    from ..media.types import DecodedMedia
    from ..models.store import ModelStore

MSD_LABELS: tuple[str, ...] = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s",
    "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock",
    "60s", "rnb", "indie pop", "sad", "House", "happy",
)  # fmt: skip

WINDOW_FRAMES = 187  # librosa.time_to_frames(3 s) + 1, the training input length
MIN_TAIL_FRAMES = 63  # ~1 s
BATCH = 4  # windows per forward pass (memory; see ``MusicnnExtractor.tag``)
BN_EPS = 1e-3  # tf.compat.v1.layers.batch_normalization default
MODEL_ID = "musicnn-msd"

# ------------------------------------------------------------------ the network in torch


def _build_net(weights: dict[str, np.ndarray]) -> torch.nn.Module:
    """MSD_musicnn as a torch module fed [B, T, 96] log-mel and returning [B, 50] logits."""
    import torch
    import torch.nn.functional as F

    def t(name: str) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(weights[name]))

    def conv_w(name: str) -> torch.Tensor:  # TF [kh, kw, in, out] -> torch [out, in, kh, kw]
        return t(name).permute(3, 2, 0, 1).contiguous()

    class MusicnnNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.p = torch.nn.ParameterDict()
            for i in range(8):
                suffix = f"_{i}" if i else ""
                self.p[f"c{i}w"] = torch.nn.Parameter(conv_w(f"conv2d{suffix}/kernel"), False)
                self.p[f"c{i}b"] = torch.nn.Parameter(t(f"conv2d{suffix}/bias"), False)
            for i in range(11):
                suffix = f"_{i}" if i else ""
                gamma = t(f"batch_normalization{suffix}/gamma")
                beta = t(f"batch_normalization{suffix}/beta")
                mean = t(f"batch_normalization{suffix}/moving_mean")
                var = t(f"batch_normalization{suffix}/moving_variance")
                scale = gamma / torch.sqrt(var + BN_EPS)
                self.p[f"bn{i}s"] = torch.nn.Parameter(scale, False)
                self.p[f"bn{i}o"] = torch.nn.Parameter(beta - mean * scale, False)
            self.p["d0w"] = torch.nn.Parameter(t("dense/kernel").T.contiguous(), False)
            self.p["d0b"] = torch.nn.Parameter(t("dense/bias"), False)
            self.p["d1w"] = torch.nn.Parameter(t("dense_1/kernel").T.contiguous(), False)
            self.p["d1b"] = torch.nn.Parameter(t("dense_1/bias"), False)

        def bn(self, x: torch.Tensor, i: int) -> torch.Tensor:
            """Inference batch norm over the last axis (TF's channels-last layout)."""
            return x * self.p[f"bn{i}s"] + self.p[f"bn{i}o"]

        def conv(self, x: torch.Tensor, i: int, pad_t: tuple[int, int], relu: bool = True) -> torch.Tensor:
            """Conv over [B, C, T, F] with explicit time padding (TF's "same"/pad layout)."""
            x = F.pad(x, (0, 0, pad_t[0], pad_t[1]))
            y = F.conv2d(x, self.p[f"c{i}w"], self.p[f"c{i}b"])
            return F.relu(y) if relu else y

        def block(self, x: torch.Tensor, conv: int, bn: int, pad_t: tuple[int, int]) -> torch.Tensor:
            """conv -> ReLU -> BN -> max over frequency, giving [B, T, C].

            Computed as BN(ReLU(max or min over frequency)): BN is a per-channel affine map
            and ReLU is monotonic, so the max of BN(ReLU(y)) is taken at max(y) for channels
            with a positive BN scale and at min(y) for negative ones.  Same numbers, without
            three element-wise passes over the big [B, C, T, F] map (2x faster overall).
            """
            y = self.conv(x, conv, pad_t, relu=False)  # [B, C, T, F']
            scale = self.p[f"bn{bn}s"]
            picked = torch.where((scale >= 0)[None, :, None], y.amax(dim=3), y.amin(dim=3))
            return self.bn(F.relu(picked).transpose(1, 2), bn)  # [B, T, C]

        def forward(self, mel: torch.Tensor) -> torch.Tensor:
            x = self.bn(mel.unsqueeze(-1), 0).permute(0, 3, 1, 2)  # [B, 1, T, 96]
            front = [
                self.block(x, 0, 1, (3, 3)),  # timbral 7x38
                self.block(x, 1, 2, (3, 3)),  # timbral 7x67
                self.block(x, 2, 3, (63, 64)),  # temporal 128x1, TF "same"
                self.block(x, 3, 4, (31, 32)),  # temporal 64x1
                self.block(x, 4, 5, (15, 16)),  # temporal 32x1
            ]
            f = torch.cat(front, dim=2)  # [B, T, 561]
            layers = [f]
            h = f
            for conv, bn in ((5, 6), (6, 7), (7, 8)):
                y = self.conv(h.unsqueeze(1), conv, (3, 3)).squeeze(3).transpose(1, 2)  # [B, T, 64]
                y = self.bn(y, bn)
                h = y if conv == 5 else y + h
                layers.append(h)
            mid = torch.cat(layers, dim=2)  # [B, T, 753]
            # TF concatenates [max, mean] on a trailing axis, then flattens: interleaved
            pooled = torch.stack([mid.amax(dim=1), mid.mean(dim=1)], dim=2).flatten(1)
            pooled = self.bn(pooled, 9)
            dense = self.bn(F.relu(F.linear(pooled, self.p["d0w"], self.p["d0b"])), 10)
            return F.linear(dense, self.p["d1w"], self.p["d1b"])

    return MusicnnNet().eval()


def musicnn_net(weights: dict[str, np.ndarray]) -> torch.nn.Module:
    """The MSD_musicnn network with ``weights`` from ``read_tf_bundle`` (eval mode)."""
    return _build_net(weights)


def windows(n_frames: int) -> list[tuple[int, int]]:
    """``(start, stop)`` frame ranges: full 187-frame windows, a short clip as one window,
    and a tail after the last full window kept only when it is at least ~1 s long."""
    if n_frames <= 0:
        return []
    if n_frames <= WINDOW_FRAMES:
        return [(0, n_frames)]
    spans = [(s, s + WINDOW_FRAMES) for s in range(0, n_frames - WINDOW_FRAMES + 1, WINDOW_FRAMES)]
    tail = spans[-1][1]
    if n_frames - tail >= MIN_TAIL_FRAMES:
        spans.append((tail, n_frames))
    return spans


def _musicnn_dir(path: Path) -> Path:
    """The checkpoint folder from a resolved path: the folder itself, a file in it, or the
    musicnn package folder holding ``MSD_musicnn``."""
    path = Path(path)
    for cand in (path, path.parent, path / "MSD_musicnn", path.parent / "MSD_musicnn"):
        if (cand / ".index").is_file() or any(cand.glob("*.index")):
            return cand
    raise ModelMissingError(f"optional music extractor unavailable: no TF checkpoint (.index) in {path}")


class MusicnnExtractor(ExtractorBase):
    """50 MSD tag probabilities per ~3 s music window (musicnn MSD_musicnn, run in torch)."""

    name: ClassVar[str] = "music.musicnn"
    modality: ClassVar[str] = "music"
    zero_shot: ClassVar[ZeroShotUse | None] = ZeroShotUse("music", "labels", 0.4, "music: ")
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs(audio_rate=MUSICNN_RATE)
    model_ids: ClassVar[tuple[str, ...]] = (MODEL_ID,)

    def __init__(self) -> None:
        super().__init__()
        self._net: torch.nn.Module | None = None
        self._torch_device = "cpu"

    @property
    def dim(self) -> int:
        return len(MSD_LABELS)

    def _load(self, store: ModelStore, device: str) -> None:
        try:
            import torch  # noqa: F401 - the network runs in torch
        except ImportError as err:  # pragma: no cover - torch is part of the extract extra
            raise ModelMissingError(f"optional music extractor unavailable: torch is not installed ({err})") from err
        try:
            res = store.resolve(MODEL_ID)
        except (ModelMissingError, ModelChecksumError) as err:  # optional: report, never abort
            raise ModelMissingError(
                f"optional music extractor unavailable: {err} "
                "(the weights ship in the musicnn wheel: pip install --no-deps musicnn==0.1.0)"
            ) from err
        folder = _musicnn_dir(Path(res.path))
        try:
            weights = read_tf_bundle(folder)
            net = musicnn_net(weights)
        except (OSError, ValueError, KeyError) as err:
            raise ModelMissingError(
                f"optional music extractor unavailable: cannot read the musicnn checkpoint in {folder}: {err}"
            ) from err
        self._net, self._torch_device = place(net, resolve_device(device, what=self.name),
                                              self.name)
        self.model_id = res.model_id
        self.weights_sha256 = res.sha256

    def tag(self, logmel: np.ndarray, cancel: CancelToken | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities [T, 50], start frame [T])`` for a [frames, 96] musicnn log-mel
        (``cancel`` checked between batches of windows)."""
        import torch

        spans = windows(len(logmel))
        if not spans:
            return np.zeros((0, len(MSD_LABELS)), np.float32), np.zeros(0, np.int64)
        full = [s for s in spans if s[1] - s[0] == WINDOW_FRAMES]
        rest = [s for s in spans if s[1] - s[0] != WINDOW_FRAMES]
        out: dict[int, np.ndarray] = {}
        with torch.inference_mode(), inference_autocast(self._torch_device, self.precision):
            # Batches of 4 windows: the activations of a batch of 16 raised the worker's
            # peak RSS by ~190 MB, of 4 by ~70 MB, for the same numbers (bitwise, one thread)
            # and about the same speed.
            for i in range(0, len(full), BATCH):
                check(cancel)
                chunk = full[i : i + BATCH]
                x = torch.from_numpy(np.stack([logmel[a:b] for a, b in chunk])).to(self._torch_device)
                probs = torch.sigmoid(self._net(x).float()).cpu().numpy()  # type: ignore[misc]
                out.update({a: p for (a, _), p in zip(chunk, probs, strict=True)})
            for a, b in rest:  # the net pools over time, so any length works
                x = torch.from_numpy(np.ascontiguousarray(logmel[a:b])[None]).to(self._torch_device)
                out[a] = torch.sigmoid(self._net(x).float()).cpu().numpy()[0]  # type: ignore[misc]
        starts = np.array([a for a, _ in spans])
        return np.stack([out[a] for a in starts]).astype(np.float32), starts

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        from ..features.types import ModalityFeatures

        probs_l, times_l = [], []
        for t0, wave in media.audio_blocks(MUSICNN_RATE):  # one block for the full plan
            logmel = musicnn_log_mel(wave)
            check(cancel)
            probs, starts = self.tag(logmel, cancel)
            if len(probs):
                probs_l.append(probs)
                times_l.append(np.float32(t0) + starts.astype(np.float32) * MUSICNN_HOP / MUSICNN_RATE)
        probs = np.concatenate(probs_l) if probs_l else np.zeros((0, len(MSD_LABELS)), np.float32)
        times = np.concatenate(times_l) if times_l else np.zeros(0, np.float32)
        return ModalityFeatures(
            modality=self.modality,
            values=probs,
            times=times,
            extractor=self.name,
            extractor_version=self.version,
            model_id=self.model_id,
            weights_sha256=self.weights_sha256,
            labels=list(MSD_LABELS),
            scores=probs,
        )
