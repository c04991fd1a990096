"""Plain records the application layer hands to the front ends (no ORM objects, no SQL).

``VideoRecord`` and ``JobRecord`` come from the library's queries; the records here are the
ones the app layer adds: a table's light rows, a watched folder, the library status.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..library.queries import JobRecord, LibraryCounts, VideoRecord
from ..library.schema import (
    JOB_RUNNING,
    SOURCE_AUTO,
    SOURCE_MANUAL,
    VIDEO_FAILED,
    VIDEO_MISSING,
    VIDEO_PENDING,
    VIDEO_READY,
)

__all__ = ["FolderInfo", "JobRecord", "Row", "StatusReport", "VideoRecord", "format_duration",
           "status_text", "SOURCE_AUTO", "SOURCE_MANUAL", "VIDEO_FAILED", "VIDEO_MISSING", "VIDEO_READY"]


@dataclass(slots=True)
class Row:
    """The light part of a video: enough to sort, count and show status without genre rows.
    Slotted: a view holds 100,000 of them (a quarter of the memory, and quicker to make)."""

    id: int
    path: str
    status: str
    duration: float | None
    error_reason: str | None
    added_at: float
    job_status: str | None = None
    job_stage: str | None = None
    job_progress: float = 0.0
    job_cancelling: bool | None = False  # a cancel was asked; the worker stops at its next step
    title: str = field(init=False)

    def __post_init__(self) -> None:
        self.title = os.path.splitext(os.path.basename(self.path))[0]


def status_text(row: Row, stale: bool = False) -> str:
    """A video's state in words: the active job wins over the video's stored status."""
    if row.job_status == JOB_RUNNING and row.job_cancelling:
        return f"cancelling ({row.job_stage})"
    if row.job_status == JOB_RUNNING:
        pct = f" {row.job_progress:.0%}" if row.job_progress else ""
        return f"processing ({row.job_stage}{pct})"
    if row.job_status is not None:
        return "queued" if row.status != VIDEO_READY else "queued (re-run)"
    if row.status == VIDEO_FAILED:
        return f"failed: {row.error_reason or 'unknown reason'}"
    if row.status == VIDEO_MISSING:
        return "missing"
    if row.status == VIDEO_PENDING:
        # discovered, no active job: its job was cancelled (or lost); a retry or rescan queues it
        return "not processed (cancelled)"
    if row.status == VIDEO_READY and stale:
        return "ready (stale)"
    return row.status


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass(frozen=True)
class FolderInfo:
    path: str
    present: bool
    recursive: bool = True


def failure_dict(j: JobRecord) -> dict[str, Any]:
    """A failed job as ``scan --json`` and ``status --json`` show it."""
    return {"job": j.id, "path": j.path, "stage": j.stage, "reason": j.error_reason}


@dataclass
class StatusReport:
    """Library and queue counts, stage limits, the active head and recent failures."""

    library: str
    counts: LibraryCounts
    job_counts: dict[tuple[str, str], int]
    paused: bool
    stage_limits: dict[str, int]
    watched_folders: list[str]
    failures: list[JobRecord]
    head: Any = None  # heads.HeadIdentity
    workers: int = 1  # worker processes a pool started now would run
    workers_note: str = ""  # how that number came about ("auto: ...", memory)

    @property
    def jobs_by_status(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (status, _stage), n in self.job_counts.items():
            out[status] = out.get(status, 0) + n
        return out

    @property
    def active_by_stage(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (status, stage), n in self.job_counts.items():
            if status in ("queued", "running"):
                out.setdefault(status, {})[stage] = n
        return out

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "library": self.library,
            "videos": c.videos, "videos_by_status": c.by_status,
            "corrected": c.corrected, "stale": c.stale,
            "watched_folders": self.watched_folders,
            "jobs": self.jobs_by_status, "active_by_stage": self.active_by_stage,
            "paused": self.paused, "stage_limits": self.stage_limits,
            "workers": self.workers, "workers_note": self.workers_note,
            "head": ({"model_id": self.head.model_id, "version": self.head.version,
                      "kind": self.head.kind} if self.head is not None else None),
            "failures": [failure_dict(j) for j in self.failures],
        }
