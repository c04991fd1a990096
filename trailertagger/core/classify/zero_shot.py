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

**Fusion: evidence moves probabilities in proportion to how much there is of it.**  Per
source ``s`` and genre ``g`` the head computes ``d[s, g]``: the cosine similarity of the
evidence to the genre's descriptions, minus the similarity a *neutral* description (any
genre's) gets, centred over genres (a video with lots of text is not "more of every genre").
It is *not* divided by its spread across genres (version 1 did that, which made a single
alarm-clock window a full-size "Crime" signal).  Each source also has an *amount* ``m[s]`` in
[0, 1]: how many words were said or shown (``TEXT_WORDS_FULL`` counts fully), how much score
mass the top tags carry over the whole video (``TAG_MASS_FULL``), how many CLIP frames there
are.  Then::

    logit p_g = logit(prior_g) + sum_s  scale_s * m[s] * d[s, g]

``prior_g`` is the genre's label frequency in the seed's labelled trailers, so a video without
evidence gets exactly the prior, and thin evidence stays close to it (shrunk toward the prior
by construction).  ``scale_s`` says how many log-odds one unit of similarity from source ``s``
is worth: it is *fitted*, not picked, on the project's labelled cold-start set
(``coldstart_set``: clips made with espeak-ng, sox and PIL and run through the real extraction
pipeline) by L2-regularised maximum likelihood (``zero_shot_calibration.fit_calibration``,
reproducible with ``python -m trailertagger.devtools.calibrate_zero_shot``); the numbers, the
method and the cross-validated quality live in ``resources/zero_shot_calibration.json``.

