"""Opening the library database: WAL, busy timeout, foreign keys, migrations, transactions.

Why it is built this way:

* **WAL** lets the GUI read while worker processes write, and ``synchronous=NORMAL`` keeps
  every committed transaction across an application crash (only a power cut can lose the
  last few, never corrupt the file).
* **Every write is one ``BEGIN IMMEDIATE`` transaction** (``Library.session()``).  Taking the
  write lock up front means SQLite's busy handler can wait for another process; a deferred
  transaction that upgrades from read to write fails instantly instead.  Because the lock is
  taken before the ``with`` body runs, waiting and retrying (with backoff, on top of
  ``busy_timeout``) is safe: nothing has happened yet.
* **Reads go through a separate, ``query_only`` engine** (``Library.read()``): reads never
  write, the same rule Anki follows, and the database enforces it.
* **Migrations run at open**, programmatically (no ``alembic.ini``), only when the stored
  revision differs from ``SCHEMA_VERSION``; the file is backed up first, and a database made
  by a newer release is refused rather than damaged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, QueuePool

from ..errors import DiskFullError, TrailerTaggerError, is_disk_full
from ..paths import app_dirs
from .schema import LibraryMeta

log = logging.getLogger(__name__)

SCHEMA_VERSION = "0005"  # the newest revision in migrations/versions (a test keeps it honest)
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
DEFAULT_BUSY_TIMEOUT = 10.0  # seconds SQLite itself waits for a lock
DEFAULT_LOCK_DEADLINE = 60.0  # seconds we keep retrying BEGIN after that, with backoff
# Space kept beside the database and given up when the disk fills, so the few writes that put
# the jobs in hand back into the queue still fit (see ``Library.release_reserve``).
RESERVE_BYTES = 2 * 1024 * 1024


class LibraryError(TrailerTaggerError):
    """The library database cannot be used as asked."""


class LibraryBusyError(LibraryError):
    """Another program held the database lock for longer than we were willing to wait."""


class LibraryOpenError(LibraryError):
    """The library file cannot be opened at all (not a database, unwritable, corrupt)."""

    exit_code = 2


class SchemaTooNewError(LibraryError):
    """The database was written by a newer trailertagger; we refuse to touch it."""

    exit_code = 2


def now() -> float:
    return time.time()


def is_locked_error(err: BaseException) -> bool:
    """True for SQLITE_BUSY / SQLITE_LOCKED, however SQLAlchemy wrapped it."""
    orig = getattr(err, "orig", err)
    if not isinstance(orig, sqlite3.OperationalError):
        return False
    name = getattr(orig, "sqlite_errorname", "")
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(orig) or "busy" in str(orig)


def _raw_connect(path: Path, busy_timeout: float, *, query_only: bool, foreign_keys: bool) -> sqlite3.Connection:
    # isolation_level=None: the sqlite3 module must not issue its own BEGINs; ours do.
    con = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None,
                          check_same_thread=False)
    con.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    if not query_only:
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode and str(mode[0]).lower() != "wal":  # pragma: no cover - e.g. a network share
            log.warning("library %s: journal mode is %s, not WAL", path, mode[0])
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    if query_only:
        con.execute("PRAGMA query_only = ON")
    return con


def _make_engine(path: Path, busy_timeout: float, *, query_only: bool = False,
                 foreign_keys: bool = True, begin: str = "BEGIN", pooled: bool = True) -> Engine:
    # A creator (not a URL) so paths with spaces, '?', '#' or non-ASCII need no escaping.
    engine = create_engine(
        "sqlite://",
        creator=lambda: _raw_connect(path, busy_timeout, query_only=query_only,
                                     foreign_keys=foreign_keys),
        poolclass=QueuePool if pooled else NullPool,
        **({"pool_size": 4, "max_overflow": 16} if pooled else {}),
    )

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # noqa: ANN001 - SQLAlchemy event signature
        conn.exec_driver_sql(begin)

    return engine


def _stored_revision(path: Path, busy_timeout: float) -> str | None:
    """The revision in ``alembic_version`` (None for a new file), read without Alembic."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    # read-only: closing the last read-write connection of a WAL library checkpoints it and
    # syncs the file (measured: 170 ms on a 100,000-video library, on the GUI thread when the
    # app opens it); a read-only one only reads.  Where that cannot be done (a name SQLite's
    # URIs cannot say, a read-only folder without the WAL's shared-memory file), the plain way.
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", timeout=busy_timeout, uri=True)
        try:
            return _read_revision(con)
        finally:
            con.close()
    except sqlite3.Error as err:
        if is_locked_error(err):  # busy is busy either way: the caller says so
            raise
    con = sqlite3.connect(str(path), timeout=busy_timeout)
    try:
        return _read_revision(con)
    finally:
        con.close()


