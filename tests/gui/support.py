"""Helpers for the GUI tests (no test functions here).

``ThumbServices`` is the fake ``Services`` of the job tests plus the *real* thumbnail maker,
so processed rows carry a real picture; it is importable by path because worker processes
are spawned.
"""

from __future__ import annotations

from pathlib import Path

from tests.core.test_jobs_support import FakeServices
from trailertagger.core.genres import GENRES
from trailertagger.core.library.classification import note_active_head, store_predictions
from trailertagger.core.library.db import Library
from trailertagger.core.library.identity import new_video
from trailertagger.core.library.schema import Video

SPEC = "tests.gui.support:ThumbServices"


class ThumbServices(FakeServices):
    def thumbnail(self, path: Path, content_hash: str, duration: float) -> Path | None:
        from trailertagger.core.library.thumbnails import make_thumbnail
        from trailertagger.core.paths import app_dirs

        return make_thumbnail(path, content_hash, duration, app_dirs().cache / "thumbnails")


def probs_for(i: int) -> dict[str, float]:
    """Video i: genre i % 21 and (i + 5) % 21 on, everything else off."""
    on = {GENRES[i % 21], GENRES[(i + 5) % 21]}
    return {g: (0.9 if g in on else 0.1) for g in GENRES}


def fill(lib: Library, n: int, *, folder: str = "/films", model: str = "test-head") -> list[int]:
    """``n`` classified videos inserted through the core, in one transaction."""
    with lib.session() as s:
        head, _ = note_active_head(s, model, "1", "onnx")
        ids = []
        for i in range(n):
            v = new_video(s, f"{folder}/film {i:05d}.mp4", 1000 + i, 1)
            v.duration = 60.0 + i
            store_predictions(s, s.get(Video, v.id), head, probs_for(i))
            ids.append(v.id)
    return ids
