"""Exceptions with messages meant for users: each names the item and what to do.

One family: every error the core raises on purpose is a ``TrailerTaggerError`` whose
``exit_code`` is the CLI's (README): 1 some items failed, 2 usage/config, 3 media, 4 model
missing/corrupt, 5 disk full, 130 interrupted.  ``HeadError`` and ``TrainingError`` are also
``ValueError``s so code that caught the bare ``ValueError`` they replace keeps working.
The CLI maps the family to exit codes in one place (``cli/main.py``: ``exit_code_for``);
the GUI shows ``user_message(err)``.
"""

from __future__ import annotations

import errno

from .units import human_bytes


class TrailerTaggerError(Exception):
    """Base class; the CLI prints ``str(err)`` and exits with ``exit_code``."""

    exit_code = 1


class MediaError(TrailerTaggerError):
    """A file could not be opened or decoded; ``reason`` is a short machine-readable key."""

    exit_code = 3

    def __init__(self, path: object, reason: str, detail: str = "") -> None:
        self.path = path
        self.reason = reason
        self.detail = detail
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))

    def __reduce__(self):  # noqa: ANN204 - pickled across processes (cluster workers)
        return type(self), (self.path, self.reason, self.detail)


class ModelMissingError(TrailerTaggerError):
    """A model's weights are not available locally and could not be fetched."""

    exit_code = 4


class ModelChecksumError(TrailerTaggerError):
    """A model file exists but its checksum does not match the manifest."""

    exit_code = 4


class ConfigError(TrailerTaggerError):
    exit_code = 2


class ModelCorruptError(TrailerTaggerError):
    """A model file exists but cannot be read as the model it should be."""

    exit_code = 4


class UsageError(TrailerTaggerError):
    """A command was called wrongly (bad option, option combination, argument)."""

    exit_code = 2


class HeadError(TrailerTaggerError, ValueError):
    """A genre head (folder, card, graph) cannot be used: wrong genres, unknown kind, no
    ONNX graph beside the card, a card from a newer version."""

    exit_code = 4


class TrainingError(TrailerTaggerError, ValueError):
    """Training cannot run on the given data or settings (no samples, a modality with two
    dimensions, a checkpoint folder of another run)."""

    exit_code = 2


class PartialFailure(TrailerTaggerError):
    """Some items of a batch failed (each already reported); the rest succeeded."""

    exit_code = 1


class Cancelled(TrailerTaggerError):
    """The work was cancelled (a cancel token, Ctrl-C) before it finished."""

    exit_code = 130

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


def exit_code_for(err: BaseException) -> int:
    """The process exit code for an error that ended a command."""
    if isinstance(err, TrailerTaggerError):
        return int(err.exit_code)
    if isinstance(err, KeyboardInterrupt):
        return Cancelled.exit_code
    return 1


def user_message(err: BaseException) -> str:
    """One line for a person: the family's own message, or what kind of bug this is."""
    if isinstance(err, TrailerTaggerError):
        return str(err)
    if isinstance(err, KeyboardInterrupt):
        return "interrupted"
    return f"internal error: {type(err).__name__}: {err}"


# The free space trailertagger asks for when a disk fills up: a library write, a thumbnail
# and one video's feature file (a few MB) fit many times over.
MIN_FREE_BYTES = 64 * 1024 * 1024
_FULL_ERRNOS = frozenset(e for e in (getattr(errno, "ENOSPC", None), getattr(errno, "EDQUOT", None))
                         if e is not None)


class DiskFullError(TrailerTaggerError):
    """A write failed because the disk (or the user's quota) is full.

    Not one item's failure: every job would fail the same way, so work stops at the first one,
    the jobs in hand go back to the queue untouched, and the message names the place and the
    space to free.  Exit code 5 (README, "Exit codes").
    """

    exit_code = 5

    def __init__(self, path: object, detail: str = "") -> None:
        self.path = path
        self.free = free_bytes(path)
        self.detail = detail
        free = "unknown" if self.free is None else human_bytes(self.free, 1024)
        super().__init__(
            f"disk full: cannot write {path} ({free} free); free at least "
            f"{human_bytes(MIN_FREE_BYTES, 1024)} on that disk, then run the command again (the queue "
            "resumes where it stopped)" + (f" [{detail}]" if detail else ""))

    def __reduce__(self):  # noqa: ANN204 - pickled across processes (cluster workers)
        return type(self), (self.path, self.detail)


def free_bytes(path: object) -> int | None:
    """Free bytes (for this user) on the disk holding ``path`` or its nearest existing parent."""
    import os
    import shutil

    p = os.path.abspath(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else None
    while p:
        try:
            return shutil.disk_usage(p).free
        except OSError:
            parent = os.path.dirname(p)
            if parent == p:
                return None
            p = parent
    return None


def is_disk_full(err: BaseException | None, where: object = None) -> bool:
    """ENOSPC/EDQUOT, or SQLite's SQLITE_FULL, however deep it is wrapped (SQLAlchemy's
    ``.orig``, ``__cause__``, ``__context__``).  With ``where`` (the file written), SQLite's
    generic "disk I/O error" counts too when that disk has (almost) no space left: that is
    how a failure to create the WAL index of a database on a full disk comes out."""
    import sqlite3

    if where is not None and _is_io_error(err):
        free = free_bytes(where)
        if free is not None and free < 1024 * 1024:
            return True
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, DiskFullError):
            return True
        if isinstance(err, OSError) and err.errno in _FULL_ERRNOS:
            return True
        if isinstance(err, sqlite3.Error) and (
                getattr(err, "sqlite_errorname", "") == "SQLITE_FULL"
                or "database or disk is full" in str(err)):
            return True
        orig = getattr(err, "orig", None)
        err = orig if isinstance(orig, BaseException) else (err.__cause__ or err.__context__)
    return False


def _is_io_error(err: BaseException | None) -> bool:
    import sqlite3

    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, sqlite3.Error) and (
                getattr(err, "sqlite_errorname", "").startswith("SQLITE_IOERR")
                or "disk I/O error" in str(err)):
            return True
        orig = getattr(err, "orig", None)
        err = orig if isinstance(orig, BaseException) else (err.__cause__ or err.__context__)
    return False


def as_user_error(err: BaseException, where: object = None) -> TrailerTaggerError | None:
    """The user-facing error an unexpected exception stands for, if any (so far: a full
    disk, however SQLAlchemy or a library wrapped it; ``where`` names the place when the
    exception does not)."""
    if is_disk_full(err, where):
        return DiskFullError(getattr(err, "filename", None) or where or "the library's folder")
    return None
