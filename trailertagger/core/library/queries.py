"""Read-only questions about the library (Anki's habit: reads never write).

Every function takes a session from ``Library.read()`` (a ``query_only`` connection) and
returns plain frozen dataclasses, so the CLI, the exporters and the GUI's item models never
hold ORM objects across threads.

The *effective* genres of a video are what the user sees and what export writes:
a manual row decides (``rejected`` = off, otherwise on); without one, a metadata row (labels
imported from NFO files, genre folders or a CSV) decides; without either, the auto row decides
(``positive``: what the head emitted).  Stale auto rows still count, flagged ``stale``.

A video's *label state* (``VideoRecord.label_state``) says how far to trust its genres:
``labelled`` (the user or the library's metadata said so), ``cold start`` / ``weak evidence``
(only the label-free head spoke; weak: it found nothing it is confident about), ``trained``
(a trained head), or ``""`` (not classified yet).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from ..genres import GENRES, normalize_genre
from .schema import (
    SOURCE_AUTO,
    SOURCE_MANUAL,
    SOURCE_METADATA,
    VIDEO_MISSING,
    GenreAssignment,
    Head,
    Job,
    JobEventRow,
    Video,
    WatchedFolder,
)

CHUNK = 900  # ids per IN (...) query, below every SQLite build's variable limit
LABELLED = "labelled"
TRAINED = "trained"
COLD_START = "cold start"  # == classify.zero_shot.STATE_COLD_START (core/library stays torch-free)
WEAK_EVIDENCE = "weak evidence"
BULK_BATCH = 2000  # rows made at a time by ``bulk_rows``


def bulk_rows(session: Session, query: Select, batch: int | None = None) -> Iterator[Any]:
    """The rows of ``query``, made ``batch`` at a time.  ``execute(...).all()`` makes every
    row in one compiled (Cython) loop that holds the GIL throughout: 0.15 s for 100,000
    rows, 0.5 s for 300,000 genre rows, during which the app's GUI thread cannot run one
    line of Python (issue 11: the stalls of sorting a big library).  Batches give it a
    turn between them (``time.sleep(0)`` offers the GIL outright instead of waiting to be
    asked); the result is the same rows in the same order."""
    batch = batch or BULK_BATCH
    result = session.execute(query.execution_options(yield_per=batch))
    for part in result.partitions(batch):
        yield from part
        time.sleep(0)


@dataclass(frozen=True)
class GenreState:
    """One genre of one video as the user sees it, with where that came from."""

    genre: str
    on: bool
    source: str  # "manual" decides when present, else "metadata", else "auto"
    probability: float | None  # the auto probability, even when a manual row decides
    threshold: float | None
    rejected: bool
    stale: bool
    model_id: str | None
    model_version: str | None


@dataclass(frozen=True)
class VideoRecord:
    id: int
    path: str
    status: str
    size: int
    mtime_ns: int
    content_hash: str | None
    duration: float | None
    container: str | None
    streams: tuple[dict, ...]
    thumbnail: str | None
    error_reason: str | None
    added_at: float
    updated_at: float
    missing_since: float | None
    classified_at: float | None
    model_id: str | None
    model_version: str | None
    genres: tuple[str, ...] = ()  # effective "on" genres, in GENRES order
    states: dict[str, GenreState] = field(default_factory=dict)
    evidence_state: str | None = None  # "cold start" | "weak evidence" | None (trained head)
    explanations: dict[str, str] = field(default_factory=dict)  # genre -> why the head said so
    suggestions: tuple[str, ...] = ()  # the cold-start head's ranked list, emitted or not
    metadata_genres: tuple[str, ...] | None = None  # imported labels; None: none imported

    @property
    def corrected(self) -> bool:
        return any(s.source == SOURCE_MANUAL for s in self.states.values())

    @property
    def labelled(self) -> bool:
        """The user (a correction) or the library's metadata gave this video's genres."""
        return self.corrected or self.metadata_genres is not None

    @property
    def label_state(self) -> str:
        """``labelled``, ``cold start``, ``weak evidence``, ``trained`` or ``""`` (see module)."""
        if self.labelled:
            return LABELLED
        if self.classified_at is None:
            return ""
        return self.evidence_state or TRAINED

    @property
    def cold_start_only(self) -> bool:
        """Tagged only by the label-free head (what ``export --skip-cold-start`` leaves out)."""
        return self.label_state in (COLD_START, WEAK_EVIDENCE)

    @property
    def stale(self) -> bool:
        return any(s.stale and s.source == SOURCE_AUTO for s in self.states.values())

    @property
    def manual_on(self) -> tuple[str, ...]:
        return tuple(g for g, s in self.states.items() if s.source == SOURCE_MANUAL and s.on)

    @property
    def manual_off(self) -> tuple[str, ...]:
        return tuple(g for g, s in self.states.items() if s.source == SOURCE_MANUAL and not s.on)

    def probabilities(self) -> dict[str, float]:
        return {g: s.probability for g, s in self.states.items() if s.probability is not None}


@dataclass(frozen=True)
class LibraryCounts:
    videos: int
    by_status: dict[str, int]
    corrected: int
    stale: int
    folders: int


# -- building blocks ----------------------------------------------------------------------
def _manual_row_exists(m, a):  # noqa: ANN001, ANN202 - aliased GenreAssignment, SQL expression
    """EXISTS a manual row of ``a``'s (video, genre).  It selects the id, not ``*``, so SQLite
    answers from the unique index alone (a covering index) and never reads the table."""
    return select(m.id).where(m.video_id == a.video_id, m.genre == a.genre,
                              m.source == SOURCE_MANUAL).exists()


def _outranked(m, a):  # noqa: ANN001, ANN202 - aliased GenreAssignment, SQL expression
    """EXISTS a row of ``a``'s (video, genre) with a higher precedence than ``a``'s source
    (manual > metadata > auto); from the unique index alone, like ``_manual_row_exists``."""
    higher = or_(m.source == SOURCE_MANUAL,
                 and_(m.source == SOURCE_METADATA, a.source == SOURCE_AUTO))
    return select(m.id).where(m.video_id == a.video_id, m.genre == a.genre,
                              m.source != a.source, higher).exists()


def has_genre_clause(genre: str):  # noqa: ANN201 - a SQL expression
    """SQL condition "video's effective genres include ``genre``" (index-friendly)."""
    genre = normalize_genre(genre)
    a = aliased(GenreAssignment)
    m = aliased(GenreAssignment)
    positives = select(a.video_id).where(
        a.genre == genre, a.positive == True,  # noqa: E712 - SQL, not Python truthiness
        or_(a.source == SOURCE_MANUAL, ~_outranked(m, a)),
    )
    return Video.id.in_(positives)


def genre_at_least_clause(genre: str, probability: float):  # noqa: ANN201 - a SQL expression
    """SQL condition "``genre`` is on by hand or by the library's metadata, or the model gave it
    at least ``probability`` and no manual/metadata row turned it off": the view's probability
    threshold (below or above the head's own threshold, so a user can look for near misses)."""
    genre = normalize_genre(genre)
    a = aliased(GenreAssignment)
    m = aliased(GenreAssignment)
    labelled_on = select(a.video_id).where(
        a.genre == genre, a.positive == True,  # noqa: E712 - SQL
        a.source != SOURCE_AUTO, or_(a.source == SOURCE_MANUAL, ~_outranked(m, a)))
    b = aliased(GenreAssignment)
    n = aliased(GenreAssignment)
    sure = select(b.video_id).where(
        b.genre == genre, b.source == SOURCE_AUTO, b.probability >= float(probability),
        ~_outranked(n, b))
    return or_(Video.id.in_(labelled_on), Video.id.in_(sure))


def genres_clause(genres: Sequence[str], *, match: str = "all",
                  min_probability: float | None = None):  # noqa: ANN201 - a SQL expression
    """SQL condition over several genres: ``match`` "all" (every one) or "any" (at least one);
    with ``min_probability`` a genre counts when ``genre_at_least_clause`` holds, else when it
    is one of the video's effective genres.  None when ``genres`` is empty."""
    if match not in ("all", "any"):
        raise ValueError(f"match must be 'all' or 'any', not {match!r}")
    if not genres:
        return None
    parts = [genre_at_least_clause(g, min_probability) if min_probability is not None
             else has_genre_clause(g) for g in genres]
    return and_(*parts) if match == "all" else or_(*parts)


def active_job_clause():  # noqa: ANN201 - a SQL expression
    """SQL condition "the video has a queued or running job"."""
    from .schema import JOB_ACTIVE

    j = aliased(Job)  # not ``Job``: a query that joins jobs itself would correlate it away
    return select(j.id).where(j.video_id == Video.id, j.status.in_(JOB_ACTIVE)).exists()


def unclassified_clause():  # noqa: ANN201 - a SQL expression
    """SQL condition "no head has classified the video yet" (missing files left out)."""
    return and_(Video.classified_at.is_(None), Video.status != VIDEO_MISSING)


def under_folder(folder: str):  # noqa: ANN201 - a SQL expression
    """SQL condition "the video is somewhere under ``folder``" (either path separator)."""
    prefix = folder.rstrip("/\\")
    return (Video.path.startswith(prefix + "/", autoescape=True)
            | Video.path.startswith(prefix + "\\", autoescape=True))


def _text_clause(text: str):  # noqa: ANN202
    words = [w for w in text.casefold().split() if w]
    return and_(*[Video.search_key.contains(w, autoescape=True) for w in words]) if words else None


def video_query(*, genres: Sequence[str] = (), text: str | None = None,
                status: str | Sequence[str] | None = None, missing: bool | None = None,
                folder: str | None = None, corrected: bool | None = None,
                ids: Iterable[int] | None = None, paths: Iterable[str] | None = None,
                where: ColumnElement[bool] | None = None) -> Select:
    """A ``SELECT videos`` with the filters the CLI and GUI offer (all optional, ANDed).

    ``ids`` and ``paths`` become ``IN (...)`` lists: keep them to a few thousand (SQLite
    limits bound variables); select folders with ``folder`` or ``where=under_folder(...)``.
    """
    q = select(Video)
    for g in genres:
        q = q.where(has_genre_clause(g))
    if text:
        clause = _text_clause(text)
        if clause is not None:
            q = q.where(clause)
    if status:
        q = q.where(Video.status.in_([status] if isinstance(status, str) else list(status)))
    if missing is True:
        q = q.where(Video.status == VIDEO_MISSING)
    elif missing is False:
        q = q.where(Video.status != VIDEO_MISSING)
    if folder:
        q = q.where(under_folder(folder))
    if corrected is not None:
        m = select(GenreAssignment.id).where(GenreAssignment.video_id == Video.id,
                                             GenreAssignment.source == SOURCE_MANUAL).exists()
        q = q.where(m if corrected else ~m)
    if ids is not None:
        q = q.where(Video.id.in_(list(ids)))
    if paths is not None:
        q = q.where(Video.path.in_(list(paths)))
    if where is not None:
        q = q.where(where)
    return q


def effective_states(rows: Iterable[tuple[GenreAssignment, str | None, str | None]]) -> dict[str, GenreState]:
    """Fold a video's assignment rows (with their head's id and version) into GenreStates:
    manual decides, else metadata, else auto (the auto probability is kept either way)."""
    auto: dict[str, tuple[GenreAssignment, str | None, str | None]] = {}
    decided: dict[str, GenreAssignment] = {}  # the manual row, else the metadata row
    for row, model_id, version in rows:
        if row.source == SOURCE_AUTO:
            auto[row.genre] = (row, model_id, version)
        elif row.source == SOURCE_MANUAL or row.genre not in decided:
            decided[row.genre] = row
    out: dict[str, GenreState] = {}
    for genre in GENRES:
        a = auto.get(genre)
        m = decided.get(genre)
        if m is None and a is None:
            continue
        arow, model_id, version = a if a else (None, None, None)
        if m is not None:
            out[genre] = GenreState(genre, not m.rejected, m.source,
                                    arow.probability if arow else None,
                                    arow.threshold if arow else None,
                                    bool(m.rejected), bool(arow.stale) if arow else False,
                                    model_id, version)
        else:
            assert arow is not None
            out[genre] = GenreState(genre, bool(arow.positive), SOURCE_AUTO, arow.probability,
                                    arow.threshold, False, bool(arow.stale), model_id, version)
    return out


def _metadata_genres(rows: Iterable[tuple[GenreAssignment, str | None, str | None]]) -> tuple[str, ...] | None:
    meta = [(r.genre, bool(r.positive)) for r, _, _ in rows if r.source == SOURCE_METADATA]
    if not meta:
        return None
    on = {g for g, p in meta if p}
    return tuple(g for g in GENRES if g in on)


def _explanation(v: Video) -> tuple[dict[str, str], tuple[str, ...]]:
    if not v.explanation:
        return {}, ()
    try:
        doc = json.loads(v.explanation)
        return ({str(k): str(x) for k, x in dict(doc.get("genres", {})).items()},
                tuple(str(g) for g in doc.get("suggestions", [])))
    except (ValueError, AttributeError, TypeError):
        return {}, ()


def _record(v: Video, states: dict[str, GenreState], head: tuple[str, str] | None,
            metadata: tuple[str, ...] | None = None) -> VideoRecord:
    explanations, suggestions = _explanation(v)
    try:
        streams = tuple(json.loads(v.streams)) if v.streams else ()
    except ValueError:
        streams = ()
    return VideoRecord(
        id=v.id, path=v.path, status=v.status, size=v.size, mtime_ns=v.mtime_ns,
        content_hash=v.content_hash, duration=v.duration, container=v.container,
        streams=streams, thumbnail=v.thumbnail, error_reason=v.error_reason,
        added_at=v.added_at, updated_at=v.updated_at, missing_since=v.missing_since,
        classified_at=v.classified_at,
        model_id=head[0] if head else None, model_version=head[1] if head else None,
        genres=tuple(g for g, s in states.items() if s.on), states=states,
        evidence_state=v.evidence_state, explanations=explanations, suggestions=suggestions,
        metadata_genres=metadata,
    )


_STATE_COLUMNS = (GenreAssignment.video_id, GenreAssignment.genre, GenreAssignment.source,
                  GenreAssignment.probability, GenreAssignment.threshold,
                  GenreAssignment.positive, GenreAssignment.rejected, GenreAssignment.stale)


def _states_for(session: Session, ids: list[int]
                ) -> dict[int, tuple[dict[str, GenreState], tuple[str, ...] | None]]:
    # Plain column rows, not ORM objects: ``effective_states`` only reads these attributes,
    # and skipping the identity map makes a page of a GUI table (or an export) ~3x cheaper.
    grouped: dict[int, list] = {i: [] for i in ids}
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        rows = session.execute(
            select(*_STATE_COLUMNS, Head.model_id, Head.version)
            .outerjoin(Head, Head.id == GenreAssignment.head_id)
            .where(GenreAssignment.video_id.in_(part))
        ).all()
        for row in rows:
            grouped[row.video_id].append((row, row.model_id, row.version))
    return {i: (effective_states(r), _metadata_genres(r)) for i, r in grouped.items()}


def _heads(session: Session) -> dict[int, tuple[str, str]]:
    return {h.id: (h.model_id, h.version) for h in session.execute(select(Head)).scalars()}


def iter_videos(session: Session, query: Select | None = None, *, order: str = "path",
                batch: int = 500, limit: int | None = None) -> Iterator[VideoRecord]:
    """Stream matching videos with their genre states, ``batch`` at a time (flat memory)."""
    query = query if query is not None else video_query()
    order_col = {"path": Video.path, "id": Video.id, "added": Video.added_at,
                 "updated": Video.updated_at}[order]
    query = query.order_by(order_col, Video.id)
    if limit is not None:
        query = query.limit(limit)
    heads = _heads(session)
    result = session.execute(query.execution_options(yield_per=batch)).scalars()
    for part in result.partitions(batch):
        states = _states_for(session, [v.id for v in part])
        for v in part:
            st, meta = states[v.id]
            yield _record(v, st, heads.get(v.classified_head_id) if v.classified_head_id else None,
                          meta)


def find_videos(session: Session, *, limit: int | None = None, order: str = "path",
                **filters: object) -> list[VideoRecord]:
    return list(iter_videos(session, video_query(**filters), order=order, limit=limit))  # type: ignore[arg-type]


def video_ids(session: Session, **filters: object) -> list[int]:
    """Only the ids: what a GUI filter or a bulk action needs, without loading rows."""
    q = video_query(**filters).with_only_columns(Video.id).order_by(Video.id)  # type: ignore[arg-type]
    return list(session.execute(q).scalars())


def get_video(session: Session, key: int | str) -> VideoRecord | None:
    q = video_query(ids=[key]) if isinstance(key, int) else video_query(paths=[key])
    found = list(iter_videos(session, q))
    return found[0] if found else None


def counts(session: Session) -> LibraryCounts:
    by_status = dict(session.execute(select(Video.status, func.count()).group_by(Video.status)).all())
    corrected = session.execute(
        select(func.count(func.distinct(GenreAssignment.video_id)))
        .where(GenreAssignment.source == SOURCE_MANUAL)
    ).scalar_one()
    stale = session.execute(
        select(func.count(func.distinct(GenreAssignment.video_id)))
        .where(GenreAssignment.source == SOURCE_AUTO, GenreAssignment.stale == True)  # noqa: E712
    ).scalar_one()
    folders = session.execute(select(func.count()).select_from(WatchedFolder)).scalar_one()
    return LibraryCounts(sum(by_status.values()), by_status, int(corrected), int(stale), int(folders))


def genre_counts(session: Session, within: Select | None = None) -> dict[str, int]:
    """How many present videos have each genre on (effective), in one pass.

    Each (video, genre) has at most one auto and one manual row; the positive manual row, or
    else the positive auto row of a genre without a manual row, counts it exactly once.
    ``within`` (a ``SELECT videos``, e.g. the view's filter) counts only those videos.
    """
    a = aliased(GenreAssignment)
    m = aliased(GenreAssignment)
    q = (select(a.genre, func.count())
         .join(Video, Video.id == a.video_id)
         .where(a.positive == True, Video.status != VIDEO_MISSING,  # noqa: E712
                or_(a.source == SOURCE_MANUAL, ~_outranked(m, a))))
    if within is not None:
        q = q.where(a.video_id.in_(within.with_only_columns(Video.id).order_by(None)))
    rows = session.execute(q.group_by(a.genre)).all()
    found = dict(rows)
    return {g: int(found.get(g, 0)) for g in GENRES}


def genre_probabilities(session: Session, genre: str, within: Select | None = None
                        ) -> dict[int, float]:
    """video id -> the automatic probability of ``genre`` (videos without one are absent):
    what "sort by a genre's probability" sorts by.  One pass over the genre's index."""
    genre = normalize_genre(genre)
    q = select(GenreAssignment.video_id, GenreAssignment.probability).where(
        GenreAssignment.genre == genre, GenreAssignment.source == SOURCE_AUTO,
        GenreAssignment.probability.is_not(None))
    if within is not None:
        q = q.where(GenreAssignment.video_id.in_(
            within.with_only_columns(Video.id).order_by(None)))
    return {int(v): float(p) for v, p in bulk_rows(session, q)}


def effective_genre_text(session: Session, within: Select | None = None) -> dict[int, str]:
    """video id -> its effective genres joined in ``GENRES`` order (what the table's Genres
    column shows, so sorting by that column sorts by what is seen).  Videos with no genre
    are absent."""
    a = aliased(GenreAssignment)
    m = aliased(GenreAssignment)
    q = select(a.video_id, a.genre).where(
        a.positive == True, or_(a.source == SOURCE_MANUAL, ~_outranked(m, a)))  # noqa: E712
    if within is not None:
        q = q.where(a.video_id.in_(within.with_only_columns(Video.id).order_by(None)))
    order = {g: i for i, g in enumerate(GENRES)}
    found: dict[int, list[str]] = {}
    for vid, g in bulk_rows(session, q):
        found.setdefault(int(vid), []).append(g)
    return {v: ", ".join(sorted(gs, key=lambda g: order.get(g, 99))) for v, gs in found.items()}


def genre_summary(session: Session, ids: Sequence[int] | None = None,
                  within: Select | None = None) -> dict[str, int]:
    """genre -> how many of ``ids`` (or of the videos ``within`` selects, missing ones too)
    have it on (effective): a multi-selection's mixed state."""
    a = aliased(GenreAssignment)
    m = aliased(GenreAssignment)
    out = dict.fromkeys(GENRES, 0)
    if within is not None:
        for g, n in session.execute(
                select(a.genre, func.count()).where(
                    a.video_id.in_(within.with_only_columns(Video.id).order_by(None)),
                    a.positive == True,  # noqa: E712
                    or_(a.source == SOURCE_MANUAL, ~_outranked(m, a))).group_by(a.genre)).all():
            if g in out:
                out[g] = int(n)
        return out
    ids = ids or []
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), CHUNK):
        part = wanted[start:start + CHUNK]
        rows = session.execute(
            select(a.genre, func.count()).where(
                a.video_id.in_(part), a.positive == True,  # noqa: E712
                or_(a.source == SOURCE_MANUAL, ~_outranked(m, a))).group_by(a.genre)).all()
        for g, n in rows:
            if g in out:
                out[g] += int(n)
    return out


