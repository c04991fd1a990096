"""Exceptions with messages meant for users: each names the item and what to do."""

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
