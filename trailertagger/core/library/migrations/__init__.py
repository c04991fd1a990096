"""Alembic migrations of the library schema, run programmatically by ``db.open_library``."""