# -- jobs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobRecord:
    id: int
    video_id: int
    path: str
    kind: str
    stages: tuple[str, ...]
    stage: str
    status: str
    attempts: int
    progress: float
    message: str | None
    error_reason: str | None
    error_detail: str | None
    owner: str | None
    created_at: float
    updated_at: float
    finished_at: float | None


def _job_record(j: Job, path: str) -> JobRecord:
    return JobRecord(j.id, j.video_id, path, j.kind, tuple(j.stage_list), j.stage, j.status,
                     j.attempts, j.progress, j.message, j.error_reason, j.error_detail, j.owner,
                     j.created_at, j.updated_at, j.finished_at)


def jobs(session: Session, *, status: str | Sequence[str] | None = None,
         limit: int | None = 100, newest_first: bool = True) -> list[JobRecord]:
    """Jobs with their video's path; ``limit=None`` for all (0 means none, as the CLI's
    ``--limit 0`` and ``status --failures 0`` ask)."""
    q = select(Job, Video.path).join(Video, Video.id == Job.video_id)
    if status:
        q = q.where(Job.status.in_([status] if isinstance(status, str) else list(status)))
    q = q.order_by(Job.updated_at.desc() if newest_first else Job.id, Job.id.desc())
    if limit is not None:
        q = q.limit(limit)
    return [_job_record(j, p) for j, p in session.execute(q).all()]


