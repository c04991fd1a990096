"""Training a genre head: weighted BCE, AdamW, clipping, AMP, early stopping, resumable.

``fit`` is the one entry point the CLI and the library's "train from my corrections" use::

    result = fit(train, val, TrainConfig(model="multi"), progress=print)
    export_head(result, out_dir, {"dataset": "my library"})   # model.onnx + card.json

A *sample* is ``(features, labels)``: ``features`` is a FeatureSet or a light
``{modality: [T, D] array}`` mapping, ``labels`` a ``[21]`` float32 0/1 vector in GENRES
order.  ``train`` and ``val`` may be any sequence (lists, or lazy sequences that load feature
files on access; a sequence with a ``labels`` attribute ``[N, 21]`` spares a pass over it).

Design choices and why:

* Loss: BCE with a per-genre positive weight ``neg/pos`` from training label frequencies
  (capped), so Western at 1.3 % is not ignored.  Because weighting shifts probabilities
  upward, per-genre decision thresholds are then tuned on validation (F1-optimal) and saved
  in the card; mAP, the selection metric, is unaffected by either.
* Model selection: validation macro mAP each epoch; best weights kept; early stopping after
  ``patience`` epochs without improvement.
* Determinism: the model is initialised from ``seed`` and every epoch draws its shuffling,
  frame sampling, modality dropout and dropout masks from ``(seed, epoch)``, so a run resumed
  from its checkpoint continues exactly as an uninterrupted one would.
* Checkpoints hold tensors and plain numbers only (``torch.load(weights_only=True)``); the
  configs are JSON files beside them.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import genres as _genres
from ..errors import HeadError, TrainingError
from ..features.types import FeatureSet
from ..fsutil import atomic_write
from ..runtime import resolve_device as runtime_device
from ..runtime import torch_threads
from .batching import DEFAULT_MAX_LEN, Arrays, ModalitySpec, as_arrays, pack_batch, sample_indices
from .card import HeadCard, ModalityProvenance, save_card, write_json_atomic
from .metrics import macro_map, summary, tune_thresholds
from .models import GenreModel, ModelConfig, build_model, count_parameters, to_tensors

log = logging.getLogger(__name__)

GENRES = _genres.GENRES
Sample = tuple[FeatureSet | Arrays, np.ndarray]
LAST_CKPT = "last.pt"
BEST_WEIGHTS = "model.pt"
MODEL_CONFIG = "model_config.json"
TRAIN_CONFIG = "train_config.json"
RESULT_FILE = "result.json"


@dataclass
class TrainConfig:
    """Every knob of a training run; saved as JSON with the checkpoint."""

    model: str = "multi"  # mlp | single | multi
    d_model: int = 128
    layers: int = 2
    heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.1
    mlp_hidden: int = 512
    modalities: list[str] | None = None  # None: every modality found in the training data
    max_len: int = DEFAULT_MAX_LEN  # per-modality cap unless ``max_lens`` says otherwise
    max_lens: dict[str, int] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_frac: float = 0.05
    grad_clip: float = 1.0
    pos_weight: str | float | None = "auto"  # "auto" (neg/pos per genre), a number, or None
    pos_weight_max: float = 30.0
    modality_dropout: float = 0.1  # chance to hide each present modality in a training video
    patience: int = 6
    min_delta: float = 1e-4
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda[:N]
    amp: str = "auto"  # auto (bf16/fp16 on CUDA, off on CPU) | off | bf16 | fp16
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    eval_batch_size: int = 64
    stats_samples: int = 256  # training videos used to fit input standardisation
    checkpoint_dir: str | None = None
    resume: bool = True

    def model_config(self, specs: list[ModalitySpec]) -> ModelConfig:
        return ModelConfig(kind=self.model, modalities=specs, d_model=self.d_model,
                           layers=self.layers, heads=self.heads, ff_mult=self.ff_mult,
                           dropout=self.dropout, mlp_hidden=self.mlp_hidden)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class TrainEvent:
    """What ``fit`` reports to its ``progress`` callback (step events, then one per epoch)."""

    kind: str  # "step" | "epoch"
    epoch: int
    epochs: int
    step: int
    steps: int  # steps per epoch
    loss: float
    lr: float = 0.0
    metrics: dict[str, float] | None = None
    best: float | None = None
    improved: bool = False


@dataclass
class TrainResult:
    """A trained head in torch, with everything its card needs."""

    model: GenreModel
    model_config: ModelConfig
    config: TrainConfig
    metrics: dict[str, float]
    thresholds: dict[str, float]
    history: list[dict[str, Any]]
    best_epoch: int
    provenance: dict[str, dict[str, str]] = field(default_factory=dict)
    profile: str = ""
    n_train: int = 0
    n_val: int = 0
    pos_weight: list[float] = field(default_factory=list)
    label_frequency: list[float] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0
    device: str = "cpu"

    def predict(self, items: Sequence[FeatureSet | Arrays], batch_size: int = 64) -> np.ndarray:
        """Probabilities ``[N, 21]`` from the torch model (evaluation helper)."""
        return predict_probs(self.model, items, batch_size=batch_size)

    def summary_dict(self) -> dict[str, Any]:
        """Everything but the model, JSON-ready (``result.json``)."""
        d = {k: v for k, v in self.__dict__.items() if k not in ("model", "model_config", "config")}
        d["model_config"] = self.model_config.to_dict()
        d["config"] = self.config.to_dict()
        return d


# ----------------------------------------------------------------------------- helpers


def resolve_device(name: str) -> torch.device:
    """The torch device for ``TrainConfig.device`` (``auto|cpu|cuda[:N]``, see
    ``runtime.resolve_device``)."""
    return torch.device(runtime_device(name, what="training"))


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None: mixed precision only where the device does it natively."""
    if amp == "off" or device.type != "cuda":
        return None
    if amp in ("auto", "bf16") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def labels_matrix(samples: Sequence[Sample]) -> np.ndarray:
    """``[N, 21]`` labels, read from a ``labels`` attribute when the sequence has one."""
    lab = getattr(samples, "labels", None)
    if lab is not None:
        return np.asarray(lab, dtype=np.float32)
    if len(samples) == 0:
        return np.zeros((0, len(GENRES)), dtype=np.float32)
    return np.stack([np.asarray(s[1], dtype=np.float32).reshape(len(GENRES)) for s in samples])


