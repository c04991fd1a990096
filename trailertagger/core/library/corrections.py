"""Manual corrections: the user's word on a genre, never overwritten by a model.

A correction is a small operation on one or more videos (Anki's habit): ``+Horror`` adds a
manual positive row, ``-Comedy`` a manual *rejected* row (so Comedy stays off however sure a
later model is), ``=Drama`` drops the manual row and lets the model decide again.  Each call
returns an ``Edit`` that ``undo`` reverses exactly, which is what a GUI's Ctrl-Z needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..errors import TrailerTaggerError
from ..genres import normalize_genre
from .db import Library, now
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


def _manual_row(session: Session, video_id: int, genre: str) -> GenreAssignment | None:
    return session.execute(
        select(GenreAssignment).where(GenreAssignment.video_id == video_id,
                                      GenreAssignment.genre == genre,
                                      GenreAssignment.source == SOURCE_MANUAL)
    ).scalar_one_or_none()


def _set_row(session: Session, video_id: int, genre: str, rejected: bool | None,
             created_at: float | None = None) -> None:
    row = _manual_row(session, video_id, genre)
    if rejected is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(GenreAssignment(video_id=video_id, genre=genre, source=SOURCE_MANUAL,
                                    positive=not rejected, rejected=rejected, stale=False,
                                    created_at=created_at or now()))
    else:
        row.rejected = rejected
        row.positive = not rejected
        row.created_at = created_at or now()


def apply_changes_in(session: Session, video_ids: Sequence[int], changes: Sequence[GenreChange]) -> Edit:
    """Apply ``changes`` to every video in ``video_ids`` inside the caller's transaction."""
    edit = Edit()
    for vid in video_ids:
        for ch in changes:
            row = _manual_row(session, vid, ch.genre)
            edit.before.append(_RowState(vid, ch.genre, None if row is None else bool(row.rejected),
                                         None if row is None else row.created_at))
            target = {ADD: False, REMOVE: True, CLEAR: None}[ch.op]
            current = None if row is None else bool(row.rejected)
            if current != target:
                edit.changed += 1
            _set_row(session, vid, ch.genre, target)
            session.flush()
    return edit


def apply_changes(lib: Library, video_ids: Sequence[int], changes: Sequence[GenreChange]) -> Edit:
    """One transaction: all videos change or none do."""
    with lib.session() as s:
        return apply_changes_in(s, video_ids, changes)


def undo(lib: Library, edit: Edit) -> None:
    """Put every touched manual row back as it was (in reverse order)."""
    with lib.session() as s:
        for st in reversed(edit.before):
            _set_row(s, st.video_id, st.genre, st.rejected, st.created_at)
            s.flush()


def clear_all_manual(lib: Library, video_ids: Sequence[int]) -> Edit:
    """Forget every correction of these videos (the model decides again); undoable."""
    with lib.session() as s:
        edit = Edit()
        for vid in video_ids:
            rows = s.execute(select(GenreAssignment).where(
                GenreAssignment.video_id == vid, GenreAssignment.source == SOURCE_MANUAL)).scalars().all()
            for r in rows:
                edit.before.append(_RowState(vid, r.genre, bool(r.rejected), r.created_at))
            edit.changed += len(rows)
            s.execute(delete(GenreAssignment).where(GenreAssignment.video_id == vid,
                                                    GenreAssignment.source == SOURCE_MANUAL))
        return edit
