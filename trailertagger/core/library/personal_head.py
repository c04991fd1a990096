"""Learn from corrections: a personal genre head trained on the videos the user corrected.

``train_personal_head`` is what ``trailertagger train --from-library`` runs:

1. **Data**: every present video with at least one manual correction, labelled with its
   *effective* genres (the user's word where given, the model's otherwise: the user looked at
   the video and let those stand), featured from the feature cache by content hash.  Nothing
   is re-extracted; a video whose features are not cached is skipped and reported.
2. **Cross-validation**: k folds (seeded); each fold trains a head on the other folds and
   predicts the held-out videos.  The current head predicts the same videos.  The pooled
   out-of-fold macro mAP of both is compared on exactly the same videos and labels, so the
   comparison is fair even with 20 videos, where per-fold mAPs would be noise.  The macro
   average runs over the genres the user corrected at least once: for a genre nobody
   touched, the labels *are* the current head's own decisions, which it ranks perfectly by
   construction; counting those would make the current head unbeatable for a reason that
   says nothing about agreeing with the user.  (The all-genre figure is reported too.)  If
   the current head was itself trained on some of these videos it is scored in-sample; that
   bias can only keep the current head, never activate a worse one.
3. **Decision**: only a personal head that beats the current one by ``min_gain`` is trained
   on all the videos, exported (ONNX + card, thresholds tuned on the out-of-fold predictions,
   so they were never fitted on the videos they were tuned on) and activated.  Otherwise the
   current head stays, and the report says by how much it won.

When the current head cannot score the features at all (e.g. the zero-shot head's models are
not installed) the baseline is a constant predictor, which scores each genre's prevalence;
the report says so in words, never silently.
"""

from __future__ import annotations

import copy
import logging
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..classify.datasets import labels_vector
from ..errors import ConfigError
from ..features.cache import FeatureCache
from ..features.types import FeatureSet
from ..genres import GENRES
from ..paths import AppDirs
from ..progress import Progress
from .db import Library
from .queries import find_videos

log = logging.getLogger(__name__)

DEFAULT_FOLDS = 5
DEFAULT_MIN_VIDEOS = 10
DEFAULT_MIN_GAIN = 0.01
CONSTANT_BASELINE = "constant (genre prevalence)"


@dataclass
class CorrectedSample:
    """One corrected video, its features and its label vector (GENRES order)."""

    video_id: int
    path: str
    features: FeatureSet
    labels: np.ndarray
    corrected_genres: tuple[str, ...] = ()  # genres with a manual row (added or removed)


@dataclass
class PersonalHeadReport:
    """What ``train_personal_head`` did, to print or show in the GUI."""

    corrected: int = 0
    used: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    folds: int = 0
    modalities: list[str] = field(default_factory=list)
    dropped_modalities: dict[str, str] = field(default_factory=dict)
    current_model: str = ""
    current_note: str = ""  # why the baseline is not the current head, if it is not
    personal_map: float = float("nan")  # macro mAP over the corrected genres (the decision)
    current_map: float = float("nan")
    personal_map_all: float = float("nan")  # macro mAP over every genre with a positive
    current_map_all: float = float("nan")
    genres: list[str] = field(default_factory=list)  # the corrected genres compared
    min_gain: float = DEFAULT_MIN_GAIN
    better: bool = False
    head_dir: Path | None = None
    activated: bool = False
    per_genre: dict[str, tuple[float, float]] = field(default_factory=dict)  # (personal, current)

    def summary(self) -> str:
        lines = [f"{self.used} of {self.corrected} corrected videos used "
                 f"({self.folds}-fold cross-validation, modalities: {', '.join(self.modalities)})"]
        lines += [f"  skipped {p}: {why}" for p, why in self.skipped[:20]]
        if len(self.skipped) > 20:
            lines.append(f"  ... and {len(self.skipped) - 20} more skipped")
        lines += [f"  modality {m} left out: {why}" for m, why in self.dropped_modalities.items()]
        lines.append(f"personal head macro mAP {self.personal_map:.4f} vs current "
                     f"{self.current_model} {self.current_map:.4f} on the same videos, over the "
                     f"{len(self.genres)} genre(s) you corrected ({', '.join(self.genres)}); "
                     f"all genres: {self.personal_map_all:.4f} vs {self.current_map_all:.4f}")
        if self.current_note:
            lines.append(f"  note: {self.current_note}")
        if self.better:
            where = f" saved to {self.head_dir}" if self.head_dir else " (not exported)"
            lines.append("the personal head is better:" + where
                         + ("; activated" if self.activated else "; not activated"))
        else:
            lines.append(f"the personal head is not better by at least {self.min_gain:.3f}; "
                         "the current head stays active")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["head_dir"] = str(self.head_dir) if self.head_dir else None
        d["skipped"] = [list(x) for x in self.skipped]
        d["per_genre"] = {g: list(v) for g, v in self.per_genre.items()}
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def corrected_samples(lib: Library, cache: FeatureCache) -> tuple[list[CorrectedSample], int, list[tuple[str, str]]]:
    """The corrected, present videos whose features are cached; and the count and skips."""
    samples: list[CorrectedSample] = []
    skipped: list[tuple[str, str]] = []
    with lib.read() as s:  # the records only: feature files are read after the transaction
        recs = find_videos(s, corrected=True, missing=False, order="id")
    for rec in recs:
        if not rec.content_hash:
            skipped.append((rec.path, "never processed (no content hash)"))
            continue
        fs = cache.load(rec.content_hash)
        if fs is None:
            skipped.append((rec.path, "features not in the cache (process the video first)"))
            continue
        if not any(m.length for m in fs.modalities.values()):
            skipped.append((rec.path, "cached features are empty"))
            continue
        samples.append(CorrectedSample(rec.id, rec.path, fs, labels_vector(rec.genres),
                                       tuple(rec.manual_on) + tuple(rec.manual_off)))
    return samples, len(recs), skipped