def _read_revision(con: sqlite3.Connection) -> str | None:
    row = con.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='alembic_version'"
    ).fetchone()
    if not row:
        return None
    rev = con.execute("SELECT version_num FROM alembic_version").fetchone()
    return rev[0] if rev else None


def _alembic_config(connection=None):  # noqa: ANN001, ANN202
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def known_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    return [s.revision for s in ScriptDirectory.from_config(_alembic_config()).walk_revisions()]


def _backup(path: Path, revision: str) -> Path:
    """A consistent copy (SQLite online backup) before a migration touches the file."""
    dest = path.with_name(f"{path.name}.pre-{revision}.bak")
    src = sqlite3.connect(str(path))
    try:
        out = sqlite3.connect(str(dest))
        try:
            src.backup(out)
        finally:
            out.close()
    finally:
        src.close()
    return dest


def migrate(path: Path, target: str = "head", *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
            backup: bool = True) -> str | None:
    """Bring the database at ``path`` to ``target``; returns the revision it was at.

    Foreign keys are off on the migration connection (batch mode copies and drops tables) and
    checked with ``PRAGMA foreign_key_check`` before the transaction commits.
    """
    from alembic import command

    before = _stored_revision(path, busy_timeout)
    if before is not None and before not in known_revisions():
        raise SchemaTooNewError(
            f"library {path} has schema revision {before!r}, which this version of "
            f"trailertagger does not know (newest known: {SCHEMA_VERSION}); "
            "it was probably written by a newer release — upgrade trailertagger"
        )
    if backup and before is not None and before != SCHEMA_VERSION:
        log.info("library %s: backed up to %s before migrating", path, _backup(path, before))
    engine = _make_engine(path, busy_timeout, foreign_keys=False, begin="BEGIN IMMEDIATE",
                          pooled=False)
    try:
        with engine.connect() as conn:
            command.upgrade(_alembic_config(conn), target)
            problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if problems:  # pragma: no cover - would mean a broken migration
                raise LibraryError(f"library {path}: foreign key check failed after migration: {problems[:5]}")
    finally:
        engine.dispose()
    return before


class Library:
    """An open library: two engines on one SQLite file, and transaction helpers.

    Not picklable on purpose: worker processes open their own ``Library`` from ``path``.
    """

    def __init__(self, path: Path, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
                 lock_deadline: float = DEFAULT_LOCK_DEADLINE) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.lock_deadline = lock_deadline
        self.engine = _make_engine(self.path, busy_timeout, begin="BEGIN IMMEDIATE")
        self.read_engine = _make_engine(self.path, busy_timeout, query_only=True, begin="BEGIN")
        self._writer = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._reader = sessionmaker(bind=self.read_engine, expire_on_commit=False)
        self._closed = False
        self._lock = threading.Lock()

    # -- transactions -------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[Session]:
        """One write transaction: commit on success, roll back on any exception.

        The write lock is taken before the body runs; while another process holds it we
        wait (``busy_timeout``) and retry with jittered backoff until ``lock_deadline``.
        """
        session = self._begin_write()
        try:
            yield session
            session.commit()
        except BaseException as err:
            with suppress_db_errors():
                session.rollback()
            if not isinstance(err, DiskFullError) and is_disk_full(err, self.path):
                self.release_reserve()
                raise DiskFullError(self.path) from err
            raise
        finally:
            with suppress_db_errors():
                session.close()

    # -- the space reserve ------------------------------------------------------------------
    @property
    def reserve_path(self) -> Path:
        return self.path.with_name(self.path.name + "-reserve")

    def ensure_reserve(self) -> None:
        """Keep ``RESERVE_BYTES`` allocated beside the database (best effort)."""
        p = self.reserve_path
        try:
            if p.exists() and p.stat().st_size >= RESERVE_BYTES:
                return
            fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                if hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(fd, 0, RESERVE_BYTES)
                else:  # pragma: no cover
                    os.write(fd, b"\0" * RESERVE_BYTES)
            finally:
                os.close(fd)
        except OSError:
            with suppress_db_errors():
                p.unlink()

    def release_reserve(self) -> bool:
        """The disk is full: give the reserve back so bookkeeping writes still fit."""
        try:
            self.reserve_path.unlink()
        except OSError:
            return False
        log.info("library %s: disk full; released the %d-byte reserve", self.path, RESERVE_BYTES)
        return True

    def _begin_write(self) -> Session:
        deadline = time.monotonic() + self.lock_deadline
        delay = 0.05
        while True:
            session = self._writer()
            try:
                session.connection()  # runs BEGIN IMMEDIATE: waits for the lock
                return session
            except exc.OperationalError as err:
                session.close()
                if is_disk_full(err, self.path):
                    self.release_reserve()
                    raise DiskFullError(self.path) from err
                if not is_locked_error(err) or time.monotonic() >= deadline:
                    if is_locked_error(err):
                        raise LibraryBusyError(
                            f"library {self.path} stayed locked by another program for more "
                            f"than {self.lock_deadline + self.busy_timeout:.0f} s; close it and retry"
                        ) from err
                    raise
                log.debug("library locked; retrying in %.2fs", delay)
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only snapshot (``query_only``): consistent for the whole block."""
        session = self._reader()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    # -- facts --------------------------------------------------------------------------
    def schema_version(self) -> str | None:
        return _stored_revision(self.path, self.busy_timeout)

    def integrity_check(self) -> list[str]:
        """Problems found by ``PRAGMA integrity_check`` and ``foreign_key_check`` ([] = ok)."""
        with self.read_engine.connect() as conn:
            rows = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check").fetchall()]
            fks = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        problems = [r for r in rows if r != "ok"]
        problems += [f"foreign key: {tuple(r)}" for r in fks]
        return problems

    def checkpoint(self) -> None:
        """Fold the WAL into the main file (after bulk work, before a backup)."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self.engine.dispose()
                self.read_engine.dispose()
                self._closed = True

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __reduce__(self):  # noqa: ANN204
        raise TypeError("Library objects are per process; pass Library.path instead")


