"""The seed authors' feature set (profile ``seed``), reproduced with the same pretrained models.

One extractor per feature of arXiv 2410.19760's released code; each writes the modality name
that :data:`~trailertagger.core.features.seed_format.SEED_TO_MODALITY` gives it, so heads
converted with ``heads import-seed`` read them:

==================== ===================================== ==========================================
extractor            model (store id)                      rows
==================== ===================================== ==========================================
seed.clip            OpenAI CLIP ViT-B/32                  one 512-d ``image_embeds`` per scene frame
                     (``clip-vit-b32-openai``)             (not L2-normalised, as theirs)
seed.beats           BEATs iter3+ AS2M cpt2 (beats.py)     one 768-d row per 3 s window, hop 1.5 s
seed.face_emotion    YuNet face detector + ViT face        one 768-d row per frame with a face: the
                     expression (``vit-face-expression``)  pre-LayerNorm CLS of the two largest faces,
                                                           averaged
seed.asr_sentiment   Whisper large-v3 (translate to        one 768-d row: the CLS of the last layer
                     English) + twitter-RoBERTa sentiment  of the sentiment model on the transcript
seed.ocr_sentiment   PP-OCR + language detection,          one 768-d row: sentiment CLS of the
                     segmentation, spelling, translation   processed on-screen text
                     + twitter-RoBERTa sentiment
==================== ===================================== ==========================================

Differences from their code, all deliberate and small: frames and audio come from
trailertagger's own decoder (ffmpeg scene score 0.27 and mid-scene frames like theirs; audio
resampled by PyAV instead of torchaudio); the face detector is OpenCV's YuNet, not their
YOLOv5-face weights (not published as a package); OCR is PP-OCR through rapidocr (ONNX)
instead of PaddleOCR; speech is read by faster-whisper (CTranslate2) instead of the
transformers pipeline.  Each extractor names the model folder to fill when weights are
missing.  The OCR stage's text pipeline (language detection, word segmentation, spelling
correction, translation: four more models) is optional: without it the extractor is
unavailable and ``seed_ocr_sentiment`` is recorded as missing with the reason, which is what
their classifiers see for a trailer without text (all zeros).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ModelMissingError
from ..progress import CancelToken, check, run_cancellable
from ..runtime import cpu_threads, resolve_device
from .base import ExtractorBase, Needs

if TYPE_CHECKING:
    from ..features.types import ModalityFeatures
    from ..media.types import DecodedMedia
    from ..models.store import ModelStore

log = logging.getLogger(__name__)

CLIP_ID = "clip-vit-b32-openai"
FACE_ID = "vit-face-expression"
FACE_DETECTOR_ID = "yunet-face"
SENTIMENT_ID = "twitter-roberta-sentiment"
WHISPER_ID = "whisper-large-v3"
PPOCR_ID = "ppocr"
LANGUAGE_ID = "xlmr-language-detection"
SPELL_ID = "t5-large-spell"
TRANSLATE_ID = "nllb-200-distilled-600m"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
OCR_MIN_SCORE = 0.75  # their OCRRunner's line confidence threshold
LANGUAGE_MIN_SCORE = 0.9  # below this their language classifier says "unknown"
SENTIMENT_MAX_TOKENS = 512


def _transformers(who: str):
    try:
        import transformers
    except ImportError as err:
        raise ModelMissingError(f"{who} needs the transformers package, which is not installed: "
                                "pip install 'trailertagger[seed]'") from err
    transformers.logging.set_verbosity_error()
    return transformers


def _folder(store: ModelStore, model_id: str) -> tuple[Path, Any]:
    res = store.resolve(model_id)  # ModelMissingError names the files and the folder
    path = Path(res.path)
    return (path if path.is_dir() else path.parent), res


def _device(device: str) -> str:
    return resolve_device(device, what="seed extractor")


# ----------------------------------------------------------------------------- CLIP


def clip_preprocess(images: list[np.ndarray], size: int = 224):
    """RGB uint8 frames -> ``[N, 3, size, size]`` float32 tensor, the seed authors' recipe.

    Their ``CLIPRunner`` used torchvision tensor transforms: ``/255``, ``Resize(size)`` of the
    shorter side (bicubic, antialias; the longer side ``int(size * long / short)``),
    ``CenterCrop`` (offset ``round((h - size) / 2)``), CLIP mean/std.  On a float tensor
    torchvision's bicubic resize is ``torch.nn.functional.interpolate`` with
    ``antialias=True`` and no clamping, done here directly.
    """
    import torch
    import torch.nn.functional as F

    out = torch.empty((len(images), 3, size, size), dtype=torch.float32)
    mean = torch.tensor(CLIP_MEAN)[:, None, None]
    std = torch.tensor(CLIP_STD)[:, None, None]
    for i, img in enumerate(images):
        x = torch.from_numpy(np.ascontiguousarray(img[..., :3])).permute(2, 0, 1).float()[None] / 255
        h, w = x.shape[-2:]
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = size, int(size * long / short)
        nh, nw = (new_long, new_short) if w <= h else (new_short, new_long)
        if (nh, nw) != (h, w):
            x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True)
        top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
        x = x[..., top : top + size, left : left + size]
        out[i] = (x[0] - mean) / std
    return out


class SeedClipExtractor(ExtractorBase):
    """One row per scene frame: OpenAI CLIP ViT-B/32 ``image_embeds`` (512-d, unnormalised)."""

    name: ClassVar[str] = "seed.clip"
    modality: ClassVar[str] = "seed_clip"
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs(frames=True)
    model_ids: ClassVar[tuple[str, ...]] = (CLIP_ID,)

    def __init__(self, batch_size: int = 8) -> None:
        super().__init__()
        self.batch_size = max(1, batch_size)
        self._model: Any = None

    @property
    def dim(self) -> int:
        return 512

    def _load(self, store: ModelStore, device: str) -> None:
        tf = _transformers(self.name)
        folder, res = _folder(store, CLIP_ID)
        self.device = _device(device)
        model = tf.CLIPVisionModelWithProjection.from_pretrained(str(folder), local_files_only=True)
        self.set_model(model.to(self.device).eval(), res.model_id, res.sha256)

    def set_model(self, model: Any, model_id: str, sha256: str) -> None:
        self._model, self.model_id, self.weights_sha256 = model, model_id, sha256

    def embed(self, images: list[np.ndarray], cancel: CancelToken | None = None) -> np.ndarray:
        import torch

        if self._model is None:
            raise RuntimeError(f"{self.name}: call load() first")
        dim = int(self._model.config.projection_dim)
        out = np.zeros((len(images), dim), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(images), self.batch_size):
                check(cancel)
                x = clip_preprocess(images[i : i + self.batch_size]).to(self.device)
                out[i : i + len(x)] = self._model(pixel_values=x).image_embeds.float().cpu().numpy()
        return out

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        from ..features.types import ModalityFeatures

        frames = media.frames
        return ModalityFeatures(
            modality=self.modality, values=self.embed([f.image for f in frames], cancel),
            times=np.array([f.time for f in frames], dtype=np.float32), extractor=self.name,
            extractor_version=self.version, model_id=self.model_id, weights_sha256=self.weights_sha256)


# ----------------------------------------------------------------------------- faces


def two_largest_mean(features: list[np.ndarray], areas: list[float]) -> np.ndarray:
    """Their per-frame face feature: the mean over the (at most) two largest faces."""
    order = np.argsort(np.asarray(areas, dtype=np.float64), kind="stable")[::-1][:2]
    return np.mean(np.stack([features[i] for i in order]), axis=0).astype(np.float32)


class SeedFaceEmotionExtractor(ExtractorBase):
    """One row per frame with a face: ViT face-expression CLS (before the final LayerNorm)."""

    name: ClassVar[str] = "seed.face_emotion"
    modality: ClassVar[str] = "seed_face_emotion"
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs(frames=True)
    model_ids: ClassVar[tuple[str, ...]] = (FACE_DETECTOR_ID, FACE_ID)

    def __init__(self, score_threshold: float = 0.7, min_face: int = 16) -> None:
        super().__init__()
        self.score_threshold = score_threshold
        self.min_face = min_face
        self._detector: Any = None
        self._model: Any = None
        self._processor: Any = None

    @property
    def dim(self) -> int:
        return 768

    def _load(self, store: ModelStore, device: str) -> None:
        import cv2

        tf = _transformers(self.name)
        det = store.resolve(FACE_DETECTOR_ID)
        if not hasattr(cv2, "FaceDetectorYN"):
            raise ModelMissingError(f"{self.name} needs OpenCV >= 4.8 (cv2.FaceDetectorYN)")
        self._detector = cv2.FaceDetectorYN.create(str(det.path), "", (320, 320), self.score_threshold)
        folder, res = _folder(store, FACE_ID)
        self.device = _device(device)
        model = tf.AutoModelForImageClassification.from_pretrained(str(folder), local_files_only=True)
        processor = tf.AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
        self.set_model(model.to(self.device).eval(), processor, f"{det.model_id}+{res.model_id}",
                       hashlib.sha256(f"{det.sha256}:{res.sha256}".encode()).hexdigest())

    def set_model(self, model: Any, processor: Any, model_id: str, sha256: str) -> None:
        self._model, self._processor = model, processor
        self.model_id, self.weights_sha256 = model_id, sha256

    def faces(self, image: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """``(RGB crop, area)`` of every face YuNet finds in one RGB frame."""
        h, w = image.shape[:2]
        self._detector.setInputSize((w, h))
        _, found = self._detector.detect(np.ascontiguousarray(image[..., ::-1]))
        out = []
        for row in [] if found is None else found:
            x, y, bw, bh = (int(round(v)) for v in row[:4])
            x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + bw), min(h, y + bh)
            if x1 - x0 >= self.min_face and y1 - y0 >= self.min_face:
                out.append((image[y0:y1, x0:x1], float((x1 - x0) * (y1 - y0))))
        return out

    def face_features(self, crops: list[np.ndarray]) -> np.ndarray:
        """``[N, 768]``: the CLS row of the last encoder layer's output (their
        ``hidden_states[-1][:, 0]``, i.e. before the model's final LayerNorm)."""
        import torch
        from PIL import Image

        pixels = self._processor([Image.fromarray(c) for c in crops], return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            out = self._model(pixels.to(self.device), output_hidden_states=True)
        return out.hidden_states[-1][:, 0].float().cpu().numpy()

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        from ..features.types import ModalityFeatures

        if self._model is None:
            raise RuntimeError(f"{self.name}: call load() first")
        rows, times = [], []
        for frame in media.frames:
            check(cancel)
            found = self.faces(frame.image)
            if not found:
                continue
            feats = self.face_features([c for c, _ in found])
            rows.append(two_largest_mean(list(feats), [a for _, a in found]))
            times.append(frame.time)
        values = np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)
        return ModalityFeatures(
            modality=self.modality, values=values, times=np.array(times, dtype=np.float32),
            extractor=self.name, extractor_version=self.version, model_id=self.model_id,
            weights_sha256=self.weights_sha256)


