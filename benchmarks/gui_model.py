"""The GUI's library table on a big library: lazy pages vs reading every row, and how the
costs grow from 1,000 to ``--videos`` videos.  All numbers come from one run, side by side.

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/gui_model.py [--videos 10000]``.

A library of N classified videos (21 automatic genre rows each, 2 % with a correction) is
built through the core in a temp folder.  Printed, for N and for 1,000:

* ``reload``: ``LibraryTableModel.reload()`` (light columns of every row: what opening the
  window, a filter or a rescan costs on the GUI thread);
* ``first screen``: data() of the first 40 rows, every column (one page of genre states);
* ``scroll all``: data() of every row (every page read once);
* ``eager``: what a table model that loads every record up front would pay
  (``list(iter_videos(...))``), and the ratio eager / (reload + first screen);
* ``genre filter``, ``search``: ``set_filter`` with one genre / one word;
* ``genre counts`` (runs in the background in the app) and the status-bar counts.
Target: reload + first screen under 0.25 s for 10,000 videos on 2 CPU cores, and at least
5x cheaper than eager loading.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def build(path: Path, n: int):  # noqa: ANN201 - a Library
    from trailertagger.core.genres import GENRES
    from trailertagger.core.library.classification import note_active_head, store_predictions
    from trailertagger.core.library.corrections import apply_changes, parse_changes
    from trailertagger.core.library.db import open_library
    from trailertagger.core.library.identity import new_video

    lib = open_library(path)
    with lib.session() as s:
        head, _ = note_active_head(s, "bench-head", "1", "onnx")
        for i in range(n):
            v = new_video(s, f"/films/{GENRES[i % 21]}/film {i:06d}.mp4", 1000 + i, 1)
            v.duration = 90.0 + i % 60
            probs = {g: ((i * 7 + j * 13) % 100) / 100 for j, g in enumerate(GENRES)}
            store_predictions(s, v, head, probs)
    apply_changes(lib, list(range(1, n + 1, 50)), parse_changes(["+Horror", "-Comedy"]))
    return lib


def timed(fn) -> float:  # noqa: ANN001
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def measure(lib) -> dict[str, float]:  # noqa: ANN001
    from trailertagger.core.app import LibrarySession
    from trailertagger.core.library import queries
    from trailertagger.gui.library_model import LibraryFilter, LibraryTableModel

    model = LibraryTableModel(LibrarySession(lib))
    out: dict[str, float] = {}
    out["reload"] = timed(model.reload)

    def screen() -> None:
        for r in range(min(40, model.rowCount())):
            for c in range(model.columnCount()):
                model.data(model.index(r, c))

    out["first screen"] = timed(screen)

    def scroll() -> None:
        for r in range(model.rowCount()):
            model.data(model.index(r, 1))

    out["scroll all"] = timed(scroll)

    def eager() -> None:
        with lib.read() as s:
            list(queries.iter_videos(s))

    out["eager"] = timed(eager)
    out["genre filter"] = timed(lambda: model.set_filter(LibraryFilter(genres=("Horror",))))
    out["search"] = timed(lambda: model.set_filter(LibraryFilter(text="film 0001")))

    def gcounts() -> None:
        with lib.read() as s:
            queries.genre_counts(s)

    def status() -> None:
        with lib.read() as s:
            queries.job_counts(s)
            queries.counts(s)

    out["genre counts"] = timed(gcounts)
    out["status counts"] = timed(status)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=10_000)
    args = ap.parse_args()
    from PySide6.QtCore import QCoreApplication

    _app = QCoreApplication.instance() or QCoreApplication([])
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1000, args.videos):
            t = time.perf_counter()
            lib = build(Path(tmp) / f"lib{n}.sqlite3", n)
            print(f"built {n} videos in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            if n == 1000:
                measure(lib)  # warm-up: imports, statement caches
            results[n] = measure(lib)
            lib.close()
    small, big = results[1000], results[args.videos]
    print(f"{'':16}{'1,000':>10}{args.videos:>10,}{'ratio':>8}")
    for key in big:
        print(f"{key:16}{small[key]:>9.3f}s{big[key]:>9.3f}s{big[key] / max(small[key], 1e-9):>7.1f}x")
    opened = big["reload"] + big["first screen"]
    print(f"open ({args.videos:,} videos): reload + first screen = {opened:.3f} s; "
          f"eager loading would take {big['eager']:.3f} s ({big['eager'] / opened:.1f}x more)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
