"""Labels the library already has: genres from NFO files, genre folders and CSV files.

Kodi, Jellyfin and Plex users keep genres in ``<name>.nfo`` / ``movie.nfo`` beside each film;
others sort films into genre folders or keep a spreadsheet.  ``import_labels`` turns them into
``metadata`` rows (``schema.SOURCE_METADATA``): all 21 genres of a video, on or off.  Rules:

* **Precedence**: manual > metadata > auto.  Classification replaces only auto rows, so a
  re-run never changes imported labels; a manual correction overrides them.  A later import of
  the same video replaces its metadata rows (the file is the source of truth).
* **Names** are mapped to the 21 genres by ``resources/genre_aliases.json`` (TMDB, Kodi and a
  few localized names; "Sci-Fi & Fantasy" is both) plus ``[library] genre_aliases`` in the
  settings (``"Zombie" = "Horror"`` or a list).  A name that maps nowhere is reported with its
  file, never guessed; a video with only unknown names gets no labels.
* **NFO**: ``<name>.nfo``, else ``movie.nfo`` when the video is alone in its folder (Kodi's
  lookup, ``export.nfo_path_for``); the root's ``<genre>`` children, each possibly a
  " / "-separated list.  The XML is parsed with entity and DTD declarations refused (no
  defusedxml in the venv: a file declaring a DOCTYPE or ENTITY is reported, not parsed, so
  "billion laughs" and external entities never expand).
* **Folders**: every folder on the video's path whose whole name is a genre or alias
  ("Films/Horror/x.mkv", "Films/Science Fiction/y.mp4"); other folder names are ordinary and
  not reported.
* **CSV**: ``path,genres`` (header optional), genres separated by ``|``, ``;`` or " / ";
  paths relative to the CSV's folder or absolute; rows naming a file not in the library are
  reported.
"""

from __future__ import annotations

import csv
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from sqlalchemy import delete, insert, select

from ..errors import ConfigError
from ..genres import GENRES
from .db import Library, now
from .export import nfo_path_for
from .identity import normalize_path
from .queries import find_videos
from .schema import SOURCE_METADATA, GenreAssignment, WatchedFolder

NFO, FOLDERS, CSV_KIND = "nfo", "folders", "csv"
_SPLIT = re.compile(r"\s*(?:/|\||;)\s*")
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.I)


@lru_cache(maxsize=1)
def builtin_aliases() -> dict[str, tuple[str, ...]]:
    raw = (resources.files("trailertagger") / "resources" / "genre_aliases.json").read_text("utf-8")
    out = {g.casefold(): (g,) for g in GENRES}
    for k, v in json.loads(raw)["aliases"].items():
        out[k.strip().casefold()] = tuple(v)
    return out


def alias_table(extra: Mapping[str, object] | None = None) -> dict[str, tuple[str, ...]]:
    """The built-in table plus the user's ``[library] genre_aliases`` (validated)."""
    table = dict(builtin_aliases())
    canonical = {g.casefold(): g for g in GENRES}
    for name, target in (extra or {}).items():
        targets = [target] if isinstance(target, str) else target
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ConfigError(f"[library] genre_aliases: {name!r} must name a genre or a list of genres")
        bad = [t for t in targets if t.strip().casefold() not in canonical]
        if bad:
            raise ConfigError(f"[library] genre_aliases: {name!r} -> {', '.join(bad)}: not one of "
                              f"the 21 genres ({', '.join(GENRES)})")
        table[name.strip().casefold()] = tuple(canonical[t.strip().casefold()] for t in targets)
    return table


def map_names(names: Iterable[str], table: Mapping[str, tuple[str, ...]]) -> tuple[list[str], list[str]]:
    """(genres in GENRES order, names that map nowhere) for raw genre strings."""
    found: set[str] = set()
    unknown: list[str] = []
    for raw in names:
        for name in _split(raw):
            hit = table.get(name.casefold())
            if hit is None:
                unknown.append(name)
            else:
                found.update(hit)
    return [g for g in GENRES if g in found], unknown


def _split(raw: str) -> list[str]:
    raw = " ".join(raw.split())
    if raw.casefold() in builtin_aliases():  # "Action/Adventure" is one known name
        return [raw]
    return [p for p in _SPLIT.split(raw) if p]


# -- NFO ------------------------------------------------------------------------------------------
def nfo_for(video: Path) -> Path | None:
    """The NFO Kodi would read for ``video``, if there is one: the export's own lookup
    (``export.nfo_path_for``), kept only when that file is there."""
    nfo = nfo_path_for(video)
    return nfo if nfo.is_file() else None