def job_counts(session: Session) -> dict[tuple[str, str], int]:
    """(status, stage) -> number of jobs."""
    rows = session.execute(select(Job.status, Job.stage, func.count()).group_by(Job.status, Job.stage)).all()
    return {(s, st): n for s, st, n in rows}


def job_history(session: Session, job_id: int) -> list[tuple[float, str, str | None, str | None]]:
    rows = session.execute(
        select(JobEventRow.time, JobEventRow.event, JobEventRow.stage, JobEventRow.message)
        .where(JobEventRow.job_id == job_id).order_by(JobEventRow.id)
    ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def stale_clause():  # noqa: ANN201 - a SQL expression
    """SQL condition "some automatic genre row of the video is stale" (served by the partial
    index on stale rows): the GUI's and the CLI's "stale" filter, passed as ``where=``."""
    return select(GenreAssignment.id).where(
        GenreAssignment.video_id == Video.id, GenreAssignment.source == SOURCE_AUTO,
        GenreAssignment.stale == True).exists()  # noqa: E712 - SQL, not Python truthiness


def label_state_clause(state: str):  # noqa: ANN201 - a SQL expression
    """SQL condition "the video's ``label_state`` is ``state``" (see ``VideoRecord``)."""
    from sqlalchemy import not_

    labelled = select(GenreAssignment.id).where(
        GenreAssignment.video_id == Video.id,
        GenreAssignment.source.in_((SOURCE_MANUAL, SOURCE_METADATA))).exists()
    if state == LABELLED:
        return labelled
    if state == TRAINED:
        return and_(not_(labelled), Video.classified_at.is_not(None), Video.evidence_state.is_(None))
    if state in (COLD_START, WEAK_EVIDENCE):
        return and_(not_(labelled), Video.evidence_state == state)
    raise ValueError(f"unknown label state {state!r}")
