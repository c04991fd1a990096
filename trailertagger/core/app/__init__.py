"""The application layer: what a person can do with a library, for every front end.

``LibrarySession`` (one per open library) owns selection, scanning, re-runs, corrections and
undo, export, status, head activation and training from the library; ``processing`` works the
queue off (until idle, or in the background while folders are watched).  The CLI and the
desktop app call these and only parse/print or show/signal; they never import the ORM or the
queue internals (``tests/core/test_layers.py`` checks that).
"""

from __future__ import annotations

from ..jobs import events
from ..library.corrections import ADD, CLEAR, REMOVE, Edit, GenreChange
from ..library.writers import (
    ExportOptions,
    TableWriter,
    Writer,
    get_writer,
    register_writer,
    writers,
)
from .heads import HeadIdentity
from .processing import Background, Outcome, drain, extract_on_cluster, pool_options
from .records import (
    SOURCE_AUTO,
    SOURCE_MANUAL,
    VIDEO_FAILED,
    VIDEO_MISSING,
    VIDEO_READY,
    FolderInfo,
    JobRecord,
    Row,
    StatusReport,
    VideoRecord,
    failure_dict,
    format_duration,
    status_text,
)
from .selection import Selection
from .session import Applicability, JobsChange, LibrarySession, RerunResult

__all__ = [
    "ADD", "Applicability", "CLEAR", "REMOVE", "SOURCE_AUTO", "SOURCE_MANUAL", "VIDEO_FAILED", "VIDEO_MISSING", "VIDEO_READY", "Background",
    "Edit", "ExportOptions", "FolderInfo", "GenreChange", "HeadIdentity", "JobRecord",
    "JobsChange", "LibrarySession", "Outcome", "RerunResult", "Row", "Selection",
    "StatusReport", "TableWriter", "VideoRecord", "Writer", "drain", "events", "failure_dict",
    "extract_on_cluster", "format_duration", "get_writer", "pool_options", "register_writer", "status_text", "writers",
]
