"""``trailertagger`` command line: one sub-command module per area of the core.

Each module in ``COMMAND_MODULES`` defines ``register(subparsers)`` which adds its parsers and
sets ``func=handler``; a handler takes the parsed args and returns an exit code.
Exit codes: 0 ok, 1 some items failed, 2 usage/config error, 3 media error, 4 model missing,
130 interrupted (Ctrl-C).  Errors are reported here, in one place (``report_error``): one
``error: ...`` line on stderr and the exit code of the core's error family
(``core.errors``); a usage error found by argparse is a ``UsageError`` like any other.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from typing import NoReturn

from .. import __version__
from ..core.config import load_config
from ..core.errors import (
    TrailerTaggerError,
    UsageError,
    as_user_error,
    exit_code_for,
    user_message,
)
from ..core.logsetup import setup_logging

COMMAND_MODULES = (
    "trailertagger.cli.extract",
    "trailertagger.cli.models",
    "trailertagger.cli.classify_cmds",
    "trailertagger.cli.seed_cmds",  # after classify_cmds: adds "heads import-seed"
    "trailertagger.cli.jobs_cmds",
    "trailertagger.cli.library_cmds",
    "trailertagger.cli.labels_cmds",
    "trailertagger.cli.gui_cmd",
    "trailertagger.cli.identity_cmds",
)

log = logging.getLogger("trailertagger.cli")


class CliParser(argparse.ArgumentParser):
    """argparse with its usage errors raised as ``UsageError`` (sub-parsers inherit the
    class), so they are printed like every other error instead of argparse's own way."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def report_error(err: BaseException) -> int:
    """Print one ``error: ...`` line for ``err`` on stderr; its exit code."""
    print(f"error: {user_message(err)}", file=sys.stderr)
    return exit_code_for(err)


def build_parser() -> argparse.ArgumentParser:
    parser = CliParser(
        prog="trailertagger",
        description="Tag movie trailers (and any video) with 21 movie genres.",
    )
    parser.add_argument("--version", action="version", version=f"trailertagger {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more output (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as err:
        return report_error(err)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return report_error(UsageError("no command given"))
    log_path = setup_logging(args.verbose)
    log.debug("command %s (log: %s)", sys.argv, log_path)
    try:
        # every command reads the settings first: the file is created on first use, and a
        # broken one is reported (naming the file, exit 2) whatever the command; the desktop
        # app reads it itself and shows the problem in a dialog, running on the defaults
        if not getattr(args, "reads_settings_itself", False):
            load_config()
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except TrailerTaggerError as err:
        log.debug("failed", exc_info=True)
        return report_error(err)
    except BrokenPipeError:  # `trailertagger ... | head`: the reader had enough
        _silence_stdout()
        return 0
    except Exception as err:  # noqa: BLE001 - a bug: one clear line, the traceback in the log
        known = as_user_error(err, _data_folder())
        if known is not None:  # e.g. a disk that filled up under a write we did not wrap
            log.debug("failed", exc_info=True)
            print(f"error: {known}", file=sys.stderr)
            return known.exit_code
        # DEBUG: the traceback goes to the log file only (the console shows WARNING and up)
        log.debug("internal error in %s", args.command, exc_info=True)
        where = f"; details in {log_path}" if log_path else ""
        print(f"error: {user_message(err)}{where}", file=sys.stderr)
        if args.verbose > 1:
            raise
        return 1


def _data_folder() -> object:
    from ..core.paths import app_dirs

    return app_dirs().library_db.parent


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at devnull so the interpreter's final flush is quiet."""
    with contextlib.suppress(OSError, ValueError):  # ValueError: not a real file (a test)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
