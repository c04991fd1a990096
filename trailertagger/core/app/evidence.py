"""What a video's genres rest on: the evidence the feature cache already holds, as plain data.

The extractors record everything a person needs to judge a prediction, per row of each
modality's sequence (``features.types.ModalityFeatures``): the image modality's ``times`` are
the scene frames' times, OCR and ASR rows carry their ``texts`` and start ``times``, the
audio and music taggers their class ``labels`` and per-window ``scores``.  So nothing new is
stored: ``evidence`` reads the video's ``.npz`` (located through the library's feature-cache
rows, else by content hash) and folds it into an ``Evidence`` record; the genre thresholds
and the head's explanations come from the library rows (``VideoRecord``).

Scene thumbnails are taken on demand (``scene_thumbnails``) at the recorded scene times and
cached small (``SCENE_SIDE`` px JPEGs) in the user cache, keyed by content hash: storing a
strip for every one of 100,000 videos at extraction time would cost disk for pictures most
videos never show, while one seek per scene costs well under a second for the video a
person is looking at, on a background thread.  The pictures are a cache with a size
limit (``[library] scene_cache_mb``): each video's folder is touched when its strip is shown,
and after a new strip is written the least recently shown ones are deleted until the
pictures fit (``prune_scene_cache``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..features.cache import FeatureCache
from ..features.types import FeatureSet, ModalityFeatures
from ..fsutil import atomic_write

log = logging.getLogger(__name__)

SCENE_SIDE = 160  # px, the longer side of a cached scene thumbnail
TOP_TAGS = 6
AUDIO_MODALITIES = ("audio",)
MUSIC_MODALITIES = ("music",)
SPEECH_MODALITIES = ("asr",)
TEXT_MODALITIES = ("ocr",)
IMAGE_MODALITIES = ("image",)


@dataclass(frozen=True)
class TimedText:
    time: float  # seconds from the start of the video
    text: str


@dataclass(frozen=True)
class GenreEvidence:
    genre: str
    probability: float | None
    threshold: float | None
    on: bool
    source: str
    explanation: str = ""


@dataclass
class Evidence:
    """Everything the detail pane shows about why a video has its genres."""

    video_id: int
    path: str
    content_hash: str | None
    duration: float | None
    scene_times: list[float] = field(default_factory=list)
    transcript: list[TimedText] = field(default_factory=list)
    onscreen_text: list[TimedText] = field(default_factory=list)
    audio_tags: list[tuple[str, float]] = field(default_factory=list)  # top tags, mean score
    music_tags: list[tuple[str, float]] = field(default_factory=list)
    genres: list[GenreEvidence] = field(default_factory=list)
    model_id: str | None = None
    missing: dict[str, str] = field(default_factory=dict)  # modality -> why it is absent
    features_found: bool = False
    note: str = ""  # why there is no evidence (not extracted yet, cache cleared, ...)
    reading: list[str] = field(default_factory=list)  # how the file was read (``reading_lines``)


def _timed(m: ModalityFeatures | None) -> list[TimedText]:
    if m is None or not m.texts:
        return []
    return [TimedText(float(t), str(x)) for t, x in zip(m.times.tolist(), m.texts, strict=False)
            if str(x).strip()]


def top_tags(m: ModalityFeatures | None, k: int = TOP_TAGS) -> list[tuple[str, float]]:
    """The ``k`` class labels with the highest mean score over the video's windows."""
    if m is None or m.scores is None or not m.labels or m.scores.size == 0:
        return []
    scores = np.asarray(m.scores, dtype=np.float32)
    if scores.ndim != 2 or scores.shape[1] != len(m.labels):
        return []
    mean = scores.mean(axis=0)
    order = np.argsort(-mean)[:k]
    return [(str(m.labels[i]), float(mean[i])) for i in order]


def _first(fs: FeatureSet, names: tuple[str, ...]) -> ModalityFeatures | None:
    for n in names:
        if n in fs.modalities:
            return fs.modalities[n]
    return None


def from_featureset(ev: Evidence, fs: FeatureSet) -> Evidence:
    ev.features_found = True
    image = _first(fs, IMAGE_MODALITIES)
    if image is not None:
        ev.scene_times = [float(t) for t in image.times.tolist()]
    ev.transcript = _timed(_first(fs, SPEECH_MODALITIES))
    ev.onscreen_text = _timed(_first(fs, TEXT_MODALITIES))
    ev.audio_tags = top_tags(_first(fs, AUDIO_MODALITIES))
    ev.music_tags = top_tags(_first(fs, MUSIC_MODALITIES))
    ev.missing = dict(fs.missing)
    ev.reading = reading_lines(fs.provenance)
    return ev


