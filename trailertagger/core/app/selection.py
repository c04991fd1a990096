"""Which videos a command or a view is about: one ``Selection``, resolved in one place.

Both front ends describe "these videos" the same way: paths (a video, or a folder meaning
every video under it), ids (a GUI selection), and the filters of the library view (genres,
search words, failed / missing / corrected / stale / queued / unclassified / cold start,
any-or-all genre matching, a probability threshold).  ``resolve`` turns that into one SQL
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
    genres: tuple[str, ...] = ()  # videos that have these genres (effective), see ``match``
    match: str = "all"  # "all": every one of ``genres``; "any": at least one
    # with ``genres``: a genre counts when the model gave it at least this probability (or a
    # correction / imported label turned it on), instead of the head's own threshold
    min_probability: float | None = None
    text: str = ""  # every word in the path
    failed: bool = False
    missing: bool | None = None  # True: only missing files; False: only present ones
    corrected: bool = False
    stale: bool = False  # predictions from another head than the active one
    state: str | None = None  # label state: labelled / cold start / weak evidence / trained
    review: bool = False  # "needs review": a label would help the head most (library.review)
    skip_cold_start: bool = False  # leave out videos tagged only by the cold-start head
    queued: bool = False  # a job (probe, extract, classify) is queued or running
    unclassified: bool = False  # present, never classified by any head
    cold_start: bool = False  # tagged only by the label-free head (cold start / weak evidence)

    @classmethod
    def of_ids(cls, ids: list[int] | tuple[int, ...]) -> Selection:
        return cls(ids=tuple(ids))

    def present(self) -> Selection:
        """The same selection without missing files (what processing can act on)."""
        return replace(self, missing=False)

    def for_counts(self) -> Selection:
        """What the genre counts beside a filter count within: every other part of the filter;
        with "all" matching the chosen genres too (each count then says how many would stay
        if that genre were added), with "any" not (the chosen genres would count only
        themselves).  Explicit ids never narrow a count."""
        if self.match == "any":
            return replace(self, ids=None, genres=(), min_probability=None)
        return replace(self, ids=None)

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
    kw: dict[str, Any] = {"text": sel.text or None}
    wheres: list[ColumnElement[bool]] = []
    try:
        genres = queries.genres_clause(sel.genres, match=sel.match,
                                       min_probability=sel.min_probability)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if genres is not None:
        wheres.append(genres)
    if sel.queued:
        wheres.append(queries.active_job_clause())
    if sel.unclassified:
        wheres.append(queries.unclassified_clause())
    if sel.cold_start:
        wheres.append(or_(queries.label_state_clause(queries.COLD_START),
                          queries.label_state_clause(queries.WEAK_EVIDENCE)))
    if sel.failed:
        kw["status"] = VIDEO_FAILED
    if sel.missing is not None:
        kw["missing"] = sel.missing
    if sel.corrected:
        kw["corrected"] = True
    if sel.stale:
        wheres.append(queries.stale_clause())
    if sel.state:
        wheres.append(queries.label_state_clause(sel.state))
    if sel.review:
        from ..library.review import needs_review_clause

        wheres.append(needs_review_clause())
    if sel.skip_cold_start:
        from sqlalchemy import not_

        wheres.append(not_(queries.label_state_clause(queries.COLD_START)))
        wheres.append(not_(queries.label_state_clause(queries.WEAK_EVIDENCE)))
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
