"""A sampled film gives the genre head nearly the scores of the whole film: long videos made
by joining the labelled corpus's clips, default profile, zero-shot head, whole-file plan
against excerpts covering a third of the running time."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

from trailertagger.devtools.fidelity import PINNED_NUMERICS

#: Stated tolerance (issue 13): the largest change of any genre probability between the
#: whole-file plan and the sampled plan, and the mean change over the 21 genres.  Measured
#: with the kernels pinned below: 0.100 and 0.018 (0.128 and 0.020 before each excerpt was
#: heard by Whisper with a 1 s margin).  Unpinned, on one 2-core Xeon, 0.084-0.131 across
#: kernel choices (0.112-0.136 before the margin; 0.151 on the machine that measured issue 13
#: first): see ``PINNED_NUMERICS`` and README "Sampling fidelity".
MAX_ABS_TOL = 0.15
MEAN_ABS_TOL = 0.03


@pytest.mark.slow
def test_sampled_plan_scores_stay_close_to_the_full_plan(tmp_path):
    # a child process: the kernel choice is read when the native libraries load, which in
    # this test process other tests have already done
    pinned = PINNED_NUMERICS if platform.machine().lower() in ("x86_64", "amd64") else {}
    sampled = {"full_max_s": 60.0, "excerpt_count": 6, "excerpt_s": 10.0}
    out = subprocess.run(
        [sys.executable, "-m", "trailertagger.devtools.fidelity", str(tmp_path),
         "--genres", "Horror", "Western", "--minutes", "3", "--sampled", json.dumps(sampled)],
        env={**os.environ, **pinned}, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(ln) for ln in out.stdout.splitlines() if ln.startswith("{")]
    rows, s = lines[:-1], lines[-1]["summary"]
    assert [r["genre"] for r in rows] == ["Horror", "Western"]
    for r in rows:
        assert r["coverage"]["plan"] == "excerpts"
        assert r["coverage"]["video_fraction"] == pytest.approx(60 / 180, abs=0.02)
    print("fidelity", s, [(r["genre"], round(r["max_abs"], 3), round(r["mean_abs"], 3))
                          for r in rows])
    assert s["max_abs_diff"] <= MAX_ABS_TOL, s
    assert s["mean_abs_diff"] <= MEAN_ABS_TOL, s
    assert s["top3_overlap_mean"] >= 2, s
