"""``trailertagger hash``: a file's identity (the sampled hash the library uses), and its full
hash on demand."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import shown


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hash",
        help="print the content hash the library identifies a file by (--full: every byte)",
        description="Print the sampled content hash (tt1: size plus 16 blocks of 1 MiB for "
                    "files over 64 MiB, every byte below) that the library and the feature "
                    "cache use, and with --full the SHA-256 of the whole file (reads it all). "
                    "Exit code 1 when a file cannot be read.",
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--full", action="store_true", help="also hash every byte (slow on films)")
    p.add_argument("--json", action="store_true", help="one JSON record per file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.media.identity import hash_record

    failed = 0
    for path in args.paths:
        try:
            rec = hash_record(path, full=args.full)
        except OSError as err:
            failed += 1
            print(f"FAILED  {shown(str(path))}: {err.strerror or err}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps(rec), flush=True)
        else:
            extra = f"  {rec['full_hash']}" if args.full else ""
            print(f"{rec['content_hash']}{extra}  {shown(str(path))}", flush=True)
    return 1 if failed else 0