def harmonise_modalities(samples: Sequence[CorrectedSample],
                         only: Sequence[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Keep, per modality, the feature dimension most videos have (in place).

    Videos featured by different extractor setups can hold e.g. ``image`` at 1280 and at 512
    dims; one head cannot take both, so the minority is treated as missing for that video.
    Returns the modalities kept and the ones dropped entirely, with why.
    """
    dims: dict[str, Counter[int]] = {}
    for smp in samples:
        for name, m in smp.features.modalities.items():
            if m.length:
                dims.setdefault(name, Counter())[m.dim] += 1
    dropped: dict[str, str] = {}
    keep: dict[str, int] = {}
    for name, counter in dims.items():
        if only is not None and name not in only:
            dropped[name] = "not requested"
            continue
        keep[name] = counter.most_common(1)[0][0]
    if only is not None:
        for name in only:
            if name not in dims:
                raise ConfigError(f"no corrected video has cached {name!r} features")
    for smp in samples:
        fs = smp.features
        mods = {k: v for k, v in fs.modalities.items() if k in keep and (v.dim == keep[k] or not v.length)}
        missing = dict(fs.missing)
        for k, v in fs.modalities.items():
            if k in keep and v.length and v.dim != keep[k]:
                missing[k] = f"dim {v.dim}, most videos have {keep[k]}"
        smp.features = FeatureSet(fs.content_hash, fs.duration, mods, missing, fs.profile)
    return sorted(keep), dropped


def fold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """``folds`` disjoint, nearly equal index sets covering ``range(n)`` (seeded shuffle)."""
    order = np.random.default_rng([seed, 11]).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


def _current_probs(head: Any, samples: Sequence[CorrectedSample]) -> tuple[np.ndarray | None, str]:
    """The current head's probabilities ``[N, 21]``, or None and the reason it cannot."""
    if head is None:
        return None, "no current head could be loaded"
    try:
        if hasattr(head, "predict_many"):
            rows = head.predict_many([s.features for s in samples])
        else:
            rows = [head.predict(s.features) for s in samples]
        return np.array([[float(r.get(g, 0.0)) for g in GENRES] for r in rows],
                        dtype=np.float32), ""
    except Exception as err:  # noqa: BLE001 - any failure means "no usable baseline"
        log.warning("current head %s cannot score the corrected videos", getattr(head, "model_id", "?"),
                    exc_info=True)
        return None, f"the current head cannot score these features ({type(err).__name__}: {err})"


def train_personal_head(
    lib: Library,
    dirs: AppDirs,
    *,
    config: Any = None,
    current_head: Any = None,
    load_current: Callable[[], Any] | None = None,
    folds: int = DEFAULT_FOLDS,
    min_videos: int = DEFAULT_MIN_VIDEOS,
    min_gain: float = DEFAULT_MIN_GAIN,
    head_out: Path | None = None,
    export: bool = True,
    activate: bool = True,
    progress: Progress | None = None,
) -> PersonalHeadReport:
    """Train, cross-validate against the current head, and keep only a better head.

    ``config`` is a ``classify.train.TrainConfig`` (default: a small transformer for small
    data).  ``current_head`` (or ``load_current()``) is the head to beat; it is never
    modified.  Features come from ``dirs.features``; the head goes to ``head_out`` or a new
    folder in ``dirs.heads``; ``activate`` makes it the active head (``classify.runtime``
    rules: the head is loaded once first, so a broken one is refused).
    Raises ``ConfigError`` when there are too few usable corrected videos.
    """
    from ..classify.metrics import macro_map, per_genre_ap, summary, tune_thresholds
    from ..classify.train import TrainConfig, export_head, fit

    report = PersonalHeadReport(min_gain=min_gain)
    cfg: TrainConfig = copy.deepcopy(config) if config is not None else TrainConfig(
        model="multi", d_model=64, layers=1, epochs=30, batch_size=16)
    cfg.checkpoint_dir = None  # folds are short and throw-away; nothing to resume
    samples, report.corrected, report.skipped = corrected_samples(lib, FeatureCache(dirs.features))
    if len(samples) < max(min_videos, 2):
        raise ConfigError(
            f"only {len(samples)} corrected video(s) with cached features "
            f"({report.corrected} corrected in all); correct at least {max(min_videos, 2)} "
            "(trailertagger set PATH +Genre -Genre) and process them first")
    report.modalities, report.dropped_modalities = harmonise_modalities(samples, cfg.modalities)
    # cfg.modalities stays None unless the user chose: a fold whose training part lacks a rare
    # modality then simply trains without it instead of failing
    report.used = len(samples)
    y = np.stack([s.labels for s in samples])
    pairs = [(s.features, s.labels) for s in samples]
    k = max(2, min(folds, len(samples)))
    report.folds = k
    steps = k + (1 if export else 0)

    def tick(label: str, done: int) -> None:
        if progress is not None:
            progress(label, done, steps)

    oof = np.zeros_like(y)
    for i, held in enumerate(fold_indices(len(samples), k, cfg.seed)):
        tick(f"fold {i + 1}/{k}", i)
        held_set = set(held.tolist())
        train = [pairs[j] for j in range(len(pairs)) if j not in held_set]
        result = fit(train, [], cfg)
        oof[held] = result.predict([pairs[j][0] for j in held])
    tick("current head", k)
    head = current_head if current_head is not None else (load_current() if load_current else None)
    report.current_model = str(getattr(head, "model_id", "") or "none")
    base, note = _current_probs(head, samples)
    if base is None:
        base = np.tile(y.mean(0, keepdims=True), (len(y), 1)).astype(np.float32)
        report.current_note = note + f"; compared with a {CONSTANT_BASELINE} predictor"
        report.current_model = f"{report.current_model} → {CONSTANT_BASELINE}"
    touched = {g for s in samples for g in s.corrected_genres}
    report.genres = [g for g in GENRES if g in touched]
    cols = [GENRES.index(g) for g in report.genres]
    report.personal_map = macro_map(y[:, cols], oof[:, cols])
    report.current_map = macro_map(y[:, cols], base[:, cols])
    report.personal_map_all = macro_map(y, oof)
    report.current_map_all = macro_map(y, base)
    pa, ca = per_genre_ap(y, oof), per_genre_ap(y, base)
    report.per_genre = {g: (float(pa[i]), float(ca[i])) for i, g in enumerate(GENRES)
                        if not math.isnan(pa[i])}
    report.better = (not math.isnan(report.personal_map)
                     and (math.isnan(report.current_map)
                          or report.personal_map >= report.current_map + min_gain))
    log.info("personal head: OOF macro mAP %.4f vs current %.4f", report.personal_map,
             report.current_map)
    if not report.better or not export:
        tick("done", steps)
        return report
    tick("final head", k)
    final = fit(pairs, [], cfg)
    tuned = tune_thresholds(y, oof)
    final.thresholds = dict(zip(GENRES, map(float, tuned), strict=True))
    final.metrics = {**summary(y, oof, tuned), "corrected_genres_macro_map": report.personal_map,
                     "current_corrected_genres_macro_map": report.current_map,
                     "current_macro_map": report.current_map_all}
    final.n_val = len(samples)  # the out-of-fold predictions the metrics come from
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(head_out) if head_out else Path(dirs.heads) / f"personal-{stamp}"
    export_head(final, out, {
        "dataset": {"source": "library corrections", "videos": len(samples),
                    "skipped": len(report.skipped)},
        "evaluation": {"method": f"{k}-fold cross-validation, pooled out-of-fold",
                       "genres": report.genres,
                       "personal_macro_map": report.personal_map,
                       "current_head": report.current_model,
                       "current_macro_map": report.current_map},
    })
    report.head_dir = out
    if activate:
        from ..classify.card import load_card
        from ..classify.runtime import activate_head
        from .classification import note_active_head

        activate_head(dirs, out)
        report.activated = True
        card = load_card(out)
        with lib.session() as s:  # the old head's predictions are stale from now on
            note_active_head(s, card.model_id, card.version, card.kind)
    tick("done", steps)
    return report

