"""Folder throughput: the app's worker pool against the sequential pipeline.

Run: ``python benchmarks/throughput.py [--quick] [--videos 6] [--media-dir DIR] [--only MODE]
[--baseline CHECKOUT]``.

Makes ``--videos`` (at least 6) distinct synthetic 720p trailers (``mediagen.make_trailer``,
different seeds: different cuts, titles and music; 2 minutes each, 40 s with ``--quick``),
then scans the folder with the real CLI (``trailertagger scan``: probe, extract, classify
jobs in worker processes, default profile, zero-shot head), each mode in a fresh home (empty
library and feature cache):

* ``sequential``: one worker (``[jobs] workers = 1``, the default before ``"auto"``), extractors side by side
  in lanes sized for the whole machine (``[extract] lanes`` auto: one per core);
* ``one lane``: one worker with ``[extract] lanes = 1``: extractors one after another, each
  with every core (the pipeline as it was before the lanes), the second baseline;
* ``pool``: two workers with two extract jobs at a time (``[jobs] stage_limits``, the
  default for two workers, and what ``workers = "auto"``, the default, starts on 2 cores); each extraction gets ``cores // 2`` of the machine (one lane of
  one thread, one ffmpeg decode thread on 2 cores: ``PoolOptions.extraction_share``);
* ``default``: what a user's first scan does: ``[jobs] workers = "auto"`` (one per core, at
  most 4, fewer when memory is short), the pool's own stage limits;
* ``pool-x1``: two workers, one extract job at a time (the default before issue 13); only
  with ``--only pool-x1``;
* ``pool-4``: with ``--four``, four workers and two extract jobs;
* ``baseline``: with ``--baseline CHECKOUT``, run first: the app of another checkout of this
  repository (e.g. the commit issue 13 measured, to compare with the pipeline the issue
  called sequential) with one worker, its default then; it becomes the "vs" baseline.

``--only MODE`` (repeatable) runs those modes in that order; the first is the baseline of the
"vs" column.  It prints videos per minute (model loading included, as a user's scan pays it),
the speed-up against the first mode of the same run (both measured in one run, so under the
same machine load), CPU utilisation (user + system CPU seconds of every process over wall
time, 200% = both cores of a 2-core machine), CPU seconds per video (what a mode costs,
whatever share of the machine other work left it), the peak of the summed RSS of the CLI and its
workers (sampled every 0.5 s), the load average before and after, and the ceiling no pool can
beat: cores x 100 / the first mode's CPU% (a pool can only use the CPU the sequential run
leaves idle).  Target (issue 13): the pool at least 1.6x sequential on 2 cores.  Measured
figures and what limits them: README, "Throughput of a folder scan".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _tree_rss(pid: int) -> int:
    """Summed RSS in bytes of ``pid`` and its descendants (Linux /proc; 0 elsewhere)."""
    try:
        import psutil
    except ImportError:
        return 0
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for q in procs:
        with contextlib.suppress(psutil.Error):
            total += q.memory_info().rss
    return total


def scan(folder: Path, home: Path, workers: int | str, extract_limit: int | None,
         lanes: int = 0, tree: Path | None = None) -> dict:
    """One real ``trailertagger scan`` of ``folder`` in a fresh home; ``extract_limit`` None:
    the pool's own default (as a user's first scan).  ``tree``: run the app from that
    checkout instead, with its own defaults (``--baseline``)."""
    home.mkdir(parents=True, exist_ok=True)
    root = tree or ROOT
    env = dict(os.environ, TRAILERTAGGER_HOME=str(home), PYTHONPATH=str(root))
    # where the app reads its settings under this home
    probe = subprocess.run([sys.executable, "-c", "from trailertagger.core.paths import app_dirs;"
                            "print(app_dirs().config_file)"], env=env, capture_output=True,
                           text=True, check=True)
    cfg = Path(probe.stdout.strip())
    cfg.parent.mkdir(parents=True, exist_ok=True)
    extract = f"[extract]\nlanes = {lanes}\n" if lanes else ""
    limits = f"[jobs.stage_limits]\nextract = {extract_limit}\n" if extract_limit else ""
    value = f'"{workers}"' if isinstance(workers, str) else str(workers)
    cfg.write_text(f"{extract}[jobs]\nworkers = {value}\nsettle_seconds = 0.0\n{limits}",
                   encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "trailertagger", "scan", str(folder),
                             "--workers", str(workers)], env=env, cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peak[0] = max(peak[0], _tree_rss(proc.pid))

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t
    done.set()
    th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"scan failed ({proc.returncode}):\n{out[-2000:]}\n{err[-3000:]}")
    return {"wall": wall, "cpu_s": cpu, "peak_rss_mb": peak[0] / 2**20, "stdout": out[-400:]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="40 s videos instead of 2 minutes")
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--four", action="store_true", help="also run four workers")
    ap.add_argument("--media-dir", type=Path, default=None)
    ap.add_argument("--only", action="append", default=[], metavar="MODE",
                    help="run only this mode (repeatable; the first one run is the baseline)")
    ap.add_argument("--baseline", type=Path, default=None, metavar="CHECKOUT",
                    help="first run the app of another checkout (e.g. the commit issue 13 "
                         "measured) with one worker, its default then, as mode 'baseline'")
    args = ap.parse_args()
    if args.videos < 6:
        ap.error("--videos must be at least 6")
    from trailertagger.devtools import mediagen

    seconds = 40.0 if args.quick else 120.0
    with tempfile.TemporaryDirectory(prefix="tt-throughput ") as tmp:
        folder = args.media_dir or Path(tmp) / "videos"
        folder.mkdir(parents=True, exist_ok=True)
        for seed in range(args.videos):
            p = folder / f"trailer {seed:02d} {int(seconds)}s.mp4"
            if not p.exists():
                t = time.perf_counter()
                mediagen.make_trailer(p, duration=seconds, size=(1280, 720), seed=100 + seed)
                print(f"(made {p.name} in {time.perf_counter() - t:.0f} s)", flush=True)
        n = len(list(folder.glob(f"trailer * {int(seconds)}s.mp4")))
        # (name, workers, extract jobs at a time, [extract] lanes: 0 = auto)
        catalogue = [("sequential", 1, 1, 0), ("one lane", 1, 1, 1), ("pool", 2, 2, 0),
                     ("default", "auto", None, 0), ("pool-x1", 2, 1, 0), ("pool-4", 4, 2, 0)]
        wanted = args.only or (["sequential", "one lane", "pool", "default"]
                               + (["pool-4"] if args.four else []))
        unknown = set(wanted) - {m[0] for m in catalogue}
        if unknown:
            ap.error(f"unknown mode(s) {sorted(unknown)}; modes: {[m[0] for m in catalogue]}")
        modes = sorted((m for m in catalogue if m[0] in wanted), key=lambda m: wanted.index(m[0]))
        print(f"\n{n} videos of {seconds:.0f} s; load {os.getloadavg()[0]:.2f} "
              f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}; {os.cpu_count()} CPU(s)", flush=True)
        if args.baseline is not None:
            modes.insert(0, ("baseline", 1, None, 0))
        rows = []
        for name, workers, limit, lanes in modes:
            tree = args.baseline.resolve() if name == "baseline" else None
            r = scan(folder, Path(tmp) / f"home {name}", workers, limit, lanes, tree)
            row = {"mode": name, "workers": workers, "extract_limit": limit or "default",
                   "lanes": lanes or "auto",
                   "wall_s": round(r["wall"], 1), "videos_per_min": round(n / r["wall"] * 60, 2),
                   "cpu_pct": round(100 * r["cpu_s"] / r["wall"]),
                   "cpu_s_per_video": round(r["cpu_s"] / n, 1),
                   "peak_rss_mb": round(r["peak_rss_mb"])}
            rows.append(row)
            print(json.dumps(row), flush=True)
        base = rows[0]["videos_per_min"]
        seq = next((r for r in rows[1:] if r["mode"] == "sequential"), None)
        extra = " vs sequential |" if seq else ""
        print(f"\n| mode | workers | extract jobs | lanes | wall s | videos / min | "
              f"vs {rows[0]['mode']} |{extra} CPU % | CPU s / video | peak RSS (all processes) MB |")
        print("|---|---|---|---|---|---|---|" + ("---|" if seq else "") + "---|---|---|")
        for r in rows:
            vs_seq = f" {r['videos_per_min'] / seq['videos_per_min']:.2f}x |" if seq else ""
            print(f"| {r['mode']} | {r['workers']} | {r['extract_limit']} | {r['lanes']} | "
                  f"{r['wall_s']} | {r['videos_per_min']} | {r['videos_per_min'] / base:.2f}x |"
                  f"{vs_seq} {r['cpu_pct']} | {r['cpu_s_per_video']} | {r['peak_rss_mb']} |")
        # no pool can beat the first row by more than the CPU it leaves idle
        cores = os.cpu_count() or 1
        print(f"\nceiling for any pool vs {rows[0]['mode']}: {100 * cores} / {rows[0]['cpu_pct']} "
              f"= {100 * cores / max(1, rows[0]['cpu_pct']):.2f}x")
        print(f"\nload after: {os.getloadavg()[0]:.2f} (1 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