def reading_lines(provenance: dict | None, notable_only: bool = False) -> list[str]:
    """How the file was read, in words, from a feature file's provenance: the sampling
    plan and what it covered, where the speech text came from, which audio track.

    Why: a film's genres rest on fifteen 10 s excerpts, not on the film, and its speech may
    be its subtitles rather than a transcript; a person judging the genres (the app's
    evidence pane, ``extract``'s report) should see that, not assume the whole film was
    watched.  Empty for files from before sampling plans (every one read whole).
    ``notable_only``: leave out what is true of every trailer (read whole, transcribed, the
    audio track), for a report printed per video."""
    from .records import format_duration

    prov = provenance or {}
    plan, cov = prov.get("plan") or {}, prov.get("coverage") or {}
    out: list[str] = []
    if plan.get("kind") == "excerpts":
        n = len(plan.get("excerpts") or [])
        length = (plan.get("params") or {}).get("excerpt_s")
        read, frac = cov.get("video_s"), cov.get("video_fraction")
        text = (f"Sampled: {n} excerpts" + (f" of {float(length):g} s" if length else "")
                + f" spread over {format_duration(plan.get('duration'))}")
        if read is not None:
            text += f" ({format_duration(read)} read" + (
                f", {float(frac):.0%} of the running time)" if frac is not None else ")")
        out.append(text)
    elif plan.get("kind") == "full" and not notable_only:
        out.append(f"Read whole ({format_duration(plan.get('duration'))})")
    speech = prov.get("speech_text") or {}
    src = speech.get("source")
    if src == "embedded":
        lang = speech.get("language")
        out.append(f"Speech: the file's subtitles (stream {speech.get('stream')}"
                   + (f", {lang}" if lang else "") + f", {speech.get('codec')}), not a transcript")
    elif src == "sidecar":
        out.append(f"Speech: subtitles from {speech.get('file')}, not a transcript")
    elif src == "asr" and (not notable_only or speech.get("bitmap_skipped")):
        bitmap = bool(speech.get("bitmap_skipped"))
        out.append("Speech: transcribed from the soundtrack"
                   + (" (the file's subtitles are pictures, not text)" if bitmap else ""))
    track = prov.get("audio_track") or {}
    if (track.get("index") is not None and track.get("language") not in (None, "", "und")
            and not notable_only):  # "und": the file does not say, nothing worth a line
        title = f", {track['title']}" if track.get("title") else ""
        out.append(f"Audio: track {track['index']} ({track['language']}{title})")
    return out


def load_features(paths: list[Path], cache_root: Path, content_hash: str) -> FeatureSet | None:
    """The video's feature set: the files the library recorded first, then the cache's path."""
    from ..features.io import load_featureset

    for p in paths:
        try:
            if p.exists():
                fs = load_featureset(p)
                if fs.content_hash == content_hash:
                    return fs
        except Exception as err:  # noqa: BLE001 - a damaged file is "no evidence", not a crash
            log.info("cannot read feature file %s: %s", p, err)
    return FeatureCache(cache_root).load(content_hash)


def scene_thumbnail_paths(root: Path, content_hash: str, count: int) -> list[Path]:
    digest = content_hash.split(":", 1)[-1]
    return [Path(root) / digest[:2] / digest / f"{i:03d}.jpg" for i in range(count)]


def scene_thumbnails(video: Path, content_hash: str, times: list[float], root: Path,
                     side: int = SCENE_SIDE, max_bytes: int | None = None) -> list[Path | None]:
    """One small JPEG per scene time (cached; taken with PyAV seeks the first time).  An
    entry is None where no frame could be read (past the end, file gone).  With
    ``max_bytes``, writing a new strip prunes the cache to that size (this strip kept)."""
    dests = scene_thumbnail_paths(root, content_hash, len(times))
    folder = dests[0].parent if dests else None
    if folder is not None and folder.is_dir():
        with contextlib.suppress(OSError):  # shown now: the most recently used strip
            os.utime(folder)
    todo = [i for i, d in enumerate(dests) if not d.exists()]
    wrote = False
    if todo and Path(video).is_file():
        try:
            from PIL import Image

            from ..media.decode import frames_at

            got = frames_at(Path(video), [times[i] for i in todo], max_side=side)
            for i, frame in zip(todo, got, strict=True):
                if frame is None:
                    continue
                dests[i].parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(dests[i], "wb") as fh:
                    Image.fromarray(frame[1]).save(fh, format="JPEG", quality=80)
                wrote = True
        except Exception as err:  # noqa: BLE001 - a picture strip is a nicety
            log.info("no scene thumbnails for %s: %s", video, err)
    if wrote and max_bytes is not None and folder is not None:
        prune_scene_cache(Path(root), max_bytes, keep=folder)
    return [d if d.exists() else None for d in dests]


def prune_scene_cache(root: Path, max_bytes: int, keep: Path | None = None) -> tuple[int, int]:
    """Delete the least recently shown videos' strips until the pictures under ``root`` take
    at most ``max_bytes`` (``keep`` is never deleted).  Returns (strips deleted, bytes freed).

    A strip is one folder ``root/ab/<digest>``; its modification time is when it was last
    shown (``scene_thumbnails`` touches it)."""
    strips: list[tuple[float, int, Path]] = []
    total = 0
    with contextlib.suppress(OSError):
        for shard in os.scandir(root):
            if not shard.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(shard.path):
                if not entry.is_dir(follow_symlinks=False):
                    continue
                size = 0
                with contextlib.suppress(OSError):
                    size = sum(f.stat().st_size for f in os.scandir(entry.path) if f.is_file())
                with contextlib.suppress(OSError):
                    strips.append((entry.stat().st_mtime, size, Path(entry.path)))
                    total += size
    removed = freed = 0
    keep_resolved = Path(keep).resolve() if keep is not None else None
    for _mtime, size, path in sorted(strips, key=lambda t: t[0]):
        if total <= max_bytes:
            break
        if keep_resolved is not None and path.resolve() == keep_resolved:
            continue
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # the shard, when it was its last strip
        total -= size
        freed += size
        removed += 1
    if removed:
        log.info("scene picture cache: %d strip(s) deleted, %d bytes freed (limit %d)",
                 removed, freed, max_bytes)
    return removed, freed
