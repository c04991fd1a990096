"""Multi-label metrics for genre heads, in numpy only (the app's runtime has no sklearn).

Conventions, chosen so numbers are comparable with the seed paper and with sklearn:

* **AP** is sklearn's ``average_precision_score``: the step-wise sum over distinct score
  thresholds of (recall increase) x (precision there), no interpolation; tied scores form one
  threshold.  A constant predictor therefore scores the genre's prevalence.
* A genre with **no positive** in the evaluated set has undefined AP and undefined recall; it is
  left out of every macro average (sklearn would warn and return 0, dragging the mean down for
  a reason that says nothing about the model).  ``per_genre_ap`` returns NaN for it.
* **micro mAP** is AP over all (video, genre) pairs flattened.
* Precision/recall are computed on **probabilities** (after the sigmoid) against a threshold
  (0.5 or tuned per genre); a genre never predicted has precision 0 (sklearn's
  ``zero_division=0``).  The seed code compared logits with thresholds; we never do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _thresholds_ranked(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores sorted high to low, the index of each distinct score's last row (where a
    threshold sits: tied scores form one), and the true positives at or above each."""
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s_sorted) - 1]
    return s_sorted, last, np.cumsum(y[order])[last].astype(np.float64)


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """AP of one label column; NaN when there is no positive."""
    y = np.asarray(y_true).reshape(-1) > 0.5
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    _, last, tp_at = _thresholds_ranked(y, s)
    precision = tp_at / (last + 1)
    recall = tp_at / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def per_genre_ap(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AP per column ``[G]``; NaN for a genre without positives."""
    y = np.asarray(y_true)
    s = np.asarray(scores)
    return np.array([average_precision(y[:, g], s[:, g]) for g in range(y.shape[1])])


def macro_map(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean AP over genres that have at least one positive (NaN if none has)."""
    ap = per_genre_ap(y_true, scores)
    ok = ~np.isnan(ap)
    return float(ap[ok].mean()) if ok.any() else float("nan")


def micro_map(y_true: np.ndarray, scores: np.ndarray) -> float:
    """AP over every (video, genre) pair."""
    return average_precision(np.asarray(y_true).reshape(-1), np.asarray(scores).reshape(-1))


def _thresholds_vector(thresholds: float | Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    t = np.asarray(thresholds, dtype=np.float64)
    return np.full(n, float(t)) if t.ndim == 0 else t.reshape(n)


def precision_recall(
    y_true: np.ndarray, probs: np.ndarray, thresholds: float | Sequence[float] | np.ndarray = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Per-genre precision and recall of ``probs >= threshold`` (NaN recall without positives)."""
    y = np.asarray(y_true) > 0.5
    p = np.asarray(probs, dtype=np.float64)
    pred = p >= _thresholds_vector(thresholds, p.shape[1])[None, :]
    tp = (pred & y).sum(0).astype(np.float64)
    n_pred = pred.sum(0)
    n_pos = y.sum(0)
    precision = np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)
    recall = np.divide(tp, n_pos, out=np.full_like(tp, np.nan), where=n_pos > 0)
    return precision, recall


def macro_precision_recall(
    y_true: np.ndarray, probs: np.ndarray, thresholds: float | Sequence[float] | np.ndarray = 0.5
) -> tuple[float, float]:
    """Macro precision and recall over genres with at least one positive."""
    precision, recall = precision_recall(y_true, probs, thresholds)
    ok = np.asarray(y_true).sum(0) > 0
    if not ok.any():
        return float("nan"), float("nan")
    return float(precision[ok].mean()), float(recall[ok].mean())


def best_f1_threshold(y_true: np.ndarray, probs: np.ndarray, default: float = 0.5) -> float:
    """The probability threshold that maximises F1 for one genre.

    Candidates are midpoints between successive distinct probabilities (a threshold exactly on
    a training value generalises worse); ties in F1 go to the threshold nearest ``default``.
    Without positives there is nothing to tune and ``default`` is returned.
    """
    y = np.asarray(y_true).reshape(-1) > 0.5
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    n_pos = int(y.sum())
    if n_pos == 0 or len(p) == 0:
        return default
    ps, last, tp_at = _thresholds_ranked(y, p)
    n_pred = last + 1
    f1 = 2 * tp_at / (n_pred + n_pos)
    below = np.r_[ps[last[:-1] + 1], ps[-1] - 1e-6]  # the next lower distinct score
    cand = 0.5 * (ps[last] + below)
    best = f1.max()
    idx = np.nonzero(f1 >= best - 1e-12)[0]
    pick = idx[np.argmin(np.abs(cand[idx] - default))]
    return float(np.clip(cand[pick], 1e-6, 1 - 1e-6))


def tune_thresholds(y_true: np.ndarray, probs: np.ndarray, default: float = 0.5) -> np.ndarray:
    """Per-genre F1-maximising thresholds ``[G]`` (``default`` for genres without positives)."""
    y = np.asarray(y_true)
    p = np.asarray(probs)
    return np.array([best_f1_threshold(y[:, g], p[:, g], default) for g in range(y.shape[1])])


def summary(
    y_true: np.ndarray, probs: np.ndarray, thresholds: Sequence[float] | np.ndarray | None = None
) -> dict[str, float]:
    """The headline numbers every report prints, as a flat dict of floats."""
    out = {
        "macro_map": macro_map(y_true, probs),
        "micro_map": micro_map(y_true, probs),
    }
    out["macro_precision@0.5"], out["macro_recall@0.5"] = macro_precision_recall(y_true, probs, 0.5)
    if thresholds is not None:
        p, r = macro_precision_recall(y_true, probs, thresholds)
        out["macro_precision@tuned"], out["macro_recall@tuned"] = p, r
    return out
