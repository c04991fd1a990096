"""Subtitle text as the speech-text sequence: embedded text streams and sidecar files.

A film that already carries its dialogue as text does not need Whisper: converting a
subtitle stream takes a fraction of a second against tens of seconds of ASR, and the text
is what was actually said.  ``find_subtitles`` looks, in this order, for

1. an embedded *text* subtitle stream in the preferred language (``tracks.choose_subtitle``:
   SubRip, ASS/SSA, mov_text, WebVTT...), read through PyAV, which hands every text codec
   over as an ASS dialogue line;
2. a sidecar file next to the video: ``<stem>.srt``, ``<stem>.<lang>.srt``,
   ``<stem>.<lang>.forced.srt``, and the same with ``.ass``, ``.ssa`` and ``.vtt``, parsed
   with ``pysubs2`` (a maintained subtitle library: SRT, ASS/SSA, WebVTT and more); UTF-8
   first, then Windows-1252, which is what most older ``.srt`` files are;
3. a forced-only track (embedded, then sidecar) when nothing fuller exists.

Bitmap subtitles (PGS from Blu-rays, VobSub from DVDs, DVB) are pictures of text: they are
noted in the decision and skipped, and the pipeline falls back to ASR.

Each event becomes one row with its start and end time and its text with styling removed
(ASS override tags, SRT ``<i>`` tags, ``\\N`` line breaks).  For excerpt plans only the
subtitle packets inside wide windows around the excerpts are demuxed, so a 40 GB film is
not read end to end for its subtitles; sidecar files are read whole (they are small).  At
most ``subtitle_max_lines`` rows are kept, spread evenly over the film.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from .probe import container_start, open_input
from .tracks import choose_subtitle, language_matches, norm_language
from .types import ProbeInfo

log = logging.getLogger(__name__)

SIDECAR_EXTS = (".srt", ".ass", ".ssa", ".vtt")
SUBTITLE_WINDOW_S = 60.0  # seconds of subtitles demuxed around each excerpt's centre
_TAG_RE = re.compile(r"<[^>]{0,40}>")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


@dataclass
class SubtitleText:
    """The subtitle lines used as speech text and where they came from."""

    cues: list[Cue]
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def texts(self) -> list[str]:
        return [c.text for c in self.cues]


def clean_text(text: str) -> str:
    """Plain text of one subtitle event: ASS tags, HTML-ish tags and line breaks removed."""
    import pysubs2

    plain = pysubs2.SSAEvent(text=text).plaintext
    plain = _TAG_RE.sub("", plain)
    return " ".join(plain.split())


def spread(cues: list[Cue], max_lines: int) -> list[Cue]:
    """At most ``max_lines`` cues, evenly spread by index, first and last kept."""
    if len(cues) <= max_lines:
        return cues
    keep = np.unique(np.round(np.linspace(0, len(cues) - 1, max_lines)).astype(int))
    return [cues[i] for i in keep]


# --------------------------------------------------------------------------- embedded


def read_embedded(path: Path, stream_index: int,
                  windows: Sequence[tuple[float, float]] | None = None) -> list[Cue]:
    """Cues of one embedded text subtitle stream; ``windows`` limits the demuxing to those
    spans (seconds from the container start), None reads the whole stream."""
    cues: dict[tuple[int, str], Cue] = {}
    with open_input(Path(path)) as container:
        stream = container.streams[stream_index]
        t0 = container_start(container)
        spans = list(windows) if windows else [(0.0, float("inf"))]
        for a, b in spans:
            if a > 0:
                try:  # seek on the container's default stream (the subtitle one has no index)
                    container.seek(int(max(0.0, a + t0) * av.time_base), backward=True)
                except (av.error.FFmpegError, OSError, ValueError) as err:
                    log.info("subtitle seek failed in %s: %s", path, err)
                    continue
            for pkt in container.demux(stream):
                if pkt.pts is None or pkt.size == 0:
                    if pkt.size == 0 and pkt.pts is None:
                        break  # the flush packet at the end of the file
                    continue
                tb = float(pkt.time_base)
                start = pkt.pts * tb - t0
                if start > b:
                    break
                if start < a:
                    continue
                end = start + (pkt.duration or 0) * tb
                try:
                    subs = pkt.decode()
                except av.error.FFmpegError:
                    continue
                text = " ".join(clean_text(_dialogue(s)) for s in _rects(subs))
                text = " ".join(text.split())
                if text:
                    key = (int(pkt.pts), text)
                    cues.setdefault(key, Cue(round(start, 3), round(max(end, start), 3), text))
    return sorted(cues.values(), key=lambda c: (c.start, c.end))


def _rects(subs: Any) -> list[Any]:
    out: list[Any] = []
    for s in subs or []:
        out.extend(list(s) if hasattr(s, "__iter__") and not hasattr(s, "dialogue") else [s])
    return out


def _dialogue(rect: Any) -> str:
    raw = getattr(rect, "dialogue", None)
    if raw is None:
        raw = getattr(rect, "text", b"") or b""
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


# --------------------------------------------------------------------------- sidecar


@dataclass(frozen=True)
class Sidecar:
    path: Path
    language: str  # the tag in the name ("en", "eng", ""); "" when untagged
    forced: bool


def sidecar_files(video: Path) -> list[Sidecar]:
    """Subtitle files next to ``video`` named after it (see the module docstring)."""
    video = Path(video)
    stem = video.stem
    out: list[Sidecar] = []
    try:
        names = sorted(os.listdir(video.parent))
    except OSError:
        return []
    for name in names:
        p = video.parent / name
        low = name.lower()
        ext = next((e for e in SIDECAR_EXTS if low.endswith(e)), None)
        if ext is None or not name.startswith(stem):
            continue
        middle = name[len(stem):-len(ext)]
        if middle and not middle.startswith("."):
            continue  # "Alien 2.srt" is not a sidecar of "Alien.mkv"
        tags = [t.lower() for t in middle.split(".") if t]
        forced = "forced" in tags
        langs = [t for t in tags if t not in ("forced", "sdh", "cc", "hi", "default", "full")]
        if p.is_file():
            out.append(Sidecar(p, langs[0] if langs else "", forced))
    return out


def read_sidecar(path: Path) -> list[Cue]:
    """Cues of a sidecar file (pysubs2; UTF-8, else Windows-1252)."""
    import pysubs2

    last: Exception | None = None
    for enc in ("utf-8-sig", "cp1252"):
        try:
            subs = pysubs2.load(str(path), encoding=enc)
            break
        except UnicodeDecodeError as err:
            last = err
        except Exception as err:  # noqa: BLE001 - pysubs2 raises its own format errors
            raise ValueError(f"{path.name}: not a readable subtitle file ({err})") from err
    else:  # pragma: no cover - cp1252 decodes nearly anything
        raise ValueError(f"{path.name}: unreadable text encoding ({last})")
    cues = []
    for ev in subs:
        if ev.is_comment:
            continue
        text = clean_text(ev.text)
        if text:
            cues.append(Cue(round(ev.start / 1000.0, 3), round(max(ev.end, ev.start) / 1000.0, 3),
                            text))
    return sorted(cues, key=lambda c: (c.start, c.end))


# --------------------------------------------------------------------------- choice


def find_subtitles(path: Path, info: ProbeInfo, language: str = "en", max_lines: int = 150,
                   windows: Sequence[tuple[float, float]] | None = None
                   ) -> tuple[SubtitleText | None, dict[str, Any]]:
    """The subtitle text to use instead of ASR, and the decision in words.

    Returns ``(None, decision)`` when no usable text subtitle exists (ASR then runs);
    ``decision["reason"]`` says why, e.g. that only bitmap tracks were found.
    """
    path = Path(path)
    emb = choose_subtitle(info.streams, language)
    decision: dict[str, Any] = {"preferred_language": language}
    if emb.skipped_bitmap:
        decision["bitmap_skipped"] = list(emb.skipped_bitmap)
    sidecars = [s for s in sidecar_files(path) if language_matches(s.language, language)]
    # a tagged sidecar in the wanted language beats an untagged one
    sidecars.sort(key=lambda s: (s.forced, not norm_language(s.language), s.path.name))
    emb_forced = emb.stream is not None and "forced" in emb.stream.flags

    order: list[tuple[str, Any]] = []
    if emb.stream is not None and not emb_forced:
        order.append(("embedded", emb.stream))
    order += [("sidecar", s) for s in sidecars if not s.forced]
    if emb.stream is not None and emb_forced:
        order.append(("embedded", emb.stream))
    order += [("sidecar", s) for s in sidecars if s.forced]

    problems: list[str] = []
    for kind, item in order:
        try:
            if kind == "embedded":
                cues = read_embedded(path, item.index, windows)
                src = {"source": "embedded", "stream": item.index, "codec": item.codec,
                       "language": item.language, "forced": "forced" in item.flags}
            else:
                cues = read_sidecar(item.path)
                src = {"source": "sidecar", "file": item.path.name, "language": item.language,
                       "forced": item.forced}
        except (ValueError, OSError, av.error.FFmpegError) as err:
            problems.append(str(err))
            continue
        if not cues:
            problems.append(f"{kind} subtitles {getattr(item, 'index', '')}"
                            f"{getattr(item, 'path', '')} hold no text")
            continue
        kept = spread(cues, max_lines)
        src.update({"cues_found": len(cues), "cues_kept": len(kept)})
        decision.update(src)
        decision["reason"] = "subtitle text used instead of ASR"
        if problems:
            decision["problems"] = problems
        return SubtitleText(kept, src), decision
    reasons = [emb.reason] if emb.stream is None else []
    if not sidecars:
        reasons.append("no sidecar subtitle file")
    decision["source"] = "asr"
    decision["reason"] = "; ".join(reasons + problems) + "; speech text from ASR"
    return None, decision
