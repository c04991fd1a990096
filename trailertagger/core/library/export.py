"""Export effective genres: Kodi/Jellyfin NFO files next to the videos, CSV and JSON.

NFO files are the user's data as much as ours: scrapers and other tools put titles, plots,
ratings and artwork there.  So an existing NFO is *edited*, never rewritten from scratch:
only the root's direct ``<genre>`` children change; every other element, comment, attribute,
the XML declaration, anything before the root and anything after it (Kodi allows a URL line
after the XML) is kept byte for byte where possible.  A file that is not XML is left untouched
and reported.  Every write goes to a temporary file in the same folder and is renamed into
place, so a crash or Ctrl-C never leaves half an NFO.
"""

from __future__ import annotations

import csv
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ..fsutil import atomic_write_bytes
from ..genres import GENRES, normalize_genre
from ..media.files import VIDEO_EXTENSIONS
from ..progress import Progress
from .queries import VideoRecord

NFO_REPLACE = "replace"  # the NFO's genres become exactly the effective genres
NFO_MERGE = "merge"  # keep the NFO's other genres; add ours; drop the ones the user rejected


@dataclass
class ExportReport:
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    count: int = 0  # table formats: rows written
    dest: str | None = None  # table formats: the file written (None: a stream)

    def summary(self, dry_run: bool = False) -> str:
        """One line for a status bar or a terminal."""
        if self.dest is not None or (self.count and not self.written):
            return f"wrote {self.count} video(s)" + (f" to {self.dest}" if self.dest else "")
        return (f"{len(self.written)} NFO(s) {'to write' if dry_run else 'written'}, "
                f"{len(self.unchanged)} already up to date, {len(self.skipped)} skipped, "
                f"{len(self.failed)} failed")


# -- NFO --------------------------------------------------------------------------------------
def nfo_path_for(video: Path, prefer_movie_nfo: bool = False) -> Path:
    """Kodi's lookup: ``<name>.nfo`` beside the file, or ``movie.nfo`` in its folder.

    An existing ``<name>.nfo`` wins; an existing ``movie.nfo`` is used when it is the only
    video in the folder (otherwise ``movie.nfo`` belongs to another film); new files are
    ``<name>.nfo`` unless ``prefer_movie_nfo`` and the video is alone in its folder.
    """
    video = Path(video)
    own = video.with_suffix(".nfo")
    if own.exists():
        return own
    movie = video.with_name("movie.nfo")
    if movie.exists() or prefer_movie_nfo:
        try:
            others = [p for p in video.parent.iterdir()
                      if p.suffix.lower() in VIDEO_EXTENSIONS and p.name != video.name]
        except OSError:
            others = []
        if not others:
            return movie
    return own


_SKIP = re.compile(r"\s*(<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^>]*>)", re.S)


def _split_document(text: str) -> tuple[str, str, str, str]:
    """(prefix, root element text, suffix, root tag): prefix holds the declaration and any
    comments before the root, suffix whatever follows the root's end tag."""
    pos = 0
    while True:
        m = _SKIP.match(text, pos)
        if not m:
            break
        pos = m.end()
    ws = len(text[pos:]) - len(text[pos:].lstrip())
    start = pos + ws
    m = re.match(r"<([A-Za-z_][\w.\-:]*)", text[start:])
    if not m:
        raise ValueError("no root element")
    tag = m.group(1)
    self_closing = re.match(rf"<{re.escape(tag)}\b[^>]*/>", text[start:])
    if self_closing:
        end = start + self_closing.end()
    else:
        close = text.rfind(f"</{tag}")
        if close < start:
            raise ValueError(f"no closing </{tag}>")
        end = text.index(">", close) + 1
    return text[:start], text[start:end], text[end:], tag


def _declared_encoding(raw: bytes) -> str:
    m = re.match(rb"\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._\-]+)[\"']", raw)
    return m.group(1).decode("ascii") if m else "utf-8"


def update_nfo_text(text: str | None, genres: Iterable[str], *, mode: str = NFO_REPLACE,
                    rejected: Iterable[str] = ()) -> str:
    """Return the NFO text with its ``<genre>`` children set; ``text=None`` makes a new one.

    Raises ``ValueError`` when ``text`` is not an XML document we can edit safely.
    """
    genres = list(genres)
    if text is None or not text.strip():
        body = "".join(f"  <genre>{_esc(g)}</genre>\n" for g in genres)
        return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<movie>\n{body}</movie>\n'
    prefix, root_text, suffix, _tag = _split_document(text)
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True, insert_pis=True))
    try:
        root = ET.fromstring(root_text, parser=parser)
    except ET.ParseError as err:
        raise ValueError(f"not valid XML ({err})") from None
    children = list(root)
    old = [c for c in children if c.tag == "genre"]
    existing = [(c.text or "").strip() for c in old]
    if mode == NFO_MERGE:
        # "Science Fiction" from a scraper and our "Sci-Fi" are one genre
        drop = {_genre_key(r) for r in rejected}
        wanted = [g for g in existing if g and _genre_key(g) not in drop]
        seen = {_genre_key(g) for g in wanted}
        wanted += [g for g in genres if _genre_key(g) not in seen]
    else:
        wanted = genres
    if existing == wanted:
        return text
    # where the genres go: where the first one was, else after the title-ish elements
    if old:
        pos = children.index(old[0])
    else:
        pos = len(children)
        for i, c in enumerate(children):
            if c.tag in ("title", "originaltitle", "sorttitle", "year", "plot", "outline", "tagline"):
                pos = i + 1
    pos -= sum(1 for c in old if children.index(c) < pos)
    # whitespace: children are separated by ``inner`` and the last one closes with ``closing``
    if children:
        inner = root.text if root.text is not None and not root.text.strip() else None
        closing = children[-1].tail
    else:
        inner, closing = "\n  ", "\n"
        if root.text is None or not root.text.strip():
            root.text = inner
    for c in old:
        root.remove(c)
    for offset, g in enumerate(wanted):
        e = ET.Element("genre")
        e.text = g
        root.insert(pos + offset, e)
    kids = list(root)
    for i, c in enumerate(kids):
        if i == len(kids) - 1:
            c.tail = closing
        elif c.tail is None or not c.tail.strip():
            c.tail = inner
    body = ET.tostring(root, encoding="unicode", short_empty_elements=True)
    return prefix + body + suffix


