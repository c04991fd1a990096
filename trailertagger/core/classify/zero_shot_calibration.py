"""Calibrating the zero-shot head on the labelled cold-start set, instead of picking numbers.

The head's log-odds are ``logit(prior_g) + sum_s scale_s * m[s] * d[s, g]`` (see
``zero_shot``).  Given a labelled set of real clips (``coldstart_set``: title cards read back
by OCR, espeak-ng voice-overs read back by ASR, sox music, all through the real extraction
pipeline), the calibration:

1. computes every clip's evidence matrix ``X[n] = m[s] * d[s, g]`` (``[21, sources]``);
2. fits ``scale_s >= 0`` by maximum likelihood of the 21 binary labels per clip with the prior
   as a fixed offset and an L2 penalty ``l2 * sum(scale^2)`` (shrinks toward the prior: a source
   earns weight only as far as it predicts labels).  A source that no clip of the set has
   (``clip`` in the default profile) gets the story sources' scale, said so in the resource;
3. picks the decision rule by k-fold cross-validation: scales refitted without the held-out
   clips, then the (``threshold``, ``min_lift``) pair from a grid whose out-of-fold decisions
   (at most ``max_genres`` per clip) have the best micro-F1; ties go to the stricter pair;
4. records the cross-validated macro mAP, log loss, precision/recall and genres per clip,
   against the prior alone, in ``measured``.

``python -m trailertagger.devtools.calibrate_zero_shot`` makes the clips, extracts them, runs
this and writes ``resources/zero_shot_calibration.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .zero_shot import DEFAULT_MAX_GENRES, SOURCES, ZeroShotHead, _logit

L2 = 0.01
FOLDS = 6
THRESHOLDS = tuple(round(0.2 + 0.05 * i, 2) for i in range(13))  # 0.20 .. 0.80
MIN_LIFTS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


def evidence_rows(head: ZeroShotHead, fss: Sequence[Any]) -> np.ndarray:
    """``[N, 21, len(SOURCES)]`` evidence matrices of the clips."""
    return np.stack([head.evidence(fs).matrix() for fs in fss])


def fit_scales(x: np.ndarray, y: np.ndarray, priors: np.ndarray, l2: float = L2) -> np.ndarray:
    """Maximum-likelihood ``scale_s >= 0`` (L-BFGS-B), L2-penalised; unused sources get 0."""
    from scipy.optimize import minimize

    off = _logit(np.asarray(priors, dtype=np.float64))[None, :]
    used = np.abs(x).sum(axis=(0, 1)) > 0

    def loss(a: np.ndarray) -> tuple[float, np.ndarray]:
        z = off + x @ a
        p = 1.0 / (1.0 + np.exp(-z))
        nll = float(np.sum(np.logaddexp(0, z) - y * z))
        grad = np.einsum("ngs,ng->s", x, p - y) + 2 * l2 * a
        return nll + l2 * float(a @ a), grad

    res = minimize(loss, np.zeros(x.shape[2]), jac=True, method="L-BFGS-B",
                   bounds=[(0.0, None if u else 0.0) for u in used])
    return np.asarray(res.x)


def _decide(shift: np.ndarray, probs: np.ndarray, threshold: float, min_lift: float,
            max_genres: int) -> np.ndarray:
    on = np.zeros_like(probs, dtype=bool)
    for n in range(len(probs)):
        ok = [i for i in np.argsort(-probs[n], kind="stable")
              if probs[n, i] >= threshold and shift[n, i] >= min_lift]
        on[n, ok[:max_genres]] = True
    return on


def _prf(y: np.ndarray, on: np.ndarray) -> tuple[float, float, float]:
    tp = float((on & (y > 0)).sum())
    p = tp / max(float(on.sum()), 1.0)
    r = tp / max(float((y > 0).sum()), 1.0)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def fit_calibration(x: np.ndarray, y: np.ndarray, priors: np.ndarray, *,
                    max_genres: int = DEFAULT_MAX_GENRES, folds: int = FOLDS, seed: int = 0,
                    l2: float = L2) -> dict[str, Any]:
    """The calibration resource's content (see module doc)."""
    from .metrics import macro_map

    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    off = _logit(np.asarray(priors, dtype=np.float64))[None, :]
    order = np.random.default_rng(seed).permutation(n)
    oof_shift = np.zeros_like(y)
    for part in np.array_split(order, min(folds, n)):
        keep = np.setdiff1d(np.arange(n), part)
        a = fit_scales(x[keep], y[keep], priors, l2)
        oof_shift[part] = x[part] @ a
    oof_p = 1.0 / (1.0 + np.exp(-(off + oof_shift)))
    best: tuple[float, float, float] | None = None
    for t in THRESHOLDS:
        for lift in MIN_LIFTS:
            f1 = _prf(y, _decide(oof_shift, oof_p, t, lift, max_genres))[2]
            if best is None or f1 > best[0] + 1e-9:
                best = (f1, t, lift)
    assert best is not None
    _, thr, lift = best
    on = _decide(oof_shift, oof_p, thr, lift, max_genres)
    p, r, f1 = _prf(y, on)
    scale = fit_scales(x, y, priors, l2)
    used = np.abs(x).sum(axis=(0, 1)) > 0
    scale_d = {s: float(scale[j]) for j, s in enumerate(SOURCES)}
    borrowed = [s for j, s in enumerate(SOURCES) if not used[j]]
    for s in borrowed:
        scale_d[s] = max(scale_d["asr"], scale_d["ocr"])
    prior_p = np.tile(1.0 / (1.0 + np.exp(-off)), (n, 1))

    def logloss(pp: np.ndarray) -> float:
        pp = np.clip(pp, 1e-6, 1 - 1e-6)
        return float(-np.mean(y * np.log(pp) + (1 - y) * np.log(1 - pp)))

    return {
        "scale": scale_d,
        "threshold": thr,
        "min_lift": lift,
        "borrowed_scale": borrowed,
        "measured": {
            "clips": n, "folds": min(folds, n), "max_genres": max_genres, "l2": l2,
            "cv_macro_map": macro_map(y, oof_p), "prior_macro_map": macro_map(y, prior_p),
            "cv_log_loss": logloss(oof_p), "prior_log_loss": logloss(prior_p),
            "cv_precision": p, "cv_recall": r, "cv_f1": f1,
            "cv_genres_per_clip": float(on.sum(1).mean()),
            "cv_clips_with_no_genre": int((on.sum(1) == 0).sum()),
        },
    }
