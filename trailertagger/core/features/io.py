"""One ``.npz`` file per video holding every modality's arrays plus JSON provenance.

Writes go to a temporary file in the same folder and are renamed into place, so a crash or
Ctrl-C never leaves a half-written feature file behind.  ``allow_pickle`` stays off.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..fsutil import atomic_write
from .types import FeatureSet, ModalityFeatures

FORMAT_VERSION = 1


def save_featureset(path: Path, fs: FeatureSet) -> None:
    arrays: dict[str, np.ndarray] = {}
    meta: dict = {
        "format": FORMAT_VERSION,
        "content_hash": fs.content_hash,
        "duration": fs.duration,
        "profile": fs.profile,
        "missing": fs.missing,
        "media_problems": fs.media_problems,
        "provenance": fs.provenance,
        "modalities": {},
    }
    for name, m in fs.modalities.items():
        arrays[f"{name}.values"] = m.values
        arrays[f"{name}.times"] = m.times
        if m.scores is not None:
            arrays[f"{name}.scores"] = m.scores
        meta["modalities"][name] = {
            "extractor": m.extractor,
            "extractor_version": m.extractor_version,
            "model_id": m.model_id,
            "weights_sha256": m.weights_sha256,
            "texts": m.texts,
            "labels": m.labels,
        }
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


def load_featureset(path: Path) -> FeatureSet:
    """Read a feature file; raises ``ValueError`` for a file that is not one of ours."""
    with np.load(Path(path), allow_pickle=False) as data:
        if "__meta__" not in data.files:
            raise ValueError(f"{path}: not a trailertagger feature file")
        meta = json.loads(bytes(data["__meta__"]).decode("utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: feature format {meta.get('format')} != {FORMAT_VERSION}")
        mods: dict[str, ModalityFeatures] = {}
        for name, info in meta["modalities"].items():
            mods[name] = ModalityFeatures(
                modality=name,
                values=data[f"{name}.values"],
                times=data[f"{name}.times"],
                extractor=info["extractor"],
                extractor_version=info["extractor_version"],
                model_id=info["model_id"],
                weights_sha256=info["weights_sha256"],
                texts=info.get("texts"),
                labels=info.get("labels"),
                scores=data[f"{name}.scores"] if f"{name}.scores" in data.files else None,
            )
    return FeatureSet(
        content_hash=meta["content_hash"],
        duration=float(meta["duration"]),
        modalities=mods,
        missing=dict(meta.get("missing", {})),
        profile=meta.get("profile", ""),
        media_problems=dict(meta.get("media_problems", {})),
        provenance=dict(meta.get("provenance", {})),  # absent in files written before it
    )
