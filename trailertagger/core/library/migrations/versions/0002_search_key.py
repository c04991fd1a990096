"""Add ``videos.search_key``: the casefolded path, for case-insensitive search beyond ASCII.

SQLite's LIKE folds ASCII only, so "Ü" never matched "ü".  Existing rows are backfilled here
in Python (``str.casefold``), in batches, inside the migration's transaction.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("search_key", sa.Text(), nullable=False, server_default=""))
    conn = op.get_bind()
    videos = sa.table("videos", sa.column("id", sa.Integer), sa.column("path", sa.Text),
                      sa.column("search_key", sa.Text))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(videos.c.id, videos.c.path).where(videos.c.id > last)
            .order_by(videos.c.id).limit(5000)
        ).all()
        if not rows:
            break
        conn.execute(
            videos.update().where(videos.c.id == sa.bindparam("vid"))
            .values(search_key=sa.bindparam("key")),
            [{"vid": r.id, "key": r.path.casefold()} for r in rows],
        )
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("search_key")