# ----------------------------------------------------------------------------- text


class SentimentEncoder:
    """twitter-RoBERTa sentiment: the last layer's first-token row for one text (768-d)."""

    def __init__(self, model: Any, tokenizer: Any, device: str = "cpu") -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device

    @classmethod
    def load(cls, store: ModelStore, device: str, who: str) -> tuple[SentimentEncoder, Any]:
        tf = _transformers(who)
        folder, res = _folder(store, SENTIMENT_ID)
        dev = _device(device)
        model = tf.AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True)
        tok = tf.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        return cls(model.to(dev).eval(), tok, dev), res

    def embed(self, text: str) -> np.ndarray:
        import torch

        x = self.tokenizer(text, return_tensors="pt", truncation=True, padding=True,
                           max_length=SENTIMENT_MAX_TOKENS).to(self.device)
        with torch.inference_mode():
            out = self.model(**x, output_hidden_states=True)
        return out.hidden_states[-1][0, 0].float().cpu().numpy()


def _text_row(modality: str, name: str, version: str, model_id: str, sha: str,
              encoder: SentimentEncoder, text: str, time: float = 0.0) -> ModalityFeatures:
    from ..features.types import ModalityFeatures

    text = text.strip()
    if not text:
        return ModalityFeatures(modality=modality, values=np.zeros((0, 768), np.float32),
                                times=np.zeros(0, np.float32), extractor=name,
                                extractor_version=version, model_id=model_id, weights_sha256=sha,
                                texts=[])
    return ModalityFeatures(modality=modality, values=encoder.embed(text)[None],
                            times=np.array([time], np.float32), extractor=name,
                            extractor_version=version, model_id=model_id, weights_sha256=sha,
                            texts=[text])


