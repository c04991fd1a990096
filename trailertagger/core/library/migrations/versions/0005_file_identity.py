"""Add ``videos.device`` and ``videos.inode``: which file on disk a row last was.

Two files with the same content (a copy kept in two folders) have the same hash, so when both
are renamed before a rescan the hash alone cannot tell which old row each new name belongs to;
corrections could swap.  A rename keeps the file's (device, inode), so the scanner matches a
new path to the row whose file it is before it falls back to the content hash.  Old rows get
their values at the next scan.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("device", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("inode", sa.Integer(), nullable=True))
    op.create_index("ix_videos_inode", "videos", ["inode"])


def downgrade() -> None:
    op.drop_index("ix_videos_inode", "videos")
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("inode")
        batch.drop_column("device")
