"""The frozen app's entry point (PyInstaller): the ``trailertagger`` command.

``freeze_support`` first: the worker pool starts its processes with ``spawn``, and in a
frozen app a spawned child re-runs this executable, which must then become the worker
instead of parsing a command line.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from trailertagger.cli.main import main

    sys.exit(main())