def read_nfo_genres(path: Path) -> list[str]:
    """The raw ``<genre>`` texts of an NFO; ``ValueError`` naming the problem otherwise."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read: {err.strerror or err}") from None
    if _FORBIDDEN.search(raw):
        raise ValueError("declares a DOCTYPE or ENTITY; refused (entities are never expanded)")
    # Kodi allows a scraper URL line after the XML: parse up to the root's end
    text = raw.decode("utf-8-sig", errors="replace")
    from .export import _split_document

    try:
        _prefix, root_text, _suffix, _tag = _split_document(text)
        root = ET.fromstring(root_text)
    except (ValueError, ET.ParseError) as err:
        raise ValueError(f"not valid XML ({err})") from None
    return [(e.text or "").strip() for e in root.findall("genre") if (e.text or "").strip()]


# -- import ---------------------------------------------------------------------------------------
@dataclass
class ImportReport:
    kind: str
    labelled: list[tuple[str, list[str]]] = field(default_factory=list)  # (video, genres)
    unchanged: int = 0
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (file, name)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    not_in_library: list[str] = field(default_factory=list)  # CSV rows
    searched: int = 0

    def summary(self) -> str:
        return (f"{self.kind}: {len(self.labelled)} video(s) labelled, {self.unchanged} unchanged, "
                f"{len(self.unknown)} unknown genre name(s), {len(self.failed)} unreadable file(s)"
                + (f", {len(self.not_in_library)} row(s) not in the library"
                   if self.not_in_library else "") + f" ({self.searched} video(s) looked at)")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "labelled": [{"path": p, "genres": g} for p, g in self.labelled],
                "unchanged": self.unchanged,
                "unknown": [{"file": f, "name": n} for f, n in self.unknown],
                "failed": [{"file": f, "reason": w} for f, w in self.failed],
                "not_in_library": self.not_in_library, "searched": self.searched}


def set_metadata_labels(session, video_id: int, genres: Sequence[str]) -> bool:  # noqa: ANN001
    """Make ``genres`` the video's metadata labels (21 rows, on or off); False if unchanged."""
    rows = session.execute(select(GenreAssignment.genre, GenreAssignment.positive).where(
        GenreAssignment.video_id == video_id, GenreAssignment.source == SOURCE_METADATA)).all()
    want = set(genres)
    if rows and len(rows) == len(GENRES) and {g for g, p in rows if p} == want:
        return False
    session.execute(delete(GenreAssignment).where(
        GenreAssignment.video_id == video_id, GenreAssignment.source == SOURCE_METADATA)
        .execution_options(synchronize_session=False))
    t = now()
    session.execute(insert(GenreAssignment), [
        {"video_id": video_id, "genre": g, "source": SOURCE_METADATA, "probability": None,
         "threshold": None, "positive": g in want, "rejected": g not in want, "stale": False,
         "head_id": None, "created_at": t} for g in GENRES])
    return True


def _folder_genres(path: str, table: Mapping[str, tuple[str, ...]], root: str | None) -> list[str]:
    parts = Path(path).parent.parts
    if root:
        rparts = Path(root).parts
        if parts[: len(rparts)] == rparts:
            parts = parts[len(rparts):]
    found: set[str] = set()
    for name in parts:
        hit = table.get(" ".join(name.split()).casefold())
        if hit:
            found.update(hit)
    return [g for g in GENRES if g in found]


def read_csv_labels(csv_path: Path) -> list[tuple[int, str, str]]:
    """(line, path, genres) rows; ``ConfigError`` when the file cannot be read."""
    try:
        text = Path(csv_path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{csv_path}: cannot read ({err})") from None
    rows = []
    for n, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or not row[0].strip():
            continue
        if n == 1 and row[0].strip().casefold() == "path":
            continue
        rows.append((n, row[0].strip(), ",".join(row[1:])))
    return rows


def import_labels(lib: Library, kind: str, *, csv_path: Path | None = None,
                  folder: str | None = None, extra_aliases: Mapping[str, object] | None = None,
                  dry_run: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """Import ``kind`` (``nfo``, ``folders``, ``csv``) labels into the library (one
    transaction); ``folder`` limits it to the videos under that folder."""
    table = alias_table(extra_aliases)
    report = ImportReport(kind)
    from .queries import under_folder

    with lib.read() as s:
        recs = find_videos(s, missing=False, order="id",
                           where=under_folder(folder) if folder else None)
        roots = list(s.execute(select(WatchedFolder.path)).scalars())
    by_path = {r.path: r for r in recs}
    found: list[tuple[int, str, list[str]]] = []  # (video id, path, genres)
    if kind == CSV_KIND:
        if csv_path is None:
            raise ConfigError("labels import --csv needs a file")
        base = Path(csv_path).resolve().parent
        for line, raw_path, raw_genres in read_csv_labels(Path(csv_path)):
            p = raw_path if os.path.isabs(raw_path) else str(base / raw_path)
            rec = by_path.get(normalize_path(p))
            where = f"{csv_path}:{line}"
            report.searched += 1
            if rec is None:
                report.not_in_library.append(f"{where}: {raw_path}")
                continue
            genres, unknown = map_names([raw_genres], table)
            report.unknown += [(where, u) for u in unknown]
            if genres:
                found.append((rec.id, rec.path, genres))
    else:
        for i, rec in enumerate(recs, 1):
            report.searched += 1
            if progress is not None:
                progress(i, len(recs))
            if kind == NFO:
                nfo = nfo_for(Path(rec.path))
                if nfo is None:
                    continue
                try:
                    names = read_nfo_genres(nfo)
                except ValueError as err:
                    report.failed.append((str(nfo), str(err)))
                    continue
                genres, unknown = map_names(names, table)
                report.unknown += [(str(nfo), u) for u in unknown]
            elif kind == FOLDERS:
                root = max((r for r in roots if rec.path.startswith(r.rstrip("/\\") + os.sep)),
                           key=len, default=None)
                genres = _folder_genres(rec.path, table, root)
            else:
                raise ValueError(f"unknown label source {kind!r}")
            if genres:
                found.append((rec.id, rec.path, genres))
    if dry_run:
        report.labelled = [(p, g) for _, p, g in found]
        return report
    with lib.session() as s:
        for vid, path, genres in found:
            if set_metadata_labels(s, vid, genres):
                report.labelled.append((path, genres))
            else:
                report.unchanged += 1
    return report
