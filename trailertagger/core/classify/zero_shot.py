"""Cold start: a genre head that needs no genre labels, built only from the bundled models.

Before a user has trained anything the app still has to tag videos.  This head describes each
video in words from what the frozen extractors already found, and scores each genre by how
similar that description is to hand-written genre descriptions
(``resources/genres_zero_shot.json``), using the same MiniLM sentence embedder the OCR and ASR
extractors use (model store id ``minilm-l6-v2``; nothing else is loaded):

* **story** evidence: the transcript (``asr``) and on-screen text (``ocr``).  Their rows are
  already MiniLM embeddings of each segment, so their mean is the evidence vector (texts are
  re-embedded only when the features came from another embedder);
* **sounds**: the top AudioSet tags of the ``audio`` modality, e.g. "gunshot, explosion, siren";
* **imagery**: the top ImageNet classes of the ``image`` modality, e.g. "tank, warplane";
* **music**: the top music tags of the ``music`` modality;
* **clip** (only when ``clip`` features from ``clip-vit-b32`` are present and open-clip-torch is
  installed): CLIP frame embeddings against CLIP text prompts per genre.

Each source is compared with the genre descriptions of its own facet ("sounds" descriptions are
tag lists, "story" descriptions are sentences), giving 21 cosine similarities.  These are
standardised across genres per source (a video with lots of text is not "more of every genre"),
averaged over the sources present with fixed reliabilities, and shifted by the score each
genre gets on average when any genre's description is the evidence (a *neutral* text), so that
generic trailer talk moves nothing.  Probabilities are then ``sigmoid(logit(prior_g) + TEMPERATURE * score_g)``: a video
without any evidence gets the genre's label frequency, and evidence moves it up or down.

Decision thresholds are ``min(0.5, 2 x prior)``: the probability of a rare genre rarely reaches
0.5 from weak, label-free evidence, but doubling its base rate is a real signal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import HeadError
from ..extractors.image_clip import EMBED_DIM as CLIP_DIM
from ..extractors.image_clip import MODEL_ID as CLIP_MODEL_ID
from ..extractors.text_embed import MODEL_ID as TEXT_MODEL_ID
from ..features.types import FeatureSet, ModalityFeatures
from ..genres import GENRES

if TYPE_CHECKING:
    from ..models.store import ModelStore

log = logging.getLogger(__name__)

ZERO_SHOT_VERSION = "1"  # bump when the scoring changes
RESOURCE = "genres_zero_shot.json"
FACETS = ("story", "sounds", "imagery", "music", "clip")
# How much each source counts when several are present (story evidence is the most specific).
SOURCE_WEIGHT: dict[str, float] = {"asr": 1.0, "ocr": 0.7, "audio": 0.6, "image": 0.4,
                                   "music": 0.4, "clip": 1.0}
SOURCE_FACET: dict[str, str] = {"asr": "story", "ocr": "story", "audio": "sounds",
                                "image": "imagery", "music": "music", "clip": "clip"}
TEMPERATURE = 1.5
TOP_TAGS = 8
# Tags present in nearly every trailer say nothing about its genre.
STOP_TAGS = frozenset({"speech", "music", "silence", "inside, small room", "inside, large room or hall",
                       "outside, urban or manmade", "outside, rural or natural", "noise",
                       "sound effect", "narration, monologue", "conversation", "male speech, man speaking",
                       "female speech, woman speaking", "static", "hum", "mains hum", "white noise"})
TEXT_WORDS_FULL = 15  # a transcript this long counts fully; shorter ones proportionally


@dataclass(frozen=True)
class GenreDescriptions:
    """Per genre: prior and description sentences per facet (see the resource's ``_about``)."""

    priors: dict[str, float]
    facets: dict[str, dict[str, list[str]]]  # facet -> genre -> sentences
    sha256: str


@lru_cache(maxsize=1)
def genre_descriptions() -> GenreDescriptions:
    """The bundled descriptions; every genre must have a prior and at least one story line."""
    raw = (resources.files("trailertagger") / "resources" / RESOURCE).read_bytes()
    doc = json.loads(raw.decode("utf-8"))["genres"]
    missing = [g for g in GENRES if g not in doc]
    if missing:
        raise HeadError(f"{RESOURCE} lacks genres {', '.join(missing)}")
    priors = {g: float(doc[g]["prior"]) for g in GENRES}
    facets = {f: {g: [str(s) for s in doc[g].get(f, [])] for g in GENRES} for f in FACETS}
    empty = [g for g in GENRES if not facets["story"][g]]
    if empty:
        raise HeadError(f"{RESOURCE}: no story description for {', '.join(empty)}")
    return GenreDescriptions(priors, facets, hashlib.sha256(raw).hexdigest())


def _normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _zscore(sims: np.ndarray) -> np.ndarray:
    return (sims - sims.mean()) / max(float(sims.std()), 1e-6)


def _neutral_scores(protos: np.ndarray, sentences: np.ndarray) -> np.ndarray:
    """The z-score each genre gets on average when *any* genre's description is the evidence.

    Some genres' descriptions resemble every text a little more than others (dialogue-like
    lines, generic words); subtracting this baseline makes "typical trailer text" neutral.
    """
    sims = _normalise(sentences) @ protos.T  # [S, 21]
    z = (sims - sims.mean(1, keepdims=True)) / np.maximum(sims.std(1, keepdims=True), 1e-6)
    return z.mean(0)


def _genre_prototypes(vecs: np.ndarray, owner: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised mean embedding per genre (``owner[i]`` is row ``i``'s genre index), and the
    neutral z-scores of those same description embeddings."""
    owner_arr = np.asarray(owner)
    protos = _normalise(np.stack([vecs[owner_arr == gi].mean(0) for gi in range(len(GENRES))]))
    return protos, _neutral_scores(protos, vecs)


def top_tags(mod: ModalityFeatures, k: int = TOP_TAGS) -> list[str]:
    """The ``k`` class names with the highest mean score over time (generic tags skipped).

    ImageNet names such as "tabby, tabby cat" keep their first synonym only.
    """
    if not mod.labels or mod.scores is None or len(mod.scores) == 0:
        return []
    mean = np.asarray(mod.scores, dtype=np.float64).mean(0)
    out: list[str] = []
    for i in np.argsort(-mean, kind="stable"):
        name = mod.labels[int(i)]
        if name.casefold() in STOP_TAGS:
            continue
        out.append(name.split(",")[0].strip())
        if len(out) >= k:
            break
    return out


@dataclass
class Description:
    """What the head read from one video, per source: words, and how much they count."""

    texts: dict[str, str] = field(default_factory=dict)  # source -> readable description
    weights: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.texts.items()) or "(no usable evidence)"


class ZeroShotHead:
    """The label-free genre head (see module doc).  Implements ``runtime.GenreHead``.

    The sentence embedder is loaded on the first prediction (a few seconds), so constructing
    the head, e.g. to list heads, is free.  A missing embedder raises the store's
    ``ModelMissingError``: this head never falls back to anything random.
    """

    kind = "zero-shot"
    model_id = "zero-shot"

    def __init__(self, store: ModelStore, device: str = "cpu", use_clip: bool = True) -> None:
        self.store = store
        self.device = device
        self.use_clip = use_clip
        self.desc = genre_descriptions()
        self.genres: tuple[str, ...] = GENRES
        self.priors = np.array([self.desc.priors[g] for g in GENRES])
        self.thresholds = {g: float(min(0.5, 2 * self.desc.priors[g])) for g in GENRES}
        # Stable from construction on (the library keys stored predictions by it); the MiniLM
        # weights are pinned by checksum in their manifest, so scoring code + descriptions
        # identify the head.
        self.version = f"{ZERO_SHOT_VERSION}-{self.desc.sha256[:12]}"
        self._lock = threading.Lock()
        self._embedder: Any = None
        self._protos: dict[str, np.ndarray] = {}  # facet -> [21, 384] prototypes
        self._neutral: dict[str, np.ndarray] = {}  # facet -> z-scores of a neutral description
        self._clip: Any = None  # (prototypes, neutral z-scores), False when unavailable

    # ------------------------------------------------------------------ embedding

    def _ensure_loaded(self) -> None:
        with self._lock:
            if self._embedder is not None:
                return
            from ..extractors.text_embed import get_text_embedder

            emb = get_text_embedder(self.store, self.device)
            for facet in ("story", "sounds", "imagery", "music"):
                self._protos[facet], self._neutral[facet] = self._prototypes(
                    emb.embed, self.desc.facets[facet])
            self._embedder = emb

    @staticmethod
    def _prototypes(embed, per_genre: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Normalised mean description embedding per genre, and a neutral evidence's z-scores.

        A genre without descriptions for this facet borrows its story lines.
        """
        sentences, owner = [], []
        for gi, g in enumerate(GENRES):
            for s in per_genre.get(g) or genre_descriptions().facets["story"][g]:
                sentences.append(s)
                owner.append(gi)
        return _genre_prototypes(embed(sentences), owner)

    def _clip_text(self) -> Any:
        """CLIP text prototypes per genre, or None when CLIP cannot be used here (tried once,
        under the lock, so concurrent predictions never load CLIP twice)."""
        with self._lock:
            if self._clip is None:
                self._clip = self._load_clip_text()
        return self._clip or None

    def _load_clip_text(self) -> Any:
        """``(prototypes, neutral z-scores)`` from the text tower of the extractor that made the
        ``clip`` frame embeddings (same weights, loaded the same strict, pickle-free way), or
        False when that is not possible."""
        try:
            from ..extractors.image_clip import OpenClipExtractor

            clip = OpenClipExtractor()
            clip.load(self.store, self.device)
            per_genre = self.desc.facets["clip"]
            prompts, owner = [], []
            for gi, g in enumerate(GENRES):
                for s in per_genre.get(g) or [f"a scene from a {g.lower()} movie"]:
                    prompts.append(f"a still from a movie: {s}")
                    owner.append(gi)
            return _genre_prototypes(clip.embed_texts(prompts), owner)  # L2-normalised rows
        except Exception as err:  # noqa: BLE001 - ModelMissingError (no open_clip/weights), bad weights
            log.warning("CLIP features present but CLIP text prompts unavailable (%s); "
                        "scoring without them", err)
            return False

    # ------------------------------------------------------------------ evidence

    def _text_evidence(self, mod: ModalityFeatures) -> tuple[np.ndarray | None, str, int]:
        texts = [t for t in (mod.texts or []) if t and t.strip()]
        if not texts:
            return None, "", 0
        words = sum(len(t.split()) for t in texts)
        if mod.model_id == TEXT_MODEL_ID and mod.dim == self._embedder.dim and mod.length == len(mod.texts or []):
            vec = np.asarray(mod.values, dtype=np.float64)[[i for i, t in enumerate(mod.texts or [])
                                                             if t and t.strip()]].mean(0)
        else:
            vec = self._embedder.embed(texts).mean(0)
        joined = " / ".join(texts)
        return vec, (joined[:200] + "...") if len(joined) > 200 else joined, words

    def describe(self, fs: FeatureSet) -> Description:
        """The readable evidence the head uses for ``fs`` (for the UI's "why this genre")."""
        d = Description()
        for source in ("asr", "ocr"):
            mod = fs.modalities.get(source)
            if mod is not None and mod.texts:
                text = " / ".join(t for t in mod.texts if t.strip())
                if text:
                    d.texts[source] = text
        for source, prefix in (("audio", "sounds of "), ("image", "pictures of "), ("music", "music: ")):
            mod = fs.modalities.get(source)
            tags = top_tags(mod) if mod is not None else []
            if tags:
                d.texts[source] = prefix + ", ".join(tags)
        return d

    def scores(self, fs: FeatureSet) -> tuple[np.ndarray, Description]:
        """Evidence score per genre (0 = neutral) and the description it came from."""
        self._ensure_loaded()
        total = np.zeros(len(GENRES))
        weight = 0.0
        base_sq = 0.0
        desc = Description()

        def add(source: str, vec: np.ndarray, text: str, strength: float = 1.0) -> None:
            nonlocal total, weight, base_sq
            facet = SOURCE_FACET[source]
            protos, neutral = (self._clip if facet == "clip" else
                               (self._protos[facet], self._neutral[facet]))
            z = _zscore(protos @ _normalise(np.asarray(vec, dtype=np.float64))) - neutral
            w = SOURCE_WEIGHT[source] * strength
            total += w * z
            weight += w
            base_sq += SOURCE_WEIGHT[source] ** 2
            desc.texts[source] = text
            desc.weights[source] = w

        for source in ("asr", "ocr"):
            mod = fs.modalities.get(source)
            if mod is None:
                continue
            vec, text, words = self._text_evidence(mod)
            if vec is not None and words:
                add(source, vec, text, min(1.0, words / TEXT_WORDS_FULL))
        tag_texts: list[tuple[str, str]] = []
        for source in ("audio", "image", "music"):  # tag lists, compared with tag-list facets
            mod = fs.modalities.get(source)
            tags = top_tags(mod) if mod is not None else []
            if tags:
                tag_texts.append((source, ", ".join(tags)))
        if tag_texts:
            vecs = self._embedder.embed([t for _, t in tag_texts])
            for (source, text), vec in zip(tag_texts, vecs, strict=True):
                add(source, vec, text)
        clip = fs.modalities.get("clip")
        if (self.use_clip and clip is not None and clip.length and clip.dim == CLIP_DIM
                and clip.model_id == CLIP_MODEL_ID and self._clip_text() is not None):
            add("clip", _normalise(np.asarray(clip.values, dtype=np.float64)).mean(0),
                f"{clip.length} CLIP frames")
        if weight == 0.0:
            return np.zeros(len(GENRES)), desc
        # A weighted sum of roughly unit-variance z-scores has variance sum(w^2): rescale so the
        # score's spread does not depend on how many sources a video has.  Full-strength weights
        # are used, so a two-word transcript still counts for little.
        return total / math.sqrt(base_sq), desc

    # ------------------------------------------------------------------ GenreHead

    def _probs(self, scores: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(_logit(self.priors) + TEMPERATURE * scores)))

    def probabilities(self, fs: FeatureSet) -> np.ndarray:
        """``[21]`` probabilities in GENRES order."""
        return self._probs(self.scores(fs)[0])

    def predict(self, fs: FeatureSet) -> dict[str, float]:
        return dict(zip(GENRES, map(float, self.probabilities(fs)), strict=True))

    def predict_many(self, fss: Sequence[FeatureSet]) -> list[dict[str, float]]:
        return [self.predict(fs) for fs in fss]

    def explain(self, fs: FeatureSet, top: int = 3) -> str:
        """One line: the top genres and the evidence they rest on."""
        s, desc = self.scores(fs)
        probs = self._probs(s)
        best = ", ".join(f"{GENRES[i]} {probs[i]:.2f}" for i in np.argsort(-probs)[:top])
        return f"{best} (from {desc.summary()})"
