"""Is a sampled film's genre evidence as good as the whole film's?  Long "films" from the
project's labelled corpus, scored by the genre head on the whole-file plan and on the
sampled plan.

The labelled corpus is ``devtools.coldstart_set``: one short clip per script (a title card,
spoken lines over a music bed), each with the genres its content implies.  ``make_films``
joins the clips that share a genre (``mediagen.concat_remux``, packet copy: every clip is
encoded the same way) and cycles through them until the film is ``minutes`` long, so the
genre evidence is spread over the whole running time as in a real film.  ``compare_plans``
runs the real pipeline twice per film, fresh cache each time (``full_max_s = 7200`` for the
whole file; the given excerpt settings for the sample), scores both with the same head
(the zero-shot head unless another is given) and reports, per film and overall, the
largest and the mean absolute difference of the 21 genre probabilities, whether the top
genre agrees, and the overlap of the top-3 sets.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class FilmComparison:
    name: str
    genre: str
    full: np.ndarray  # [21] probabilities on the whole-file plan
    sampled: np.ndarray  # [21] probabilities on the sampled plan
    coverage: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def max_abs(self) -> float:
        return float(np.abs(self.full - self.sampled).max())

    @property
    def mean_abs(self) -> float:
        return float(np.abs(self.full - self.sampled).mean())

    @property
    def top1_agrees(self) -> bool:
        return int(np.argmax(self.full)) == int(np.argmax(self.sampled))

    @property
    def top3_overlap(self) -> int:
        return len(set(np.argsort(-self.full)[:3]) & set(np.argsort(-self.sampled)[:3]))


def make_films(folder: Path, genres: Sequence[str], minutes: float) -> list[tuple[str, str, Path]]:
    """``(name, genre, path)`` per genre: that genre's corpus clips cycled to ``minutes``."""
    from . import mediagen
    from .coldstart_set import SCRIPTS, make_clips

    folder = Path(folder)
    clips = make_clips(folder / "corpus")
    films = []
    for g in genres:
        mine = [c for c, s in zip(clips, SCRIPTS, strict=True) if g in s.genres]
        if not mine:
            raise ValueError(f"no corpus clip has the genre {g!r}")
        path = folder / f"film {g} {minutes:g} min.mp4"
        if not path.exists():
            mediagen.concat_remux(path, mine, minutes * 60.0)
        films.append((path.stem, g, path))
    return films


def compare_plans(films: Sequence[tuple[str, str, Path]], sampled: dict[str, Any],
                  profile: str = "default", head: Any = None,
                  cfg: dict[str, Any] | None = None) -> list[FilmComparison]:
    """Score each film on the whole-file plan and on the ``sampled`` [media] settings."""
    from ..core.classify.zero_shot import ZeroShotHead
    from ..core.config import load_config
    from ..core.features.cache import FeatureCache
    from ..core.genres import GENRES
    from ..core.pipeline import ExtractionSession

    base = copy.deepcopy(cfg if cfg is not None else load_config(create=False))
    out: list[FilmComparison] = []
    sessions = {}
    with tempfile.TemporaryDirectory(prefix="tt-fidelity ") as tmp:
        for key, over in (("full", {"full_max_s": 7200.0}), ("sampled", dict(sampled))):
            c = copy.deepcopy(base)
            c["media"] = {**c.get("media", {}), **over}
            sessions[key] = ExtractionSession(profile, c, cache=FeatureCache(Path(tmp) / key))
        store = sessions["full"].store
        head = head or ZeroShotHead(store, use_clip=False)
        for name, genre, path in films:
            probs, seconds, cov = {}, {}, {}
            for key, session in sessions.items():
                res = session.run(path)
                seconds[key] = res.timings.get("total", 0.0)
                p = head.predict(res.features)
                probs[key] = np.array([p[g] for g in GENRES], dtype=np.float64)
                if key == "sampled":
                    cov = dict(res.features.provenance.get("coverage", {}))
                    cov["plan"] = res.features.provenance.get("plan", {}).get("kind")
            out.append(FilmComparison(name, genre, probs["full"], probs["sampled"], cov, seconds))
    return out


def summary(rows: Sequence[FilmComparison]) -> dict[str, float]:
    return {
        "films": len(rows),
        "max_abs_diff": round(max(r.max_abs for r in rows), 4),
        "mean_abs_diff": round(float(np.mean([r.mean_abs for r in rows])), 4),
        "top1_agreement": round(float(np.mean([r.top1_agrees for r in rows])), 3),
        "top3_overlap_mean": round(float(np.mean([r.top3_overlap for r in rows])), 3),
    }
