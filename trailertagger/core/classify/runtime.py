"""Genre heads at inference time: ONNX Runtime only (this module never imports torch).

The app ships without torch in its inference path, so a trained head is an ONNX graph plus its
model card (a *head directory*: ``model.onnx`` + ``card.json``).  Heads live under
``AppDirs.heads``; ``active.json`` there points at the one in use.  With no activated head, or
a broken one, the app falls back to the zero-shot head, which needs no training at all.

Sessions come from ``runtime.ort_session``: execution providers are a preferred list
intersected with what the installed onnxruntime offers (``CUDAExecutionProvider`` when
onnxruntime-gpu is installed, else CPU), and a broken graph is a clear model error.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..errors import HeadError
from ..features.types import FeatureSet
from ..genres import GENRES
from ..runtime.onnx import ort_session
from .batching import Arrays, arrays_from_featureset, pack_batch
from .card import CARD_FILE, MODEL_FILE, HeadCard, load_card, write_json_atomic

if TYPE_CHECKING:
    from ..models.store import ModelStore
    from ..paths import AppDirs

log = logging.getLogger(__name__)

ACTIVE_FILE = "active.json"
ZERO_SHOT = "zero-shot"


@runtime_checkable
class GenreHead(Protocol):
    """What the app, library and CLI need from any genre head."""

    model_id: str
    version: str
    kind: str  # "onnx" | "zero-shot"
    genres: tuple[str, ...]
    thresholds: dict[str, float]

    def predict(self, fs: FeatureSet) -> dict[str, float]:
        """Probability per genre (all 21) for one video."""

    def predict_many(self, fss: list[FeatureSet]) -> list[dict[str, float]]:
        """Batched ``predict``; same results, faster."""


class OnnxHead:
    """A trained head: ONNX graph + card, run with ONNX Runtime.

    Inputs are prepared exactly as in training evaluation (``batching.pack_batch`` with even
    subsampling); a modality the FeatureSet lacks, has empty, or has with another dimension is
    masked as missing, which the heads are trained to handle.
    """

    kind = "onnx"

    def __init__(self, head_dir: Path, providers: Sequence[str] | None = None,
                 batch_size: int = 32, threads: int = 0) -> None:
        self.path = Path(head_dir)
        self.card: HeadCard = load_card(self.path)
        model = self.path / MODEL_FILE
        if not model.exists():
            raise HeadError(f"{self.path}: no {MODEL_FILE} beside the card")
        self.model_id = self.card.model_id
        self.version = self.card.version
        self.genres = tuple(self.card.genres)
        if self.genres != GENRES:
            raise HeadError(f"{self.path}: head genres {self.genres} differ from this version's")
        self.thresholds = {g: float(self.card.thresholds.get(g, 0.5)) for g in self.genres}
        self.specs = self.card.specs()
        # heads converted from the seed authors' checkpoints subsample as they did
        self.sampling = str(self.card.extra.get("sampling", "bins"))
        self.batch_size = batch_size
        self.session = ort_session(model, threads=threads, providers=providers)
        self.providers = self.session.get_providers()

    def describe_mismatch(self, fs: FeatureSet) -> list[str]:
        """Human-readable reasons this video's features don't fully match the head's training."""
        notes = []
        for m in self.card.modalities:
            have = fs.modalities.get(m.name)
            if have is None:
                notes.append(f"{m.name}: missing ({fs.missing.get(m.name, 'not extracted')})")
            elif have.length and have.dim != m.dim:
                notes.append(f"{m.name}: dim {have.dim}, head expects {m.dim}")
            elif m.extractor and (have.extractor, have.extractor_version) != (m.extractor, m.extractor_version):
                notes.append(f"{m.name}: made by {have.extractor} v{have.extractor_version}, head "
                             f"trained on {m.extractor} v{m.extractor_version}")
        return notes

    def predict_arrays(self, items: Sequence[Arrays]) -> np.ndarray:
        """Probabilities ``[N, 21]`` for light ``{modality: [T, D]}`` records."""
        out = np.zeros((len(items), len(self.genres)), dtype=np.float32)
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            feeds = pack_batch(chunk, self.specs, sampling=self.sampling).feeds()
            out[start : start + len(chunk)] = self.session.run(["probs"], feeds)[0]
        return out

    def predict_many(self, fss: list[FeatureSet]) -> list[dict[str, float]]:
        probs = self.predict_arrays([arrays_from_featureset(fs, self.specs) for fs in fss])
        return [dict(zip(self.genres, map(float, row), strict=True)) for row in probs]

    def predict(self, fs: FeatureSet) -> dict[str, float]:
        return self.predict_many([fs])[0]


