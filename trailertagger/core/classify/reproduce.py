"""Reproduce the seed paper's table on the authors' features.

``reproduce`` trains trailertagger's three heads (mlp, single, multi) on the imported seed
features (``import-features``) with the authors' labels and splits, evaluates each on the
test split, and evaluates the authors' released classifiers (converted by ``heads
import-seed``, or converted here from their ``.pt`` files) on the same videos, so every row
of the table is measured the same way:

* macro precision and recall at probability 0.5 (the paper's P/R),
* macro and micro mAP,
* the per-modality ablation: macro mAP with each modality removed from every test video at
  inference (marked missing, as when an extractor is unavailable; for the released
  classifiers that means all zeros, exactly what their code feeds for a missing feature).

The paper's own ablation retrains without each feature; that is ``--models`` runs with
``train --modalities``, and is not repeated here because it multiplies the training time by
six.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..features.seed_format import SEED_LENGTHS, SEED_TO_MODALITY
from .card import CARD_FILE, _jsonable

log = logging.getLogger(__name__)

KINDS = ("mlp", "single", "multi")
MODALITIES = [SEED_TO_MODALITY[f] for f in sorted(SEED_TO_MODALITY)]
HEADLINE = ("macro_precision@0.5", "macro_recall@0.5", "macro_map", "micro_map")


@dataclass
class ReproduceConfig:
    models: Sequence[str] = KINDS
    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-4
    d_model: int = 128
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    seed: int = 0
    device: str = "auto"
    patience: int = 6
    ablation: bool = True
    split: str = "tst"


@dataclass
class Row:
    name: str
    source: str  # "trained" | "released"
    metrics: dict[str, float]
    ablation: dict[str, float] = field(default_factory=dict)  # modality -> macro mAP without it
    n: int = 0
    head_dir: str = ""


@dataclass
class ReproduceReport:
    rows: list[Row]
    split: str
    n: int
    constant_macro_map: float
    load_report: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({"split": self.split, "n": self.n, "constant_macro_map": self.constant_macro_map,
                          "rows": [r.__dict__ for r in self.rows], "load_report": self.load_report})

    def table(self) -> str:
        pct = lambda v: "   -  " if v is None or v != v else f"{100 * v:6.2f}"  # noqa: E731
        lines = [f"seed paper table on {self.split} ({self.n} trailers; constant predictor macro "
                 f"mAP {pct(self.constant_macro_map).strip()})", "",
                 f"  {'model':<30} {'P@0.5':>7} {'R@0.5':>7} {'mAP':>7} {'µmAP':>7}"]
        for r in self.rows:
            lines.append(f"  {r.name:<30} " + " ".join(f"{pct(r.metrics.get(k)):>7}" for k in HEADLINE))
        abl = [r for r in self.rows if r.ablation]
        if abl:
            mods = list(abl[0].ablation)
            short = [m.replace("seed_", "") for m in mods]
            lines += ["", "  macro mAP without one modality (at inference)",
                      f"  {'model':<30} " + " ".join(f"{s[:12]:>12}" for s in short)]
            for r in abl:
                lines.append(f"  {r.name:<30} " + " ".join(f"{pct(r.ablation.get(m)):>12}" for m in mods))
        return "\n".join(lines)

    def write_json(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")


def _released_heads(released: Path, out: Path, stats, labels_csv, splits_json, features_dir) -> list[Path]:
    """Head folders for the authors' classifiers: converted already, or converted now."""
    released = Path(released)
    converted = sorted(p.parent for p in released.glob(f"seed-*/{CARD_FILE}"))
    if (released / CARD_FILE).exists():
        converted = [released]
    if converted:
        return converted
    from .seed_heads import import_seed_heads

    results = import_seed_heads(released, out / "released", stats=stats, labels_csv=labels_csv,
                                splits_json=splits_json, features_dir=features_dir)
    return [r.head_dir for r in results]


def reproduce(labels_csv: Path, splits_json: Path, features_dir: Path, *, released: Path | None = None,
              stats: Path | None = None, out: Path | None = None, cfg: ReproduceConfig | None = None,
              progress: Callable[[str], None] | None = None) -> ReproduceReport:
    """Train, evaluate and tabulate (see the module docstring)."""
    from .datasets import load_seed_dataset
    from .evaluate import evaluate, predictor_for
    from .runtime import OnnxHead
    from .train import TrainConfig, export_head, fit

    cfg = cfg or ReproduceConfig()
    say = progress or (lambda s: None)
    bad = [m for m in cfg.models if m not in KINDS]
    if bad:
        raise ConfigError(f"unknown model(s) {', '.join(bad)}; choose from {', '.join(KINDS)}")
    ds = load_seed_dataset(labels_csv, splits_json, features_dir=features_dir)
    test = ds[cfg.split]
    if len(test) == 0 or len(ds["trn"]) == 0:
        raise ConfigError(f"{features_dir}: no imported features for the trn/{cfg.split} splits of "
                          f"{splits_json} (run import-features first)")
    y = test.labels
    items = [test[i][0] for i in range(len(test))]
    present = [m for m in MODALITIES if any(m in fs.modalities for fs in items)]
    ablate = present if cfg.ablation else []
    rows: list[Row] = []
    report = None
    for kind in cfg.models:
        say(f"training {kind}")
        tc = TrainConfig(model=kind, d_model=cfg.d_model, layers=cfg.layers, heads=cfg.heads,
                         dropout=cfg.dropout, modalities=present, epochs=cfg.epochs,
                         batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, device=cfg.device,
                         patience=cfg.patience,
                         max_lens={SEED_TO_MODALITY[f]: n for f, n in SEED_LENGTHS.items()},
                         checkpoint_dir=str(out / f"train-{kind}") if out else None)
        result = fit(ds["trn"], ds["val"], tc)
        say(f"evaluating {kind}")
        report = evaluate(predictor_for(result), items, y, result.thresholds, ablate, kind)
        head_dir = ""
        if out is not None:
            head_dir = str(export_head(result, Path(out) / f"trailertagger-{kind}",
                                       card_extra={"profile": "seed"}))
        rows.append(Row(f"trailertagger {kind}", "trained", report.metrics,
                        {a["modality"]: a["macro_map"] for a in report.ablation}, report.n, head_dir))
    if released is not None:
        work = Path(out) if out is not None else Path(features_dir) / ".reproduce"
        for head_dir in _released_heads(released, work, stats, labels_csv, splits_json, features_dir):
            head = OnnxHead(head_dir, providers=["CPUExecutionProvider"])
            say(f"evaluating released {head.model_id}")
            mods = [m for m in ablate if m in {s.name for s in head.specs}]
            report = evaluate(predictor_for(head), items, y, head.thresholds, mods, head.model_id)
            rows.append(Row(f"authors' {head.card.arch} (released)", "released", report.metrics,
                            {a["modality"]: a["macro_map"] for a in report.ablation}, report.n,
                            str(head_dir)))
    prevalence = y.mean(0)
    has = y.sum(0) > 0
    constant = float(prevalence[has].mean()) if has.any() else float("nan")
    return ReproduceReport(rows, cfg.split, len(items), constant, ds.report.format(limit=5))


def headline(rows: Sequence[Row]) -> np.ndarray:
    """``[rows, 4]`` of the table's numbers (tests compare them with direct recomputation)."""
    return np.array([[r.metrics[k] for k in HEADLINE] for r in rows], dtype=np.float64)