class SeedAsrSentimentExtractor(ExtractorBase):
    """Speech translated to English by Whisper large-v3, then one sentiment vector."""

    name: ClassVar[str] = "seed.asr_sentiment"
    modality: ClassVar[str] = "seed_asr_sentiment"
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs(audio_rate=16000)
    model_ids: ClassVar[tuple[str, ...]] = (WHISPER_ID, SENTIMENT_ID)

    def __init__(self, beam_size: int = 5) -> None:
        super().__init__()
        self.beam_size = beam_size
        self._whisper: Any = None
        self._encoder: SentimentEncoder | None = None

    @property
    def dim(self) -> int:
        return 768

    def _load(self, store: ModelStore, device: str) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as err:
            raise ModelMissingError(f"{self.name} needs faster-whisper: pip install "
                                    "'trailertagger[extract]'") from err
        folder, res = _folder(store, WHISPER_ID)
        from .asr import _ct2_cuda

        cuda = resolve_device(device, has_cuda=_ct2_cuda, what=self.name).startswith("cuda")
        self._whisper = WhisperModel(str(folder), device="cuda" if cuda else "cpu",
                                     compute_type="float16" if cuda else "int8",
                                     cpu_threads=cpu_threads(), local_files_only=True)
        self._encoder, sres = SentimentEncoder.load(store, device, self.name)
        self.model_id = f"{res.model_id}+{sres.model_id}"
        self.weights_sha256 = hashlib.sha256(f"{res.sha256}:{sres.sha256}".encode()).hexdigest()

    def transcript(self, wave: np.ndarray, cancel: CancelToken | None = None) -> str:
        """English text of the speech (Whisper's translate task, like theirs); a cancel
        returns at once (the decoding runs in a helper thread that stops at its next
        segment, see ``progress.run_cancellable``)."""
        def decode() -> str:
            segments, _ = self._whisper.transcribe(np.ascontiguousarray(wave, np.float32),
                                                   task="translate", beam_size=self.beam_size)
            texts = []
            for s in segments:  # decoded lazily, one 30 s window at a time
                check(cancel)
                texts.append(s.text)
            return "".join(texts).strip()

        return run_cancellable(decode, cancel)

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        wave = media.audio_at(16000)
        text = self.transcript(wave, cancel) if wave is not None and wave.size else ""
        check(cancel)
        return _text_row(self.modality, self.name, self.version, self.model_id,
                         self.weights_sha256, self._encoder, text)


