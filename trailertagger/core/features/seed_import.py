"""Import the seed authors' ``features.pkl`` into a trailertagger feature cache.

Their file (``preprocessing/src/extract_features.py`` writes it; Zenodo record 13909366
publishes it for the MovieNet trailers) is a plain pickle of::

    {"samples": {youtube_id: {"features": {feature: ndarray [T, D] | [] (none found)},
                              "label": ndarray [21] multi-hot}},
     "stats": {feature: {"mean", "std", "min", "max": numpy float32}},
     "idx_to_label": {0: "Action", ...}}

It is read with :func:`~.safe_pickle.safe_load` (a restricted unpickler: only numpy arrays,
torch tensors and containers; anything else is refused before it runs).  A pickle cannot be
parsed lazily, so the whole object is in memory once; each sample is removed from it as soon
as its feature file is written, so memory falls while the import runs.

Each trailer becomes one ``FeatureSet`` with content hash ``seed:<youtube_id>``, saved by
:class:`~.cache.FeatureCache` (so the files are ``<root>/<id[:2]>/<id>.npz`` and the seed
dataset reader finds them by youtube id with ``--features <root>``).  Every modality carries
the provenance ``"seed authors' features"``; an empty feature (their ``[]``: no face, no
speech, no text found) is kept as a present modality with zero rows, exactly what the
authors' classifiers see as all zeros.  The statistics go to ``seed_stats.json`` beside the
files, and the labels to ``seed_labels.json`` (for checking against the label CSV).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..genres import GENRES
from ..progress import Progress
from .cache import FeatureCache
from .safe_pickle import safe_load
from .seed_format import (
    BEATS_HOP_S,
    PROVENANCE,
    SEED_DIMS,
    SEED_TO_MODALITY,
    SEED_ZENODO,
    read_stats,
)
from .types import FeatureSet, ModalityFeatures

log = logging.getLogger(__name__)

STATS_FILE = "seed_stats.json"
LABELS_FILE = "seed_labels.json"
EXTRACTOR_VERSION = "zenodo-13909366"
PROFILE = "seed-authors"


@dataclass
class ImportReport:
    source: str
    out: str
    videos: int = 0
    imported: int = 0
    rows: Counter = field(default_factory=Counter)  # modality -> videos with >= 1 row
    empty: Counter = field(default_factory=Counter)  # modality -> videos with 0 rows
    absent: Counter = field(default_factory=Counter)  # modality -> videos without the key
    labelled: int = 0
    problems: list[str] = field(default_factory=list)
    stats: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "out": self.out, "videos": self.videos,
                "imported": self.imported, "labelled": self.labelled,
                "with_rows": dict(self.rows), "empty": dict(self.empty),
                "absent": dict(self.absent), "problems": list(self.problems),
                "stats": self.stats}

    def format(self, limit: int = 20) -> str:
        lines = [f"{self.source}: {self.imported} of {self.videos} trailers imported into {self.out} "
                 f"({self.labelled} with labels), {len(self.problems)} problem(s)"]
        for seed, name in SEED_TO_MODALITY.items():
            lines.append(f"  {seed:<14} -> {name:<20} {self.rows[name]:>6} with rows, "
                         f"{self.empty[name]:>6} empty, {self.absent[name]:>6} absent")
        lines += [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


def _as_rows(value: Any, feature: str) -> np.ndarray:
    """Their value for one feature as ``[T, D]`` float32 (``[]`` and ``None`` -> 0 rows)."""
    dim = SEED_DIMS[feature]
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        return np.zeros((0, dim), dtype=np.float32)
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{feature}: values of dtype {arr.dtype}, expected numbers")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim == 3 and arr.shape[0] == 1:  # [1, T, D] kept by some extractor versions
        arr = arr[0]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"{feature}: shape {tuple(arr.shape)}, expected [T, {dim}]")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{feature}: non-finite values")
    return arr


def _times(feature: str, n: int) -> np.ndarray:
    if feature == "beats":
        return np.arange(n, dtype=np.float32) * BEATS_HOP_S
    # scene mid-frame / per-video rows: their file does not record times
    return np.full(n, np.nan, dtype=np.float32)


def sample_featureset(key: str, sample: Mapping[str, Any]) -> tuple[FeatureSet, list[str]]:
    """One trailer of their file as a FeatureSet, plus the features it lacks entirely."""
    feats = sample.get("features")
    if not isinstance(feats, Mapping):
        raise ValueError("no 'features' mapping")
    mods: dict[str, ModalityFeatures] = {}
    missing: dict[str, str] = {}
    absent = []
    for seed, name in SEED_TO_MODALITY.items():
        if seed not in feats:
            absent.append(name)
            missing[name] = f"not in the {PROVENANCE}"
            continue
        rows = _as_rows(feats[seed], seed)
        mods[name] = ModalityFeatures(
            modality=name, values=rows, times=_times(seed, len(rows)), extractor=PROVENANCE,
            extractor_version=EXTRACTOR_VERSION, model_id=f"seed:{seed}", weights_sha256="")
    unknown = sorted(set(map(str, feats)) - set(SEED_TO_MODALITY))
    if unknown:
        raise ValueError(f"unknown feature(s) {', '.join(unknown)}; the seed format has "
                         f"{', '.join(SEED_TO_MODALITY)}")
    return FeatureSet(content_hash=f"seed:{key}", duration=0.0, modalities=mods, missing=missing,
                      profile=PROFILE), absent


def _label_genres(label: Any, idx_to_label: Mapping[int, str]) -> list[str] | None:
    if label is None:
        return None
    if hasattr(label, "detach"):
        label = label.detach().cpu().numpy()
    vec = np.asarray(label).reshape(-1)
    if vec.shape[0] != len(GENRES):
        raise ValueError(f"label has {vec.shape[0]} entries, expected {len(GENRES)}")
    return [idx_to_label.get(i, GENRES[i]) for i in np.flatnonzero(vec > 0.5)]


def import_seed_features(src: Path, out: Path, *, overwrite: bool = False,
                         progress: Progress | None = None,
                         loader: Callable[[Path], Any] = safe_load) -> ImportReport:
    """Read ``src`` (their ``features.pkl``) safely and write one feature file per trailer."""
    src, out = Path(src), Path(out)
    if not src.is_file():
        raise ConfigError(f"{src}: no such file (download features.pkl from {SEED_ZENODO})")
    data = loader(src)  # raises UnsafePickleError (exit 2) before running anything refused
    if not isinstance(data, dict) or not isinstance(data.get("samples"), dict):
        raise ConfigError(f"{src}: not the seed authors' features file (expected a dict with "
                          "'samples', 'stats' and 'idx_to_label')")
    idx_to_label = data.get("idx_to_label") or {i: g for i, g in enumerate(GENRES)}
    if not isinstance(idx_to_label, Mapping):
        raise ConfigError(f"{src}: 'idx_to_label' is not a mapping")
    idx_to_label = {int(k): str(v) for k, v in idx_to_label.items()}
    if [idx_to_label.get(i) for i in range(len(GENRES))] != list(GENRES):
        raise ConfigError(f"{src}: its genre order {list(idx_to_label.values())} differs from "
                          f"trailertagger's {list(GENRES)}")
    report = ImportReport(str(src), str(out))
    if data.get("stats") is not None:
        report.stats = read_stats(data["stats"])
    cache = FeatureCache(out)
    out.mkdir(parents=True, exist_ok=True)
    samples: dict = data["samples"]
    keys = sorted(samples)
    report.videos = len(keys)
    labels: dict[str, list[str]] = {}
    for n, key in enumerate(keys, 1):
        sample = samples.pop(key)  # free the pickle's copy as we go
        try:
            if not isinstance(key, str) or not key or "/" in key or key.startswith("."):
                raise ValueError("not a usable youtube id")
            if not isinstance(sample, Mapping):
                raise ValueError("entry is not a mapping")
            fs, absent = sample_featureset(key, sample)
            genres = _label_genres(sample.get("label"), idx_to_label)
        except ValueError as err:
            report.problems.append(f"{key!r}: {err}; skipped")
            continue
        if overwrite or not cache.path_for(fs.content_hash).exists():
            cache.save(fs)
        report.imported += 1
        for name in absent:
            report.absent[name] += 1
        for name, m in fs.modalities.items():
            (report.rows if m.length else report.empty)[name] += 1
        if genres is not None:
            labels[key] = genres
            report.labelled += 1
        if progress:
            progress("import", n, report.videos)
    if report.stats:
        (out / STATS_FILE).write_text(json.dumps(report.stats, indent=2), encoding="utf-8")
    (out / LABELS_FILE).write_text(json.dumps(labels, indent=0, sort_keys=True), encoding="utf-8")
    return report
