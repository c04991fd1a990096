"""Application-layer rules behind the jobs panel and the settings dialog (issue 11 A)."""

from __future__ import annotations

import pytest

from trailertagger.core.app import settings_file
from trailertagger.core.app.jobs_view import JobsOverview, RunningJob, StageCounts, pause_note
from trailertagger.core.errors import ConfigError
from trailertagger.core.jobs.stages import StageFraction


def test_interleaved_sub_steps_never_move_the_stage_back() -> None:
    """Audio decodes while pictures decode, then the extractors run, each with its own
    done/total: the raw fractions went 0.37, 0.99, 0.2, 0.8; the stage's only rises."""
    fold = StageFraction()
    seen = [fold.update(label, f) for label, f in (
        ("load image", 0.5), ("load", 1.0), ("audio", 0.37), ("frames", 0.2), ("audio", 0.99),
        ("frames", 0.8), ("scenes", 0.1), ("extract", 0.0), ("image", 0.2), ("audio_tags", 0.8),
        ("extract", 1.0))]
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(1.0)
    assert 0.1 < seen[4] < 0.5  # the soundtrack done is not "99 %" of the stage
    probe = StageFraction()  # a stage without sub-steps: its own fraction, clamped
    assert [probe.update("probe", f) for f in (0.2, 0.6, 0.4, 1.0)] == [0.2, 0.6, 0.6, 1.0]


def test_pause_note_says_the_running_job_finishes_its_stage() -> None:
    o = JobsOverview([StageCounts("probe", 1), StageCounts("extract", 0, 1)],
                     [RunningJob(1, 1, "/v/a.mp4", "extract", 0.4, False)], [], paused=True)
    assert o.state == "pausing"
    assert pause_note(o).startswith("pausing: no new job starts; the 1 running job finishes "
                                    "its current stage (extract)")
    o.running = []
    assert o.state == "paused" and pause_note(o).startswith("paused: nothing runs; 1 job waits")


def test_settings_write_keeps_comments_and_refuses_out_of_range(tmp_path) -> None:
    path = tmp_path / "config.toml"
    assert settings_file.load_settings(path)[1] is None  # creates the commented template
    path.write_text(path.read_text(encoding="utf-8") + "\n[mine]\n# my note\nx = 1\n")
    cfg = settings_file.write_settings({("classify", "max_genres"): 2, ("jobs", "workers"): 3}, path)
    assert cfg["classify"]["max_genres"] == 2 and cfg["jobs"]["workers"] == 3
    text = path.read_text(encoding="utf-8")
    assert "\nmax_genres = 2\n" in text and "# my note" in text and "x = 1" in text
    assert "# retrain_every = 20" in text  # untouched keys stay commented defaults
    with pytest.raises(ConfigError, match=r"max_genres = 7 is out of range: it must be from 1 to 5"):
        settings_file.write_settings({("classify", "max_genres"): 7}, path)
    with pytest.raises(ConfigError, match="workers"):
        settings_file.write_settings({("jobs", "workers"): "two"}, path)
    assert "\nmax_genres = 2\n" in path.read_text(encoding="utf-8")  # nothing written
    path.write_text("[jobs]\nworkers = 999\n")
    cfg, error = settings_file.load_settings(path)
    assert cfg["jobs"]["workers"] == "auto" and 'from 0 to 64 or "auto"' in error
    cfg = settings_file.write_settings({("jobs", "workers"): "auto"}, tmp_path / "auto.toml")
    assert cfg["jobs"]["workers"] == "auto"
    with pytest.raises(ConfigError, match='must be a whole number or "auto"'):
        settings_file.write_settings({("jobs", "workers"): "all"}, path)


def test_max_genres_saved_while_workers_run_reaches_their_next_classification() -> None:
    """A worker keeps its head loaded; saving ``[classify] max_genres`` (the settings
    dialog) changes the settings file, and the next classification uses the new value."""
    from trailertagger.core.jobs.stages import DefaultServices
    from trailertagger.core.paths import app_dirs

    path = app_dirs().config_file
    settings_file.write_settings({("classify", "max_genres"): 3}, path)
    services = DefaultServices()
    head = services.head()
    assert head.max_genres == 3 and services.head() is head  # kept while nothing changes
    settings_file.write_settings({("classify", "max_genres"): 2}, path)
    again = services.head()
    assert again is not head and again.max_genres == 2


def test_limits_shown_are_the_pools_and_setting_one_stage_does_not_pin_the_others(tmp_path) -> None:
    """Two workers extract two at a time by default; the jobs panel, ``jobs limits`` and the
    settings dialog show that, and changing the classify limit stores only the classify
    limit (before, it also stored the queue's default extract limit of 1 for good)."""
    from trailertagger.core.app import LibrarySession
    from trailertagger.core.config import DEFAULTS
    from trailertagger.core.library.db import open_library

    lib = open_library(tmp_path / "library.sqlite3")
    try:
        cfg = {**DEFAULTS, "jobs": {**DEFAULTS["jobs"], "workers": 2}}
        app = LibrarySession(lib, cfg=cfg)
        assert app.stage_limits()["extract"] == 2
        assert app.stage_limits({"classify": 3}) == {**app.stage_limits(), "classify": 3}
        assert app.stage_limits()["extract"] == 2  # still the pool's default
        one = LibrarySession(lib, cfg={**DEFAULTS, "jobs": {**DEFAULTS["jobs"], "workers": 1}})
        assert one.stage_limits()["extract"] == 1 and one.stage_limits()["classify"] == 3
        app.stage_limits({"extract": 1})  # set on purpose: kept
        assert app.stage_limits()["extract"] == 1
        assert app.jobs_overview().stage("extract").limit == 1
    finally:
        lib.close()