def infer_specs(samples: Sequence[Sample], cfg: TrainConfig, scan: int = 256) -> list[ModalitySpec]:
    """Modalities and dims the head will take, from the data (or ``cfg.modalities``)."""
    dims: dict[str, int] = {}
    for i in range(min(len(samples), scan)):
        feats = samples[i][0]
        pairs = ((k, m.dim, m.length) for k, m in feats.modalities.items()) if isinstance(
            feats, FeatureSet) else ((k, np.shape(v)[1], len(v)) for k, v in feats.items())
        for name, dim, length in pairs:
            if cfg.modalities is not None and name not in cfg.modalities:
                continue
            if name in dims and length and dims[name] != dim:
                raise TrainingError(f"modality {name!r} has dims {dims[name]} and {dim} in the data")
            if length or name not in dims:
                dims[name] = int(dim)
    names = list(cfg.modalities) if cfg.modalities is not None else sorted(dims)
    missing = [n for n in names if n not in dims]
    if missing:
        raise TrainingError(f"no training video has modality {', '.join(missing)}")
    if not names:
        raise TrainingError("the training data has no feature modality")
    return [ModalitySpec(n, dims[n], int(cfg.max_lens.get(n, cfg.max_len))) for n in names]


def collect_provenance(samples: Sequence[Sample], scan: int = 64) -> tuple[dict[str, dict[str, str]], str]:
    """Extractor name/version/weights per modality, read from FeatureSets in the data."""
    prov: dict[str, dict[str, str]] = {}
    profile = ""
    for i in range(min(len(samples), scan)):
        fs = samples[i][0]
        if not isinstance(fs, FeatureSet):
            break
        profile = profile or fs.profile
        for name, m in fs.modalities.items():
            prov.setdefault(name, {"extractor": m.extractor, "extractor_version": m.extractor_version,
                                   "model_id": m.model_id})
    return prov, profile


