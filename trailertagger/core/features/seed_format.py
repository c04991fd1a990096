"""The seed authors' data format (arXiv 2410.19760; Zenodo record 13909366), in one place.

Their five features, by their key: ``asr_sentiment`` and ``ocr_sentiment`` (one 768-d
twitter-RoBERTa sentiment vector per video), ``beats`` (BEATs iter3+ AS2M, one 768-d row per
3 s audio window, 50 % overlap), ``clip`` (OpenAI CLIP ViT-B/32 image embedding per scene
mid-frame, 512-d) and ``face_emotion`` (ViT face-expression CLS vector per frame with a
face, 768-d).  Their classifiers read ``feature_lengths`` rows of each (longer sequences are
subsampled at ``round(linspace(0, n - 1, length))``, shorter ones zero-padded at the end; a
missing feature is all zeros) and optionally min-max normalise or standardise each feature
with one scalar statistic per feature (``stats.pt``), applied before the padding.

In trailertagger the features get their own modality names (:data:`SEED_TO_MODALITY`): their
CLIP rows are OpenAI-weight, un-normalised embeddings, a different space from the ``clip``
modality of the ``paper`` profile (LAION weights, L2-normalised), and the two must never be
fed to the same head.

``stats.pt`` and the classifiers' ``*_config.pt`` are ``torch.save`` archives holding numpy
scalars, ``pathlib`` paths and ``torch.device``; :func:`load_torch_file` reads them with
``torch.load(weights_only=True)`` admitting exactly those extra types.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError

#: Their feature key -> trailertagger modality name.
SEED_TO_MODALITY: dict[str, str] = {
    "asr_sentiment": "seed_asr_sentiment",
    "beats": "seed_beats",
    "clip": "seed_clip",
    "face_emotion": "seed_face_emotion",
    "ocr_sentiment": "seed_ocr_sentiment",
}
MODALITY_TO_SEED: dict[str, str] = {v: k for k, v in SEED_TO_MODALITY.items()}
#: Their row dimensions and default sequence lengths (``classification/src/config.py``).
SEED_DIMS: dict[str, int] = {"asr_sentiment": 768, "beats": 768, "clip": 512,
                             "face_emotion": 768, "ocr_sentiment": 768}
SEED_LENGTHS: dict[str, int] = {"asr_sentiment": 1, "beats": 144, "clip": 160,
                                "face_emotion": 80, "ocr_sentiment": 1}
SINGULAR: frozenset[str] = frozenset({"asr_sentiment", "ocr_sentiment"})
#: BEATs rows start every 1.5 s (3 s windows, 50 % overlap).
BEATS_HOP_S = 1.5
STAT_KEYS = ("mean", "std", "min", "max")
PROVENANCE = "seed authors' features"
SEED_ZENODO = "https://zenodo.org/records/13909366"
SEED_REPO = "https://github.com/serkansulun/movie-genre-classification"


def load_torch_file(path: Path | str, what: str = "file") -> Any:
    """``torch.load(weights_only=True)`` admitting numpy scalars/dtypes, pathlib paths.

    Anything else the file asks for is refused by torch's own restricted unpickler; the
    error is re-raised as a :class:`ConfigError` that names the file and the refused global.
    """
    import pathlib

    import numpy as np
    import torch
    from numpy._core.multiarray import scalar

    path = Path(path)
    extra: list[Any] = [(scalar, "numpy.core.multiarray.scalar"), scalar, np.dtype,
                        pathlib.PosixPath, pathlib.PurePosixPath, pathlib.WindowsPath,
                        pathlib.PureWindowsPath, (pathlib.PosixPath, "pathlib._local.PosixPath"),
                        (pathlib.WindowsPath, "pathlib._local.WindowsPath")]
    extra += [getattr(np.dtypes, n) for n in dir(np.dtypes)
              if n.endswith("DType") and n != "ObjectDType" and isinstance(getattr(np.dtypes, n), type)]
    try:
        with torch.serialization.safe_globals(extra):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: no such {what}") from err
    except Exception as err:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError...
        text = str(err)
        hit = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL)\s+([\w.]+)", text)
        reason = (f"it asks for the global {hit.group(1)}, which weights_only loading refuses; "
                  "nothing from the file was executed") if hit else text.strip().splitlines()[-1]
        raise ConfigError(f"{path}: cannot read this {what} safely ({reason})") from err


def read_stats(obj_or_path: Mapping | Path | str) -> dict[str, dict[str, float]]:
    """Their per-feature statistics as ``{feature: {mean, std, min, max}}`` plain floats.

    Accepts ``stats.pt``, the ``seed_stats.json`` that ``import-features`` writes, or the
    ``stats`` mapping of ``features.pkl``.
    """
    if isinstance(obj_or_path, (str, Path)):
        path = Path(obj_or_path)
        if path.suffix == ".json":
            import json

            try:
                obj: Any = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise ConfigError(f"{path}: not a readable statistics file ({err})") from err
        else:
            obj = load_torch_file(path, "statistics file")
        where = str(path)
    else:
        obj, where = obj_or_path, "statistics"
    if isinstance(obj, Mapping) and isinstance(obj.get("stats"), Mapping):
        obj = obj["stats"]  # a whole features.pkl-like mapping, or a file with a "source" note
    if not isinstance(obj, Mapping):
        raise ConfigError(f"{where}: statistics must map feature names to mean/std/min/max")
    out: dict[str, dict[str, float]] = {}
    for name, st in obj.items():
        if name not in SEED_DIMS:
            continue
        if not isinstance(st, Mapping) or any(k not in st for k in STAT_KEYS):
            raise ConfigError(f"{where}: statistics of {name!r} lack one of {', '.join(STAT_KEYS)}")
        vals = {k: float(st[k]) for k in STAT_KEYS}
        if not all(math.isfinite(v) for v in vals.values()):
            raise ConfigError(f"{where}: statistics of {name!r} are not finite: {vals}")
        out[str(name)] = vals
    if not out:
        raise ConfigError(f"{where}: no statistics for any of {', '.join(SEED_DIMS)}")
    return out
