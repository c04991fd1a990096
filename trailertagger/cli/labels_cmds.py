"""``labels import`` (genres the library already has) and ``review`` (what to label next).

Exit codes: 0 ok; 1 some items could not be used (an unreadable NFO, a genre name that maps
to none of the 21, a CSV row naming a file not in the library); 2 usage; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.errors import ConfigError
from .common import add_library_arg, count_arg, open_app, progress_bar, shown


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("labels", help="import the genres your library already has (NFO, folders, CSV)")
    ls = p.add_subparsers(dest="labels_command", metavar="ACTION")
    q = ls.add_parser(
        "import", help="read genres from NFO files, genre folders or a CSV as labels",
        description="Imported genres are 'metadata' labels: classification never changes them, "
                    "a manual correction (trailertagger set) overrides them, and 'train "
                    "--from-library' learns from them. Genre names are mapped with the alias "
                    "table in resources/genre_aliases.json plus [library] genre_aliases; names "
                    "that map to none of the 21 genres are reported with their file.")
    src = q.add_mutually_exclusive_group(required=True)
    src.add_argument("--nfo", action="store_true",
                     help="Kodi/Jellyfin <name>.nfo or movie.nfo beside each video")
    src.add_argument("--folders", action="store_true",
                     help="folders named after a genre or an alias (Films/Horror/x.mkv)")
    src.add_argument("--csv", type=Path, metavar="FILE",
                     help="a CSV of path,genres (genres separated by | or ;)")
    q.add_argument("folder", nargs="?", help="only videos under this folder")
    q.add_argument("--dry-run", action="store_true", help="say what would be labelled; write nothing")
    q.add_argument("--json", action="store_true", help="the report as JSON")
    add_library_arg(q)
    q.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "review", help="the videos whose label would help the genre head most",
        description="Ranks unlabelled videos by how much a label would teach the head: "
                    "probabilities near the decision threshold, sources that disagree, and "
                    "videos only the cold-start head has seen. Label them with "
                    "'trailertagger set PATH +Genre -Genre'.")
    p.add_argument("--limit", type=count_arg, default=20, metavar="N", help="at most N videos (20)")
    p.add_argument("--json", action="store_true")
    add_library_arg(p)
    p.set_defaults(func=cmd_review)


def print_import_report(report, json_out: bool = False, verb: str = "labelled") -> None:  # noqa: ANN001
    if json_out:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
        return
    for path, genres in report.labelled:
        print(f"{verb} {shown(path)}\t{', '.join(genres)}")
    for file, name in report.unknown:
        print(f"unknown genre {shown(name)!r} in {shown(file)} (add it to [library] "
              "genre_aliases to map it)", file=sys.stderr)
    for file, why in report.failed:
        print(f"skipped {shown(file)}: {why}", file=sys.stderr)
    for row in report.not_in_library:
        print(f"not in the library: {shown(row)}", file=sys.stderr)
    print(report.summary(), file=sys.stderr)


def cmd_import(args: argparse.Namespace) -> int:
    kind = "nfo" if args.nfo else "folders" if args.folders else "csv"
    if args.csv is not None and not args.csv.is_file():
        raise ConfigError(f"--csv {shown(args.csv)}: no such file")
    with open_app(args) as app, progress_bar(None, f"labels ({kind})", unit="video") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done

        report = app.import_labels(kind, csv_path=args.csv, folder=args.folder,
                                   dry_run=args.dry_run, progress=progress)
    print_import_report(report, args.json, "would label" if args.dry_run else "labelled")
    if report.labelled and not args.dry_run:
        from .library_cmds import retrain_hint

        retrain_hint(args)
    return 1 if report.unknown or report.failed or report.not_in_library else 0


def cmd_review(args: argparse.Namespace) -> int:
    with open_app(args) as app:
        items = app.review(limit=args.limit)
    if args.json:
        print(json.dumps([i.to_dict() for i in items], indent=2, ensure_ascii=False))
        return 0
    if not items:
        print("nothing to review: every video is labelled or none is classified yet",
              file=sys.stderr)
    for i in items:
        print(f"{i.score:.2f}\t{shown(i.path)}\t{i.reason}")
    return 0
