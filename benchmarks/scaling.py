"""Cost against running time: the sampling plan keeps films at a trailer's cost.

Run: ``python benchmarks/scaling.py [--quick] [--profile default] [--media-dir DIR]``.

Makes 720p H.264 + AAC videos with hard cuts, title cards, speech over music
(``mediagen.make_trailer`` segments of different seeds joined by packet copy with
``mediagen.concat_remux``, so a 30-minute video takes seconds to make) of 2, 10 and 30
minutes, and a 10-minute 1080p HEVC one with an embedded SubRip subtitle stream when PyAV has
``libx265``.  For each it prints: wall time of the pipeline (fresh feature cache, models
loaded beforehand as in a worker), seconds per minute of video, the ratio to a bare full
decode of the same file measured in the same run (every video frame and audio sample, PyAV,
threaded), peak RSS of the process that ran the pipeline (models included), CPU use, scenes
and rows kept per modality, the plan and the speech-text source.  ``--full-plan`` also runs
the 10-minute video with the sampling plan switched off (``full_max_s = 7200``: today's
whole-file path) for a same-run comparison.

``--quick``: 1-minute segments, lengths 2 and 10 minutes, no HEVC unless ``--hevc``.
Targets on 2 cores (issue 13): over 10 minutes, wall <= 0.5x the bare decode and <= 0.05x
running time; peak RSS < 1.5 GB at every length; the 2-minute video no slower than before.
Each pipeline run is a fresh child process, so peak RSS is that run's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A child measuring another checkout (``--baseline``) imports the app from there.
sys.path.insert(0, os.environ.get("TT_BENCH_TREE") or str(Path(__file__).resolve().parents[1]))


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


def child(path: Path, profile: str, media_over: dict) -> None:
    """Run the pipeline once on ``path`` with an empty cache; print one JSON line."""
    from trailertagger.core.config import load_config
    from trailertagger.core.features.cache import FeatureCache
    from trailertagger.core.pipeline import ExtractionSession

    cfg = load_config(create=False)
    cfg["media"].update(media_over)
    with tempfile.TemporaryDirectory(prefix="tt-scaling-cache ") as cache:
        session = ExtractionSession(profile, cfg, cache=FeatureCache(Path(cache)))
        t = time.perf_counter()
        session.load_all()
        load_s = time.perf_counter() - t
        models_rss = _rss_now_mb()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        res = session.run(path)
        wall = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    print("RESULT " + json.dumps({
        "wall": wall, "load_s": load_s, "cpu_s": cpu,
        "peak_rss_mb": r1.ru_maxrss / 1024.0,  # Linux reports KiB
        "models_rss_mb": models_rss,
        "duration": res.features.duration, "lengths": res.features.lengths(),
        "missing": res.missing, "timings": res.timings,
        "provenance": getattr(res.features, "provenance", {}),
        "tree": sys.path[0],
    }), flush=True)


def _rss_now_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def run_child(path: Path, profile: str, media_over: dict, tree: str | None = None) -> dict:
    env = dict(os.environ)
    if tree:
        env["TT_BENCH_TREE"] = tree
    cmd = [sys.executable, __file__, "--child", str(path), "--profile", profile,
           "--media-json", json.dumps(media_over)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"pipeline child failed ({out.returncode}):\n{out.stderr[-3000:]}")


def make_media(folder: Path, quick: bool, hevc: bool,
               lengths: list[int] | None = None) -> list[tuple[str, Path]]:
    import av

    from trailertagger.devtools import mediagen

    folder.mkdir(parents=True, exist_ok=True)
    seg_s = 60.0 if quick else 120.0
    segs = []
    for seed in range(3):
        p = folder / f"segment{seed} 720p {int(seg_s)}s.mp4"
        if not p.exists():
            t = time.perf_counter()
            part = p.with_name("partial " + p.name)  # an interrupted run leaves no stub
            mediagen.make_trailer(part, duration=seg_s, size=(1280, 720), seed=seed)
            part.replace(p)
            print(f"(made {p.name} in {time.perf_counter() - t:.0f} s)", flush=True)
        segs.append(p)
    videos = []
    for minutes in lengths if lengths is not None else ((2, 10) if quick else (2, 10, 30)):
        p = folder / f"film {minutes} min 720p.mp4"
        if not p.exists():
            mediagen.concat_remux(p, segs, minutes * 60.0)
        videos.append((f"{minutes} min 720p H.264", p))
    if hevc and "libx265" in av.codecs_available:
        seg = folder / "segment 1080p hevc 60s.mp4"
        if not seg.exists():
            t = time.perf_counter()
            part = seg.with_name("partial " + seg.name)
            mediagen.make_trailer(part, duration=60.0, size=(1920, 1080), seed=7, codec="libx265")
            part.replace(seg)
            print(f"(made {seg.name} in {time.perf_counter() - t:.0f} s)", flush=True)
        joined = folder / "film 10 min 1080p hevc nosubs.mkv"
        if not joined.exists():
            mediagen.concat_remux(joined, [seg], 600.0)
        film = folder / "film 10 min 1080p hevc.mkv"
        if not film.exists():
            lines = ("Keep the lights on.", "Who is out there?", "We leave at dawn.",
                     "Nobody crosses the bridge tonight.", "Listen to the storm.")
            cues = tuple((t0 + 0.5, t0 + 3.0, lines[k % len(lines)])
                         for k, t0 in enumerate(range(0, 600, 6)))
            mediagen.add_tracks(joined, film, src_audio_language="eng",
                                subtitles=[mediagen.SubtitleTrack(cues, language="eng")])
        videos.append(("10 min 1080p HEVC + subs", film))
    elif hevc:
        print("(no libx265 encoder in this PyAV: HEVC case skipped)")
    return videos


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--hevc", action="store_true", help="include the HEVC case in --quick")
    ap.add_argument("--full-plan", action="store_true",
                    help="also run the 10-minute video with the whole-file plan (today's path)")
    ap.add_argument("--baseline", metavar="CHECKOUT", default=None,
                    help="also run every video on another checkout of the app "
                         "(e.g. the main branch before this change), same run, same files")
    ap.add_argument("--lengths", type=int, nargs="*", default=None, metavar="MIN",
                    help="720p lengths in minutes (default 2 10 30; --quick 2 10)")
    ap.add_argument("--profile", default="default")
    ap.add_argument("--media-dir", type=Path, default=None,
                    help="keep the generated videos here (reused by later runs)")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--media-json", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.profile, json.loads(args.media_json))
        return 0

    with tempfile.TemporaryDirectory(prefix="tt-scaling ") as tmp:
        os.environ["TRAILERTAGGER_HOME"] = str(Path(tmp) / "home")  # user files untouched
        media_dir = args.media_dir or Path(tmp) / "media"
        videos = make_media(media_dir, args.quick, hevc=args.hevc or not args.quick,
                            lengths=args.lengths)
        print(f"\nload: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
              f"{os.getloadavg()[2]:.2f} (1/5/15 min), {os.cpu_count()} CPU(s), "
              f"profile {args.profile}\n", flush=True)
        runs = [(label, path, {}, None) for label, path in videos]
        if args.full_plan:
            ten = next((p for label, p in videos if label.startswith("10 min 720p")), None)
            if ten is not None:
                runs.append(("10 min 720p, whole-file plan", ten, {"full_max_s": 7200.0},
                             None))
        if args.baseline:
            for label, path in videos:
                runs.append((f"{label}, baseline checkout", path, {}, args.baseline))
        rows = []
        for label, path, over, tree in runs:
            dec = decode_only(path)
            r = run_child(path, args.profile, over, tree)
            minutes = r["duration"] / 60.0
            prov = r["provenance"]
            cov = prov.get("coverage", {})
            lengths = r["lengths"]
            row = {
                "video": label, "plan": prov.get("plan", {}).get("kind", "?"),
                "wall_s": round(r["wall"], 1), "s_per_min": round(r["wall"] / minutes, 2),
                "decode_s": round(dec, 1), "ratio_decode": round(r["wall"] / dec, 3),
                "ratio_runtime": round(r["wall"] / r["duration"], 4),
                "peak_rss_mb": round(r["peak_rss_mb"]), "models_rss_mb": round(r["models_rss_mb"]),
                "cpu_pct": round(100 * r["cpu_s"] / r["wall"]),
                "read_s": cov.get("video_s"), "frames_decoded": cov.get("frames_decoded"),
                "scenes": lengths.get("image"), "audio": lengths.get("audio"),
                "music": lengths.get("music"), "asr": lengths.get("asr"), "ocr": lengths.get("ocr"),
                "speech": prov.get("speech_text", {}).get("source"),
                "timings": {k: round(v, 1) for k, v in r["timings"].items()},
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        print("\n| video | plan | wall s | s / min | bare decode s | wall / decode | wall / running "
              "time | peak RSS MB (models alone) | CPU % | video read s | scenes | audio | music | asr | "
              "ocr | speech |")
        print("|---" * 16 + "|")
        for w in rows:
            print(f"| {w['video']} | {w['plan']} | {w['wall_s']} | {w['s_per_min']} | "
                  f"{w['decode_s']} | {w['ratio_decode']} | {w['ratio_runtime']} | "
                  f"{w['peak_rss_mb']} ({w['models_rss_mb']}) | {w['cpu_pct']} | {w['read_s']} | {w['scenes']} | "
                  f"{w['audio']} | {w['music']} | {w['asr']} | {w['ocr']} | {w['speech']} |")
        print(f"\nload after: {os.getloadavg()[0]:.2f} (1 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
