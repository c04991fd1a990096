"""``tags``, ``set``, ``export`` and ``purge``: reading and correcting the library's genres.

Every command takes ``--library FILE`` (default: the app's library).

Exit codes: 0 ok; 1 some items failed (a path not in the library, an NFO that could not be
written); 2 usage (unknown genre, bad change syntax, too few corrections to train on);
130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..core.errors import ConfigError
from .common import add_library_arg, count_arg, open_app, progress_bar, shown


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="only these videos, or the videos under these folders")
    p.add_argument("--genre", action="append", default=[], metavar="G",
                   help="only videos that have genre G (repeatable: all of them, or see --any)")
    p.add_argument("--any", action="store_true",
                   help="with several --genre: videos that have at least one of them")
    p.add_argument("--min-probability", type=float, metavar="P",
                   help="with --genre: a genre counts when the model gave it at least P "
                        "(0-1) or a correction/label turned it on, instead of the head's threshold")
    p.add_argument("--search", metavar="TEXT", help="only videos whose path contains every word")
    p.add_argument("--missing", action="store_true",
                   help="only videos whose file is missing (kept until 'purge')")
    p.add_argument("--corrected", action="store_true", help="only videos with manual corrections")
    p.add_argument("--stale", action="store_true",
                   help="only videos whose predictions come from an older model")
    p.add_argument("--state", choices=("labelled", "cold-start", "weak-evidence", "trained"),
                   help="only videos in this label state (how far to trust their genres)")
    p.add_argument("--queued", action="store_true", help="only videos with a queued or running job")
    p.add_argument("--unclassified", action="store_true",
                   help="only present videos that no head has classified yet")


def _formats() -> list:  # the export writer registry (one class per format)
    from ..core.app import writers

    return writers()


def _format_names() -> list[str]:
    return [w.name for w in _formats()]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tags", help="list videos and their genres",
        description="List library videos with their effective genres (manual corrections win "
                    "over predictions). +G/-G mark genres you added/removed by hand.")
    _add_filters(p)
    p.add_argument("--json", action="store_true",
                   help="JSON array with probabilities, provenance, label state and explanations")
    p.add_argument("--explain", action="store_true",
                   help="under each video, why each genre was given (the words, sounds or "
                        "classes that pushed it) and the cold-start head's suggestions")
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
    p.add_argument("--format", choices=_format_names(), required=True,
                   help="; ".join(f"{w.name}: {w.label}" for w in _formats()))
    _add_filters(p)
    p.add_argument("--out", type=Path, metavar="FILE", help="csv/json destination (default stdout)")
    p.add_argument("--nfo-mode", choices=("replace", "merge"), default="replace",
                   help="replace the NFO's genres (default) or merge: keep the NFO's other "
                        "genres, add ours, drop the ones you removed")
    p.add_argument("--nfo-symlinks", choices=("follow", "skip"), default="follow",
                   help="an NFO that is a symbolic link: edit the file it points to in place "
                        "(follow, the default) or leave it and report it (skip)")
    p.add_argument("--movie-nfo", action="store_true",
                   help="name new NFOs movie.nfo when the video is alone in its folder")
    p.add_argument("--dry-run", action="store_true", help="say which NFOs would change; write nothing")
    p.add_argument("--no-probabilities", action="store_true", help="csv/json without probabilities")
    p.add_argument("--skip-cold-start", action="store_true",
                   help="leave out videos tagged only by the label-free cold-start head "
                        "(state 'cold start' or 'weak evidence')")
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


def _selection(args: argparse.Namespace):  # noqa: ANN202 - a Selection
    """The filter options as the application layer's ``Selection``."""
    from ..core.app import Selection

    state = getattr(args, "state", None)
    sel = Selection(paths=tuple(args.paths), text=args.search or "",
                    missing=True if args.missing else None, corrected=args.corrected,
                    stale=args.stale, state=state.replace("-", " ") if state else None,
                    skip_cold_start=getattr(args, "skip_cold_start", False),
                    match="any" if getattr(args, "any", False) else "all",
                    min_probability=getattr(args, "min_probability", None),
                    queued=getattr(args, "queued", False),
                    unclassified=getattr(args, "unclassified", False))
    return sel.with_genres(args.genre)


def _report_unknown(unknown: list[str]) -> None:
    for item in unknown:
        print(f"{shown(item)}: not in the library (scan its folder first)", file=sys.stderr)


def format_record(rec) -> str:  # noqa: ANN001 - a VideoRecord
    """One line: path, effective genres, and what the user changed by hand."""
    genres = ", ".join(rec.genres) or "-"
    marks = " ".join([f"+{g}" for g in rec.manual_on] + [f"-{g}" for g in rec.manual_off])
    flags = [rec.status] if rec.status != "ready" else []
    if rec.cold_start_only:
        flags.append(rec.label_state)  # "cold start" / "weak evidence": not a trained opinion
    if rec.stale:
        flags.append("stale")
    return (f"{shown(rec.path)}\t{genres}" + (f"\t[{marks}]" if marks else "")
            + (f"\t({', '.join(flags)})" if flags else ""))


