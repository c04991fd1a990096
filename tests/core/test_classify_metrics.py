"""Our numpy metrics against sklearn (the app's runtime has no sklearn, so they are ours)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from trailertagger.core.classify import metrics as M


def _data(seed: int, n: int = 300, g: int = 21, ties: bool = False):
    rng = np.random.default_rng(seed)
    prev = np.linspace(0.02, 0.5, g)
    y = (rng.random((n, g)) < prev).astype(np.float32)
    s = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(scale=1.5, size=(n, g)))))
    if ties:
        s = np.round(s, 1)  # many tied scores
    return y, s


@pytest.mark.parametrize("ties", [False, True])
def test_ap_macro_micro_match_sklearn(ties: bool) -> None:
    y, s = _data(0, ties=ties)
    for g in range(y.shape[1]):
        assert M.average_precision(y[:, g], s[:, g]) == pytest.approx(
            average_precision_score(y[:, g], s[:, g]), abs=1e-10)
    assert M.macro_map(y, s) == pytest.approx(average_precision_score(y, s, average="macro"), abs=1e-10)
    assert M.micro_map(y, s) == pytest.approx(average_precision_score(y, s, average="micro"), abs=1e-10)


def test_genre_without_positives_is_left_out_of_macro() -> None:
    y, s = _data(1)
    y[:, 3] = 0
    ap = M.per_genre_ap(y, s)
    assert np.isnan(ap[3])
    keep = [g for g in range(y.shape[1]) if g != 3]
    assert M.macro_map(y, s) == pytest.approx(
        average_precision_score(y[:, keep], s[:, keep], average="macro"), abs=1e-10)
    assert np.isnan(M.macro_map(np.zeros((5, 2)), np.ones((5, 2))))


def test_constant_predictor_scores_prevalence() -> None:
    y, _ = _data(2)
    const = np.tile(y.mean(0), (len(y), 1))
    assert M.macro_map(y, const) == pytest.approx(y.mean(0).mean(), abs=1e-10)


@pytest.mark.parametrize("thr", [0.5, "vector"])
def test_precision_recall_match_sklearn(thr) -> None:
    y, s = _data(3)
    t = 0.5 if thr == 0.5 else np.linspace(0.2, 0.8, y.shape[1])
    pred = (s >= (t if np.ndim(t) == 0 else t[None, :])).astype(int)
    p, r = M.precision_recall(y, s, t)
    np.testing.assert_allclose(p, precision_score(y, pred, average=None, zero_division=0), atol=1e-12)
    np.testing.assert_allclose(r, recall_score(y, pred, average=None, zero_division=0), atol=1e-12)
    mp, mr = M.macro_precision_recall(y, s, t)
    assert mp == pytest.approx(precision_score(y, pred, average="macro", zero_division=0), abs=1e-12)
    assert mr == pytest.approx(recall_score(y, pred, average="macro", zero_division=0), abs=1e-12)


def test_precision_is_zero_when_never_predicted() -> None:
    y = np.array([[1], [0], [1]], dtype=np.float32)
    p, r = M.precision_recall(y, np.array([[0.1], [0.2], [0.3]]), 0.5)
    assert p[0] == 0.0 and r[0] == 0.0


def test_tuned_thresholds_maximise_f1() -> None:
    y, s = _data(4, n=60, g=6)
    thr = M.tune_thresholds(y, s)
    for g in range(y.shape[1]):
        f1_tuned = f1_score(y[:, g], s[:, g] >= thr[g], zero_division=0)
        grid = max(f1_score(y[:, g], s[:, g] >= t, zero_division=0) for t in np.unique(s[:, g]))
        assert f1_tuned == pytest.approx(grid, abs=1e-12)
    # tuning is on probabilities: a threshold is a probability, never a logit
    assert ((thr > 0) & (thr < 1)).all()
    assert M.best_f1_threshold(np.zeros(4), np.ones(4)) == 0.5


def test_summary_keys() -> None:
    y, s = _data(5)
    out = M.summary(y, s, np.full(y.shape[1], 0.4))
    assert set(out) == {"macro_map", "micro_map", "macro_precision@0.5", "macro_recall@0.5",
                        "macro_precision@tuned", "macro_recall@tuned"}
