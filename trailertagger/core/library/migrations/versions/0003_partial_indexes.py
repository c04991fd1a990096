"""Partial indexes for the questions the app asks of 2 million genre rows all the time.

``status`` counts corrected and stale videos, the GUI filters "corrected" and "stale", and
learning from corrections lists the corrected videos.  Without these indexes each is a scan
of every genre row (about a second at 100,000 videos); with them it reads only the manual or
stale rows, which are a few percent.

Revision ID: 0003
Revises: 0002
Create Date: 2025-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_genre_assignments_manual_video_id", "genre_assignments", ["video_id"],
                    sqlite_where=sa.text("source = 'manual'"))
    op.create_index("ix_genre_assignments_stale_video_id", "genre_assignments", ["video_id"],
                    sqlite_where=sa.text("stale = 1"))
    op.execute("ANALYZE")  # let the planner know how selective they are


def downgrade() -> None:
    op.drop_index("ix_genre_assignments_stale_video_id", "genre_assignments")
    op.drop_index("ix_genre_assignments_manual_video_id", "genre_assignments")