def input_stats(samples: Sequence[Sample], specs: list[ModalitySpec], n: int,
                seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-dimension mean/std of each modality over rows of up to ``n`` training videos."""
    rng = np.random.default_rng([seed, 7])
    pick = rng.permutation(len(samples))[:n]
    acc = {s.name: [np.zeros(s.dim), np.zeros(s.dim), 0] for s in specs}
    for i in pick:
        arrays = as_arrays(samples[int(i)][0], specs)
        for s in specs:
            x = arrays.get(s.name)
            if x is None or len(x) == 0:
                continue
            x = np.asarray(x, dtype=np.float64)[sample_indices(len(x), s.max_len)]
            a = acc[s.name]
            a[0] += x.sum(0)
            a[1] += (x * x).sum(0)
            a[2] += len(x)
    out = {}
    for s in specs:
        total, sq, count = acc[s.name]
        if count:
            mean = total / count
            std = np.sqrt(np.maximum(sq / count - mean * mean, 0.0))
            out[s.name] = (mean.astype(np.float32), std.astype(np.float32))
    return out


def positive_weights(labels: np.ndarray, cfg: TrainConfig) -> np.ndarray | None:
    if cfg.pos_weight is None or cfg.pos_weight == "none":
        return None
    if cfg.pos_weight == "auto":
        pos = labels.sum(0)
        neg = len(labels) - pos
        w = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)
        return np.clip(w, 1.0, cfg.pos_weight_max).astype(np.float32)
    return np.full(labels.shape[1], float(cfg.pos_weight), dtype=np.float32)


@torch.no_grad()
def predict_probs(model: GenreModel, items: Sequence[FeatureSet | Arrays | Sample],
                  batch_size: int = 64, drop: str | None = None,
                  amp: torch.dtype | None = None) -> np.ndarray:
    """Probabilities ``[N, 21]`` with even (inference) sampling; ``drop`` hides one modality.

    ``items`` may be features or whole samples (labels ignored).
    """
    specs = model.cfg.modalities
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    names = [s.name for s in specs]
    out = np.zeros((len(items), model.cfg.n_out), dtype=np.float32)
    for start in range(0, len(items), batch_size):
        chunk = []
        for i in range(start, min(start + batch_size, len(items))):
            it = items[i]
            if isinstance(it, tuple):
                it = it[0]
            chunk.append(as_arrays(it, specs))
        mask = None
        if drop is not None:
            mask = np.zeros((len(chunk), len(specs)), dtype=bool)
            mask[:, names.index(drop)] = True
        batch = pack_batch(chunk, specs, drop=mask)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            logits = model(*to_tensors(batch, device))
        out[start : start + len(chunk)] = torch.sigmoid(logits.float()).cpu().numpy()
    model.train(was_training)
    return out


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases, norms, embeddings and learned tokens (standard for AdamW)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and not any(k in name for k in ("pos", "cls", "emb", "missing"))
         else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _schedule(total: int, warmup: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return f


# ----------------------------------------------------------------------------- fit


def fit(train: Sequence[Sample], val: Sequence[Sample], cfg: TrainConfig | None = None,
        progress: Callable[[TrainEvent], None] | None = None) -> TrainResult:
    """Train one head; returns the best-on-validation model with thresholds and metrics.

    With an empty ``val`` the run trains for ``cfg.epochs`` and keeps the last weights
    (thresholds 0.5, no metrics).  With ``cfg.checkpoint_dir`` set, state is saved after every
    epoch and a matching earlier run there is resumed (``cfg.resume``).
    """
    cfg = cfg or TrainConfig()
    if len(train) == 0:
        raise TrainingError("no training samples")
    with torch_threads(cfg.threads):  # restored afterwards: the GUI trains in its own process
        return _fit(train, val, cfg, progress)


def _fit(train: Sequence[Sample], val: Sequence[Sample], cfg: TrainConfig,
         progress: Callable[[TrainEvent], None] | None) -> TrainResult:
    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    amp = resolve_amp(cfg.amp, device)
    specs = infer_specs(train, cfg)
    mcfg = cfg.model_config(specs)
    y_train = labels_matrix(train)
    y_val = labels_matrix(val)
    pos_w = positive_weights(y_train, cfg)
    prov, profile = collect_provenance(train)

    torch.manual_seed(cfg.seed)
    model = build_model(mcfg)
    model.set_input_stats(input_stats(train, specs, cfg.stats_samples, cfg.seed))
    model.to(device)
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(total, max(1, int(cfg.warmup_frac * total))))
    scaler = torch.amp.GradScaler(device.type, enabled=amp == torch.float16)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.from_numpy(pos_w).to(device) if pos_w is not None else None)

    history: list[dict[str, Any]] = []
    best_map, best_epoch, bad_epochs, start_epoch = -1.0, -1, 0, 0
    best_state: dict[str, torch.Tensor] | None = None
    ckpt_dir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
    if ckpt_dir is not None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        state = _try_resume(ckpt_dir, cfg, mcfg, device)
        if state is not None:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
            if "scaler" in state:
                scaler.load_state_dict(state["scaler"])
            start_epoch = int(state["epoch"]) + 1
            best_map, best_epoch = float(state["best_map"]), int(state["best_epoch"])
            bad_epochs = int(state["bad_epochs"])
            best_state = state.get("best_model")
            history = json.loads(state["history"])
            log.info("resumed %s at epoch %d", ckpt_dir, start_epoch)
        write_json_atomic(ckpt_dir / TRAIN_CONFIG, cfg.to_dict())
        write_json_atomic(ckpt_dir / MODEL_CONFIG, mcfg.to_dict())

    log.info("training %s head (%d parameters) on %d videos, validating on %d, device %s%s",
             cfg.model, count_parameters(model), len(train), len(val), device,
             f" amp {amp}" if amp else "")
    stopped_early = False
    n_mod = len(specs)
    for epoch in range(start_epoch, cfg.epochs):
        if len(val) and bad_epochs >= cfg.patience:
            stopped_early = True
            break
        rng = np.random.default_rng([cfg.seed, epoch])
        torch.manual_seed(cfg.seed * 100_003 + epoch)
        model.train()
        order = rng.permutation(len(train))
        running, seen = 0.0, 0
        for step in range(steps_per_epoch):
            idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            items = [as_arrays(train[int(i)][0], specs) for i in idx]
            drop = rng.random((len(idx), n_mod)) < cfg.modality_dropout if cfg.modality_dropout else None
            batch = pack_batch(items, specs, rng=rng, drop=drop)
            target = torch.from_numpy(y_train[idx]).to(device)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                logits = model(*to_tensors(batch, device))
            loss = loss_fn(logits.float(), target)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.grad_clip:
                scaler.unscale_(opt)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(opt)
            scaler.update()
            sched.step()
            running += float(loss.detach()) * len(idx)
            seen += len(idx)
            if progress:
                progress(TrainEvent("step", epoch, cfg.epochs, step + 1, steps_per_epoch,
                                    running / seen, sched.get_last_lr()[0], best=best_map if best_map >= 0 else None))
        record: dict[str, Any] = {"epoch": epoch, "train_loss": running / max(seen, 1),
                                  "lr": sched.get_last_lr()[0]}
        improved = False
        if len(val):
            probs = predict_probs(model, val, cfg.eval_batch_size, amp=amp)
            record["val_loss"] = float(_bce(probs, y_val, pos_w))
            record["val_macro_map"] = macro_map(y_val, probs)
            score = record["val_macro_map"] if not math.isnan(record["val_macro_map"]) else -record["val_loss"]
            if score > best_map + cfg.min_delta:
                best_map, best_epoch, bad_epochs, improved = score, epoch, 0, True
                best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                bad_epochs += 1
        else:
            best_epoch, improved = epoch, True
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        history.append(record)
        if progress:
            progress(TrainEvent("epoch", epoch, cfg.epochs, steps_per_epoch, steps_per_epoch,
                                record["train_loss"], record["lr"],
                                {k: v for k, v in record.items() if k.startswith("val_")},
                                best_map if best_map >= 0 else None, improved))
        if ckpt_dir is not None:
            _save_checkpoint(ckpt_dir, model, opt, sched, scaler, epoch, best_map, best_epoch,
                             bad_epochs, best_state, history, improved)

    if best_state is not None:
        model.load_state_dict(best_state)
    model.to(device).eval()
    metrics: dict[str, float] = {}
    thresholds = dict.fromkeys(GENRES, 0.5)
    if len(val):
        probs = predict_probs(model, val, cfg.eval_batch_size, amp=amp)
        tuned = tune_thresholds(y_val, probs)
        thresholds = dict(zip(GENRES, map(float, tuned), strict=True))
        metrics = summary(y_val, probs, tuned)
    result = TrainResult(
        model=model, model_config=mcfg, config=cfg, metrics=metrics, thresholds=thresholds,
        history=history, best_epoch=best_epoch, provenance=prov, profile=profile,
        n_train=len(train), n_val=len(val),
        pos_weight=pos_w.tolist() if pos_w is not None else [],
        label_frequency=y_train.mean(0).tolist(), stopped_early=stopped_early,
        seconds=time.perf_counter() - t0, device=str(device),
    )
    if ckpt_dir is not None:
        torch.save(model.state_dict(), ckpt_dir / BEST_WEIGHTS)
        write_json_atomic(ckpt_dir / RESULT_FILE, result.summary_dict())
    return result


def _bce(probs: np.ndarray, y: np.ndarray, pos_w: np.ndarray | None) -> float:
    p = np.clip(probs.astype(np.float64), 1e-7, 1 - 1e-7)
    w = pos_w if pos_w is not None else 1.0
    return float(-(w * y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def _save_checkpoint(ckpt_dir: Path, model, opt, sched, scaler, epoch, best_map, best_epoch,
                     bad_epochs, best_state, history, improved) -> None:
    state = {
        "model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
        "scaler": scaler.state_dict(), "epoch": epoch, "best_map": best_map,
        "best_epoch": best_epoch, "bad_epochs": bad_epochs, "history": json.dumps(history),
    }
    if best_state is not None:
        state["best_model"] = best_state
    with atomic_write(ckpt_dir / LAST_CKPT) as fh:
        torch.save(state, fh)
    if improved and best_state is not None:
        with atomic_write(ckpt_dir / BEST_WEIGHTS) as fh:
            torch.save(best_state, fh)


def _try_resume(ckpt_dir: Path, cfg: TrainConfig, mcfg: ModelConfig, device) -> dict | None:
    last = ckpt_dir / LAST_CKPT
    if not (cfg.resume and last.exists()):
        return None
    try:
        old_cfg = json.loads((ckpt_dir / TRAIN_CONFIG).read_text(encoding="utf-8"))
        old_model = json.loads((ckpt_dir / MODEL_CONFIG).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    ignore = {"epochs", "resume", "checkpoint_dir", "device", "threads", "patience"}
    same = {k: v for k, v in old_cfg.items() if k not in ignore} == {
        k: v for k, v in cfg.to_dict().items() if k not in ignore}
    if not same or old_model != json.loads(json.dumps(mcfg.to_dict())):
        raise TrainingError(f"{ckpt_dir} holds a run with other settings; choose another "
                         "output folder or pass --no-resume to start over")
    return torch.load(last, map_location=device, weights_only=True)


# ----------------------------------------------------------------------------- reload/export


def load_trained(ckpt_dir: Path) -> TrainResult:
    """Rebuild a :class:`TrainResult` from a training folder (best weights + JSON files)."""
    ckpt_dir = Path(ckpt_dir)
    for name in (BEST_WEIGHTS, MODEL_CONFIG, RESULT_FILE):
        if not (ckpt_dir / name).exists():
            raise TrainingError(f"{ckpt_dir}: no {name}; is this a finished training folder?")
    mcfg = ModelConfig.from_dict(json.loads((ckpt_dir / MODEL_CONFIG).read_text(encoding="utf-8")))
    info = json.loads((ckpt_dir / RESULT_FILE).read_text(encoding="utf-8"))
    model = build_model(mcfg)
    model.load_state_dict(torch.load(ckpt_dir / BEST_WEIGHTS, map_location="cpu", weights_only=True))
    model.eval()
    info.pop("model_config", None)
    cfg = TrainConfig.from_dict(info.pop("config", {}))
    known = set(TrainResult.__dataclass_fields__) - {"model", "model_config", "config"}
    return TrainResult(model=model, model_config=mcfg, config=cfg,
                       **{k: v for k, v in info.items() if k in known})


def export_head(result: TrainResult, out_dir: Path, card_extra: Mapping[str, Any] | None = None,
                opset: int | None = None) -> Path:
    """Write ``model.onnx`` + ``card.json`` into ``out_dir`` (created) and return it.

    The export is checked against torch on a random batch; a difference above 1e-4 is an
    error, so no broken graph is ever handed to the app.  ``card_extra`` keys that name card
    fields (e.g. ``profile``, ``metrics``) update them; others go to ``card.extra``.
    """
    import hashlib

    from ... import __version__
    from .onnx_export import DEFAULT_OPSET, export_onnx

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    opset = opset or DEFAULT_OPSET
    diff = export_onnx(result.model, onnx_path, opset=opset)
    if not diff <= 1e-4:
        raise HeadError(f"ONNX export differs from torch by {diff:.2e}; not saved as a head")
    sha = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    now = datetime.now(timezone.utc)
    mods = [ModalityProvenance(s.name, s.dim, s.max_len, **result.provenance.get(s.name, {}))
            for s in result.model_config.modalities]
    card = HeadCard(
        model_id=f"{result.model_config.kind}-{now:%Y%m%d-%H%M%S}-{sha[:6]}",
        version=sha[:12], kind="onnx", arch=result.model_config.kind, genres=list(GENRES),
        thresholds=dict(result.thresholds), modalities=mods, profile=result.profile,
        metrics=dict(result.metrics),
        training={"n_train": result.n_train, "n_val": result.n_val, "best_epoch": result.best_epoch,
                  "stopped_early": result.stopped_early, "seconds": round(result.seconds, 1),
                  "device": result.device, "config": result.config.to_dict(),
                  "label_frequency": result.label_frequency, "pos_weight": result.pos_weight,
                  "history": result.history},
        model_config=result.model_config.to_dict(), created=now.isoformat(timespec="seconds"),
        trailertagger_version=__version__,
        onnx={"file": "model.onnx", "sha256": sha, "opset": opset, "parity_max_abs": diff,
              "torch": torch.__version__},
    )
    for key, value in dict(card_extra or {}).items():
        if key in HeadCard.__dataclass_fields__ and key not in ("format",):
            setattr(card, key, value)
        else:
            card.extra[key] = value
    save_card(card, out_dir)
    return out_dir
