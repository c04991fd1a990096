"""Export formats: one writer class per format, registered by name (whisper's ``get_writer``).

Why a registry: the CLI's ``export --format`` choices and the app's File > Export menu are
both built from ``writers()``, so a new format is one class in one file::

    @register_writer
    class M3uWriter(Writer):
        name, label, suffix = "m3u", "M3U playlist", ".m3u"

        def write(self, records, options):
            ...

Two kinds exist: *table* writers produce one file (or a stream) for the whole selection
(CSV, JSON); *sidecar* writers put one file beside each video (NFO) and report per file.
Every writer returns an ``ExportReport``; table writers fill ``count`` and ``dest``.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, TextIO

from ..errors import ConfigError
from ..fsutil import atomic_write_bytes
from ..progress import Progress
from .export import (
    NFO_REPLACE,
    SYMLINK_FOLLOW,
    ExportReport,
    export_nfo,
    write_csv,
    write_json,
)
from .queries import VideoRecord


@dataclass
class ExportOptions:
    """What the user asked for; each writer reads the fields that apply to it."""

    dest: Path | None = None  # table writers: the file (None: ``stream``)
    stream: TextIO | None = None  # table writers without ``dest`` (the CLI's stdout)
    probabilities: bool = True
    nfo_mode: str = NFO_REPLACE
    movie_nfo: bool = False
    dry_run: bool = False
    progress: Progress | None = None  # (format, videos done, None)
    nfo_symlinks: str = SYMLINK_FOLLOW  # a symlinked NFO: edit its target ("follow") or "skip"


class Writer:
    """Base class: ``name`` is the registry key, ``label`` what a menu shows."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    suffix: ClassVar[str] = ""  # table writers: the file name suffix ("" for sidecar writers)
    sidecar: ClassVar[bool] = False  # True: one file beside each video, no ``dest``

    def write(self, records: Iterable[VideoRecord], options: ExportOptions) -> ExportReport:
        raise NotImplementedError

    def check(self, options: ExportOptions) -> None:
        """Refuse options that do not apply before anything is read or written."""
        if self.sidecar:
            if options.dest is not None:
                raise ConfigError(f"{self.name} files go beside each video; --out applies to "
                                  "single-file formats")
            return
        if options.dry_run or options.movie_nfo:
            raise ConfigError("--dry-run and --movie-nfo apply to --format nfo only")
        dest = options.dest
        if dest is not None and dest.is_dir():
            raise ConfigError(f"--out {dest} is a folder; name the file to write")
        if dest is not None and not dest.parent.is_dir():
            raise ConfigError(f"--out {dest}: the folder {dest.parent} does not exist")


class TableWriter(Writer):
    """A writer whose output is one text document: written atomically to ``dest``, or
    streamed to ``stream``."""

    def rows(self, records: Iterable[VideoRecord], out: TextIO, probabilities: bool) -> int:
        raise NotImplementedError

    def write(self, records: Iterable[VideoRecord], options: ExportOptions) -> ExportReport:
        if options.progress is not None:
            records = _observed(records, options.progress, self.name)
        report = ExportReport(dest=str(options.dest) if options.dest else None)
        if options.dest is None:
            if options.stream is None:
                raise ConfigError(f"{self.name} export needs a destination file")
            report.count = self.rows(records, options.stream, options.probabilities)
            return report
        buf = io.StringIO(newline="")
        report.count = self.rows(records, buf, options.probabilities)
        atomic_write_bytes(Path(options.dest), buf.getvalue().encode("utf-8"))
        return report


def _observed(records: Iterable[VideoRecord], progress: Progress, stage: str):  # noqa: ANN202
    for i, rec in enumerate(records):
        progress(stage, i, None)
        yield rec


_WRITERS: dict[str, type[Writer]] = {}


def register_writer(cls: type[Writer]) -> type[Writer]:
    """Class decorator: make ``cls`` an export format (replaces one of the same name)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _WRITERS[cls.name] = cls
    return cls


def unregister_writer(name: str) -> None:
    _WRITERS.pop(name, None)


def writers() -> list[type[Writer]]:
    """Every export format, in registration order (the built-ins first)."""
    return list(_WRITERS.values())


def writer_names() -> list[str]:
    return list(_WRITERS)


def get_writer(name: str) -> Writer:
    try:
        return _WRITERS[name]()
    except KeyError:
        raise ConfigError(f"unknown export format {name!r}; known: {', '.join(_WRITERS)}") from None


@register_writer
class NfoWriter(Writer):
    name, label, sidecar = "nfo", "Kodi/Jellyfin NFO files", True

    def write(self, records: Iterable[VideoRecord], options: ExportOptions) -> ExportReport:
        return export_nfo(records, mode=options.nfo_mode, prefer_movie_nfo=options.movie_nfo,
                          dry_run=options.dry_run, progress=options.progress,
                          symlinks=options.nfo_symlinks)


@register_writer
class CsvWriter(TableWriter):
    name, label, suffix = "csv", "CSV table", ".csv"

    def rows(self, records: Iterable[VideoRecord], out: TextIO, probabilities: bool) -> int:
        return write_csv(records, out, probabilities)


@register_writer
class JsonWriter(TableWriter):
    name, label, suffix = "json", "JSON", ".json"

    def rows(self, records: Iterable[VideoRecord], out: TextIO, probabilities: bool) -> int:
        return write_json(records, out, probabilities)
