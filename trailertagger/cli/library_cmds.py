"""``tags``, ``set``, ``export`` and ``purge``: reading and correcting the library's genres.

Also the handler behind ``train --from-library`` (the ``train`` parser lives with the other
training commands).  Every command takes ``--library FILE`` (default: the app's library).

Exit codes: 0 ok; 1 some items failed (a path not in the library, an NFO that could not be
written); 2 usage (unknown genre, bad change syntax, too few corrections to train on);
130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from .common import add_library_arg, count_arg, open_library_arg, progress_bar, shown

FORMATS = ("nfo", "csv", "json")


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="only these videos, or the videos under these folders")
    p.add_argument("--genre", action="append", default=[], metavar="G",
                   help="only videos that have genre G (repeatable: all of them)")
    p.add_argument("--search", metavar="TEXT", help="only videos whose path contains every word")
    p.add_argument("--missing", action="store_true",
                   help="only videos whose file is missing (kept until 'purge')")
    p.add_argument("--corrected", action="store_true", help="only videos with manual corrections")
    p.add_argument("--stale", action="store_true",
                   help="only videos whose predictions come from an older model")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tags", help="list videos and their genres",
        description="List library videos with their effective genres (manual corrections win "
                    "over predictions). +G/-G mark genres you added/removed by hand.")
    _add_filters(p)
    p.add_argument("--json", action="store_true", help="JSON array with probabilities and provenance")
    p.add_argument("--limit", type=count_arg, metavar="N", help="at most N videos")
    add_library_arg(p)
    p.set_defaults(func=cmd_tags)

    p = sub.add_parser(
        "set", help="correct genres by hand: set PATH +Horror -Comedy",
        description="Add (+G), remove (-G) or hand back to the model (=G) genres of one or more "
                    "videos; PATH may be a folder (every video under it). Manual corrections "
                    "always win: re-runs, model changes, renames and moves keep them. Options go "
                    "before PATH.",
        usage="%(prog)s [--library FILE] PATH [PATH ...] {+G,-G,=G} [...]")
    add_library_arg(p)
    p.add_argument("items", nargs=argparse.REMAINDER, metavar="PATH|+G|-G|=G")
    p.set_defaults(func=cmd_set)

    p = sub.add_parser(
        "export", help="write genres as Kodi/Jellyfin NFO files, CSV or JSON",
        description="nfo: a <name>.nfo (or an existing movie.nfo) beside each video, editing only "
                    "its <genre> tags; other fields of an existing NFO are kept. csv/json: one "
                    "row per video to --out or stdout. Files are written atomically.")
    p.add_argument("--format", choices=FORMATS, required=True)
    _add_filters(p)
    p.add_argument("--out", type=Path, metavar="FILE", help="csv/json destination (default stdout)")
    p.add_argument("--nfo-mode", choices=("replace", "merge"), default="replace",
                   help="replace the NFO's genres (default) or merge: keep the NFO's other "
                        "genres, add ours, drop the ones you removed")
    p.add_argument("--movie-nfo", action="store_true",
                   help="name new NFOs movie.nfo when the video is alone in its folder")
    p.add_argument("--dry-run", action="store_true", help="say which NFOs would change; write nothing")
    p.add_argument("--no-probabilities", action="store_true", help="csv/json without probabilities")
    add_library_arg(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "purge", help="erase missing videos from the library",
        description="Videos whose file is gone are kept (with their genres and corrections) in "
                    "case the file comes back; purge erases them for good.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="only these missing videos / folders")
    p.add_argument("--yes", action="store_true", help="really erase (otherwise only list them)")
    add_library_arg(p)
    p.set_defaults(func=cmd_purge)


# ----------------------------------------------------------------------------- helpers


def _genres(names: list[str]) -> list[str]:
    from ..core.genres import normalize_genre

    try:
        return [normalize_genre(g) for g in names]
    except KeyError as err:
        raise ConfigError(str(err.args[0])) from None


def resolve_paths(session, raw: list[str]):  # noqa: ANN001, ANN201
    """The videos named on the command line: a SQL condition, and the items not in the library.

    An item is a video's path, or a folder (every video under it, however many: the condition
    is a path prefix, not a list of ids).
    """
    from sqlalchemy import false, or_

    from ..core.library.identity import normalize_path
    from ..core.library.queries import under_folder, video_ids
    from ..core.library.schema import Video

    exact: list[str] = []
    folders: list[str] = []
    unknown: list[str] = []
    for item in raw:
        path = normalize_path(item)
        if video_ids(session, paths=[path]):
            exact.append(path)
        elif session.execute(_ids_query(under_folder(path)).limit(1)).first() is not None:
            folders.append(path)
        else:
            unknown.append(item)
    clauses = ([Video.path.in_(exact)] if exact else []) + [under_folder(f) for f in folders]
    return (or_(*clauses) if clauses else false()), unknown


def _ids_query(where):  # noqa: ANN001, ANN201
    """``SELECT videos.id WHERE <where>``."""
    from ..core.library.queries import video_query
    from ..core.library.schema import Video

    return video_query(where=where).with_only_columns(Video.id)


def _query(session, args: argparse.Namespace) -> tuple[Any, list[str]]:  # noqa: ANN001
    """The SELECT for the filter options, and the PATH arguments not in the library."""
    from ..core.library.queries import stale_clause, video_query

    filters: dict[str, Any] = {"genres": _genres(args.genre), "text": args.search}
    if args.missing:
        filters["missing"] = True
    if args.corrected:
        filters["corrected"] = True
    unknown: list[str] = []
    if args.paths:
        filters["where"], unknown = resolve_paths(session, args.paths)
    q = video_query(**filters)
    if args.stale:
        q = q.where(stale_clause())
    return q, unknown


def _report_unknown(unknown: list[str]) -> None:
    for item in unknown:
        print(f"{shown(item)}: not in the library (scan its folder first)", file=sys.stderr)


def format_record(rec) -> str:  # noqa: ANN001 - a VideoRecord
    """One line: path, effective genres, and what the user changed by hand."""
    genres = ", ".join(rec.genres) or "-"
    marks = " ".join([f"+{g}" for g in rec.manual_on] + [f"-{g}" for g in rec.manual_off])
    flags = [rec.status] if rec.status != "ready" else []
    if rec.stale:
        flags.append("stale")
    return (f"{shown(rec.path)}\t{genres}" + (f"\t[{marks}]" if marks else "")
            + (f"\t({', '.join(flags)})" if flags else ""))


# ----------------------------------------------------------------------------- handlers


def cmd_tags(args: argparse.Namespace) -> int:
    from ..core.library.export import write_json
    from ..core.library.queries import iter_videos

    with open_library_arg(args) as lib, lib.read() as s:
        q, unknown = _query(s, args)
        records = iter_videos(s, q, limit=args.limit)
        # `trailertagger tags | head`: a BrokenPipeError ends the command quietly in main()
        if args.json:
            write_json(records, sys.stdout)
        else:
            n = 0
            for rec in records:
                print(format_record(rec))
                n += 1
            if n == 0 and not unknown:
                print("no videos match", file=sys.stderr)
        sys.stdout.flush()
    _report_unknown(unknown)
    return 1 if unknown else 0


def split_set_items(items: list[str]) -> tuple[list[str], list[str]]:
    """``set`` arguments → (paths, changes): a change starts with +, - or =."""
    if items and items[0] == "--":
        items = items[1:]
    late = [i for i in items if i.startswith("--")]
    if late:
        raise ConfigError(f"options go before PATH: trailertagger set {' '.join(late)} PATH ... "
                          "+Genre -Genre")
    def is_change(item: str) -> bool:
        # a file really named "-trailer.mp4" (or "+1.mkv") is a path, not a change
        return item[:1] in ("+", "-", "=") and not os.path.lexists(item)

    paths = [i for i in items if not is_change(i)]
    changes = [i for i in items if is_change(i)]
    return paths, changes


def cmd_set(args: argparse.Namespace) -> int:
    from ..core.library.corrections import CorrectionError, apply_changes_in, parse_changes
    from ..core.library.queries import iter_videos, video_query
    from ..core.library.schema import Video

    paths, tokens = split_set_items(args.items)
    if not paths or not tokens:
        raise ConfigError("usage: trailertagger set PATH [PATH ...] +Genre -Genre =Genre")
    try:
        changes = parse_changes(tokens)
    except CorrectionError as err:
        raise ConfigError(str(err)) from None
    with open_library_arg(args) as lib:
        with lib.session() as s:
            where, unknown = resolve_paths(s, paths)
            ids = list(s.execute(_ids_query(where).order_by(Video.id)).scalars())
            with progress_bar(len(ids), "correcting", unit="video") as bar:
                edit = apply_changes_in(s, ids, changes, progress=lambda _s, n, _t: bar.update(n - bar.n))
        with lib.read() as s:
            for rec in iter_videos(s, video_query(where=where)):
                print(format_record(rec))
    _report_unknown(unknown)
    if ids:
        print(f"{edit.changed} change(s) on {len(ids)} video(s)", file=sys.stderr)
    return 1 if unknown else 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..core.library.export import export_nfo, export_table
    from ..core.library.queries import iter_videos

    if args.format != "nfo" and (args.dry_run or args.movie_nfo):
        raise ConfigError("--dry-run and --movie-nfo apply to --format nfo only")
    if args.format == "nfo" and args.out:
        raise ConfigError("--out applies to csv/json; NFO files go beside each video")
    with open_library_arg(args) as lib, lib.read() as s:
        q, unknown = _query(s, args)
        if args.format in ("csv", "json"):
            if args.out is not None and args.out.is_dir():
                raise ConfigError(f"--out {shown(args.out)} is a folder; name the file to write")
            if args.out is not None and not args.out.parent.is_dir():
                raise ConfigError(f"--out {shown(args.out)}: the folder "
                                  f"{shown(args.out.parent)} does not exist")
            try:
                n = export_table(iter_videos(s, q), args.format, args.out, sys.stdout,
                                 probabilities=not args.no_probabilities)
            except OSError as err:
                if args.out is None:  # stdout went away (e.g. a closed pipe)
                    raise
                print(f"error: cannot write {shown(args.out)}: {err.strerror or err}",
                      file=sys.stderr)
                return 1
            if args.out:
                print(f"wrote {n} video(s) to {args.out}", file=sys.stderr)
            _report_unknown(unknown)
            return 1 if unknown else 0
        from sqlalchemy import func, select

        total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
        with progress_bar(total, "NFO files", unit="video") as bar:
            report = export_nfo(iter_videos(s, q), mode=args.nfo_mode,
                                prefer_movie_nfo=args.movie_nfo, dry_run=args.dry_run,
                                progress=lambda _s, _n, _t: bar.update(1))
    verb = "would write" if args.dry_run else "wrote"
    for path in report.written:
        print(f"{verb} {shown(path)}")
    for path, why in report.skipped:
        print(f"skipped {shown(path)}: {why}", file=sys.stderr)
    for path, why in report.failed:
        print(f"FAILED {shown(path)}: {why}", file=sys.stderr)
    _report_unknown(unknown)
    print(f"{len(report.written)} NFO(s) {'to write' if args.dry_run else 'written'}, "
          f"{len(report.unchanged)} already "
          f"up to date, {len(report.skipped)} skipped, {len(report.failed)} failed", file=sys.stderr)
    return 1 if report.failed or unknown else 0


def cmd_purge(args: argparse.Namespace) -> int:
    from ..core.library.identity import purge_missing
    from ..core.library.queries import find_videos

    with open_library_arg(args) as lib:
        with lib.read() as s:
            unknown: list[str] = []
            where = None
            if args.paths:
                where, unknown = resolve_paths(s, args.paths)
            gone = find_videos(s, missing=True, where=where)
        for rec in gone:
            print(f"{'purging' if args.yes else 'missing'} {shown(rec.path)}")
        if not gone:
            print("no missing videos", file=sys.stderr)
        elif args.yes:
            n = purge_missing(lib, [r.id for r in gone])
            print(f"purged {n} video(s)", file=sys.stderr)
        else:
            print(f"{len(gone)} missing video(s); run again with --yes to erase them",
                  file=sys.stderr)
    _report_unknown(unknown)
    return 1 if unknown else 0


def train_from_library(args: argparse.Namespace) -> int:
    """``train --from-library``: called by the ``train`` command (``classify_cmds``)."""
    try:
        import torch  # noqa: F401 - the "train" extra, not needed to tag videos
    except ImportError as err:
        raise ConfigError(f"training needs PyTorch ({err}); install trailertagger[train]") from None
    from ..core.library.personal_head import train_personal_head
    from ..core.paths import app_dirs
    from .classify_cmds import train_config

    dirs = app_dirs()

    def load_current() -> Any:
        from ..core.classify import runtime
        from .common import model_store

        try:
            return runtime.active_head(dirs, model_store())
        except Exception as err:  # noqa: BLE001 - reported as "constant baseline" by the core
            print(f"warning: the current head cannot be loaded: {err}", file=sys.stderr)
            return None

    cfg = train_config(args)
    with open_library_arg(args) as lib, progress_bar(None, "personal head", unit="fit") as bar:
        def progress(label: str, done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(label)

        try:
            report = train_personal_head(
                lib, dirs, config=cfg, load_current=load_current, head_out=args.head_out,
                export=not args.no_export, activate=True, progress=progress)
        except ValueError as err:
            raise ConfigError(str(err)) from err
    print(report.summary())
    if getattr(args, "out", None):
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "personal_head_report.json").write_text(
            json.dumps(report.to_dict(), indent=2, default=str), encoding="utf-8")
    if report.activated:
        print("re-classify the library with the new head: trailertagger rerun --all")
    return 0