**Decisions.**  A genre is emitted when its probability reaches the calibrated confidence
``threshold`` *and* its evidence lifted it at least ``min_lift`` log-odds above the prior; at
most ``max_genres`` (default 3, ``[classify] max_genres``, 1 to 5) are emitted, the most likely
first.  Both numbers were chosen by cross-validated F1 on the same set.  Nothing qualifies:
no genre, the video's state is ``weak evidence``; otherwise ``cold start``.  The ranked list
(by lift over the prior) is kept as *suggestions*, and every emitted or suggested genre has a
one-line explanation: the words, tags or classes that pushed it, with their share.
"""

from __future__ import annotations

import hashlib
import json
import logging
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

ZERO_SHOT_VERSION = "2"  # bump when the scoring changes
RESOURCE = "genres_zero_shot.json"
CALIBRATION = "zero_shot_calibration.json"
FACETS = ("story", "sounds", "imagery", "music", "clip")
SOURCES = ("asr", "ocr", "audio", "image", "music", "clip")
SOURCE_FACET: dict[str, str] = {"asr": "story", "ocr": "story", "audio": "sounds",
                                "image": "imagery", "music": "music", "clip": "clip"}
SOURCE_NAME: dict[str, str] = {"asr": "said", "ocr": "on screen", "audio": "sounds",
                               "image": "pictures", "music": "music", "clip": "CLIP frames"}
TOP_TAGS = 8
TAG_FLOOR = 0.01  # a tag whose mean score over the video is below this is not evidence
TAG_MASS_FULL = 0.5  # top tags whose mean scores add up to this count fully; less, proportionally
CLIP_FRAMES_FULL = 8
# Tags present in nearly every trailer say nothing about its genre.
STOP_TAGS = frozenset({"speech", "music", "silence", "inside, small room", "inside, large room or hall",
                       "outside, urban or manmade", "outside, rural or natural", "noise",
                       "sound effect", "narration, monologue", "conversation", "male speech, man speaking",
                       "female speech, woman speaking", "static", "hum", "mains hum", "white noise",
                       "speech synthesizer", "musical instrument"})
TEXT_WORDS_FULL = 15  # a transcript this long counts fully; shorter ones proportionally
DEFAULT_MAX_GENRES = 3
MAX_GENRES_RANGE = (1, 5)
N_SUGGESTIONS = 5

STATE_COLD_START = "cold start"  # genres from the label-free head, above its calibrated confidence
STATE_WEAK = "weak evidence"  # the label-free head found nothing it is confident about


@dataclass(frozen=True)
class Calibration:
    """Fitted on the labelled cold-start set (see the resource's ``_about``)."""

    scale: dict[str, float]
    threshold: float
    min_lift: float
    sha256: str
    measured: dict[str, Any] = field(default_factory=dict)


@lru_cache(maxsize=1)
def calibration() -> Calibration:
    raw = (resources.files("trailertagger") / "resources" / CALIBRATION).read_bytes()
    doc = json.loads(raw.decode("utf-8"))
    scale = {s: float(doc["scale"][s]) for s in SOURCES}
    return Calibration(scale, float(doc["threshold"]), float(doc["min_lift"]),
                       hashlib.sha256(raw).hexdigest(), dict(doc.get("measured", {})))


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


def configured_max_genres() -> int:
    """``[classify] max_genres`` of the settings (the default when unreadable)."""
    from ..config import load_config

    try:
        return int(load_config(create=False).get("classify", {}).get("max_genres",
                                                                      DEFAULT_MAX_GENRES))
    except Exception:  # noqa: BLE001 - a broken settings file is reported by every command
        return DEFAULT_MAX_GENRES


def head_version(max_genres: int | None = None, calib: Calibration | None = None) -> str:
    """The zero-shot head's version without loading any model: scoring code, descriptions,
    calibration and the genre cap identify it (the library keys predictions by it)."""
    k = configured_max_genres() if max_genres is None else int(max_genres)
    cal = calib or calibration()
    return f"{ZERO_SHOT_VERSION}-{genre_descriptions().sha256[:8]}{cal.sha256[:8]}-k{k}"


def _normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _baseline(protos: np.ndarray, sentences: np.ndarray) -> np.ndarray:
    """The similarity each genre's prototype has, on average, to *any* genre's description.

    Some genres' descriptions resemble every text a little more than others (dialogue-like
    lines, generic words); subtracting this baseline makes "typical trailer text" neutral.
    """
    return (_normalise(sentences) @ protos.T).mean(0)


def _genre_prototypes(vecs: np.ndarray, owner: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised mean embedding per genre (``owner[i]`` is row ``i``'s genre index), and each
    prototype's baseline similarity to those same description embeddings."""
    owner_arr = np.asarray(owner)
    protos = _normalise(np.stack([vecs[owner_arr == gi].mean(0) for gi in range(len(GENRES))]))
    return protos, _baseline(protos, vecs)


def _tag_items(mod: ModalityFeatures, k: int = TOP_TAGS) -> list[tuple[str, float]]:
    """``(name, mean score)`` of the ``k`` best tags over the whole video (generic tags and
    tags below ``TAG_FLOOR`` skipped); ImageNet names keep their first synonym."""
    if not mod.labels or mod.scores is None or len(mod.scores) == 0:
        return []
    mean = np.asarray(mod.scores, dtype=np.float64).mean(0)
    out: list[tuple[str, float]] = []
    for i in np.argsort(-mean, kind="stable"):
        name = mod.labels[int(i)]
        if name.casefold() in STOP_TAGS:
            continue
        if mean[i] < TAG_FLOOR:
            break
        out.append((name.split(",")[0].strip(), float(mean[i])))
        if len(out) >= k:
            break
    return out


def top_tags(mod: ModalityFeatures, k: int = TOP_TAGS) -> list[str]:
    """The names of the ``k`` best tags (see ``_tag_items``)."""
    return [name for name, _ in _tag_items(mod, k)]


@dataclass
class Description:
    """What the head read from one video, per source: words, and how much they count."""

    texts: dict[str, str] = field(default_factory=dict)  # source -> readable description
    weights: dict[str, float] = field(default_factory=dict)  # source -> amount m in [0, 1]

    def summary(self) -> str:
        return "; ".join(f"{k}: {v}" for k, v in self.texts.items()) or "(no usable evidence)"


@dataclass
class SourceEvidence:
    """One source's evidence: ``d`` (similarity margin per genre, centred), its amount, and the
    items (words or tags) with their own margins, for explanations."""

    source: str
    d: np.ndarray  # [21]
    amount: float
    text: str
    items: list[tuple[str, float, np.ndarray]] = field(default_factory=list)  # (item, weight, d)


@dataclass
class Evidence:
    """Everything the head read from one video; ``X`` rows feed the calibration fit."""

    sources: dict[str, SourceEvidence] = field(default_factory=dict)

    def matrix(self) -> np.ndarray:
        """``[21, len(SOURCES)]``: ``m[s] * d[s, g]`` (zero where a source is absent)."""
        x = np.zeros((len(GENRES), len(SOURCES)))
        for j, s in enumerate(SOURCES):
            ev = self.sources.get(s)
            if ev is not None:
                x[:, j] = ev.amount * ev.d
        return x


@dataclass
class ZeroShotPrediction:
    """A cold-start prediction: probabilities, the genres emitted, and why."""

    probs: dict[str, float]
    on: list[str]
    state: str  # STATE_COLD_START | STATE_WEAK
    suggestions: list[str]  # ranked by lift over the prior, emitted or not
    explanations: dict[str, str]  # genre -> "said: 'the bomb is wired' (+1.4); sounds: Siren (+0.2)"
    lift: dict[str, float]  # genre -> log-odds moved by evidence


def _snippet(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


class ZeroShotHead:
    """The label-free genre head (see module doc).  Implements ``runtime.GenreHead``.

    The sentence embedder is loaded on the first prediction (a few seconds), so constructing
    the head, e.g. to list heads, is free.  A missing embedder raises the store's
    ``ModelMissingError``: this head never falls back to anything random.
    """

    kind = "zero-shot"
    model_id = "zero-shot"

    def __init__(self, store: ModelStore, device: str = "cpu", use_clip: bool = True,
                 max_genres: int = DEFAULT_MAX_GENRES, calib: Calibration | None = None) -> None:
        lo, hi = MAX_GENRES_RANGE
        if not lo <= int(max_genres) <= hi:
            raise ValueError(f"max_genres must be between {lo} and {hi}, got {max_genres}")
        self.store = store
        self.device = device
        self.use_clip = use_clip
        self.max_genres = int(max_genres)
        self.desc = genre_descriptions()
        self.calib = calib or calibration()
        self.genres: tuple[str, ...] = GENRES
        self.priors = np.array([self.desc.priors[g] for g in GENRES])
        lift_floor = 1.0 / (1.0 + np.exp(-(_logit(self.priors) + self.calib.min_lift)))
        # what the library stores and shows per genre: the calibrated confidence, raised for
        # common genres to the probability the minimum lift over their prior gives
        self.thresholds = {g: float(max(self.calib.threshold, lift_floor[i]))
                           for i, g in enumerate(GENRES)}
        # Stable from construction on (the library keys stored predictions by it); the MiniLM
        # weights are pinned by checksum in their manifest, so scoring code, descriptions,
        # calibration and the genre cap identify the head.
        self.version = head_version(self.max_genres, self.calib)
        self._lock = threading.Lock()
        self._embedder: Any = None
        self._protos: dict[str, np.ndarray] = {}  # facet -> [21, 384] prototypes
        self._base: dict[str, np.ndarray] = {}  # facet -> baseline similarity per genre
        self._clip: Any = None  # (prototypes, baselines), False when unavailable
        self._tag_cache: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ embedding

    def _ensure_loaded(self) -> None:
        with self._lock:
            if self._embedder is not None:
                return
            from ..extractors.text_embed import get_text_embedder

            emb = get_text_embedder(self.store, self.device)
            for facet in ("story", "sounds", "imagery", "music"):
                self._protos[facet], self._base[facet] = self._prototypes(
                    emb.embed, self.desc.facets[facet])
            self._embedder = emb

    @staticmethod
    def _prototypes(embed, per_genre: dict[str, list[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Normalised mean description embedding per genre, and its baseline similarity.

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
        """``(prototypes, baselines)`` from the text tower of the extractor that made the
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

    def _embed_tags(self, names: list[str]) -> np.ndarray:
        todo = [n for n in dict.fromkeys(names) if n not in self._tag_cache]
        if todo:
            for n, v in zip(todo, self._embedder.embed(todo), strict=True):
                self._tag_cache[n] = np.asarray(v, dtype=np.float64)
        return np.stack([self._tag_cache[n] for n in names])

    # ------------------------------------------------------------------ evidence

    def _margin(self, facet: str, vecs: np.ndarray) -> np.ndarray:
        """``[N, 21]`` similarity margins of (normalised) evidence rows, centred over genres."""
        protos, base = self._clip if facet == "clip" else (self._protos[facet], self._base[facet])
        d = _normalise(np.asarray(vecs, dtype=np.float64)) @ protos.T - base
        return d - d.mean(-1, keepdims=True)

    def _text_evidence(self, source: str, mod: ModalityFeatures) -> SourceEvidence | None:
        idx = [i for i, t in enumerate(mod.texts or []) if t and t.strip()]
        if not idx:
            return None
        texts = [(mod.texts or [])[i] for i in idx]
        words = sum(len(t.split()) for t in texts)
        if mod.model_id == TEXT_MODEL_ID and mod.dim == self._embedder.dim and mod.length == len(mod.texts or []):
            rows = np.asarray(mod.values, dtype=np.float64)[idx]
        else:
            rows = self._embedder.embed(texts).astype(np.float64)
        d = self._margin("story", rows.mean(0, keepdims=True))[0]
        per = self._margin("story", rows)
        joined = " / ".join(texts)
        items = [(t, len(t.split()) / max(words, 1), per[i]) for i, t in enumerate(texts)]
        return SourceEvidence(source, d, min(1.0, words / TEXT_WORDS_FULL),
                              (joined[:200] + "...") if len(joined) > 200 else joined, items)

    def _tag_evidence(self, source: str, mod: ModalityFeatures) -> SourceEvidence | None:
        tags = _tag_items(mod)
        if not tags:
            return None
        names = [n for n, _ in tags]
        w = np.array([s for _, s in tags])
        per = self._margin(SOURCE_FACET[source], self._embed_tags(names))
        vec = (w[:, None] * self._embed_tags(names)).sum(0) / w.sum()
        d = self._margin(SOURCE_FACET[source], vec[None])[0]
        prefix = {"audio": "sounds of ", "image": "pictures of ", "music": "music: "}[source]
        items = [(n, float(wi / w.sum()), per[i]) for i, (n, wi) in enumerate(zip(names, w, strict=True))]
        return SourceEvidence(source, d, min(1.0, float(w.sum()) / TAG_MASS_FULL),
                              prefix + ", ".join(names), items)

    def evidence(self, fs: FeatureSet) -> Evidence:
        """What each source of ``fs`` says about each genre, and how much of it there is."""
        self._ensure_loaded()
        ev = Evidence()
        for source in ("asr", "ocr"):
            mod = fs.modalities.get(source)
            got = self._text_evidence(source, mod) if mod is not None else None
            if got is not None:
                ev.sources[source] = got
        for source in ("audio", "image", "music"):
            mod = fs.modalities.get(source)
            got = self._tag_evidence(source, mod) if mod is not None else None
            if got is not None:
                ev.sources[source] = got
        clip = fs.modalities.get("clip")
        if (self.use_clip and clip is not None and clip.length and clip.dim == CLIP_DIM
                and clip.model_id == CLIP_MODEL_ID and self._clip_text() is not None):
            vec = _normalise(np.asarray(clip.values, dtype=np.float64)).mean(0, keepdims=True)
            ev.sources["clip"] = SourceEvidence("clip", self._margin("clip", vec)[0],
                                                min(1.0, clip.length / CLIP_FRAMES_FULL),
                                                f"{clip.length} CLIP frames")
        return ev

    def describe(self, fs: FeatureSet) -> Description:
        """The readable evidence the head uses for ``fs`` (for the UI's "why this genre")."""
        ev = self.evidence(fs)
        return Description({s: e.text for s, e in ev.sources.items()},
                           {s: e.amount for s, e in ev.sources.items()})

    def _scale(self) -> np.ndarray:
        return np.array([self.calib.scale[s] for s in SOURCES])

    def scores(self, fs: FeatureSet) -> tuple[np.ndarray, Description]:
        """Log-odds shift per genre (0 = no evidence) and the description it came from."""
        ev = self.evidence(fs)
        desc = Description({s: e.text for s, e in ev.sources.items()},
                           {s: e.amount for s, e in ev.sources.items()})
        return ev.matrix() @ self._scale(), desc

    # ------------------------------------------------------------------ GenreHead

    def _probs(self, shift: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(_logit(self.priors) + shift)))

    def probabilities(self, fs: FeatureSet) -> np.ndarray:
        """``[21]`` probabilities in GENRES order."""
        return self._probs(self.scores(fs)[0])

    def predict(self, fs: FeatureSet) -> dict[str, float]:
        return dict(zip(GENRES, map(float, self.probabilities(fs)), strict=True))

    def predict_many(self, fss: Sequence[FeatureSet]) -> list[dict[str, float]]:
        return [self.predict(fs) for fs in fss]

    def decide(self, probs: np.ndarray, shift: np.ndarray) -> list[str]:
        """The emitted genres: confident enough, lifted enough, at most ``max_genres``."""
        ok = [i for i in np.argsort(-probs, kind="stable")
              if probs[i] >= self.calib.threshold and shift[i] >= self.calib.min_lift]
        return [GENRES[i] for i in sorted(ok[: self.max_genres], key=lambda i: i)]

    def _explain_genre(self, ev: Evidence, gi: int) -> str:
        parts: list[tuple[float, str]] = []
        for s, e in ev.sources.items():
            contrib = self.calib.scale[s] * e.amount * float(e.d[gi])
            if abs(contrib) < 0.05:
                continue
            # the items that pushed this way most (words said or shown, tags)
            sign = 1.0 if contrib > 0 else -1.0
            ranked = sorted(e.items, key=lambda it: -sign * it[1] * float(it[2][gi]))
            picks = list(dict.fromkeys(it[0] for it in ranked if sign * float(it[2][gi]) > 0))[:2]
            what = ", ".join(f"'{_snippet(p)}'" if s in ("asr", "ocr") else p for p in picks)
            parts.append((contrib, f"{SOURCE_NAME[s]}{': ' + what if what else ''} ({contrib:+.1f})"))
        parts.sort(key=lambda x: -abs(x[0]))
        return "; ".join(p for _, p in parts[:3]) or "no evidence (the genre's prior)"

    def predict_detail(self, fs: FeatureSet) -> ZeroShotPrediction:
        """Probabilities, emitted genres (at most ``max_genres``), state, suggestions and a
        one-line explanation per emitted or suggested genre."""
        ev = self.evidence(fs)
        shift = ev.matrix() @ self._scale()
        probs = self._probs(shift)
        on = self.decide(probs, shift)
        ranked = [GENRES[i] for i in np.argsort(-shift, kind="stable") if shift[i] > 0]
        suggestions = ranked[:N_SUGGESTIONS]
        explain = {g: self._explain_genre(ev, GENRES.index(g)) for g in dict.fromkeys(on + suggestions)}
        return ZeroShotPrediction(dict(zip(GENRES, map(float, probs), strict=True)), on,
                                  STATE_COLD_START if on else STATE_WEAK, suggestions, explain,
                                  dict(zip(GENRES, map(float, shift), strict=True)))

    def explain(self, fs: FeatureSet, top: int = 3) -> str:
        """One line: the top genres and the evidence they rest on."""
        s, desc = self.scores(fs)
        probs = self._probs(s)
        best = ", ".join(f"{GENRES[i]} {probs[i]:.2f}" for i in np.argsort(-probs)[:top])
        return f"{best} (from {desc.summary()})"
