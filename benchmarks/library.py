"""Library speed at 100,000 videos: genre filter, text search and opening, vs bare SQLite.

Run: ``python benchmarks/library.py [--videos 100000] [--repeat 7] [--keep DIR]``.

It creates a library with the real schema (Alembic migrations, WAL), fills it with
``--videos`` videos and their 21 auto genre rows each (2.1 million rows at 100,000), plus
manual corrections on 3 % of the videos (a third of them rejections) and 1 % missing files,
then times, with the median of ``--repeat`` runs and warm caches:

* **genre filter**: ids of the videos whose *effective* genres include Horror (manual rows
  win over predictions), through ``queries.video_ids``;
* **text search**: ids of the videos whose path contains two words (case-insensitive, beyond
  ASCII), through ``queries.video_ids``;
* **open**: ``open_library`` (schema check, engines) plus a count of videos by status;
* **genre counts**: how many present videos have each of the 21 genres (a GUI sidebar).

Each is printed beside the same question asked with the ``sqlite3`` module directly (a
hand-written query over the same rows on a plain connection), and as a ratio to it, so the
numbers say what SQLAlchemy and our schema cost, not how fast this machine is.  Both sides
return the same answer; the script checks that.  Filling the rows uses ``executemany`` on the
migrated file (it is the data, not our insert path, that is being measured).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trailertagger.core.genres import GENRES  # noqa: E402

WORDS = ("night", "dark", "love", "city", "last", "lost", "star", "war", "blood", "summer",
         "king", "über", "café", "ghost", "river", "storm", "dream", "iron", "silent", "wild")
PREVALENCE = np.array([0.25, 0.15, 0.05, 0.05, 0.3, 0.15, 0.03, 0.45, 0.08, 0.08, 0.04, 0.12,
                       0.03, 0.02, 0.08, 0.15, 0.08, 0.03, 0.2, 0.03, 0.013])


def fill(path: Path, n: int, seed: int = 0) -> dict[str, int]:
    """Create the library at ``path`` (migrations) and bulk-load ``n`` videos."""
    from trailertagger.core.library.db import open_library

    open_library(path).close()
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA synchronous = OFF")
    con.execute("BEGIN")
    con.execute("INSERT INTO heads (id, model_id, version, kind, first_seen) "
                "VALUES (1, 'multi-bench', 'v1', 'onnx', 0)")
    t = time.time()
    names = rng.integers(0, len(WORDS), size=(n, 3))
    missing = rng.random(n) < 0.01
    videos = []
    for i in range(n):
        title = " ".join(WORDS[j].capitalize() for j in names[i])
        p = f"/media/Films/{WORDS[names[i, 0]]}/{title} ({1950 + i % 75}) [{i:06d}].mkv"
        videos.append((i + 1, p, p.casefold(), 10_000_000 + i, 1_700_000_000_000_000_000 + i,
                       f"tt1:{i:064x}", 120.0, "missing" if missing[i] else "ready", t, t, 1, t))
    con.executemany(
        "INSERT INTO videos (id, path, search_key, size, mtime_ns, content_hash, duration, status,"
        " added_at, updated_at, classified_head_id, classified_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        videos)
    probs = rng.random((n, len(GENRES))) ** 2
    positive = rng.random((n, len(GENRES))) < PREVALENCE[None, :]
    probs = np.where(positive, 0.5 + probs / 2, probs / 2)
    con.executemany(
        "INSERT INTO genre_assignments (video_id, genre, source, probability, threshold, positive,"
        " rejected, stale, head_id, created_at) VALUES (?, ?, 'auto', ?, 0.5, ?, 0, 0, 1, ?)",
        ((i + 1, g, float(probs[i, k]), int(probs[i, k] >= 0.5), t)
         for i in range(n) for k, g in enumerate(GENRES)))
    corrected = rng.choice(n, size=max(1, n * 3 // 100), replace=False)
    manual = []
    for i in corrected:
        k = int(rng.integers(0, len(GENRES)))
        reject = rng.random() < 1 / 3
        manual.append((int(i) + 1, GENRES[k], int(not reject), int(reject), t))
    con.executemany(
        "INSERT OR IGNORE INTO genre_assignments (video_id, genre, source, probability, threshold,"
        " positive, rejected, stale, head_id, created_at) VALUES (?, ?, 'manual', NULL, NULL, ?,"
        " ?, 0, NULL, ?)", manual)
    con.execute("COMMIT")
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    rows = con.execute("SELECT count(*) FROM genre_assignments").fetchone()[0]
    con.close()
    return {"videos": n, "genre_rows": rows, "manual_rows": len(manual)}


BARE_GENRE = """
SELECT v.id FROM videos v WHERE v.id IN (
  SELECT a.video_id FROM genre_assignments a
  WHERE a.genre = ? AND a.positive = 1
    AND (a.source = 'manual' OR NOT EXISTS (
         SELECT 1 FROM genre_assignments m
         WHERE m.video_id = a.video_id AND m.genre = a.genre AND m.source = 'manual')))
