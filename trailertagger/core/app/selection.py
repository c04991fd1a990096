"""Which videos a command or a view is about: one ``Selection``, resolved in one place.

Both front ends describe "these videos" the same way: paths (a video, or a folder meaning
every video under it), ids (a GUI selection), and the filters of the library view (genres,
search words, failed / missing / corrected / stale).  ``resolve`` turns that into one SQL
condition plus the named paths that are not in the library, so "re-run this folder", "export
what the view shows" and "correct the selected rows" all select videos by the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, false, or_, select
from sqlalchemy.orm import Session

from ..errors import ConfigError
from ..genres import normalize_genre
from ..library import queries
from ..library.identity import normalize_path
from ..library.schema import VIDEO_FAILED, Video


@dataclass(frozen=True)
class Selection:
    """Every part is optional; the parts AND together.  ``Selection()`` is every video."""

    paths: tuple[str, ...] = ()  # videos or folders; unknown ones are reported, not guessed
    ids: tuple[int, ...] | None = None  # explicit video ids (a GUI selection)
    genres: tuple[str, ...] = ()  # videos that have every one of these genres (effective)
    text: str = ""  # every word in the path
    failed: bool = False
    missing: bool | None = None  # True: only missing files; False: only present ones
    corrected: bool = False
    stale: bool = False  # predictions from another head than the active one

    @classmethod
    def of_ids(cls, ids: list[int] | tuple[int, ...]) -> Selection:
        return cls(ids=tuple(ids))

    def present(self) -> Selection:
        """The same selection without missing files (what processing can act on)."""
        return replace(self, missing=False)

    def with_genres(self, names: list[str] | tuple[str, ...]) -> Selection:
        """Genres as the user typed them ("sci fi", "horror"); unknown names are a usage error."""
        try:
            return replace(self, genres=tuple(normalize_genre(g) for g in names))
        except KeyError as err:
            raise ConfigError(str(err.args[0])) from None


@dataclass
class Resolved:
    """A selection as SQL: ``query`` selects the videos; ``unknown`` lists named paths that
    are not in the library; ``named_files`` the paths that named a single video."""

    query: Select
    unknown: list[str] = field(default_factory=list)
    named_files: set[str] = field(default_factory=set)

    def ids_query(self) -> Select:
        return self.query.with_only_columns(Video.id).order_by(Video.id)


def _paths_clause(session: Session, raw: tuple[str, ...]) -> tuple[ColumnElement[bool], list[str], set[str]]:
    """A path is a video's path, or a folder (every video under it, however many: the
    condition is a path prefix, not a list of ids)."""
    exact: list[str] = []
    folders: list[str] = []
    unknown: list[str] = []
    for item in raw:
        path = normalize_path(item)
        if queries.video_ids(session, paths=[path]):
            exact.append(path)
        elif session.execute(select(Video.id).where(queries.under_folder(path)).limit(1)).first():
            folders.append(path)
        else:
            unknown.append(item)
    clauses = ([Video.path.in_(exact)] if exact else []) + [queries.under_folder(f) for f in folders]
    return (or_(*clauses) if clauses else false()), unknown, set(exact)


def resolve(session: Session, sel: Selection) -> Resolved:
    kw: dict[str, Any] = {"genres": sel.genres, "text": sel.text or None}
    wheres: list[ColumnElement[bool]] = []
    if sel.failed:
        kw["status"] = VIDEO_FAILED
    if sel.missing is not None:
        kw["missing"] = sel.missing
    if sel.corrected:
        kw["corrected"] = True
    if sel.stale:
        wheres.append(queries.stale_clause())
    unknown: list[str] = []
    named: set[str] = set()
    if sel.paths:
        clause, unknown, named = _paths_clause(session, sel.paths)
        wheres.append(clause)
    q = queries.video_query(**kw)
    for w in wheres:
        q = q.where(w)
    if sel.ids is not None:
        # ids are ANDed in chunks by the callers that page; a plain IN list here
        q = q.where(Video.id.in_(list(sel.ids)))
    return Resolved(q, unknown, named)
