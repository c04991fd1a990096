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

import codecs
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


class NfoRefused(ValueError):
    """An existing NFO we will not edit (not XML, hostile, read-only, a link we skip)."""


_SKIP = re.compile(r"\s*(<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]|\[.*?\])*>)", re.S | re.I)
_ENTITY_DECL = re.compile(r"<!(ENTITY|DOCTYPE[^>]*\[)", re.I)
# the pieces of XML content between a root's tags (the document is checked well-formed first)
_TOKEN = re.compile(
    r"(?P<comment><!--.*?-->)|(?P<cdata><!\[CDATA\[.*?\]\]>)|(?P<pi><\?.*?\?>)"
    r"|(?P<end></\s*(?P<ename>[^\s>]+)\s*>)"
    r"|(?P<start><(?P<sname>[^\s/>!?]+)(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*(?P<empty>/?)>)"
    r"|(?P<text>[^<]+)", re.S)
_AFTER = ("title", "originaltitle", "sorttitle", "year", "plot", "outline", "tagline")


def _split_document(text: str) -> tuple[str, str, str, str]:
    """(prefix, root element text, suffix, root tag): prefix holds the declaration and any
    comments before the root, suffix whatever follows the root's end tag."""
    m = _ENTITY_DECL.search(text)
    if m:
        raise NfoRefused(
            "it declares entities in a DOCTYPE; refused because entities can read other files "
            "or expand without end (XXE, billion laughs), and an NFO needs none")
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
        raise NfoRefused("no root element")
    tag = m.group(1)
    self_closing = re.match(rf"<{re.escape(tag)}\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*/>", text[start:])
    if self_closing:
        end = start + self_closing.end()
    else:
        close = text.rfind(f"</{tag}")
        if close < start:
            raise NfoRefused(f"no closing </{tag}>")
        end = text.index(">", close) + 1
    return text[:start], text[start:end], text[end:], tag


def _declared_encoding(raw: bytes) -> str:
    m = re.match(rb"\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._\-]+)[\"']", raw)
    return m.group(1).decode("ascii") if m else "utf-8"


@dataclass
class _Child:
    name: str
    start: int  # offsets in the root element's text
    end: int
    lead: str  # the whitespace right before it ("" when text or markup precedes it)


def _children(root_text: str) -> tuple[list[_Child], int, int]:
    """The root's direct child elements with their spans, and the span of its content."""
    head = _TOKEN.match(root_text)
    assert head is not None and head.group("start")
    if head.group("empty"):
        return [], head.end(), head.end()
    content_end = root_text.rindex("</")
    pos, depth = head.end(), 0
    kids: list[_Child] = []
    ws_start: int | None = pos  # where the whitespace before ``pos`` begins (None: none)
    while pos < content_end:
        m = _TOKEN.match(root_text, pos)
        if m is None:  # pragma: no cover - the document parsed: cannot happen
            raise NfoRefused("unexpected markup")
        if m.group("start"):
            if depth == 0:
                lead = root_text[ws_start:pos] if ws_start is not None else ""
                kids.append(_Child(m.group("sname"), pos, m.end(), lead))
            if not m.group("empty"):
                depth += 1
            ws_start = None
        elif m.group("end"):
            depth -= 1
            if depth == 0:
                kids[-1].end = m.end()
            ws_start = None
        elif m.group("text") is not None and not m.group("text").strip():
            if ws_start is None and depth == 0:
                ws_start = pos
        else:
            ws_start = None
        pos = m.end()
    return kids, head.end(), content_end


def _text_of(element: str) -> str:
    try:
        return "".join(ET.fromstring(element).itertext()).strip()
    except ET.ParseError:  # e.g. a namespace prefix declared on the root
        return re.sub(r"<[^>]*>", "", element).strip()


def update_nfo_text(text: str | None, genres: Iterable[str], *, mode: str = NFO_REPLACE,
                    rejected: Iterable[str] = ()) -> str:
    """Return the NFO text with its ``<genre>`` children set; ``text=None`` makes a new one.

    Only the byte ranges of the root's direct ``<genre>`` children change (an unchanged
    genre keeps its bytes, CDATA and character references included); a new genre goes
    after the last one (or after the title-ish fields) with the file's own indentation and
    line ends.  Raises ``NfoRefused`` (a ``ValueError``) when ``text`` is not an XML document
    we can edit safely, saying why.
    """
    genres = list(genres)
    if text is None or not text.strip():
        body = "".join(f"  <genre>{_esc(g)}</genre>\n" for g in genres)
        return f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<movie>\n{body}</movie>\n'
    prefix, root_text, suffix, tag = _split_document(text)
    try:
        ET.fromstring(root_text)
    except ET.ParseError as err:
        raise NfoRefused(f"not valid XML ({err})") from None
    kids, content_start, content_end = _children(root_text)
    old = [k for k in kids if k.name == "genre"]
    existing = [_text_of(root_text[k.start:k.end]) for k in old]
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
    nl = "\r\n" if "\r\n" in text else "\n"
    edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in root_text
    for k, have, want in zip(old, existing, wanted, strict=False):
        if have != want:
            edits.append((k.start, k.end, f"<genre>{_esc(want)}</genre>"))
    for k in old[len(wanted):]:  # genres no longer wanted: the element and its line go
        lead = len(k.lead) if k.lead.strip() == "" else 0
        edits.append((k.start - lead, k.end, ""))
    extra = wanted[len(old):]
    if extra:
        if old:
            anchor = old[-1]
            sep = anchor.lead or nl
        else:
            after = [k for k in kids if k.name in _AFTER]
            anchor = after[-1] if after else (kids[-1] if kids else None)
            sep = (anchor.lead if anchor is not None and anchor.lead else None) \
                or (kids[0].lead if kids and kids[0].lead else nl + "  ")
        piece = "".join(f"{sep}<genre>{_esc(g)}</genre>" for g in extra)
        if anchor is not None:
            edits.append((anchor.end, anchor.end, piece))
        elif content_start == content_end and root_text.endswith("/>"):  # <movie/>
            open_tag = root_text[:-2].rstrip() + ">"
            return prefix + open_tag + piece + nl + f"</{tag}>" + suffix
        else:
            empty = content_start == content_end
            edits.append((content_start, content_start, piece + (nl if empty else "")))
    out = root_text
    for start, end, rep in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        out = out[:start] + rep + out[end:]
    return prefix + out + suffix


