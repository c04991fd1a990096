"""How much of a video to read: the whole file for trailers, spread excerpts for films.

The genre head needs a trailer's worth of evidence (it keeps at most ~150 rows per modality:
``classify.batching.DEFAULT_MAX_LEN``), so reading every frame and every second of sound of
a two-hour film only to throw 90% of it away makes cost grow with running time.  A
``SamplingPlan`` fixes that up front, from the probed duration alone:

* ``full``: videos up to ``[media] full_max_s`` seconds (default 480 s = 8 minutes; allowed
  range 60-7200) are read exactly as before: every frame scene-detected, the whole soundtrack
  decoded.  Trailers, teasers and short clips therefore give the same features as ever.
* ``excerpts``: longer videos are read as ``[media] excerpt_count`` (default 15, range
  2-200) excerpts of ``[media] excerpt_s`` seconds (default 10, range 2-120), spread evenly:
  excerpt ``i`` is centred on ``(i + 0.5) / N`` of the running time, so the opening credits
  and the end credits are never the only thing sampled, and every part of the film counts
  equally.  Each excerpt is decoded on its own after a seek to the key frame before it, scene
  detection runs inside it (its start and end bound its first and last scene), and its audio
  is decoded from the same span, so decode cost is bounded by ``N * excerpt_s`` seconds of
  media (150 s by default) however long the film is.

Why these defaults: 15 x 10 s = 150 s of sound gives ~156 YAMNet windows (the head keeps
150), ~50 musicnn windows and a few minutes' worth of ASR at most; films cut every 3-6 s
give 30-60 scenes, as many as a trailer's first minute, and the head sees them in film order.
Subtitles, when the file has them, are read for the whole film (they cost nothing to read)
and the lines kept are spread over the running time (``subtitle_max_lines``).

The plan, its parameters and the coverage actually achieved (seconds of video and audio
decoded, as a fraction of the running time) go into the feature file's provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import RANGES as CONFIG_RANGES

#: How excerpts are read.  A cached excerpt read of another version is read again
#: (``serves``): 3 = Whisper hears each excerpt with a 1 s speech margin (segments kept by
#: their midpoint) and runs of repeated segments are dropped; 2 = each excerpt's speech kept
#: apart in the Whisper call by a second of silence, looping segments dropped; 1 = excerpts'
#: speech run together (issue 13).
PLAN_VERSION = 3

#: [media] keys of the plan with their allowed ranges (inclusive, kept in ``config.RANGES``);
#: ``media_settings`` validates them and the README lists them.
RANGES: dict[str, tuple[float, float]] = {
    key: bounds for (section, key), bounds in CONFIG_RANGES.items()
    if section == "media" and key in ("full_max_s", "excerpt_count", "excerpt_s",
                                      "subtitle_max_lines")
}


@dataclass(frozen=True)
class Excerpt:
    start: float
    end: float

    @property
    def length(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass
class SamplingPlan:
    """What to decode from one video (see the module docstring)."""

    kind: str  # "full" | "excerpts"
    duration: float
    excerpts: tuple[Excerpt, ...]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        return self.kind == "full"

    @property
    def planned_s(self) -> float:
        return self.duration if self.full else sum(e.length for e in self.excerpts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": PLAN_VERSION,
            "kind": self.kind,
            "duration": round(self.duration, 3),
            "params": dict(self.params),
            "excerpts": [[round(e.start, 3), round(e.end, 3)] for e in self.excerpts],
            "planned_s": round(self.planned_s, 3),
        }


def plan_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "full_max_s": float(cfg["full_max_s"]),
        "excerpt_count": int(cfg["excerpt_count"]),
        "excerpt_s": float(cfg["excerpt_s"]),
    }


def choose_plan(duration: float, cfg: dict[str, Any]) -> SamplingPlan:
    """The plan for a video of ``duration`` seconds under the ``[media]`` settings ``cfg``.

    A duration the container does not state (0) gets the full plan: nothing is known to be
    long, and ``max_duration_s`` still bounds the read.
    """
    params = plan_settings(cfg)
    duration = max(0.0, float(duration))
    if duration <= params["full_max_s"]:
        return SamplingPlan("full", duration, (Excerpt(0.0, duration),), params)
    n, length = params["excerpt_count"], params["excerpt_s"]
    if n * length >= duration:  # excerpts would overlap: read it all
        return SamplingPlan("full", duration, (Excerpt(0.0, duration),), params)
    excerpts = []
    for i in range(n):
        centre = (i + 0.5) * duration / n
        start = min(max(0.0, centre - length / 2), duration - length)
        excerpts.append(Excerpt(round(start, 3), round(start + length, 3)))
    return SamplingPlan("excerpts", duration, tuple(excerpts), params)


def serves(recorded: dict[str, Any] | None, cfg: dict[str, Any]) -> bool:
    """Whether features read under the ``recorded`` plan (a feature file's provenance
    ``plan``) serve the plan the ``[media]`` settings ``cfg`` choose for that video now.

    Why: the feature cache is keyed by content and extractor versions only, so without this
    a film read as 15 excerpts would keep those features after the user asked for 30, or for
    the whole file (``full_max_s`` raised), and excerpts read before a change to how excerpts
    are read (``PLAN_VERSION``) would never be read again.  The rule:

    * no recorded plan (files from before sampling plans, imported seed features): served,
      as every such file was a whole-file read;
    * a whole-file read serves every plan: it is the reference an excerpt plan
      approximates, so changing the excerpt settings never re-reads a film read whole;
    * an excerpt read serves only the same excerpts (count, length) read the same way
      (plan version), and never a plan that now reads the whole file.
    """
    if not recorded:
        return True
    if recorded.get("kind") == "full":
        return True
    now = choose_plan(float(recorded.get("duration") or 0.0), cfg)
    if now.full or recorded.get("version") != PLAN_VERSION:
        return False
    params = recorded.get("params") or {}
    return (int(params.get("excerpt_count", -1)) == now.params["excerpt_count"]
            and float(params.get("excerpt_s", -1.0)) == now.params["excerpt_s"])


def coverage(plan: SamplingPlan, video_spans: list[tuple[float, float]],
             audio_spans: list[tuple[float, float]]) -> dict[str, Any]:
    """Seconds and fraction of the running time actually decoded, per stream."""
    def total(spans: list[tuple[float, float]]) -> float:
        return float(sum(max(0.0, b - a) for a, b in spans))

    d = plan.duration if plan.duration > 0 else max(
        [b for _, b in video_spans + audio_spans], default=0.0)
    v, a = total(video_spans), total(audio_spans)
    return {
        "video_s": round(v, 3),
        "audio_s": round(a, 3),
        "video_fraction": round(v / d, 4) if d > 0 else 0.0,
        "audio_fraction": round(a / d, 4) if d > 0 else 0.0,
        "excerpts_decoded": sum(1 for a_, b in video_spans if b > a_) if not plan.full else 1,
    }
