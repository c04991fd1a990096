"""Labels the library already has, and honest cold-start predictions.

* ``genre_assignments.source`` may be ``metadata``: genres imported from Kodi/Jellyfin NFO
  files, genre folders or a CSV (``library/labels.py``).  Classification never replaces them;
  a manual row overrides them.  A partial index finds labelled videos without a scan.
* ``videos.evidence_state``: what the head that classified the video could say — ``cold
  start`` (label-free head, above its calibrated confidence), ``weak evidence`` (label-free
  head, nothing it is confident about) or NULL (a trained head).
* ``videos.explanation``: JSON ``{"genres": {genre: why}, "suggestions": [...]}`` from the
  head that classified the video.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_PARTIAL = (("ix_genre_assignments_manual_video_id", "source = 'manual'"),
            ("ix_genre_assignments_stale_video_id", "stale = 1"))


def _drop_partial() -> None:
    # the table copy of a batch migration would recreate these without their WHERE
    for name, _ in _PARTIAL:
        op.drop_index(name, "genre_assignments")


def _create_partial() -> None:
    for name, where in _PARTIAL:
        op.create_index(name, "genre_assignments", ["video_id"], sqlite_where=sa.text(where))


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("evidence_state", sa.String(), nullable=True))
        batch.add_column(sa.Column("explanation", sa.Text(), nullable=True))
    _drop_partial()
    with op.batch_alter_table("genre_assignments") as batch:
        batch.drop_constraint("ck_genre_assignments_source", type_="check")
        batch.create_check_constraint("source", "source IN ('auto', 'manual', 'metadata')")
    _create_partial()
    op.create_index("ix_genre_assignments_metadata_video_id", "genre_assignments", ["video_id"],
                    sqlite_where=sa.text("source = 'metadata'"))
    op.execute("ANALYZE")


def downgrade() -> None:
    op.drop_index("ix_genre_assignments_metadata_video_id", "genre_assignments")
    op.execute("DELETE FROM genre_assignments WHERE source = 'metadata'")
    _drop_partial()
    with op.batch_alter_table("genre_assignments") as batch:
        batch.drop_constraint("ck_genre_assignments_source", type_="check")
        batch.create_check_constraint("source", "source IN ('auto', 'manual')")
    _create_partial()
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("explanation")
        batch.drop_column("evidence_state")
