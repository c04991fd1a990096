"""Writing automatic predictions: auto rows are replaceable, manual rows are never touched.

* ``store_predictions`` replaces *only* a video's auto rows (all 21 genres, with probability,
  the head's threshold and ``positive``); manual rows — additions and rejections — are left
  exactly as they are, so a correction survives every re-run.
* ``note_active_head`` remembers which head's predictions are current.  When it changes
  (a new personal head, a different zero-shot model), every auto row made by another head is
  marked ``stale``: still shown (better than nothing), flagged, and replaced by a re-run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from ..genres import GENRES
from .db import get_meta, now, set_meta
from .schema import SOURCE_AUTO, VIDEO_READY, GenreAssignment, Head, Video

ACTIVE_HEAD_KEY = "active_head"  # "<model_id>\t<version>"


def register_head(session: Session, model_id: str, version: str, kind: str = "") -> Head:
    head = session.execute(
        select(Head).where(Head.model_id == model_id, Head.version == version)
    ).scalar_one_or_none()
    if head is None:
        head = Head(model_id=model_id, version=version, kind=kind, first_seen=now())
        session.add(head)
        session.flush()
    return head


def active_head_key(session: Session) -> tuple[str, str] | None:
    raw = get_meta(session, ACTIVE_HEAD_KEY)
    if not raw:
        return None
    model_id, _, version = raw.partition("\t")
    return model_id, version


def note_active_head(session: Session, model_id: str, version: str, kind: str = "") -> tuple[Head, int]:
    """Record the head now in use; returns it and how many auto rows became stale."""
    head = register_head(session, model_id, version, kind)
    if active_head_key(session) == (model_id, version):
        return head, 0
    set_meta(session, ACTIVE_HEAD_KEY, f"{model_id}\t{version}")
    return head, mark_stale_except(session, head.id)


def mark_stale_except(session: Session, head_id: int) -> int:
    result = session.execute(
        update(GenreAssignment)
        .where(GenreAssignment.source == SOURCE_AUTO, GenreAssignment.stale.is_(False),
               (GenreAssignment.head_id != head_id) | GenreAssignment.head_id.is_(None))
        .values(stale=True)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def mark_video_stale(session: Session, video_id: int) -> None:
    """A file's content changed: its auto rows describe the old content."""
    session.execute(
        update(GenreAssignment)
        .where(GenreAssignment.video_id == video_id, GenreAssignment.source == SOURCE_AUTO)
        .values(stale=True)
        .execution_options(synchronize_session=False)
    )


def store_predictions(session: Session, video: Video, head: Head, probs: Mapping[str, float],
                      thresholds: Mapping[str, float] | None = None,
                      default_threshold: float = 0.5, *, on: Sequence[str] | None = None,
                      evidence_state: str | None = None,
                      explanations: Mapping[str, str] | None = None,
                      suggestions: Sequence[str] = ()) -> list[str]:
    """Replace ``video``'s auto rows with ``probs``; returns the genres that are on.

    ``on`` is what the head emitted (the cold-start head emits at most a few genres, above a
    calibrated confidence); without it a genre is on when ``probability >= threshold``.
    ``evidence_state`` ("cold start" / "weak evidence", None for a trained head),
    ``explanations`` and ``suggestions`` are kept on the video for the CLI, export and app.
    Genres a head does not score are stored with probability 0 so every video has 21 auto
    rows and queries never need to special-case a partial head.  Manual and metadata rows are
    never touched.
    """
    thresholds = thresholds or {}
    t = now()
    session.execute(
        delete(GenreAssignment).where(GenreAssignment.video_id == video.id,
                                      GenreAssignment.source == SOURCE_AUTO)
        .execution_options(synchronize_session=False)
    )
    rows = []
    emitted = set(on) if on is not None else None
    on_list: list[str] = []
    for genre in GENRES:
        p = float(probs.get(genre, 0.0))
        thr = float(thresholds.get(genre, default_threshold))
        positive = p >= thr if emitted is None else genre in emitted
        if positive:
            on_list.append(genre)
        rows.append({"video_id": video.id, "genre": genre, "source": SOURCE_AUTO,
                     "probability": p, "threshold": thr, "positive": positive,
                     "rejected": False, "stale": False, "head_id": head.id, "created_at": t})
    session.execute(insert(GenreAssignment), rows)
    video.classified_head_id = head.id
    video.classified_at = t
    video.evidence_state = evidence_state
    video.explanation = (json.dumps({"genres": dict(explanations or {}),
                                     "suggestions": list(suggestions)}, ensure_ascii=False)
                         if explanations or suggestions else None)
    video.status = VIDEO_READY
    video.error_reason = None
    video.updated_at = t
    session.expire(video, ["assignments"])
    return on_list
