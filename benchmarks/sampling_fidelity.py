"""Genre evidence from a sampled film against the whole film (issue 13's acceptance).

Run: ``python benchmarks/sampling_fidelity.py [--quick] [--minutes 10] [--genres ...]``.

Builds one long "film" per genre from the project's labelled corpus
(``devtools.coldstart_set``: clips whose title card and spoken lines imply their genres),
cycling that genre's clips until the film is ``--minutes`` long
(``devtools.fidelity.make_films``), runs the real pipeline (default profile) on each with the
whole-file plan and with the sampling plan, and scores both with the zero-shot head.  Prints
per film the largest and mean absolute difference of the 21 genre probabilities, whether the
top genre and the top-3 set agree, the coverage of the sample and both wall times; then the
summary.  The default sampling settings are the shipped ones, except ``full_max_s``, lowered
so that films this short are sampled at all (``--full-max-s``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GENRES = ("Horror", "Comedy", "War", "Western", "Sci-Fi", "Romance")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 films of 4 minutes")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--genres", nargs="*", default=list(GENRES))
    ap.add_argument("--full-max-s", type=float, default=60.0)
    ap.add_argument("--excerpt-count", type=int, default=None)
    ap.add_argument("--excerpt-s", type=float, default=None)
    ap.add_argument("--media-dir", type=Path, default=None)
    args = ap.parse_args()
    minutes = 4.0 if args.quick else args.minutes
    genres = args.genres[:3] if args.quick else args.genres
    sampled = {"full_max_s": args.full_max_s}
    if args.excerpt_count:
        sampled["excerpt_count"] = args.excerpt_count
    if args.excerpt_s:
        sampled["excerpt_s"] = args.excerpt_s
    with tempfile.TemporaryDirectory(prefix="tt-fidelity ") as tmp:
        os.environ.setdefault("TRAILERTAGGER_HOME", str(Path(tmp) / "home"))
        from trailertagger.core.genres import GENRES as ALL
        from trailertagger.devtools.fidelity import compare_plans, make_films, summary

        films = make_films(args.media_dir or Path(tmp) / "media", genres, minutes)
        print(f"{len(films)} films of {minutes:g} min; sampled settings {sampled}; "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
        rows = compare_plans(films, sampled)
        print("\n| film | max abs diff | mean abs diff | top-1 full | top-1 sampled | top-3 overlap "
              "| sampled coverage | wall full s | wall sampled s |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r.genre} | {r.max_abs:.3f} | {r.mean_abs:.3f} | {ALL[r.full.argmax()]} | "
                  f"{ALL[r.sampled.argmax()]} | {r.top3_overlap}/3 | "
                  f"{r.coverage.get('video_fraction', 0):.0%} | {r.seconds['full']:.0f} | "
                  f"{r.seconds['sampled']:.0f} |")
        print("\n" + json.dumps(summary(rows)))
        print(f"load after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