def _genre_key(name: str) -> str:
    try:
        return normalize_genre(name)
    except KeyError:
        return name.strip().casefold()


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_nfo(video_path: Path, genres: Iterable[str], *, mode: str = NFO_REPLACE,
              rejected: Iterable[str] = (), prefer_movie_nfo: bool = False,
              dry_run: bool = False) -> tuple[Path, bool]:
    """Create or edit the NFO of one video; returns (nfo path, whether it changed)."""
    nfo = nfo_path_for(video_path, prefer_movie_nfo)
    raw = nfo.read_bytes() if nfo.exists() else None
    encoding = _declared_encoding(raw) if raw else "utf-8"
    if raw is not None:
        try:
            text: str | None = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ValueError(f"{nfo.name} is not readable as {encoding}") from None
        if text.startswith("\ufeff"):
            text = text[1:]
    else:
        text = None
    new = update_nfo_text(text, genres, mode=mode, rejected=rejected)
    if text is not None and new == text:
        return nfo, False
    if not dry_run:
        atomic_write_bytes(nfo, new.encode(encoding, errors="xmlcharrefreplace"))
    return nfo, True


def export_nfo(records: Iterable[VideoRecord], *, mode: str = NFO_REPLACE,
               prefer_movie_nfo: bool = False, dry_run: bool = False,
               progress: Progress | None = None) -> ExportReport:
    """Write an NFO beside every present, classified video; one bad file never stops the rest.
    ``progress("nfo", videos seen, None)`` before each video."""
    report = ExportReport()
    for i, rec in enumerate(records):
        if progress is not None:
            progress("nfo", i, None)
        if rec.status == "missing" or not os.path.exists(rec.path):
            report.skipped.append((rec.path, "file is missing"))
            continue
        if not rec.states:
            report.skipped.append((rec.path, "no genres yet (not classified)"))
            continue
        try:
            nfo, changed = write_nfo(Path(rec.path), rec.genres, mode=mode,
                                     rejected=rec.manual_off, prefer_movie_nfo=prefer_movie_nfo,
                                     dry_run=dry_run)
        except ValueError as err:
            report.failed.append((rec.path, f"existing NFO left untouched: {err}"))
            continue
        except OSError as err:
            report.failed.append((rec.path, f"cannot write NFO: {err.strerror or err}"))
            continue
        (report.written if changed else report.unchanged).append(str(nfo))
    return report


# -- CSV / JSON ---------------------------------------------------------------------------------
CSV_FIELDS = ("path", "status", "genres", "added", "removed", "model_id", "model_version",
              "stale", "duration", "content_hash")


def record_dict(rec: VideoRecord, probabilities: bool = True) -> dict:
    out = {
        "path": rec.path,
        "status": rec.status,
        "genres": list(rec.genres),
        "corrections": {"added": list(rec.manual_on), "removed": list(rec.manual_off)},
        "model": {"id": rec.model_id, "version": rec.model_version} if rec.model_id else None,
        "stale": rec.stale,
        "duration": rec.duration,
        "content_hash": rec.content_hash,
        "error": rec.error_reason,
    }
    if probabilities:
        out["probabilities"] = {g: round(p, 6) for g, p in rec.probabilities().items()}
    return out


def write_csv(records: Iterable[VideoRecord], out: TextIO, probabilities: bool = True) -> int:
    cols = list(CSV_FIELDS) + ([f"p_{g}" for g in GENRES] if probabilities else [])
    w = csv.writer(out)
    w.writerow(cols)
    n = 0
    for rec in records:
        row = [rec.path, rec.status, ";".join(rec.genres), ";".join(rec.manual_on),
               ";".join(rec.manual_off), rec.model_id or "", rec.model_version or "",
               int(rec.stale), "" if rec.duration is None else f"{rec.duration:.3f}",
               rec.content_hash or ""]
        if probabilities:
            probs = rec.probabilities()
            row += ["" if g not in probs else f"{probs[g]:.6f}" for g in GENRES]
        w.writerow(row)
        n += 1
    return n


def write_json(records: Iterable[VideoRecord], out: TextIO, probabilities: bool = True) -> int:
    """A JSON array, streamed record by record (100 000 videos need no big buffer)."""
    out.write("[")
    n = 0
    for rec in records:
        out.write(",\n  " if n else "\n  ")
        out.write(json.dumps(record_dict(rec, probabilities), ensure_ascii=False))
        n += 1
    out.write("\n]\n" if n else "]\n")
    return n