def open_library(path: Path | str | None = None, *, migrate_schema: bool = True,
                 busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
                 lock_deadline: float = DEFAULT_LOCK_DEADLINE, backup: bool = True) -> Library:
    """Open (creating and migrating as needed) the library at ``path`` or the user's default.

    The common case (schema current) costs one tiny read, not an Alembic start-up.
    """
    path = Path(path) if path is not None else app_dirs().library_db
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise LibraryOpenError(f"cannot open library {path}: it is a folder, not a database file")
        current = _stored_revision(path, busy_timeout)
        if current != SCHEMA_VERSION:
            if not migrate_schema:
                raise LibraryError(
                    f"library {path} is at schema {current!r}, expected {SCHEMA_VERSION}; open "
                    "it once with migrations enabled"
                )
            migrate(path, busy_timeout=busy_timeout, backup=backup)
        lib = Library(path, busy_timeout=busy_timeout, lock_deadline=lock_deadline)
        if current is None:
            try:
                with lib.session() as s:
                    if s.get(LibraryMeta, "library_id") is None:
                        s.add(LibraryMeta(key="library_id", value=os.urandom(8).hex()))
                        s.add(LibraryMeta(key="created_at", value=repr(now())))
            except BaseException:  # e.g. locked: no engines left behind for the caller to leak
                lib.close()
                raise
    except (OSError, sqlite3.DatabaseError, exc.DatabaseError) as err:
        # not a database, a corrupt file, an unwritable folder: say which file, not a traceback
        if is_disk_full(err, path):
            raise DiskFullError(path) from err
        if is_locked_error(err):
            raise LibraryBusyError(f"library {path} is locked by another program; retry") from err
        why = getattr(err, "orig", None) or err
        raise LibraryOpenError(f"cannot open library {path}: {getattr(why, 'strerror', None) or why}"
                               ) from err
    lib.ensure_reserve()
    return lib


def suppress_db_errors() -> contextlib.suppress:
    """Cleanup that must not hide the error being raised (a rollback on a full disk)."""
    return contextlib.suppress(OSError, sqlite3.Error, exc.SQLAlchemyError)


# -- small key/value helpers used by the queue and the classifier stage ------------------
def get_meta(session: Session, key: str, default: str | None = None) -> str | None:
    row = session.execute(select(LibraryMeta.value).where(LibraryMeta.key == key)).scalar()
    return default if row is None else row


def set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(LibraryMeta, key)
    if row is None:
        session.add(LibraryMeta(key=key, value=value))
    else:
        row.value = value