def ocr_frame_text(lines: list[tuple[str, float]], min_score: float = OCR_MIN_SCORE) -> str:
    """One frame's text as their OCRRunner makes it: confident lines joined by a space,
    lower-cased."""
    return " ".join(t for t, s in lines if s > min_score).lower()


def unique_texts(frame_texts: list[str]) -> list[str]:
    """Distinct non-empty frame texts in first-seen order (their ``dict.fromkeys``)."""
    return [t for t in dict.fromkeys(frame_texts) if t != ""]


class TextPipeline:
    """Their OCR text clean-up: language detection; English (or unknown) text is word-
    segmented and spell-corrected, other languages are translated to English."""

    FLORES = {"ar": "arb_Arab", "bg": "bul_Cyrl", "de": "deu_Latn", "el": "ell_Grek",
              "es": "spa_Latn", "fr": "fra_Latn", "hi": "hin_Deva", "it": "ita_Latn",
              "ja": "jpn_Jpan", "nl": "nld_Latn", "pl": "pol_Latn", "pt": "por_Latn",
              "ru": "rus_Cyrl", "sw": "swh_Latn", "th": "tha_Thai", "tr": "tur_Latn",
              "ur": "urd_Arab", "vi": "vie_Latn", "zh": "zho_Hant"}

    def __init__(self, store: ModelStore, device: str, who: str) -> None:
        tf = _transformers(who)
        try:
            from symspellpy import SymSpell
        except ImportError as err:
            raise ModelMissingError(
                f"{who}: the OCR text pipeline needs symspellpy (word segmentation) and models "
                f"{LANGUAGE_ID}, {SPELL_ID}, {TRANSLATE_ID}; without them seed_ocr_sentiment is "
                "recorded as missing, as the seed authors' classifiers see a trailer without "
                "text: pip install symspellpy and fetch the models") from err
        dev = _device(device)
        idx = 0 if dev.startswith("cuda") else -1
        lang, _ = _folder(store, LANGUAGE_ID)
        spell, _ = _folder(store, SPELL_ID)
        trans, _ = _folder(store, TRANSLATE_ID)
        self.language = tf.pipeline("text-classification", model=str(lang), device=idx)
        self.spell_tok = tf.AutoTokenizer.from_pretrained(str(spell), local_files_only=True)
        self.spell = tf.T5ForConditionalGeneration.from_pretrained(str(spell), local_files_only=True).to(dev).eval()
        self.translator = tf.pipeline("translation", model=str(trans), device=idx)
        import importlib.resources

        self.segmenter = SymSpell(max_dictionary_edit_distance=0, prefix_length=7)
        dictionary = importlib.resources.files("symspellpy") / "frequency_dictionary_en_82_765.txt"
        self.segmenter.load_dictionary(str(dictionary), term_index=0, count_index=1)
        self.device = dev

    def process(self, texts: list[str]) -> list[str]:
        import torch

        preds = self.language(texts, truncation=True)
        out = []
        for text, pred in zip(texts, preds, strict=True):
            code = pred["label"] if pred["score"] > LANGUAGE_MIN_SCORE else "unknown"
            if code in ("en", "unknown") or code not in self.FLORES:
                seg = text if text in ("-", "") else self.segmenter.word_segmentation(text).corrected_string
                enc = self.spell_tok(["grammar: " + seg], return_tensors="pt", padding=True).to(self.device)
                with torch.inference_mode():
                    gen = self.spell.generate(**enc, max_length=512)
                out.append(self.spell_tok.batch_decode(gen, skip_special_tokens=True)[0])
            else:
                out.append(self.translator(text, src_lang=self.FLORES[code], tgt_lang="eng_Latn")[0]["translation_text"])
        return list(dict.fromkeys(out))


