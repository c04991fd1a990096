"""A sampled film gives the genre head nearly the scores of the whole film: long videos made
by joining the labelled corpus's clips, default profile, zero-shot head, whole-file plan
against excerpts covering a third of the running time."""

from __future__ import annotations

import pytest

from trailertagger.devtools.fidelity import compare_plans, make_films, summary

#: Stated tolerance (issue 13): the largest change of any genre probability between the
#: whole-file plan and the sampled plan, and the mean change over the 21 genres.  Measured
#: values are in the report of the work (benchmarks/sampling_fidelity.py): on a 2-core Xeon
#: 0.084 and 0.018 with each excerpt heard by Whisper with a 1 s margin (0.112 and 0.019
#: without; 0.151 and 0.026 without on the machine that measured issue 13 first, where the
#: test was an expected failure): the same code gives other numbers on other machines
#: (presumably Whisper's int8 kernels), so the margin to the tolerance is what to watch.
MAX_ABS_TOL = 0.15
MEAN_ABS_TOL = 0.03


@pytest.mark.slow
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
