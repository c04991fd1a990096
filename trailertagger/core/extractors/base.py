"""The one small protocol every extractor follows, its registry, and profiles.

An extractor is a frozen pretrained model that turns ``DecodedMedia`` into one
``ModalityFeatures`` sequence.  Loading is separate from extracting so a worker process can
keep models warm across videos.  Extractors register by name (``register_extractor``: a
decorator, a lazy "module:Class", or an entry point of a plugin package), each declaring its
modality, whether it is optional, its model manifests and what the zero-shot head reads from
it.  A *profile* is a named list of extractor names, kept as data in
``resources/profiles.toml`` (``default`` runs offline on weights shipped in packages).

A new modality is one file::

    @register_extractor
    class SubtitleLanguage(ExtractorBase):
        name, modality, version = "lang.fasttext", "lang", "1"
        needs = Needs(frames=False, audio_rate=0)
        model_ids = ("fasttext-lid",)
        manifests = (str(Path(__file__).with_name("fasttext-lid.toml")),)
        zero_shot = None  # or ZeroShotUse("story", "labels", 0.3)
        ...
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..features.types import ModalityFeatures
    from ..media.types import DecodedMedia
    from ..models.store import ModelStore
    from ..progress import CancelToken


@dataclass(frozen=True)
class Needs:
    """What an extractor reads from the decoded media."""

    frames: bool = False
    audio_rate: int = 0  # 0: no audio needed; else the sample rate the model wants


@dataclass(frozen=True)
class ZeroShotUse:
    """What the label-free (zero-shot) head reads from an extractor's output.

    ``facet``: which genre description it is compared with ("story", "sounds", "imagery",
    "music" or "clip"); ``reads``: "text" (the segments' own text, e.g. a transcript),
    "labels" (the names of the top-scoring classes, e.g. AudioSet tags) or "clip" (CLIP image
    embeddings); ``weight``: how much this source counts; ``prefix``: words put before the
    labels ("sounds of ").  An extractor with ``zero_shot = None`` is declared unused there.
    """

    facet: str
    reads: str
    weight: float
    prefix: str = ""


@runtime_checkable
class Extractor(Protocol):
    name: ClassVar[str]  # registry key, e.g. "image.effnet_lite0"
    modality: ClassVar[str]  # output modality key, e.g. "image"
    version: ClassVar[str]  # bump when output changes: invalidates cached features
    needs: ClassVar[Needs]

    @property
    def dim(self) -> int: ...

    def load(self, store: ModelStore, device: str = "cpu") -> None:
        """Load weights (once); raise ModelMissingError with a clear message if absent."""

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        """Return a [T, D] sequence; T may be 0.  Never pools over time.  A long extractor
        calls ``cancel.raise_if_cancelled()`` (``progress.check(cancel)``) between its
        chunks (frames, windows, segments), so a cancel returns within one chunk."""

    def provenance(self) -> dict[str, str]:
        """{"model_id": ..., "weights_sha256": ...} of the weights actually loaded."""


@runtime_checkable
class SplitExtractor(Protocol):
    """An extractor whose work divides into independent parts (frames read one by one, say)
    that may run at the same time on the same loaded model.

    Why: the pipeline runs extractors side by side in lanes, one thread each.  An extractor
    that cannot divide is left running alone at the end of a video while the other cores
    idle; on a 30-minute film read as excerpts, OCR ran 20 s alone after the decode with one
    of two cores idle (issue 13).  Its parts instead fill every free lane.

    Contract: ``extract(media)`` must equal ``join(media, [extract_part(media, p) for p in
    split(media)])``, whatever order the parts ran in; ``extract_part`` must be safe to call
    from several threads at once (ONNX Runtime's ``run`` is).  ``split`` returns [] or one
    part when there is nothing to divide.
    """

    def split(self, media: DecodedMedia) -> list[object]: ...

    def extract_part(self, media: DecodedMedia, part: object,
                     cancel: CancelToken | None = None) -> object: ...

    def join(self, media: DecodedMedia, partials: list[object],
             cancel: CancelToken | None = None) -> ModalityFeatures: ...


def split_parts(extractor: object, media: DecodedMedia) -> list[object] | None:
    """The parts ``extractor`` divides ``media`` into, or None when it does not divide (not
    a ``SplitExtractor``, or fewer than two parts)."""
    if not isinstance(extractor, SplitExtractor):
        return None
    parts = list(extractor.split(media))
    return parts if len(parts) > 1 else None


class ExtractorBase:
    """Shared plumbing: load once under a lock, remember provenance."""

    name: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs()
    #: Model-store ids the extractor loads with its default settings; ``models check``
    #: uses it to tell a profile's required models from merely optional ones.
    model_ids: ClassVar[tuple[str, ...]] = ()
    #: True: a profile runs on without it when its package is not installed.
    optional: ClassVar[bool] = False
    #: What the zero-shot head reads from this modality (None: not used there).
    zero_shot: ClassVar[ZeroShotUse | None] = None
    #: Model manifest files (TOML) a plugin ships beside its extractor.
    manifests: ClassVar[tuple[str, ...]] = ()
    #: Mixed precision for torch models (``runtime.precision``): "auto" = float16 autocast on
    #: CUDA, float32 on the CPU; "fp32", "fp16" or "bf16" per instance.
    precision: str = "auto"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False
        self.model_id = ""
        self.weights_sha256 = ""
        self.device = "cpu"

    def load(self, store: ModelStore, device: str = "cpu") -> None:
        with self._lock:
            if not self._loaded:
                self.device = device
                self._load(store, device)
                self._loaded = True

    def _load(self, store: ModelStore, device: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def provenance(self) -> dict[str, str]:
        return {"model_id": self.model_id, "weights_sha256": self.weights_sha256}


# -- the registry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    target: str | type  # "module:Class" (imported on first use) or the class itself
    optional: bool = False  # its absence (package not installed) is reported, not fatal


_REGISTRY: dict[str, _Entry] = {}
ENTRY_POINT_GROUP = "trailertagger.extractors"
_entry_points_loaded = False


def register_extractor(cls: type | None = None, *, name: str | None = None,
                       target: str | None = None, optional: bool | None = None):  # noqa: ANN201
    """Make an extractor known by name.  Three ways, one registry:

    * a class decorator: ``@register_extractor`` on a class with ``name``, ``modality``,
      ``version``, ``needs`` (and, if it has them, ``optional``, ``zero_shot`` and
      ``manifests``: model manifest files shipped beside it);
    * lazily: ``register_extractor(name="audio.x", target="pkg.mod:Class", optional=True)``
      (the module is imported on first use, so listing extractors costs nothing);
    * an entry point in the group ``trailertagger.extractors``: ``name = "pkg.mod:Class"``
      (a plugin package; read on the first lookup).
    """
    def add(c: type) -> type:
        key = name or getattr(c, "name", "")
        if not key:
            raise ValueError(f"{c.__name__} has no extractor name")
        opt = bool(getattr(c, "optional", False)) if optional is None else optional
        _REGISTRY[key] = _Entry(c, opt)
        _register_manifests(c)
        return c

    if target is not None:
        if not name:
            raise ValueError("a lazy registration needs a name")
        _REGISTRY[name] = _Entry(target, bool(optional))
        return None
    return add(cls) if cls is not None else add


def unregister_extractor(name: str) -> None:
    _REGISTRY.pop(name, None)


def _register_manifests(cls: type) -> None:
    from ..models.specs import register_manifest

    for path in getattr(cls, "manifests", ()) or ():
        register_manifest(path)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _REGISTRY.setdefault(ep.name, _Entry(ep.value))


def extractor_names() -> list[str]:
    _load_entry_points()
    return sorted(_REGISTRY)


def extractor_class(name: str) -> Callable[[], Extractor]:
    _load_entry_points()
    if name not in _REGISTRY:
        raise KeyError(f"unknown extractor {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    entry = _REGISTRY[name]
    if isinstance(entry.target, str):
        module, _, cls = entry.target.partition(":")
        resolved = getattr(importlib.import_module(module), cls)
        _register_manifests(resolved)
        _REGISTRY[name] = entry = _Entry(resolved, entry.optional or bool(getattr(resolved, "optional", False)))
    return entry.target  # type: ignore[return-value]


def is_optional(name: str) -> bool:
    """Whether a profile runs on without this extractor when it cannot load."""
    _load_entry_points()
    entry = _REGISTRY.get(name)
    return bool(entry and (entry.optional or getattr(entry.target, "optional", False)))


for _name, _target, _optional in (
    ("image.effnet_lite0", "trailertagger.core.extractors.image:EfficientNetLite0Extractor", False),
    ("image.clip_vit_b32", "trailertagger.core.extractors.image_clip:OpenClipExtractor", False),
    ("ocr.rapidocr", "trailertagger.core.extractors.ocr:RapidOcrExtractor", False),
    ("ocr.easyocr", "trailertagger.core.extractors.ocr:EasyOcrExtractor", True),
    ("asr.faster_whisper", "trailertagger.core.extractors.asr:FasterWhisperExtractor", False),
    ("audio.yamnet", "trailertagger.core.extractors.audio_tags:YamnetExtractor", False),
    ("audio.panns", "trailertagger.core.extractors.audio_tags:PannsExtractor", False),
    ("music.musicnn", "trailertagger.core.extractors.music:MusicnnExtractor", True),
    # the seed authors' feature set (arXiv 2410.19760; profile "seed"), see extractors/seed.py;
    # seed.ocr_sentiment's text pipeline (language detection, spelling, translation) is heavy
    # and optional: without it the modality is recorded missing, as the seed code does
    ("seed.clip", "trailertagger.core.extractors.seed:SeedClipExtractor", False),
    ("seed.beats", "trailertagger.core.extractors.beats:SeedBeatsExtractor", False),
    ("seed.face_emotion", "trailertagger.core.extractors.seed:SeedFaceEmotionExtractor", False),
    ("seed.asr_sentiment", "trailertagger.core.extractors.seed:SeedAsrSentimentExtractor", False),
    ("seed.ocr_sentiment", "trailertagger.core.extractors.seed:SeedOcrSentimentExtractor", True),
):
    register_extractor(name=_name, target=_target, optional=_optional)


# -- profiles: data (resources/profiles.toml), extended with ``register_profile`` ---------------
def _builtin_profiles() -> dict[str, tuple[str, ...]]:
    import sys
    from importlib import resources

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    text = (resources.files("trailertagger") / "resources" / "profiles.toml").read_text(encoding="utf-8")
    return {name: tuple(p["extractors"]) for name, p in tomllib.loads(text).items()}


PROFILES: dict[str, tuple[str, ...]] = _builtin_profiles()


def register_profile(name: str, extractors: tuple[str, ...] | list[str]) -> None:
    """A named list of extractors (a plugin's own profile, or a test's)."""
    PROFILES[name] = tuple(extractors)


def unregister_profile(name: str) -> None:
    PROFILES.pop(name, None)


def profile_extractors(profile: str) -> tuple[str, ...]:
    if profile not in PROFILES:
        raise KeyError(f"unknown profile {profile!r}; known: {', '.join(sorted(PROFILES))}")
    return PROFILES[profile]
