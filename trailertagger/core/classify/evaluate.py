"""Evaluation of any head on a labelled set: metrics, per-genre table, modality ablation.

Works the same for a torch training result, an ONNX head and the zero-shot head: each is
reduced to a *predictor* (a function from a list of feature items to ``[N, 21]``
probabilities).  The ablation re-runs prediction with one modality removed from every video
(marked missing, exactly as when an extractor is unavailable) and reports the macro mAP lost.
The constant label-frequency predictor's macro mAP (each genre's prevalence, since tied
scores rank nothing) is printed as the floor any useful head must clear.
"""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..features.types import FeatureSet
from ..genres import GENRES
from ..progress import Progress
from .batching import Arrays
from .card import _jsonable
from .metrics import macro_map, per_genre_ap, precision_recall, summary

Item = FeatureSet | Arrays
Predictor = Callable[[Sequence[Item]], np.ndarray]


def drop_modality(item: Item, name: str) -> Item:
    """A shallow copy of ``item`` without modality ``name`` (recorded as missing)."""
    if isinstance(item, FeatureSet):
        out = copy.copy(item)
        out.modalities = {k: v for k, v in item.modalities.items() if k != name}
        out.missing = {**item.missing, name: "dropped for ablation"}
        return out
    return {k: v for k, v in item.items() if k != name}


def predictor_for(head: Any) -> Predictor:
    """Wrap a TrainResult, an OnnxHead or any GenreHead as a :data:`Predictor`."""
    genres = tuple(getattr(head, "genres", GENRES))

    def run(items: Sequence[Item]) -> np.ndarray:
        items = list(items)
        if not items:
            return np.zeros((0, len(GENRES)), dtype=np.float32)
        if hasattr(head, "model") and hasattr(head, "predict"):  # TrainResult (torch)
            return head.predict(items)
        if all(isinstance(i, FeatureSet) for i in items):
            rows = head.predict_many(items)
            return np.array([[r[g] for g in genres] for r in rows], dtype=np.float32)
        if hasattr(head, "predict_arrays"):
            return head.predict_arrays(items)
        raise TypeError(f"{type(head).__name__} needs FeatureSets")
    return run


@dataclass
class EvalReport:
    """Everything ``trailertagger evaluate`` prints and writes."""

    head: str
    n: int
    metrics: dict[str, float]
    per_genre: list[dict[str, Any]]
    ablation: list[dict[str, Any]] = field(default_factory=list)
    constant_macro_map: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write_json(self, path: Path) -> None:
        Path(path).write_text(json.dumps(_jsonable(self.to_dict()), indent=2), encoding="utf-8")

    def write_csv(self, path: Path) -> None:
        """Per-genre rows, then a blank line and the ablation rows (spreadsheet friendly)."""
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            cols = list(self.per_genre[0]) if self.per_genre else []
            w.writerow(cols)
            for row in self.per_genre:
                w.writerow([_fmt_csv(row[c]) for c in cols])
            w.writerow(["ALL (macro)"] + [""] * (len(cols) - 1))
            for k, v in self.metrics.items():
                w.writerow([k, _fmt_csv(v)])
            if self.ablation:
                w.writerow([])
                acols = list(self.ablation[0])
                w.writerow(acols)
                for row in self.ablation:
                    w.writerow([_fmt_csv(row[c]) for c in acols])

    def table(self) -> str:
        """Plain-text report: headline metrics, per-genre AP table, ablation table."""
        m = self.metrics
        lines = [
            f"head {self.head}: {self.n} videos",
            f"  macro mAP {_f(m.get('macro_map'))}   micro mAP {_f(m.get('micro_map'))}   "
            f"(constant label-frequency predictor: {_f(self.constant_macro_map)})",
            f"  macro P/R @0.5   {_f(m.get('macro_precision@0.5'))} / {_f(m.get('macro_recall@0.5'))}",
        ]
        if "macro_precision@tuned" in m:
            lines.append(f"  macro P/R @tuned {_f(m.get('macro_precision@tuned'))} / "
                         f"{_f(m.get('macro_recall@tuned'))}")
        lines += ["", f"  {'genre':<12} {'n':>5} {'AP':>6} {'P@.5':>6} {'R@.5':>6} {'thr':>5} "
                      f"{'P@thr':>6} {'R@thr':>6}"]
        for r in self.per_genre:
            lines.append(f"  {r['genre']:<12} {r['support']:>5} {_f(r['ap']):>6} "
                         f"{_f(r['precision@0.5']):>6} {_f(r['recall@0.5']):>6} {r['threshold']:>5.2f} "
                         f"{_f(r['precision@tuned']):>6} {_f(r['recall@tuned']):>6}")
        if self.ablation:
            lines += ["", f"  {'without':<10} {'present':>8} {'macro mAP':>10} {'change':>8}"]
            for r in self.ablation:
                lines.append(f"  {r['modality']:<10} {r['present']:>8} {_f(r['macro_map']):>10} "
                             f"{r['delta']:>+8.4f}")
        return "\n".join(lines)


def _f(x: float | None) -> str:
    return "  -  " if x is None or x != x else f"{x:.4f}"


def _fmt_csv(x: Any) -> Any:
    return "" if isinstance(x, float) and x != x else round(x, 6) if isinstance(x, float) else x


def _present(item: Item, name: str) -> bool:
    if isinstance(item, FeatureSet):
        m = item.modalities.get(name)
        return m is not None and m.length > 0
    x = item.get(name)
    return x is not None and len(x) > 0


def evaluate(predict: Predictor, items: Sequence[Item], labels: np.ndarray,
             thresholds: Mapping[str, float] | None = None, modalities: Sequence[str] = (),
             head_name: str = "", progress: Progress | None = None) -> EvalReport:
    """Score ``predict`` on ``items``; ``modalities`` lists what the ablation drops in turn.
    ``progress(pass label, passes done, passes)`` before each pass."""
    y = np.asarray(labels, dtype=np.float32)
    passes = 1 + len(modalities)
    if progress:
        progress("all modalities", 0, passes)
    probs = predict(items)
    thr = np.array([float((thresholds or {}).get(g, 0.5)) for g in GENRES])
    metrics = summary(y, probs, thr)
    ap = per_genre_ap(y, probs)
    p5, r5 = precision_recall(y, probs, 0.5)
    pt, rt = precision_recall(y, probs, thr)
    support = y.sum(0).astype(int)
    per_genre = [
        {"genre": g, "support": int(support[i]), "ap": float(ap[i]), "precision@0.5": float(p5[i]),
         "recall@0.5": float(r5[i]), "threshold": float(thr[i]), "precision@tuned": float(pt[i]),
         "recall@tuned": float(rt[i])}
        for i, g in enumerate(GENRES)
    ]
    prevalence = y.mean(0) if len(y) else np.zeros(len(GENRES))
    has_pos = support > 0
    constant = float(prevalence[has_pos].mean()) if has_pos.any() else float("nan")
    ablation = []
    for k, name in enumerate(modalities):
        if progress:
            progress(f"without {name}", k + 1, passes)
        dropped = predict([drop_modality(it, name) for it in items])
        mm = macro_map(y, dropped)
        ablation.append({"modality": name, "present": sum(_present(it, name) for it in items),
                         "macro_map": mm, "delta": mm - metrics["macro_map"]})
    return EvalReport(head_name, len(items), metrics, per_genre, ablation, constant)
