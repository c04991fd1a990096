"""Manual corrections: the user's word on a genre, never overwritten by a model.

A correction is a small operation on one or more videos (Anki's habit): ``+Horror`` adds a
manual positive row, ``-Comedy`` a manual *rejected* row (so Comedy stays off however sure a
later model is), ``=Drama`` drops the manual row and lets the model decide again.  Each call
returns an ``Edit`` that ``undo`` reverses exactly, which is what a GUI's Ctrl-Z needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import TrailerTaggerError
from ..genres import normalize_genre
from ..progress import Progress
from .db import Library, now
from .queries import CHUNK
from .schema import SOURCE_MANUAL, GenreAssignment

ADD, REMOVE, CLEAR = "+", "-", "="


class CorrectionError(TrailerTaggerError):
    exit_code = 2


@dataclass(frozen=True)
class GenreChange:
    op: str  # "+" add, "-" reject, "=" back to automatic
    genre: str


def parse_changes(tokens: Iterable[str]) -> list[GenreChange]:
    """``["+Horror", "-comedy", "=Sci Fi"]`` -> changes; unknown genres raise with the list."""
    out: list[GenreChange] = []
    for tok in tokens:
        tok = tok.strip()
        if len(tok) < 2 or tok[0] not in (ADD, REMOVE, CLEAR):
            raise CorrectionError(f"{tok!r}: write +Genre to add, -Genre to remove, =Genre to reset")
        try:
            out.append(GenreChange(tok[0], normalize_genre(tok[1:])))
        except KeyError as err:
            raise CorrectionError(str(err.args[0])) from None
    return out


@dataclass(frozen=True)
class _RowState:
    """The manual row of (video, genre) before an edit: None = there was none."""

    video_id: int
    genre: str
    rejected: bool | None
    created_at: float | None


@dataclass
class Edit:
    """What one ``apply_changes`` call did, enough to undo it."""

    before: list[_RowState] = field(default_factory=list)
    changed: int = 0


def _manual_rows(session: Session, video_ids: Sequence[int],
                 genres: set[str] | None = None) -> dict[tuple[int, str], GenreAssignment]:
    """The manual rows of these videos and genres (None: every genre), keyed by (video, genre),
    read in chunks (SQLite caps the number of bound parameters) instead of one query per video
    and genre."""
    rows: dict[tuple[int, str], GenreAssignment] = {}
    for start in range(0, len(video_ids), CHUNK):
        q = select(GenreAssignment).where(
            GenreAssignment.video_id.in_(video_ids[start:start + CHUNK]),
            GenreAssignment.source == SOURCE_MANUAL)
        if genres is not None:
            q = q.where(GenreAssignment.genre.in_(sorted(genres)))
        for row in session.execute(q).scalars():
            rows[(row.video_id, row.genre)] = row
    return rows


def apply_changes_in(session: Session, video_ids: Sequence[int], changes: Sequence[GenreChange],
                     progress: Progress | None = None) -> Edit:
    """Apply ``changes`` to every video in ``video_ids`` inside the caller's transaction.

    The existing manual rows are read in a few chunked queries up front (not one query per
    video and genre), so correcting a folder of 100,000 videos takes seconds.  Changes apply
    in order, so ``+Horror =Horror`` ends with no manual Horror row.  ``progress`` is called
    with the number of videos done, every 1,000 videos and at the end.
    """
    edit = Edit()
    ids = list(dict.fromkeys(video_ids))
    rows = _manual_rows(session, ids, {ch.genre for ch in changes})
    t = now()
    for n, vid in enumerate(ids, 1):
        for ch in changes:
            key = (vid, ch.genre)
            row = rows.get(key)
            current = None if row is None else bool(row.rejected)
            edit.before.append(_RowState(vid, ch.genre, current,
                                         None if row is None else row.created_at))
            target = {ADD: False, REMOVE: True, CLEAR: None}[ch.op]
            if current != target:
                edit.changed += 1
            if target is None:
                if row is not None:
                    session.delete(row)
                    session.flush()  # a later "+G" in the same call may re-insert the key
                    del rows[key]
            elif row is None:
                row = GenreAssignment(video_id=vid, genre=ch.genre, source=SOURCE_MANUAL,
                                      positive=not target, rejected=target, stale=False,
                                      created_at=t)
                session.add(row)
                rows[key] = row
            else:
                row.rejected, row.positive, row.created_at = target, not target, t
        if progress is not None and (n % 1000 == 0 or n == len(ids)):
            progress("apply", n, len(ids))
    session.flush()
    return edit


def apply_changes(lib: Library, video_ids: Sequence[int], changes: Sequence[GenreChange]) -> Edit:
    """One transaction: all videos change or none do."""
    with lib.session() as s:
        return apply_changes_in(s, video_ids, changes)


def undo(lib: Library, edit: Edit) -> None:
    """Put every touched manual row back as it was.

    The state recorded *first* for a (video, genre) is the one before the edit, so later
    records of the same key are ignored; the rows are then read once and set in bulk.
    """
    first: dict[tuple[int, str], _RowState] = {}
    for st in edit.before:
        first.setdefault((st.video_id, st.genre), st)
    with lib.session() as s:
        rows = _manual_rows(s, sorted({vid for vid, _ in first}), {g for _, g in first})
        for key, st in first.items():
            row = rows.get(key)
            if st.rejected is None:
                if row is not None:
                    s.delete(row)
            elif row is None:
                s.add(GenreAssignment(video_id=st.video_id, genre=st.genre, source=SOURCE_MANUAL,
                                      positive=not st.rejected, rejected=st.rejected, stale=False,
                                      created_at=st.created_at or now()))
            else:
                row.rejected, row.positive = st.rejected, not st.rejected
                row.created_at = st.created_at or row.created_at


def clear_all_manual(lib: Library, video_ids: Sequence[int]) -> Edit:
    """Forget every correction of these videos (the model decides again); undoable."""
    with lib.session() as s:
        rows = _manual_rows(s, list(dict.fromkeys(video_ids)))
        edit = Edit([_RowState(vid, genre, bool(r.rejected), r.created_at)
                     for (vid, genre), r in rows.items()], len(rows))
        for r in rows.values():
            s.delete(r)
        return edit
