"""``gui``: the desktop app.  Qt is imported only when the command runs, so every other
command works on machines without PySide6 (install it with ``pip install trailertagger[gui]``).

Exit codes: 0 closed normally, 2 PySide6 missing or bad arguments, 130 Ctrl-C (workers
stopped, jobs in hand back in the queue).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.errors import ConfigError
from .common import add_library_arg, workers_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gui", help="open the desktop app (library table, filters, corrections, folders)",
        description="Open the desktop app on the library: watched folders are scanned and "
                    "watched, videos are processed in background worker processes, genres can "
                    "be corrected by hand (Ctrl+Z undoes). Settings come from the TOML settings "
                    "file; closing the window or Ctrl-C stops workers and puts their jobs back "
                    "in the queue.")
    p.add_argument("--workers", type=workers_arg, default=None, metavar="N",
                   help="worker processes: a number, or auto = one per core (default: [jobs] "
                        "workers; 0 = in the app's process)")
    p.add_argument("--no-watch", action="store_true",
                   help="do not watch folders for changes (use File > Rescan)")
    # the built app's end-to-end check (packaging/smoke_test.sh); not for users
    p.add_argument("--smoke-test", type=Path, default=None, metavar="FOLDER", help=argparse.SUPPRESS)
    p.add_argument("--smoke-timeout", type=float, default=600.0, help=argparse.SUPPRESS)
    add_library_arg(p)
    p.set_defaults(func=run_gui, reads_settings_itself=True)


def run_gui(args: argparse.Namespace) -> int:
    try:
        from ..gui.app import run_app
    except ImportError as err:
        raise ConfigError(f"the desktop app needs PySide6 ({err}); install it with "
                          "pip install 'trailertagger[gui]'") from None
    code = run_app(args.library, args.workers, watch=not args.no_watch,
                   smoke_test=args.smoke_test, smoke_timeout=args.smoke_timeout)
    if code == 130:
        print("interrupted: workers stopped, their jobs are back in the queue", file=sys.stderr)
    return code
