"""From variable-length feature sequences to padded, masked batches (numpy only).

This module is shared by training (torch) and the app's ONNX Runtime inference, so it must
never import torch.  Every head sees, per modality, ``values [B, T, D]`` float32 and
``mask [B, T]`` bool (True = a real row), plus ``present [B, M]`` bool, the explicit
missing-modality mask: False when a modality is absent from the FeatureSet, empty (T == 0),
of the wrong dimension, or dropped on purpose (modality dropout, ablation).

Sequences longer than a modality's ``max_len`` are subsampled: evenly at inference (the centre
of each of ``max_len`` equal bins), and with a random offset inside each bin in training, so a
long trailer shows the model a different, still time-ordered, still evenly spread subset each
epoch (the seed code had such sampling but it never ran in training).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..features.types import FeatureSet

log = logging.getLogger(__name__)

DEFAULT_MAX_LEN = 150
# ONNX/torch need a non-empty time axis; an all-missing modality is padded to this length.
MIN_PAD = 1

Arrays = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class ModalitySpec:
    """What a head expects of one modality: its key, row dimension and sequence cap."""

    name: str
    dim: int
    max_len: int = DEFAULT_MAX_LEN

    def to_dict(self) -> dict:
        return {"name": self.name, "dim": self.dim, "max_len": self.max_len}

    @classmethod
    def from_dict(cls, d: Mapping) -> ModalitySpec:
        return cls(str(d["name"]), int(d["dim"]), int(d.get("max_len", DEFAULT_MAX_LEN)))


def sample_indices(length: int, max_len: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Indices of at most ``max_len`` rows out of ``length``, in time order.

    The sequence is cut into ``max_len`` equal bins and one row is taken from each: the bin's
    centre when ``rng`` is None (deterministic inference), a uniformly random row of the bin
    otherwise (training).  Bins are at least one row wide, so indices never repeat.
    """
    if length <= max_len:
        return np.arange(length, dtype=np.int64)
    width = length / max_len
    starts = np.arange(max_len, dtype=np.float64) * width
    offsets = np.full(max_len, 0.5 * width) if rng is None else rng.random(max_len) * width
    return np.clip(np.floor(starts + offsets).astype(np.int64), 0, length - 1)


def linspace_indices(length: int, max_len: int) -> np.ndarray:
    """The seed authors' subsampling: ``round(linspace(0, length - 1, max_len))``.

    Used (``sampling="linspace"``) by heads converted from their checkpoints, so those see
    exactly the rows their data loader gave them; the first and last rows are always kept.
    """
    if length <= max_len:
        return np.arange(length, dtype=np.int64)
    return np.round(np.linspace(0, length - 1, num=max_len)).astype(np.int64)


SAMPLINGS = ("bins", "linspace")


def arrays_from_featureset(fs: FeatureSet, specs: Sequence[ModalitySpec]) -> dict[str, np.ndarray]:
    """The ``values`` arrays a head needs from a FeatureSet.

    A modality absent from the set is left out (it will be masked as missing); one whose
    dimension differs from the head's (e.g. a "clip" head fed "image" features from another
    extractor) is also left out, with a warning, rather than crashing the whole library scan.
    """
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        m = fs.modalities.get(spec.name)
        if m is None:
            continue
        if m.length and m.dim != spec.dim:
            log.warning("%s: modality %r has dim %d, head expects %d; treated as missing",
                        fs.content_hash, spec.name, m.dim, spec.dim)
            continue
        out[spec.name] = m.values
    return out


def as_arrays(item: FeatureSet | Arrays, specs: Sequence[ModalitySpec]) -> Arrays:
    """Accept either a FeatureSet or an already light ``{modality: [T, D]}`` mapping."""
    return arrays_from_featureset(item, specs) if isinstance(item, FeatureSet) else item


@dataclass
class InputBatch:
    """A padded batch in the layout every head (torch or ONNX) takes."""

    modalities: tuple[str, ...]
    values: dict[str, np.ndarray]  # [B, T_m, D_m] float32
    masks: dict[str, np.ndarray]  # [B, T_m] bool
    present: np.ndarray  # [B, M] bool

    @property
    def size(self) -> int:
        return int(self.present.shape[0])

    def feeds(self) -> dict[str, np.ndarray]:
        """Inputs by ONNX name: ``<modality>``, ``<modality>_mask`` and ``present``."""
        out: dict[str, np.ndarray] = {}
        for name in self.modalities:
            out[name] = self.values[name]
            out[f"{name}_mask"] = self.masks[name]
        out["present"] = self.present
        return out


def input_names(specs: Sequence[ModalitySpec]) -> list[str]:
    """ONNX input names in the order the exported graph declares them."""
    names: list[str] = []
    for s in specs:
        names += [s.name, f"{s.name}_mask"]
    return names + ["present"]


def pack_batch(
    items: Sequence[Arrays],
    specs: Sequence[ModalitySpec],
    rng: np.random.Generator | None = None,
    drop: np.ndarray | None = None,
    pad_to: Mapping[str, int] | None = None,
    sampling: str = "bins",
) -> InputBatch:
    """Subsample, pad and mask a list of per-video arrays.

    ``rng`` switches on training-time jittered sampling; ``drop`` (``[B, M]`` bool) marks
    modalities to hide on purpose (modality dropout, ablation).  Each modality is padded to
    the longest sequence in the batch (at least ``MIN_PAD``), or to ``pad_to[name]`` (capped at
    ``max_len``) when given: tests use it to show padding never changes the output.
    ``sampling="linspace"`` subsamples long sequences as the seed authors did
    (:func:`linspace_indices`; deterministic, ``rng`` unused).
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; one of {', '.join(SAMPLINGS)}")
    b = len(items)
    present = np.zeros((b, len(specs)), dtype=bool)
    values: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    for j, spec in enumerate(specs):
        rows: list[np.ndarray | None] = []
        for i, item in enumerate(items):
            x = item.get(spec.name)
            if x is None or len(x) == 0 or (drop is not None and drop[i, j]):
                rows.append(None)
                continue
            x = np.asarray(x, dtype=np.float32)
            if x.ndim != 2 or x.shape[1] != spec.dim:
                raise ValueError(f"modality {spec.name!r}: expected [T, {spec.dim}], got {x.shape}")
            idx = (linspace_indices(len(x), spec.max_len) if sampling == "linspace"
                   else sample_indices(len(x), spec.max_len, rng))
            rows.append(x[idx])
            present[i, j] = True
        t = max([MIN_PAD] + [len(r) for r in rows if r is not None])
        if pad_to and spec.name in pad_to:  # never beyond max_len: positions end there
            t = max(t, min(int(pad_to[spec.name]), spec.max_len))
        v = np.zeros((b, t, spec.dim), dtype=np.float32)
        m = np.zeros((b, t), dtype=bool)
        for i, r in enumerate(rows):
            if r is not None:
                v[i, : len(r)] = r
                m[i, : len(r)] = True
        values[spec.name] = v
        masks[spec.name] = m
    return InputBatch(tuple(s.name for s in specs), values, masks, present)
