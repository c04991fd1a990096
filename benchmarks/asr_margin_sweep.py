"""Issue 13: the sampled plan's fidelity for several ASR speech margins, cheaply.

Run: ``python benchmarks/asr_margin_sweep.py --margins 0 1 2 [--minutes 3] [--excerpt-count 6]
[--work DIR]``.

Like ``sampling_fidelity.py`` (same films, same zero-shot head), but the whole-file plan's
features are computed once and kept in ``--work``, and so are the sampled plan's; only the
transcript (``asr``) is recomputed per margin (``decode.SPEECH_MARGIN_S``), by giving the
ASR extractor a per-margin version in the sampled cache.  Prints per margin and film the
largest and mean absolute change of the 21 genre probabilities and the seconds of audio
Whisper heard (its cost), then the six-film summary and the summary of the slow test's two
films (Horror, Western).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GENRES = ("Horror", "Comedy", "War", "Western", "Sci-Fi", "Romance")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--margins", nargs="+", type=float, default=[0.0, 1.0])
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--excerpt-count", type=int, default=6)
    ap.add_argument("--excerpt-s", type=float, default=10.0)
    ap.add_argument("--genres", nargs="*", default=list(GENRES))
    ap.add_argument("--work", type=Path, default=Path("asr-margin-sweep"))
    args = ap.parse_args()
    os.environ.setdefault("TRAILERTAGGER_HOME", str(args.work / "home"))

    import faster_whisper
    import numpy as np

    from trailertagger.core.classify.zero_shot import ZeroShotHead
    from trailertagger.core.config import load_config
    from trailertagger.core.extractors.asr import ASR_RATE, FasterWhisperExtractor
    from trailertagger.core.features.cache import FeatureCache
    from trailertagger.core.genres import GENRES as ALL
    from trailertagger.core.media import decode
    from trailertagger.core.pipeline import ExtractionSession
    from trailertagger.devtools.fidelity import FilmComparison, make_films, summary

    heard = [0.0]
    original = faster_whisper.WhisperModel.transcribe

    def counting(self, audio, *a, **k):  # seconds of audio Whisper hears: its cost
        heard[0] += len(audio) / ASR_RATE
        return original(self, audio, *a, **k)

    faster_whisper.WhisperModel.transcribe = counting
    films = make_films(args.work / "media", args.genres, args.minutes)
    plan = f"{args.excerpt_count}x{args.excerpt_s:g}"
    base = load_config(create=False)
    sessions = {}
    for key, over, cache in (
            ("full", {"full_max_s": 7200.0}, f"full-{args.minutes:g}"),
            ("sampled", {"full_max_s": 60.0, "excerpt_count": args.excerpt_count,
                         "excerpt_s": args.excerpt_s}, f"sampled-{args.minutes:g}-{plan}")):
        c = copy.deepcopy(base)
        c["media"] = {**c.get("media", {}), **over}
        sessions[key] = ExtractionSession("default", c, cache=FeatureCache(args.work / cache))
    head = ZeroShotHead(sessions["full"].store, use_clip=False)
    shipped_version, shipped_margin = FasterWhisperExtractor.version, decode.SPEECH_MARGIN_S
    for margin in args.margins:
        decode.SPEECH_MARGIN_S = margin
        rows, cost = [], {}
        for name, genre, path in films:
            probs = {}
            for key in ("full", "sampled"):
                FasterWhisperExtractor.version = (shipped_version if key == "full"
                                                  else f"{shipped_version}-margin-{margin:g}")
                before = heard[0]
                p = head.predict(sessions[key].run(path).features)
                probs[key] = np.array([p[g] for g in ALL], dtype=np.float64)
                if key == "sampled":
                    cost[genre] = round(heard[0] - before, 1)
            rows.append(FilmComparison(name, genre, probs["full"], probs["sampled"]))
            r = rows[-1]
            print(f"margin {margin:g} s | {genre} | max {r.max_abs:.3f} | mean {r.mean_abs:.3f} | "
                  f"top-1 {'agrees' if r.top1_agrees else 'differs'} | Whisper heard "
                  f"{cost[genre]} s", flush=True)
        test = [r for r in rows if r.genre in ("Horror", "Western")]
        print(json.dumps({"margin_s": margin, "films_min": args.minutes, "plan": plan,
                          "all": summary(rows), "test_films": summary(test) if test else None,
                          "heard_s_mean": round(sum(cost.values()) / len(cost), 1)}), flush=True)
    FasterWhisperExtractor.version, decode.SPEECH_MARGIN_S = shipped_version, shipped_margin
    return 0


if __name__ == "__main__":
    sys.exit(main())
