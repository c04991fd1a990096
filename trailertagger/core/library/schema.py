"""The library's tables, as SQLAlchemy 2 declarative models.

The schema is owned by the Alembic migrations in ``migrations/versions``; these models must
describe exactly what the newest migration creates (a test compares them).  Design choices:

* Times are REAL seconds since the epoch (UTC): cheap to compare and sort, no timezone bugs.
* A video's identity is its row id.  ``path`` is where it is *now*; ``content_hash`` is what
  lets a moved or renamed file keep its row (and so its tags and history).
* ``genre_assignments`` holds one row per (video, genre, source).  Auto rows exist for all 21
  genres (probability, threshold, ``positive`` = probability >= threshold); manual rows are
  the user's word and always win: ``rejected`` manual rows keep a removed genre from coming
  back however confident a model is.  ``metadata`` rows (rev 0004) are labels the library
  already had (NFO files, genre folders, a CSV): all 21 genres of a video, on or off; they win
  over auto rows, a manual row wins over them, and classification never touches them.  Provenance goes through ``heads`` so 2 million auto rows
  do not repeat model id strings.
* ``jobs`` is the persistent queue: one row per request (e.g. "process this video"), walking
  through ``stages``; a partial unique index allows at most one *active* job per video, which
  is what makes "500 files dropped at once" queue each file exactly once.
* ``job_events`` is the history a failed or retried job can be explained with.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names: SQLite batch migrations recreate tables and need to find them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Video status: what the library knows about the file (job state lives in ``jobs``).
VIDEO_PENDING = "pending"  # discovered, not yet classified
VIDEO_READY = "ready"  # classified (auto rows exist)
VIDEO_FAILED = "failed"  # the last job failed; ``error_reason`` says why
VIDEO_MISSING = "missing"  # file not found at ``path``; kept until the user purges
VIDEO_STATUSES = (VIDEO_PENDING, VIDEO_READY, VIDEO_FAILED, VIDEO_MISSING)

SOURCE_AUTO = "auto"
SOURCE_MANUAL = "manual"
SOURCE_METADATA = "metadata"  # imported from NFO files, genre folders or a CSV (rev 0004)
SOURCES = (SOURCE_AUTO, SOURCE_METADATA, SOURCE_MANUAL)  # lowest to highest precedence

JOB_QUEUED = "queued"
JOB_RUNNING = "running"
JOB_DONE = "done"
JOB_FAILED = "failed"
JOB_CANCELLED = "cancelled"
JOB_STATUSES = (JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED)
JOB_ACTIVE = (JOB_QUEUED, JOB_RUNNING)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class LibraryMeta(Base):
    """Small key/value facts: library id, the head whose predictions are current, queue state
    (paused, per-stage limits) — shared by every process that opens the library."""

    __tablename__ = "library_meta"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False, default="")


class WatchedFolder(Base):
    __tablename__ = "watched_folders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    recursive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    added_at: Mapped[float] = mapped_column(Float, nullable=False)
    last_scan_at: Mapped[float | None] = mapped_column(Float)


class Head(Base):
    """A genre head that produced predictions: the provenance behind auto rows."""

    __tablename__ = "heads"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[str] = mapped_column(String, nullable=False)
    version: Mapped[str] = mapped_column(String, nullable=False, default="")
    kind: Mapped[str] = mapped_column(String, nullable=False, default="")
    first_seen: Mapped[float] = mapped_column(Float, nullable=False)


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'ready', 'failed', 'missing')", name="status"
        ),
        Index(None, "content_hash"),
        Index(None, "status"),
        Index(None, "folder_id"),
        Index(None, "inode"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    # casefolded path: case-insensitive text search that also works beyond ASCII (rev 0002)
    search_key: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    folder_id: Mapped[int | None] = mapped_column(
        ForeignKey("watched_folders.id", ondelete="SET NULL")
    )
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    mtime_ns: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # the file's (st_dev, st_ino) when last seen: tells apart renamed copies (rev 0005)
    device: Mapped[int | None] = mapped_column(Integer)
    inode: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String)
    duration: Mapped[float | None] = mapped_column(Float)
    container: Mapped[str | None] = mapped_column(String)
    streams: Mapped[str | None] = mapped_column(Text)  # JSON list of StreamInfo dicts
    thumbnail: Mapped[str | None] = mapped_column(Text)  # path of a JPEG in the cache
    status: Mapped[str] = mapped_column(String, nullable=False, default=VIDEO_PENDING)
    error_reason: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[float] = mapped_column(Float, nullable=False)
    missing_since: Mapped[float | None] = mapped_column(Float)
    classified_head_id: Mapped[int | None] = mapped_column(
        ForeignKey("heads.id", ondelete="SET NULL")
    )
    classified_at: Mapped[float | None] = mapped_column(Float)
    # "cold start" / "weak evidence" when the label-free head classified it, else NULL (rev 0004)
    evidence_state: Mapped[str | None] = mapped_column(String)
    explanation: Mapped[str | None] = mapped_column(Text)  # JSON: per-genre why, suggestions

    assignments: Mapped[list[GenreAssignment]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True
    )


class FeatureCacheEntry(Base):
    """Where the features of one content hash (and profile) are cached.  Keyed by content,
    not path, so a moved file is classified again without re-extraction."""

    __tablename__ = "feature_cache"
    __table_args__ = (UniqueConstraint("content_hash", "profile"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String, nullable=False)
    profile: Mapped[str] = mapped_column(String, nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    modalities: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON name->len
    missing: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON name->why


class GenreAssignment(Base):
    __tablename__ = "genre_assignments"
    __table_args__ = (
        UniqueConstraint("video_id", "genre", "source"),
        CheckConstraint("source IN ('auto', 'manual', 'metadata')", name="source"),
        # serves the genre filter: positives of one genre, manual rows found by the unique key
        Index(None, "genre", "positive", "source", "video_id"),
        # corrected / stale videos without scanning every row (rev 0003)
        Index("ix_genre_assignments_manual_video_id", "video_id",
              sqlite_where=text("source = 'manual'")),
        Index("ix_genre_assignments_stale_video_id", "video_id", sqlite_where=text("stale = 1")),
        Index("ix_genre_assignments_metadata_video_id", "video_id",
              sqlite_where=text("source = 'metadata'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), nullable=False
    )
    genre: Mapped[str] = mapped_column(String, nullable=False)
    source: Mapped[str] = mapped_column(String, nullable=False)
    probability: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    positive: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    rejected: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    stale: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    head_id: Mapped[int | None] = mapped_column(ForeignKey("heads.id", ondelete="SET NULL"))
    created_at: Mapped[float] = mapped_column(Float, nullable=False)

    video: Mapped[Video] = relationship(back_populates="assignments")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="status"
        ),
        Index(None, "status", "stage", "priority", "id"),
        Index(None, "video_id"),
        # at most one active job per video: the queue can be fed twice without duplicates
        Index(
            "uq_jobs_active_video",
            "video_id",
            unique=True,
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(String, nullable=False)  # "process" | "classify"
    # the stages still to run, current first ("probe,extract,classify"); a stage that
    # completes is popped, so follow-up work can be appended to a running job
    stages: Mapped[str] = mapped_column(String, nullable=False)
    stage: Mapped[str] = mapped_column(String, nullable=False)  # == first of ``stages``
    status: Mapped[str] = mapped_column(String, nullable=False, default=JOB_QUEUED)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    profile: Mapped[str] = mapped_column(String, nullable=False, default="default")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    error_reason: Mapped[str | None] = mapped_column(Text)
    error_detail: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String)
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    lease_until: Mapped[float | None] = mapped_column(Float)
    not_before: Mapped[float | None] = mapped_column(Float)  # back-off: not claimed earlier
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    updated_at: Mapped[float] = mapped_column(Float, nullable=False)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)

    @property
    def stage_list(self) -> list[str]:
        return [s for s in self.stages.split(",") if s]


class JobEventRow(Base):
    """One line of a job's history: queued, started, stage done, failed (why), requeued..."""

    __tablename__ = "job_events"
    __table_args__ = (Index(None, "job_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    time: Mapped[float] = mapped_column(Float, nullable=False)
    event: Mapped[str] = mapped_column(String, nullable=False)
    stage: Mapped[str | None] = mapped_column(String)
    message: Mapped[str | None] = mapped_column(Text)
