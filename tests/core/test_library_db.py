"""The library database itself: creation, WAL, migrations, refusal of newer schemas, locks."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from trailertagger.core.library import db as dbmod
from trailertagger.core.library.classification import note_active_head, store_predictions
from trailertagger.core.library.corrections import apply_changes, parse_changes
from trailertagger.core.library.db import (
    SCHEMA_VERSION,
    LibraryBusyError,
    LibraryError,
    SchemaTooNewError,
    known_revisions,
    migrate,
    open_library,
)
from trailertagger.core.library.identity import new_video
from trailertagger.core.library.queries import find_videos, get_video
from trailertagger.core.library.schema import Base, GenreAssignment, LibraryMeta, Video


def test_new_library_is_wal_at_head_and_clean(tmp_path: Path) -> None:
    path = tmp_path / "sub dir ü" / "lib.sqlite3"
    with open_library(path) as lib:
        assert lib.schema_version() == SCHEMA_VERSION
        assert lib.integrity_check() == []
        with lib.read() as s:
            assert s.get(LibraryMeta, "library_id") is not None
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_schema_version_is_the_newest_migration_and_models_match_it(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    assert known_revisions()[0] == SCHEMA_VERSION
    with open_library(tmp_path / "lib.sqlite3") as lib, lib.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_reads_are_query_only(tmp_path: Path) -> None:
    with open_library(tmp_path / "lib.sqlite3") as lib:
        with pytest.raises(Exception, match="readonly|read-only|query_only|attempt to write"), \
                lib.read() as s:
            s.add(LibraryMeta(key="x", value="y"))
            s.flush()
        with lib.read() as s:
            assert s.get(LibraryMeta, "x") is None


def test_write_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    with open_library(tmp_path / "lib.sqlite3") as lib:
        with pytest.raises(RuntimeError), lib.session() as s:
            new_video(s, "/films/a.mp4", 1, 1)
            raise RuntimeError("boom")
        with lib.read() as s:
            assert s.execute(select(Video)).first() is None
        assert lib.integrity_check() == []


def _fill_0001(path: Path) -> None:
    """Rows as the first release wrote them (plain SQL: the 0001 tables, no search_key)."""
    con = sqlite3.connect(path)
    con.executescript("""
        INSERT INTO heads (id, model_id, version, kind, first_seen) VALUES (1, 'zero-shot', 'v1', 'zero-shot', 1.0);
        INSERT INTO watched_folders (id, path, recursive, enabled, added_at) VALUES (1, '/Films', 1, 1, 1.0);
        INSERT INTO videos (id, path, folder_id, size, mtime_ns, content_hash, status, added_at,
                            updated_at, classified_head_id)
            VALUES (1, '/Films/ÜBER Horror.mp4', 1, 10, 20, 'tt1:aa', 'ready', 1.0, 1.0, 1),
                   (2, '/Films/Comedy.mkv', 1, 11, 21, 'tt1:bb', 'missing', 1.0, 1.0, NULL);
        INSERT INTO genre_assignments (video_id, genre, source, probability, threshold, positive,
                                       rejected, stale, head_id, created_at)
            VALUES (1, 'Horror', 'auto', 0.9, 0.5, 1, 0, 0, 1, 1.0),
                   (1, 'Comedy', 'auto', 0.8, 0.5, 1, 0, 0, 1, 1.0),
                   (1, 'Comedy', 'manual', NULL, NULL, 0, 1, 0, NULL, 2.0);
        INSERT INTO jobs (id, video_id, kind, stages, stage, status, priority, profile, attempts,
                          progress, cancel_requested, created_at, updated_at)
            VALUES (1, 1, 'process', 'extract,classify', 'extract', 'queued', 0, 'default', 0, 0, 0, 1.0, 1.0);
        INSERT INTO job_events (job_id, time, event) VALUES (1, 1.0, 'queued');
    """)
    con.commit()
    con.close()


@pytest.mark.parametrize("old", ["0001", "0002", "0003"])
def test_migration_from_a_database_made_by_an_older_schema(tmp_path: Path, old: str) -> None:
    path = tmp_path / "old.sqlite3"
    assert migrate(path, old, backup=False) is None
    assert dbmod._stored_revision(path, 5) == old
    _fill_0001(path)
    if old >= "0002":  # that release wrote search keys itself
        con = sqlite3.connect(path)
        for vid, p in con.execute("SELECT id, path FROM videos").fetchall():
            con.execute("UPDATE videos SET search_key = ? WHERE id = ?", (p.casefold(), vid))
        con.commit()
        con.close()
    with open_library(path) as lib:
        assert lib.schema_version() == SCHEMA_VERSION
        assert lib.integrity_check() == []
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        with lib.engine.connect() as conn:  # migrated == created fresh, index for index
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        with lib.read() as s:
            rec = get_video(s, 1)
            assert rec is not None
            # the manual rejection survived the table copy, and still wins
            assert rec.genres == ("Horror",) and rec.manual_off == ("Comedy",)
            assert s.get(Video, 1).search_key == "/films/über horror.mp4"
            assert [r.path for r in find_videos(s, text="über")] == ["/Films/ÜBER Horror.mp4"]
            assert [r.path for r in find_videos(s, missing=True)] == ["/Films/Comedy.mkv"]
            n_rows = len(s.execute(select(GenreAssignment)).all())
            assert n_rows == 3
        # the foreign keys still point at the rebuilt videos table: deleting cascades
        with lib.session() as s:
            s.delete(s.get(Video, 1))
        with lib.read() as s:
            assert s.execute(select(GenreAssignment)).first() is None
        assert lib.integrity_check() == []
    backup = path.with_name(f"{path.name}.pre-{old}.bak")
    assert backup.exists()
    con = sqlite3.connect(backup)
    assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == old
    con.close()


def test_database_from_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "lib.sqlite3"
    open_library(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE alembic_version SET version_num = '0099'")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(SchemaTooNewError, match="newer release") as info:
        open_library(path)
    assert info.value.exit_code == 2
    assert path.read_bytes() == before
    with pytest.raises(LibraryError, match="expected"):
        open_library(tmp_path / "other.sqlite3", migrate_schema=False).close()


_LOCKER = textwrap.dedent("""
    import sqlite3, sys, time
    con = sqlite3.connect(sys.argv[1], isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    con.execute("INSERT INTO library_meta (key, value) VALUES ('locker', 'was here')")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    con.execute("COMMIT")
""")


def _lock_in_other_process(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _LOCKER, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_database_locked_by_another_process_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "lib.sqlite3"
    open_library(path).close()
    # SQLite's own wait (0.5 s) is shorter than the lock: our retry loop has to carry it
    with open_library(path, busy_timeout=0.5, lock_deadline=20) as lib:
        proc = _lock_in_other_process(path, 2.5)
        t0 = time.monotonic()
        try:
            with lib.session() as s:
                new_video(s, "/films/after the lock.mp4", 1, 1)
        finally:
            proc.wait(timeout=30)
        assert time.monotonic() - t0 >= 1.5
        with lib.read() as s:
            assert s.get(LibraryMeta, "locker").value == "was here"
            assert get_video(s, "/films/after the lock.mp4") is not None
        assert lib.integrity_check() == []


def test_lock_held_past_the_deadline_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "lib.sqlite3"
    open_library(path).close()
    with open_library(path, busy_timeout=0.2, lock_deadline=0.5) as lib:
        proc = _lock_in_other_process(path, 3)
        try:
            with pytest.raises(LibraryBusyError, match="locked by another program"), \
                    lib.session() as s:
                new_video(s, "/films/x.mp4", 1, 1)
        finally:
            proc.wait(timeout=30)
        with lib.session() as s:  # and it works again once the lock is gone
            new_video(s, "/films/x.mp4", 1, 1)


def test_opening_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "lib.sqlite3"
    with open_library(path) as lib, lib.session() as s:
        v = new_video(s, "/films/a.mp4", 1, 1)
        head, _ = note_active_head(s, "m", "1")
        store_predictions(s, v, head, {"Horror": 0.9})
        apply_changes_ids = [v.id]
    proc = _lock_in_other_process(path, 2)
    try:
        with open_library(path, busy_timeout=0.5, lock_deadline=20) as lib:
            with lib.read() as s:  # WAL: readers are not blocked by the writer
                assert get_video(s, "/films/a.mp4").genres == ("Horror",)
            apply_changes(lib, apply_changes_ids, parse_changes(["+Drama"]))
            with lib.read() as s:
                assert get_video(s, "/films/a.mp4").genres == ("Drama", "Horror")
    finally:
        proc.wait(timeout=30)


def test_library_objects_are_not_pickled(tmp_path: Path) -> None:
    import pickle

    with open_library(tmp_path / "lib.sqlite3") as lib, pytest.raises(TypeError, match="per process"):
        pickle.dumps(lib)


def _open_and_report(path: str) -> str | None:
    with open_library(path) as lib:
        return lib.schema_version()


def test_processes_creating_the_same_library_at_once(tmp_path: Path) -> None:
    """Worker processes start together: one creates and migrates, the others wait and agree."""
    import multiprocessing as mp

    path = tmp_path / "lib.sqlite3"
    with mp.get_context("spawn").Pool(3) as pool:
        assert pool.map(_open_and_report, [str(path)] * 3) == [SCHEMA_VERSION] * 3
    with open_library(path) as lib:
        assert lib.integrity_check() == []
        with lib.read() as s:
            assert len(s.execute(select(LibraryMeta).where(LibraryMeta.key == "library_id")).all()) == 1


@pytest.mark.parametrize("name", ["plain.sqlite3", "with space #1 ?x=%20 ü.sqlite3"])
def test_stored_revision_reads_without_checkpointing(tmp_path: Path, name: str) -> None:
    """The revision is read read-only (issue 11: closing the last read-write connection of a
    WAL library checkpoints it, 170 ms on 100,000 videos, on the GUI thread); any file name."""
    path = tmp_path / name
    with open_library(path):
        pass
    # a writer that ends without closing (as a killed app does): its WAL stays behind
    code = textwrap.dedent("""
        import os, sqlite3, sys
        con = sqlite3.connect(sys.argv[1], isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("INSERT INTO library_meta (key, value) VALUES ('probe', '2')")
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    wal = path.with_name(path.name + "-wal")
    before = wal.stat().st_size
    assert before > 0
    assert dbmod._stored_revision(path, 5) == dbmod.SCHEMA_VERSION
    assert wal.exists() and wal.stat().st_size == before  # no checkpoint, no truncation
    with open_library(path) as lib, lib.read() as s:  # it opens, and reads what the WAL holds
        assert s.get(LibraryMeta, "probe").value == "2"