def _genre_key(name: str) -> str:
    try:
        return normalize_genre(name)
    except KeyError:
        return name.strip().casefold()


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SYMLINK_FOLLOW = "follow"  # edit the file a symlinked NFO points to, in place (the link stays)
SYMLINK_SKIP = "skip"  # leave symlinked NFOs alone and report them


def _bom(raw: bytes) -> tuple[bytes, str | None]:
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                     (codecs.BOM_UTF16_BE, "utf-16-be")):
        if raw.startswith(bom):
            return bom, enc
    return b"", None


def write_nfo(video_path: Path, genres: Iterable[str], *, mode: str = NFO_REPLACE,
              rejected: Iterable[str] = (), prefer_movie_nfo: bool = False,
              dry_run: bool = False, symlinks: str = SYMLINK_FOLLOW) -> tuple[Path, bool]:
    """Create or edit the NFO of one video; returns (nfo path, whether it changed).

    Byte for byte: a BOM, the declared encoding, CRLF line ends and everything outside the
    ``<genre>`` elements come back exactly as they were.  A read-only NFO (no write bit) is
    the user's "hands off" and raises ``NfoRefused``; a symlinked NFO has its *target*
    replaced atomically (the link and any other links to it stay), or is refused with
    ``symlinks="skip"``.
    """
    nfo = nfo_path_for(video_path, prefer_movie_nfo)
    target = nfo
    if nfo.is_symlink():
        if symlinks == SYMLINK_SKIP:
            raise NfoRefused("it is a symbolic link (skipped: --nfo-symlinks skip)")
        target = Path(os.path.realpath(nfo))
        if target.exists() and not target.is_file():
            raise NfoRefused(f"it links to {target}, which is not a regular file")
    raw = target.read_bytes() if target.exists() else None
    if raw is not None and not target.stat().st_mode & 0o222:
        raise NfoRefused("it is read-only (no write permission bit); make it writable to let "
                         "trailertagger edit it")
    bom, bom_encoding = _bom(raw or b"")
    body = (raw or b"")[len(bom):]
    encoding = bom_encoding or (_declared_encoding(body) if raw else "utf-8")
    text: str | None = None
    if raw is not None:
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise NfoRefused(f"{nfo.name} is not readable as {encoding}") from None
        if text.encode(encoding) != body:  # a codec that does not round-trip: no exact edit
            raise NfoRefused(f"{nfo.name}: its {encoding} text does not survive a round trip")
    new = update_nfo_text(text, genres, mode=mode, rejected=rejected)
    if text is not None and new == text:
        return nfo, False
    if not dry_run:
        atomic_write_bytes(target, bom + new.encode(encoding, errors="xmlcharrefreplace"))
    return nfo, True


def export_nfo(records: Iterable[VideoRecord], *, mode: str = NFO_REPLACE,
               prefer_movie_nfo: bool = False, dry_run: bool = False,
               progress: Progress | None = None, symlinks: str = SYMLINK_FOLLOW) -> ExportReport:
    """Write an NFO beside every present, classified video; one bad file never stops the rest.

    ``progress("nfo", videos seen, None)`` before each video.  Read-only NFOs and (with
    ``symlinks="skip"``) symlinked ones are *skipped* (the user's choice); NFOs that are not
    XML or are hostile are *failed*, each with its reason.
    """
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
                                     dry_run=dry_run, symlinks=symlinks)
        except NfoRefused as err:
            where = nfo_path_for(Path(rec.path), prefer_movie_nfo)
            text = str(err)
            if text.startswith(("it is read-only", "it is a symbolic link")):
                report.skipped.append((str(where), f"NFO left untouched: {text}"))
            else:
                report.failed.append((rec.path, f"existing NFO left untouched: {text}"))
            continue
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
              "stale", "duration", "content_hash", "label_state", "metadata")


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
        # how far to trust the genres: labelled, cold start, weak evidence, trained
        "label_state": rec.label_state,
        "metadata": list(rec.metadata_genres) if rec.metadata_genres is not None else None,
        "suggestions": list(rec.suggestions),
        "explanations": dict(rec.explanations),
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
               rec.content_hash or "", rec.label_state,
               "" if rec.metadata_genres is None else ";".join(rec.metadata_genres)]
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

