"""The model card: everything the app must know to trust and use a head, as ``card.json``.

A head directory holds ``model.onnx`` and ``card.json``.  The card says which modalities and
dimensions the graph expects and which extractors (name, version, weights) produced the
training features, so the app can warn when the user's features come from another profile;
the genre list in output order; per-genre thresholds tuned on validation; metrics; and how it
was trained.  JSON only, never pickles: a card is safe to read from an untrusted folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HeadError
from ..fsutil import atomic_write
from ..genres import GENRES
from .batching import ModalitySpec

CARD_FORMAT = 1
CARD_FILE = "card.json"
MODEL_FILE = "model.onnx"


@dataclass
class ModalityProvenance:
    """A modality the head consumes, plus the extractor that made its training features."""

    name: str
    dim: int
    max_len: int
    extractor: str = ""
    extractor_version: str = ""
    model_id: str = ""

    def spec(self) -> ModalitySpec:
        return ModalitySpec(self.name, self.dim, self.max_len)


@dataclass
class HeadCard:
    model_id: str
    version: str
    kind: str  # "onnx" | "zero-shot"
    arch: str  # "mlp" | "single" | "multi" | "zero-shot"
    genres: list[str] = field(default_factory=lambda: list(GENRES))
    thresholds: dict[str, float] = field(default_factory=dict)
    modalities: list[ModalityProvenance] = field(default_factory=list)
    profile: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    model_config: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    trailertagger_version: str = ""
    onnx: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    format: int = CARD_FORMAT

    def specs(self) -> list[ModalitySpec]:
        return [m.spec() for m in self.modalities]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HeadCard:
        d = dict(d)
        if int(d.get("format", 0)) > CARD_FORMAT:
            raise HeadError(f"card format {d.get('format')} is newer than this trailertagger "
                             f"understands ({CARD_FORMAT}); update trailertagger")
        d["modalities"] = [ModalityProvenance(**m) for m in d.get("modalities", [])]
        known = {f for f in cls.__dataclass_fields__}
        extra = {k: v for k, v in d.items() if k not in known}
        card = cls(**{k: v for k, v in d.items() if k in known})
        card.extra.update(extra)
        return card


def write_json_atomic(path: Path, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON atomically: a same-folder temp file renamed over ``path``, so a
    reader never sees half a file (``fsutil.atomic_write``)."""
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8") as fh:
        json.dump(_jsonable(obj), fh, indent=indent, allow_nan=False)
    return path


def save_card(card: HeadCard, head_dir: Path) -> Path:
    """Write ``card.json`` atomically (a half-written card would make the head unloadable)."""
    head_dir = Path(head_dir)
    head_dir.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(head_dir / CARD_FILE, card.to_dict())


def load_card(head_dir: Path) -> HeadCard:
    path = Path(head_dir) / CARD_FILE
    try:
        return HeadCard.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError, KeyError) as err:
        raise HeadError(f"{path}: not a readable model card ({err})") from err


def _jsonable(x: Any) -> Any:
    """NaN/inf are not JSON: write them as null so any JSON reader accepts the card."""
    if isinstance(x, float):
        return x if x == x and abs(x) != float("inf") else None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return _jsonable(x.item())
    return x