class SeedOcrSentimentExtractor(ExtractorBase):
    """On-screen text of the scene frames, cleaned up as theirs, then one sentiment vector."""

    name: ClassVar[str] = "seed.ocr_sentiment"
    modality: ClassVar[str] = "seed_ocr_sentiment"
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs(frames=True)
    model_ids: ClassVar[tuple[str, ...]] = (PPOCR_ID, SENTIMENT_ID, LANGUAGE_ID, SPELL_ID, TRANSLATE_ID)

    def __init__(self) -> None:
        super().__init__()
        self._ocr: Any = None
        self._text: TextPipeline | None = None
        self._encoder: SentimentEncoder | None = None

    @property
    def dim(self) -> int:
        return 768

    def _load(self, store: ModelStore, device: str) -> None:
        from .ocr import RapidOcrExtractor

        self._text = TextPipeline(store, device, self.name)  # the optional part: fails first
        ocr = RapidOcrExtractor(min_confidence=0.0)
        ocr.load(store, device)
        self._ocr = ocr
        self._encoder, sres = SentimentEncoder.load(store, device, self.name)
        self.model_id = f"{PPOCR_ID}+{sres.model_id}"
        self.weights_sha256 = hashlib.sha256(f"{ocr.ocr_sha256}:{sres.sha256}".encode()).hexdigest()

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        frame_texts = []
        for f in media.frames:
            check(cancel)
            frame_texts.append(ocr_frame_text(self._ocr.read_frame(f.image)))
        texts = unique_texts(frame_texts)
        check(cancel)
        processed = self._text.process(texts) if texts else []
        return _text_row(self.modality, self.name, self.version, self.model_id,
                         self.weights_sha256, self._encoder, ". ".join(processed))
