"""Exceptions with messages meant for users: each names the item and what to do.

One family: every error the core raises on purpose is a ``TrailerTaggerError`` whose
``exit_code`` is the CLI's (README): 1 some items failed, 2 usage/config, 3 media, 4 model
missing/corrupt, 130 interrupted.  ``HeadError`` and ``TrainingError`` are also
``ValueError``s so code that caught the bare ``ValueError`` they replace keeps working.
The CLI maps the family to exit codes in one place (``cli/main.py``: ``exit_code_for``);
the GUI shows ``user_message(err)``.
"""

from __future__ import annotations


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
