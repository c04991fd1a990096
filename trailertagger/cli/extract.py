"""``trailertagger extract``: feature sequences for videos, with per-video and per-stage bars."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from ..core.app.evidence import reading_lines
from ..core.errors import MediaError, ModelChecksumError, ModelMissingError, TrailerTaggerError
from ..core.extractors.base import PROFILES
from .common import progress_bar, settings, shown


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "extract",
        help="compute per-modality feature sequences for videos (cached)",
        description="Decode each video once, detect scenes, run the profile's frozen extractors and "
                    "cache one feature file per video. Folders are searched for videos. "
                    "A bad file is reported and the batch goes on. Exit code 0 when every video "
                    "was processed, 3 when every video failed as media (unreadable, empty, not "
                    "a video...), 1 for any other mix of failures, 4 when a needed model is "
                    "missing or corrupt.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="video files or folders")
    p.add_argument("--profile", default=None, choices=sorted(PROFILES),
                   help="extractor set (default: from config, 'default' = offline bundled models)")
    p.add_argument("--device", default=None, choices=["auto", "cpu", "cuda"],
                   help="inference device (default: [extract] device; auto = CUDA when usable)")
    p.add_argument("--out", type=Path, default=None,
                   help="also copy each feature file to OUT/<video stem>.npz (e.g. for training sets)")
    p.add_argument("--json", action="store_true", help="print one JSON summary per video on stdout")
    p.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="run the extractors on a Dask cluster (tcp://host:8786 or a scheduler "
                        "file); feature files are written here (README, 'Cluster extraction')")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.media.files import iter_videos
    from ..core.pipeline import ExtractionSession

    cfg = settings()
    profile = args.profile or cfg["extract"]["profile"]
    device = args.device or cfg["extract"]["device"]
    videos = list(iter_videos(args.paths))
    if not videos:
        print("no videos found", file=sys.stderr)
        return 1
    if args.cluster:
        return _run_cluster(args, videos, profile, device, cfg)
    session = ExtractionSession(profile, cfg, device)
    failed = media_failed = 0
    outer = progress_bar(len(videos), "videos", unit="video", leave=True)
    for path in videos:
        stage_bar = progress_bar(None, path.name[:40])
        last = {"stage": ""}

        def progress(stage: str, done: float, total: float, bar=stage_bar, last=last,
                     name=path.name[:30]) -> None:
            if stage != last["stage"]:
                last["stage"] = stage
                bar.set_description(f"{name} · {stage}")
            bar.total = total or None
            bar.n = done
            bar.refresh()

        try:
            result = session.run(path, progress)
        except (MediaError, ModelMissingError, ModelChecksumError) as err:
            failed += 1
            model_problem = not isinstance(err, MediaError)
            media_failed += not model_problem
            _emit(args, {"path": str(path), "ok": False, "error": str(err),
                         "reason": getattr(err, "reason", "model_missing")})
            if model_problem:  # affects every file: stop the batch, exit 4
                stage_bar.close()
                outer.close()
                raise
            continue
        except TrailerTaggerError as err:
            failed += 1
            _emit(args, {"path": str(path), "ok": False, "error": str(err)})
            continue
        finally:
            stage_bar.close()
            outer.update(1)
        _emit_result(args, path, result)
    outer.close()
    if media_failed == len(videos):
        return MediaError.exit_code  # nothing could be read: the input is the problem
    return 1 if failed else 0


def _emit_result(args: argparse.Namespace, path: Path, result) -> None:  # noqa: ANN001
    if args.out and result.feature_path:
        args.out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.feature_path, args.out / f"{path.stem}.npz")
    _emit(args, {
        "path": str(path), "ok": True, "content_hash": result.content_hash,
        "cached": result.from_cache, "duration": round(result.features.duration, 2),
        "lengths": result.features.lengths(), "missing": result.missing,
        "feature_file": str(result.feature_path) if result.feature_path else None,
        "warnings": result.warnings,
        "seconds": {k: round(v, 2) for k, v in result.timings.items()},
        # how the file was read: sampling plan, coverage, audio track, speech source
        "provenance": result.features.provenance,
    })


def _run_cluster(args: argparse.Namespace, videos: list[Path], profile: str, device: str,
                 cfg: dict) -> int:
    """Every video on the cluster at once; lines in the order they finish; Ctrl-C cancels
    the tasks left (feature files already written stay)."""
    from ..core.app import extract_on_cluster

    counts = {"failed": 0, "media": 0, "model": None}
    outer = progress_bar(len(videos), "videos (cluster)", unit="video", leave=True)

    def on_result(path: Path, outcome) -> None:  # noqa: ANN001
        outer.update(1)
        if isinstance(outcome, BaseException):
            counts["failed"] += 1
            counts["media"] += isinstance(outcome, MediaError)
            if isinstance(outcome, (ModelMissingError, ModelChecksumError)):
                counts["model"] = outcome
            _emit(args, {"path": str(path), "ok": False, "error": str(outcome),
                         "reason": getattr(outcome, "reason", type(outcome).__name__)})
            return
        _emit_result(args, path, outcome)

    try:
        extract_on_cluster(args.cluster, videos, profile, device, cfg, on_result)
    finally:
        outer.close()
    if counts["model"] is not None:
        raise counts["model"]
    if counts["media"] == len(videos):
        return MediaError.exit_code
    return 1 if counts["failed"] else 0


def _emit(args: argparse.Namespace, record: dict) -> None:
    if args.json:
        # ASCII escapes keep the output valid JSON even for names that are not UTF-8.
        print(json.dumps(record), flush=True)
        return
    if not record["ok"]:
        print(f"FAILED  {shown(record['path'])}: {shown(record['error'])}", file=sys.stderr, flush=True)
        return
    lengths = ", ".join(f"{k}={v}" for k, v in sorted(record["lengths"].items())) or "none"
    tag = "cached" if record["cached"] else f"{record['seconds'].get('total', 0):.1f}s"
    print(f"ok      {shown(record['path'])}  [{tag}]  {lengths}", flush=True)
    for mod, why in sorted(record["missing"].items()):
        print(f"        missing {mod}: {why}", flush=True)
    for w in record["warnings"]:
        print(f"        warning: {w}", flush=True)
    for line in reading_lines(record.get("provenance"), notable_only=True):
        print(f"        {line[0].lower()}{line[1:]}", flush=True)
