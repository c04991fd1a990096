"""First library schema: videos, watched folders, feature cache, genre assignments, jobs.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "library_meta",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_library_meta"),
    )
    op.create_table(
        "watched_folders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("recursive", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.Float(), nullable=False),
        sa.Column("last_scan_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_watched_folders"),
        sa.UniqueConstraint("path", name="uq_watched_folders_path"),
    )
    op.create_table(
        "heads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_heads"),
        sa.UniqueConstraint("model_id", "version", name="uq_heads_model_id_version"),
    )
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("folder_id", sa.Integer(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("mtime_ns", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("container", sa.String(), nullable=True),
        sa.Column("streams", sa.Text(), nullable=True),
        sa.Column("thumbnail", sa.Text(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error_reason", sa.Text(), nullable=True),
        sa.Column("added_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("missing_since", sa.Float(), nullable=True),
        sa.Column("classified_head_id", sa.Integer(), nullable=True),
        sa.Column("classified_at", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'ready', 'failed', 'missing')", name="ck_videos_status"
        ),
        sa.ForeignKeyConstraint(
            ["classified_head_id"], ["heads.id"],
            name="fk_videos_classified_head_id_heads", ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["folder_id"], ["watched_folders.id"],
            name="fk_videos_folder_id_watched_folders", ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_videos"),
        sa.UniqueConstraint("path", name="uq_videos_path"),
    )
    op.create_index("ix_videos_content_hash", "videos", ["content_hash"])
    op.create_index("ix_videos_status", "videos", ["status"])
    op.create_index("ix_videos_folder_id", "videos", ["folder_id"])
    op.create_table(
        "feature_cache",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("profile", sa.String(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("modalities", sa.Text(), nullable=False),
        sa.Column("missing", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feature_cache"),
        sa.UniqueConstraint(
            "content_hash", "profile", name="uq_feature_cache_content_hash_profile"
        ),
    )
    op.create_table(
        "genre_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("genre", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("positive", sa.Boolean(), nullable=False),
        sa.Column("rejected", sa.Boolean(), nullable=False),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.Column("head_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.CheckConstraint("source IN ('auto', 'manual')", name="ck_genre_assignments_source"),
        sa.ForeignKeyConstraint(
            ["head_id"], ["heads.id"],
            name="fk_genre_assignments_head_id_heads", ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"],
            name="fk_genre_assignments_video_id_videos", ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_genre_assignments"),
        sa.UniqueConstraint(
            "video_id", "genre", "source", name="uq_genre_assignments_video_id_genre_source"
        ),
    )
    op.create_index(
        "ix_genre_assignments_genre_positive_source_video_id",
        "genre_assignments",
        ["genre", "positive", "source", "video_id"],
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("stages", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("error_reason", sa.Text(), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("lease_until", sa.Float(), nullable=True),
        sa.Column("not_before", sa.Float(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=True),
        sa.Column("finished_at", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled')",
            name="ck_jobs_status",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"], ["videos.id"], name="fk_jobs_video_id_videos", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_status_stage_priority_id", "jobs", ["status", "stage", "priority", "id"])
    op.create_index("ix_jobs_video_id", "jobs", ["video_id"])
    op.create_index(
        "uq_jobs_active_video",
        "jobs",
        ["video_id"],
        unique=True,
        sqlite_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_table(
        "job_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("stage", sa.String(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_events_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_job_events"),
    )
    op.create_index("ix_job_events_job_id", "job_events", ["job_id"])


def downgrade() -> None:
    for table in (
        "job_events", "jobs", "genre_assignments", "feature_cache", "videos", "heads",
        "watched_folders", "library_meta",
    ):
        op.drop_table(table)
