"""Alembic environment, driven from code (``db.migrate``), never from an ``alembic.ini``.

The caller passes an open SQLAlchemy connection in ``config.attributes["connection"]`` with
foreign keys switched off (SQLite batch migrations copy and drop tables; with foreign keys on,
dropping ``videos`` would cascade-delete every genre row).
"""

from __future__ import annotations

from alembic import context

from trailertagger.core.library.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # pragma: no cover - only reached by a stray `alembic` command
        raise RuntimeError("trailertagger migrations run through trailertagger.core.library.db")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies tables
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():  # pragma: no cover
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