def explain_lines(rec) -> list[str]:  # noqa: ANN001 - a VideoRecord
    """``tags --explain``: per effective genre where it came from, then the suggestions."""
    out = [f"state: {rec.label_state or 'not classified'}"]
    for g in rec.genres:
        st = rec.states[g]
        if st.source == "manual":
            why = "added by hand"
        elif st.source == "metadata":
            why = "from the library's metadata (NFO, folder or CSV)"
        else:
            why = rec.explanations.get(g, "")
        p = f" {st.probability:.0%}" if st.probability is not None else ""
        out.append(f"{g}{p}: {why}" if why else f"{g}{p}")
    extra = [g for g in rec.suggestions if g not in rec.genres]
    if extra:
        out.append("suggestions (not confident enough): " + "; ".join(
            f"{g} — {rec.explanations[g]}" if g in rec.explanations else g for g in extra))
    return [shown(line) for line in out]


def retrain_hint(args: argparse.Namespace) -> None:
    """After new labels: say when ``[classify] retrain_every`` of them have piled up."""
    with open_app(args) as app:
        due, new, _every = app.retrain_due()
    if due:
        print(f"{new} video(s) labelled since the last training: run 'trailertagger train "
              "--from-library' (or --if-due from a scheduler) to learn from them", file=sys.stderr)


# ----------------------------------------------------------------------------- handlers


def cmd_tags(args: argparse.Namespace) -> int:
    from ..core.app import ExportOptions

    with open_app(args) as app:
        sel = _selection(args)
        unknown = app.unknown(sel)
        # `trailertagger tags | head`: a BrokenPipeError ends the command quietly in main()
        if args.json:
            app.export(sel, "json", ExportOptions(stream=sys.stdout))
        else:
            n = 0
            for rec in app.records(sel, limit=args.limit):
                print(format_record(rec))
                if args.explain:
                    for line in explain_lines(rec):
                        print("\t" + line)
                n += 1
            if n == 0 and not unknown:
                print("no videos match", file=sys.stderr)
        sys.stdout.flush()
    _report_unknown(unknown)
    return 1 if unknown else 0


def split_set_items(items: list[str]) -> tuple[list[str], list[str]]:
    """``set`` arguments → (paths, changes): a change starts with +, - or =."""
    operands_only = bool(items) and items[0] == "--"  # after "--" nothing is an option
    if operands_only:
        items = items[1:]
    late = [] if operands_only else [i for i in items if i.startswith("--")
                                     and not os.path.lexists(i)]
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
    from ..core.app import LibrarySession, Selection

    paths, tokens = split_set_items(args.items)
    if not paths or not tokens:
        raise ConfigError("usage: trailertagger set PATH [PATH ...] +Genre -Genre =Genre")
    changes = LibrarySession.parse_changes(tokens)
    with open_app(args) as app:
        sel = Selection(paths=tuple(paths))
        ids, res = app.resolve(sel)
        with progress_bar(len(ids), "correcting", unit="video") as bar:
            edit = app.correct(ids, changes, progress=lambda _stage, n, _total: bar.update(n - bar.n))
        for rec in app.records(sel):
            print(format_record(rec))
    _report_unknown(res.unknown)
    if ids:
        print(f"{edit.changed} change(s) on {len(ids)} video(s)", file=sys.stderr)
        retrain_hint(args)
    return 1 if res.unknown else 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..core.app import ExportOptions, get_writer

    writer = get_writer(args.format)
    opts = ExportOptions(dest=args.out, stream=sys.stdout, probabilities=not args.no_probabilities,
                         nfo_mode=args.nfo_mode, movie_nfo=args.movie_nfo, dry_run=args.dry_run,
                         nfo_symlinks=args.nfo_symlinks)
    writer.check(opts)
    with open_app(args) as app:
        sel = _selection(args)
        unknown = app.unknown(sel)
        if not writer.sidecar:
            try:
                report = app.export(sel, args.format, opts)
            except OSError as err:
                if args.out is None:  # stdout went away (e.g. a closed pipe)
                    raise
                print(f"error: cannot write {shown(args.out)}: {err.strerror or err}",
                      file=sys.stderr)
                return 1
            if args.out:
                print(report.summary(), file=sys.stderr)
            _report_unknown(unknown)
            return 1 if unknown else 0
        with progress_bar(app.count(sel), f"{args.format.upper()} files", unit="video") as bar:
            opts.progress = lambda _stage, _done, _total: bar.update(1)
            report = app.export(sel, args.format, opts)
    verb = "would write" if args.dry_run else "wrote"
    for path in report.written:
        print(f"{verb} {shown(path)}")
    for path, why in report.skipped:
        print(f"skipped {shown(path)}: {why}", file=sys.stderr)
    for path, why in report.failed:
        print(f"FAILED {shown(path)}: {why}", file=sys.stderr)
    _report_unknown(unknown)
    print(report.summary(dry_run=args.dry_run), file=sys.stderr)
    return 1 if report.failed or unknown else 0


def cmd_purge(args: argparse.Namespace) -> int:
    from ..core.app import Selection

    with open_app(args) as app:
        sel = Selection(paths=tuple(args.paths))
        unknown = app.unknown(sel)
        gone = app.missing(sel)
        for rec in gone:
            print(f"{'purging' if args.yes else 'missing'} {shown(rec.path)}")
        if not gone:
            print("no missing videos", file=sys.stderr)
        elif args.yes:
            n = app.purge([r.id for r in gone])
            print(f"purged {n} video(s)", file=sys.stderr)
        else:
            print(f"{len(gone)} missing video(s); run again with --yes to erase them",
                  file=sys.stderr)
    _report_unknown(unknown)
    return 1 if unknown else 0