ORDER BY v.id
"""
BARE_TEXT = "SELECT id FROM videos WHERE search_key LIKE ? AND search_key LIKE ? ORDER BY id"
BARE_OPEN = "SELECT status, count(*) FROM videos GROUP BY status"
BARE_COUNTS = """
SELECT a.genre, count(*) FROM genre_assignments a JOIN videos v ON v.id = a.video_id
WHERE a.positive = 1 AND v.status != 'missing'
  AND (a.source = 'manual' OR NOT EXISTS (
       SELECT 1 FROM genre_assignments m
       WHERE m.video_id = a.video_id AND m.genre = a.genre AND m.source = 'manual'))
GROUP BY a.genre
"""


def median_time(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, out = [], None
    fn()  # warm-up: page cache, statement cache, imports
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def run(path: Path, repeat: int) -> list[tuple[str, float, float, int]]:
    from sqlalchemy import func, select

    from trailertagger.core.library.db import open_library
    from trailertagger.core.library.queries import genre_counts, video_ids
    from trailertagger.core.library.schema import Video

    bare = sqlite3.connect(path)
    lib = open_library(path)
    rows = []
    try:
        def lib_genre() -> list[int]:
            with lib.read() as s:
                return video_ids(s, genres=["Horror"])

        def bare_genre() -> list[int]:
            return [r[0] for r in bare.execute(BARE_GENRE, ("Horror",))]

        t_lib, a = median_time(lib_genre, repeat)
        t_bare, b = median_time(bare_genre, repeat)
        assert a == b, "genre filter: library and bare SQLite disagree"
        rows.append(("genre filter (Horror, manual rows win)", t_lib, t_bare, len(a)))

        def lib_text() -> list[int]:
            with lib.read() as s:
                return video_ids(s, text="NIGHT Über")

        def bare_text() -> list[int]:
            return [r[0] for r in bare.execute(BARE_TEXT, ("%night%", "%über%"))]

        t_lib, a = median_time(lib_text, repeat)
        t_bare, b = median_time(bare_text, repeat)
        assert a == b, "text search: library and bare SQLite disagree"
        rows.append(("text search ('NIGHT Über')", t_lib, t_bare, len(a)))

        def lib_counts() -> dict[str, int]:
            with lib.read() as s:
                return genre_counts(s)

        def bare_counts() -> dict[str, int]:
            found = dict(bare.execute(BARE_COUNTS).fetchall())
            return {g: int(found.get(g, 0)) for g in GENRES}

        t_lib, a = median_time(lib_counts, repeat)
        t_bare, b = median_time(bare_counts, repeat)
        assert a == b, "genre counts: library and bare SQLite disagree"
        rows.append(("genre counts (all 21, present videos)", t_lib, t_bare, sum(a.values())))
    finally:
        lib.close()
        bare.close()

    def lib_open() -> dict[str, int]:
        with open_library(path) as lib2, lib2.read() as s:
            return dict(s.execute(select(Video.status, func.count()).group_by(Video.status)).all())

    def bare_open() -> dict[str, int]:
        con = sqlite3.connect(path)
        try:
            return dict(con.execute(BARE_OPEN).fetchall())
        finally:
            con.close()

    t_lib, a = median_time(lib_open, repeat)
    t_bare, b = median_time(bare_open, repeat)
    assert a == b, "open: library and bare SQLite disagree"
    rows.append(("open library + count by status", t_lib, t_bare, sum(a.values())))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="build the library in this folder and keep it")
    args = ap.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="tt-bench-lib-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "library.sqlite3"
    if path.exists():
        for p in work.glob("library.sqlite3*"):
            p.unlink()
    try:
        t0 = time.perf_counter()
        info = fill(path, args.videos)
        t_fill = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        print(f"library: {info['videos']:,} videos, {info['genre_rows']:,} genre rows "
              f"({info['manual_rows']:,} manual), {size_mb:.0f} MB, filled in {t_fill:.1f} s")
        print(f"median of {args.repeat} warm runs; bare = the same question through the sqlite3 "
              "module on a plain connection")
        print(f"{'measure':<42} {'library':>11} {'bare':>11} {'ratio':>7} {'rows':>8}")
        for name, t_lib, t_bare, n in run(path, args.repeat):
            print(f"{name:<42} {t_lib * 1000:>8.2f} ms {t_bare * 1000:>8.2f} ms "
                  f"{t_lib / t_bare:>6.2f}x {n:>8,}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
