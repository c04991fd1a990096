"""The seed authors' own system: ``import-features``, ``heads import-seed``, ``reproduce``.

Each handler parses, calls one core function and prints; the rules live in
``core/features/seed_import.py``, ``core/classify/seed_heads.py`` and
``core/classify/reproduce.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import progress_bar


def _heads_actions(sub: argparse._SubParsersAction) -> argparse._SubParsersAction | None:
    """The ``heads`` command's own sub-parsers (registered by ``classify_cmds``)."""
    heads = sub.choices.get("heads")
    if heads is None:
        return None
    for action in heads._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import-features", help="import the seed authors' features.pkl into a feature folder",
        description="Read the seed authors' features.pkl (Zenodo record 13909366) without running "
                    "pickle code (only numpy arrays, tensors and containers are admitted) and write "
                    "one feature file per trailer, with provenance \"seed authors' features\".")
    p.add_argument("pickle", type=Path, metavar="features.pkl")
    p.add_argument("--out", type=Path,
                   help="feature folder (default: <feature cache>/seed-authors); train with --features DIR")
    p.add_argument("--overwrite", action="store_true", help="rewrite trailers already imported")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_import_features)

    p = sub.add_parser(
        "reproduce", help="train mlp/single/multi on the seed features and print the paper's table",
        description="Train trailertagger's three heads on imported seed features with the seed "
                    "labels and splits, evaluate them and the authors' released classifiers on "
                    "the test split, and print macro P/R at 0.5, macro/micro mAP and a "
                    "per-modality ablation.")
    p.add_argument("--data", type=Path, required=True, metavar="CSV", help="seed label CSV")
    p.add_argument("--splits", type=Path, required=True, metavar="JSON", help="seed splits JSON")
    p.add_argument("--features", type=Path, required=True, metavar="DIR",
                   help="folder written by import-features")
    p.add_argument("--released", type=Path, metavar="DIR",
                   help="the authors' .pt files, or heads converted by 'heads import-seed'")
    p.add_argument("--stats", type=Path, help="stats.pt / seed_stats.json (for the released models)")
    p.add_argument("--out", type=Path, help="folder for checkpoints and exported heads")
    p.add_argument("--models", default="mlp,single,multi", help="comma-separated (default all three)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--split", default="tst", choices=("val", "tst"))
    p.add_argument("--no-ablation", action="store_true")
    p.add_argument("--json", type=Path, help="also write the table as JSON")
    p.set_defaults(func=cmd_reproduce)

    hs = _heads_actions(sub)
    if hs is not None:
        q = hs.add_parser(
            "import-seed", help="convert the seed authors' released classifiers into heads",
            description="Convert mlp.pt, single_transformer.pt and multi_transformer.pt (each with "
                        "its *_config.pt; loaded with weights_only=True) into ONNX heads with model "
                        "cards.  Probabilities are sigmoids; thresholds are tuned on the validation "
                        "split when --data/--splits/--features are given, else 0.5.")
        q.add_argument("dir", type=Path, help="folder with the authors' .pt files")
        q.add_argument("--stats", type=Path,
                       help="stats.pt (their repo) or seed_stats.json (written by import-features); "
                            "needed by a model trained with normalisation")
        q.add_argument("--out", type=Path, help="parent folder of the new heads (default: the app's heads folder)")
        q.add_argument("--data", type=Path, metavar="CSV", help="seed label CSV, for tuning thresholds")
        q.add_argument("--splits", type=Path, metavar="JSON", help="seed splits JSON")
        q.add_argument("--features", type=Path, metavar="DIR", help="imported feature folder")
        q.add_argument("--json", action="store_true")
        q.set_defaults(func=cmd_heads_import_seed)


def _dirs():
    from ..core.paths import app_dirs

    return app_dirs()


def cmd_import_features(args: argparse.Namespace) -> int:
    from ..core.features.seed_import import import_seed_features

    out = args.out or _dirs().features / "seed-authors"
    bar = progress_bar(None, "importing", unit="trailer")

    def tick(_stage: str, _done: float, total: float | None) -> None:
        bar.total = total
        bar.update(1)

    try:
        report = import_seed_features(args.pickle, out, overwrite=args.overwrite, progress=tick)
    finally:
        bar.close()
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.format())
    if report.problems:
        print(f"{len(report.problems)} trailer(s) skipped", file=sys.stderr)
    return 1 if report.problems else 0


def cmd_heads_import_seed(args: argparse.Namespace) -> int:
    from ..core.classify.seed_heads import import_seed_heads

    out = args.out or _dirs().heads
    results = import_seed_heads(args.dir, out, stats=args.stats, labels_csv=args.data,
                                splits_json=args.splits, features_dir=args.features)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for r in results:
            print(r.format())
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from ..core.classify.reproduce import ReproduceConfig, reproduce

    cfg = ReproduceConfig(models=[m.strip() for m in args.models.split(",") if m.strip()],
                          epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          d_model=args.d_model, layers=args.layers, heads=args.heads,
                          seed=args.seed, device=args.device, ablation=not args.no_ablation,
                          split=args.split)
    report = reproduce(args.data, args.splits, args.features, released=args.released,
                       stats=args.stats, out=args.out, cfg=cfg,
                       progress=lambda s: print(s, file=sys.stderr))
    print(report.table())
    if args.json:
        report.write_json(args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
