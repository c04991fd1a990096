"""A sampled film gives the genre head nearly the scores of the whole film: long videos made
by joining the labelled corpus's clips, default profile, zero-shot head, whole-file plan
against excerpts covering a third of the running time."""

from __future__ import annotations

import pytest

from trailertagger.devtools.fidelity import compare_plans, make_films, summary

#: Stated tolerance (issue 13): the largest change of any genre probability between the
#: whole-file plan and the sampled plan, and the mean change over the 21 genres.  Measured
#: values are in the report of the work (benchmarks/sampling_fidelity.py).
MAX_ABS_TOL = 0.15
MEAN_ABS_TOL = 0.03


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason=(
    "open in issue 13: with the calibrated zero-shot head of issue 8, a plan reading 33% of "
    "the film moves one genre by 0.151 (> 0.15; mean 0.026, top-3 overlap 2.5, top-1 on 1 of "
    "2 films).  Was 0.17-0.18 before excerpts were kept apart in the Whisper call and looping "
    "segments dropped.  What is left is the transcript: which sentences six 10 s excerpts "
    "happen to hear (the whole film's asr rows in the sampled features give 0.02); strict, "
    "so it is noticed the day the sampled plan is within tolerance"))
def test_sampled_plan_scores_stay_close_to_the_full_plan(tmp_path):
    films = make_films(tmp_path, ("Horror", "Western"), minutes=3.0)
    rows = compare_plans(films, {"full_max_s": 60.0, "excerpt_count": 6, "excerpt_s": 10.0})
    for r in rows:
        assert r.coverage["plan"] == "excerpts"
        assert r.coverage["video_fraction"] == pytest.approx(60 / 180, abs=0.02)
    s = summary(rows)
    print("fidelity", s, [(r.genre, round(r.max_abs, 3), round(r.mean_abs, 3)) for r in rows])
    assert s["max_abs_diff"] <= MAX_ABS_TOL, s
    assert s["mean_abs_diff"] <= MEAN_ABS_TOL, s
    assert s["top3_overlap_mean"] >= 2, s
