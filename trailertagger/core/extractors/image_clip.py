"""Per-scene CLIP image embeddings (OpenCLIP ViT-B/32, LAION-2B), the seed paper's visual
features (profile ``paper``).

Why it looks like this:
  * ``open_clip`` is imported only inside ``load()``: it is an optional extra
    (``pip install 'trailertagger[clip]'``) that pulls torchvision, and listing extractors or
    running the default profile must not need it;
  * the weights never come from open_clip's own hub download: the file is resolved through
    the model store (manifest ``clip-vit-b32``: override folder, user cache, or a download
    when allowed) and loaded with ``torch.load(weights_only=True)`` and ``strict=True``, so a
    wrong or partial checkpoint fails loudly instead of giving plausible random features;
  * preprocessing is done here with PIL and numpy, exactly as open_clip's eval transform does
    it (shorter side to 224 with bicubic resampling, 224 centre crop, OpenAI CLIP mean/std),
    so nothing on our side needs torchvision and the transform is testable without open_clip.

Rows: one per scene frame, ``values`` the L2-normalised 512-d image embedding (cosine
similarity with CLIP text embeddings is a dot product, which the zero-shot head relies on).
The modality is ``clip``, not ``image``: the two visual extractors give different spaces,
and a distinct key lets both live in one feature file and keeps heads from mixing them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ModelMissingError
from ..progress import CancelToken, check
from ..runtime import resolve_device
from ..runtime.devices import place
from ..runtime.precision import inference_autocast
from .base import ExtractorBase, Needs, ZeroShotUse

if TYPE_CHECKING:
    from ..features.types import ModalityFeatures
    from ..media.types import DecodedMedia
    from ..models.store import ModelStore

log = logging.getLogger(__name__)

MODEL_ID = "clip-vit-b32"
ARCH = "ViT-B-32"
EMBED_DIM = 512
INPUT_SIZE = 224
# open_clip.constants.OPENAI_DATASET_MEAN / _STD (the LAION ViT-B/32 models use them too).
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def preprocess(images: Sequence[np.ndarray], size: int = INPUT_SIZE) -> np.ndarray:
    """HxWx3 uint8 RGB frames -> [N, 3, size, size] float32, CLIP-normalised.

    Same steps as open_clip's ``image_transform(is_train=False)``: resize so the *shorter*
    side is ``size`` (bicubic), centre-crop ``size`` x ``size``, scale to [0, 1], subtract
    the mean and divide by the std per channel."""
    from PIL import Image

    out = np.empty((len(images), 3, size, size), dtype=np.float32)
    for i, img in enumerate(images):
        pil = Image.fromarray(np.ascontiguousarray(img[..., :3], dtype=np.uint8), "RGB")
        w, h = pil.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        if (nw, nh) != (w, h):
            pil = pil.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        crop = np.asarray(pil.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
        out[i] = ((crop - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1)
    return out


def _state_dict(obj: Any) -> dict[str, Any]:
    """The bare state dict of an OpenCLIP checkpoint (plain, or wrapped by a trainer)."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ModelMissingError(f"model {MODEL_ID!r}: the weights file is not a state dict")
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


class OpenClipExtractor(ExtractorBase):
    """One row per scene frame: the L2-normalised 512-d OpenCLIP ViT-B/32 image embedding."""

    name: ClassVar[str] = "image.clip_vit_b32"
    modality: ClassVar[str] = "clip"
    zero_shot: ClassVar[ZeroShotUse | None] = ZeroShotUse("clip", "clip", 1.0)
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs(frames=True)
    model_ids: ClassVar[tuple[str, ...]] = (MODEL_ID,)

    def __init__(self, batch_size: int = 16) -> None:
        super().__init__()
        self.batch_size = max(1, batch_size)
        self._model: Any = None
        self._tokenizer: Any = None

    @property
    def dim(self) -> int:
        return EMBED_DIM

    def _load(self, store: ModelStore, device: str) -> None:
        try:
            import open_clip
        except ImportError as err:
            weights = store.locate(MODEL_ID)
            where = (f"its weights are ready ({weights.path})" if weights is not None else
                     f"its weights (model {MODEL_ID!r}, about 605 MB) go in "
                     f"{store.folder_for(MODEL_ID)} (or allow downloads)")
            raise ModelMissingError(
                f"{self.name} needs the open-clip-torch package, which is not installed: "
                f"pip install 'trailertagger[clip]'; {where}") from err
        import torch

        res = store.resolve(MODEL_ID)  # ModelMissingError names the file and folder
        model = open_clip.create_model(ARCH, pretrained=None)
        state = _state_dict(torch.load(res.path, map_location="cpu", weights_only=True))
        model.load_state_dict(state, strict=True)
        self._model, self.device = place(model.eval(), resolve_device(device, what=self.name),
                                         self.name)
        try:
            self._tokenizer = open_clip.get_tokenizer(ARCH)
        except Exception as err:  # noqa: BLE001 - text encoding is an extra, images still work
            log.warning("%s: no CLIP tokenizer (%s); embed_texts unavailable", self.name, err)
        self.model_id = res.model_id
        self.weights_sha256 = res.sha256
        log.info("loaded %s from %s (%s)", res.model_id, res.path, res.source)

    def embed_images(self, images: Sequence[np.ndarray], cancel: CancelToken | None = None) -> np.ndarray:
        """[N, 512] L2-normalised embeddings of RGB uint8 images (``cancel`` checked
        between batches)."""
        import torch

        if self._model is None:
            raise RuntimeError(f"{self.name}: call load() first")
        out = np.zeros((len(images), EMBED_DIM), dtype=np.float32)
        with torch.inference_mode(), inference_autocast(self.device, self.precision):
            for start in range(0, len(images), self.batch_size):
                check(cancel)
                batch = torch.from_numpy(preprocess(images[start:start + self.batch_size]))
                emb = self._model.encode_image(batch.to(self.device)).float()
                emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)
                out[start:start + len(batch)] = emb.cpu().numpy()
        return out

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """[N, 512] L2-normalised CLIP text embeddings (for zero-shot genre prompts)."""
        import torch

        if self._model is None or self._tokenizer is None:
            raise RuntimeError(f"{self.name}: call load() first (with open_clip's tokenizer)")
        if not texts:
            return np.zeros((0, EMBED_DIM), dtype=np.float32)
        with torch.inference_mode():
            emb = self._model.encode_text(self._tokenizer(list(texts)).to(self.device)).float()
            emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return emb.cpu().numpy().astype(np.float32)

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        from ..features.types import ModalityFeatures

        frames = media.frames
        return ModalityFeatures(
            modality=self.modality,
            values=self.embed_images([f.image for f in frames], cancel),
            times=np.array([f.time for f in frames], dtype=np.float32),
            extractor=self.name,
            extractor_version=self.version,
            model_id=self.model_id,
            weights_sha256=self.weights_sha256,
        )