# card kind -> loader of a head folder: the runtime loads any card whose kind is registered
HEAD_KINDS: dict[str, Callable[[Path], GenreHead]] = {}


def register_head_kind(kind: str, loader: Callable[[Path], GenreHead]) -> None:
    """Teach the runtime a new kind of head folder (``card.json`` names its ``kind``)."""
    HEAD_KINDS[kind] = loader


def load_head(path: Path) -> GenreHead:
    """Open a head directory (``model.onnx`` + ``card.json``); kind comes from the card."""
    path = Path(path)
    card = load_card(path)
    loader = HEAD_KINDS.get(card.kind)
    if loader is None:
        raise HeadError(f"{path}: head kind {card.kind!r} cannot be loaded from a folder "
                        f"(known: {', '.join(sorted(HEAD_KINDS))})")
    return loader(path)


register_head_kind("onnx", OnnxHead)


@dataclass
class HeadInfo:
    """One row of ``trailertagger heads list``."""

    model_id: str
    version: str
    arch: str
    path: Path | None
    active: bool
    created: str = ""
    macro_map: float | None = None
    profile: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["path"] = str(self.path) if self.path else None
        return d


def active_head_dir(dirs: AppDirs) -> Path | None:
    """The activated head's folder, or None (zero-shot) when nothing valid is activated."""
    pointer = Path(dirs.heads) / ACTIVE_FILE
    if not pointer.exists():
        return None
    try:
        target = json.loads(pointer.read_text(encoding="utf-8")).get("head")
    except (OSError, json.JSONDecodeError, AttributeError):
        log.warning("ignoring unreadable %s", pointer)
        return None
    if not target or target == ZERO_SHOT:
        return None
    path = Path(target)
    return path if path.is_absolute() else Path(dirs.heads) / path


def list_heads(dirs: AppDirs) -> list[HeadInfo]:
    """Every head folder under ``dirs.heads`` plus the built-in zero-shot head."""
    active = active_head_dir(dirs)
    rows = [HeadInfo(ZERO_SHOT, "", "zero-shot", None, active is None)]
    root = Path(dirs.heads)
    folders = sorted(p.parent for p in root.glob(f"*/{CARD_FILE}")) if root.exists() else []
    if active is not None and active not in folders and (active / CARD_FILE).exists():
        folders.append(active)  # activated in place from outside the heads folder
    for folder in folders:
        is_active = active is not None and folder.resolve() == active.resolve()
        try:
            card = load_card(folder)
        except ValueError as err:
            rows.append(HeadInfo(folder.name, "", "?", folder, is_active, error=str(err)))
            continue
        err = "" if (folder / MODEL_FILE).exists() else f"no {MODEL_FILE}"
        mm = card.metrics.get("macro_map")
        rows.append(HeadInfo(card.model_id, card.version, card.arch, folder, is_active,
                             card.created, float(mm) if mm is not None else None, card.profile, err))
    return rows


def activate_head(dirs: AppDirs, head_dir: Path | str | None) -> Path | None:
    """Make ``head_dir`` the active head; ``None`` or ``"zero-shot"`` activates zero-shot.

    The head is loaded once first, so a broken head is refused instead of activated.  A head
    outside ``dirs.heads`` is copied in (under its model id), so the app never depends on a
    training folder the user may delete.  Returns the activated folder (None for zero-shot).
    """
    heads = Path(dirs.heads)
    heads.mkdir(parents=True, exist_ok=True)
    target: Path | None = None
    if head_dir is not None and str(head_dir) != ZERO_SHOT:
        src = Path(head_dir)
        head = OnnxHead(src)  # raises on a broken head
        try:
            src.resolve().relative_to(heads.resolve())
            target = src
        except ValueError:
            target = heads / head.model_id
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(src, target)
    rel: str = ZERO_SHOT
    if target is not None:
        try:
            rel = str(target.resolve().relative_to(heads.resolve()))
        except ValueError:
            rel = str(target.resolve())
    write_json_atomic(heads / ACTIVE_FILE, {"head": rel}, indent=None)
    return target


def active_head(dirs: AppDirs, store: ModelStore) -> GenreHead:
    """The activated trained head, else the zero-shot head (also when the active one is broken)."""
    path = active_head_dir(dirs)
    if path is not None:
        try:
            return load_head(path)
        except Exception as err:  # noqa: BLE001 - a broken head must not stop tagging
            log.warning("active head %s cannot be loaded (%s); using the zero-shot head", path, err)
    from .zero_shot import ZeroShotHead

    return ZeroShotHead(store)
