"""The queue as a person sees it: per-stage counts, running jobs, failed jobs with reasons,
and what pausing really does.  One rule for ``trailertagger jobs overview``/``jobs pause``
and the desktop app's jobs panel.

Pausing is a flag in the library that every pool reads before it *claims* a stage; a stage
already claimed runs to its end (a stage is one transaction: nothing is cut in half), so a
paused queue still has its running jobs for up to one stage each.  ``pause_note`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..jobs.queue import STAGES

__all__ = ["FailedJob", "JobsOverview", "RunningJob", "StageCounts", "pause_note"]


@dataclass(frozen=True)
class StageCounts:
    stage: str
    queued: int = 0
    running: int = 0
    failed: int = 0
    limit: int = 1  # how many jobs of this stage may run at once (live, shared by every pool)


@dataclass(frozen=True)
class RunningJob:
    job_id: int
    video_id: int
    path: str
    stage: str
    progress: float  # 0..1 within the stage as last stored (the app refines it from events)
    cancelling: bool  # the user cancelled it; it stops at its next progress report
    owner: str | None = None


@dataclass(frozen=True)
class FailedJob:
    job_id: int
    video_id: int
    path: str
    stage: str
    status: str  # "failed" or "cancelled"
    reason: str
    finished_at: float | None = None


@dataclass
class JobsOverview:
    stages: list[StageCounts] = field(default_factory=list)
    running: list[RunningJob] = field(default_factory=list)
    failed: list[FailedJob] = field(default_factory=list)  # failed, then cancelled; newest first
    paused: bool = False

    @property
    def queued(self) -> int:
        return sum(s.queued for s in self.stages)

    @property
    def active(self) -> int:
        return self.queued + len(self.running)

    @property
    def failed_count(self) -> int:
        return sum(s.failed for s in self.stages)

    def stage(self, name: str) -> StageCounts:
        return next((s for s in self.stages if s.stage == name), StageCounts(name))

    @property
    def state(self) -> str:
        """``paused``, ``pausing`` (paused, jobs still finishing their stage), ``running``,
        ``idle``."""
        if self.paused:
            return "pausing" if self.running else "paused"
        return "running" if self.active else "idle"


def pause_note(overview: JobsOverview) -> str:
    """One line on what pause/resume means right now (the CLI prints it, the panel shows it)."""
    n = len(overview.running)
    if overview.paused and n:
        stages = ", ".join(sorted({j.stage for j in overview.running}))
        return (f"pausing: no new job starts; the {n} running job{'s' if n != 1 else ''} "
                f"finish{'es' if n == 1 else ''} {'its' if n == 1 else 'their'} current stage "
                f"({stages}) first")
    if overview.paused:
        q = overview.queued
        return f"paused: nothing runs; {q} job{'s' if q != 1 else ''} wait{'s' if q == 1 else ''} for Resume"
    if n:
        return f"running {n} job{'s' if n != 1 else ''}, {overview.queued} queued"
    return f"{overview.queued} queued" if overview.queued else "idle: nothing to do"


def build_overview(job_counts: dict[tuple[str, str], int], limits: dict[str, int],
                   running: list[RunningJob], failed: list[FailedJob], paused: bool) -> JobsOverview:
    stages = []
    for st in STAGES:
        stages.append(StageCounts(st, job_counts.get(("queued", st), 0),
                                  job_counts.get(("running", st), 0),
                                  job_counts.get(("failed", st), 0), int(limits.get(st, 1))))
    return JobsOverview(stages, running, failed, paused)
