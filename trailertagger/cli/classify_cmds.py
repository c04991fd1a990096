"""``train``, ``evaluate``, ``export-onnx`` and ``heads list|activate``.

Training needs torch (the ``train`` extra); ``heads`` and evaluating an ONNX or zero-shot
head do not.  Long steps show a progress bar with the running loss and validation metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.errors import ConfigError
from .common import add_library_arg, open_app, progress_bar

MODEL_KINDS = ("multi", "single", "mlp")


# ----------------------------------------------------------------------------- parsers


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data (seed format: --data + --splits + --features/--videos; "
                             "or --simple-csv)")
    g.add_argument("--data", type=Path, metavar="CSV",
                   help="seed label CSV (imdb_id, youtube_id, genres as \"['Drama', ...]\", title, duration)")
    g.add_argument("--splits", type=Path, metavar="JSON", help='splits file {"trn": [...], "val": [...], "tst": [...]}')
    g.add_argument("--features", type=Path, metavar="DIR", help="folder of <id>.npz feature files")
    g.add_argument("--videos", type=Path, metavar="DIR",
                   help="folder of <id>.<ext> videos; features are extracted (and cached) when no .npz exists")
    g.add_argument("--simple-csv", type=Path, metavar="CSV",
                   help="CSV with columns path,genres (genres separated by '|'), optional split")
    g.add_argument("--profile", default="default", help="extractor profile for videos without features")
    g.add_argument("--unknown-genres", choices=("skip-row", "drop"), default="skip-row",
                   help="a row naming a genre outside the 21: skip it (default) or keep its known genres")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a genre head on cached features",
                       description="Train an MLP, single- or multi-transformer genre head, then "
                                   "export it to ONNX with a model card.")
    _add_data_args(p)
    p.add_argument("--from-library", action="store_true",
                   help="train a personal head on the videos you corrected (cached features), "
                        "cross-validate it against the current head, activate it only if better")
    p.add_argument("--library", type=Path, metavar="FILE",
                   help="library database for --from-library and --activate (default: the "
                        "app's library)")
    m = p.add_argument_group("model")
    m.add_argument("--model", choices=MODEL_KINDS, default="multi", help="head architecture (default multi)")
    m.add_argument("--modalities", help="comma-separated modalities to use (default: all in the data)")
    m.add_argument("--max-len", action="append", default=[], metavar="[MOD=]N",
                   help="sequence cap, for all modalities or one (repeatable), default 150")
    m.add_argument("--d-model", type=int, default=128)
    m.add_argument("--layers", type=int, default=2)
    m.add_argument("--heads", type=int, default=4)
    m.add_argument("--dropout", type=float, default=0.1)
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=5e-4)
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--pos-weight", default="auto",
                   help="BCE positive weight: auto (neg/pos per genre, capped), none, or a number")
    t.add_argument("--grad-clip", type=float, default=1.0)
    t.add_argument("--modality-dropout", type=float, default=0.1)
    t.add_argument("--patience", type=int, default=6, help="epochs without val mAP gain before stopping")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    t.add_argument("--amp", choices=("auto", "off", "bf16", "fp16"), default="auto")
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    o = p.add_argument_group("output")
    o.add_argument("--out", type=Path, help="training folder (checkpoints; resumed if it holds the same run)")
    o.add_argument("--no-resume", action="store_true", help="start over even if --out holds a run")
    o.add_argument("--head-out", type=Path, help="head folder to export to (default: the app's heads folder)")
    o.add_argument("--no-export", action="store_true", help="keep the torch checkpoint only")
    o.add_argument("--activate", action="store_true", help="make the new head the app's active head")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a head on a labelled split",
                       description="Macro/micro mAP, precision/recall at 0.5 and at tuned thresholds, "
                                   "per-genre AP and a modality ablation.")
    _add_data_args(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--head", type=Path, help="ONNX head folder (default: the active head)")
    which.add_argument("--checkpoint", type=Path, help="training folder (torch weights)")
    which.add_argument("--zero-shot", action="store_true", help="the zero-shot head")
    p.add_argument("--split", default="tst", choices=("trn", "val", "tst"), help="split to score (default tst)")
    p.add_argument("--csv", type=Path, help="write per-genre and ablation tables as CSV")
    p.add_argument("--json", type=Path, help="write the full report as JSON")
    p.add_argument("--no-ablation", action="store_true", help="skip dropping each modality in turn")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export-onnx", help="export a trained checkpoint as an ONNX head",
                       description="Export a training folder's best weights to model.onnx + card.json.")
    p.add_argument("--checkpoint", type=Path, required=True, help="training folder")
    p.add_argument("--out", type=Path, help="head folder (default: the app's heads folder)")
    p.add_argument("--opset", type=int, default=None)
    p.add_argument("--activate", action="store_true", help="make the new head the app's active head")
    add_library_arg(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("heads", help="list or activate genre heads")
    hs = p.add_subparsers(dest="heads_command", metavar="ACTION")
    q = hs.add_parser("list", help="show installed heads and which is active")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_heads_list)
    q = hs.add_parser("activate", help="activate a head folder, a model id, or 'zero-shot'")
    q.add_argument("head", help="head folder, model id from 'heads list', or zero-shot")
    add_library_arg(q)
    q.set_defaults(func=cmd_heads_activate)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


# ----------------------------------------------------------------------------- helpers


def _dirs():
    from ..core.paths import app_dirs

    return app_dirs()


def _load_dataset(args: argparse.Namespace):
    from ..core.classify.datasets import load_seed_dataset, load_simple_dataset

    if args.data and args.simple_csv:
        raise ConfigError("give either --data (seed format) or --simple-csv, not both")
    if args.data:
        if not (args.features or args.videos):
            raise ConfigError("--data needs --features DIR and/or --videos DIR")
        ds = load_seed_dataset(args.data, args.splits, args.features, args.videos,
                               unknown=args.unknown_genres, profile=args.profile)
    elif args.simple_csv:
        ds = load_simple_dataset(args.simple_csv, args.features, args.splits, profile=args.profile)
    else:
        raise ConfigError("no data: give --data CSV --splits JSON --features DIR, or --simple-csv CSV")
    if ds.report.problems:
        print(ds.report.format(), file=sys.stderr)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in ds.splits.items())
    print(f"{ds.report.kept} labelled videos ({sizes})", file=sys.stderr)
    return ds


def _materialise(samples, desc: str) -> None:
    """Load/extract every video's features up front, with a bar (extraction can take minutes)."""
    pending = [i for i, it in enumerate(samples.items) if it.features is None]
    if not pending:
        return
    with progress_bar(len(pending), desc, unit="video") as bar:
        for i in pending:
            samples.items[i].features = samples.features(i)
            bar.update(1)


def _max_lens(values: list[str]) -> tuple[int, dict[str, int]]:
    default, per = 150, {}
    for v in values:
        name, sep, n = v.rpartition("=")
        try:
            if sep:
                per[name.strip()] = int(n)
            else:
                default = int(n)
        except ValueError as err:
            raise ConfigError(f"--max-len expects N or MODALITY=N, got {v!r}") from err
    return default, per


def _pos_weight(text: str) -> str | float | None:
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    try:
        return float(text)
    except ValueError as err:
        raise ConfigError(f"--pos-weight expects auto, none or a number, got {text!r}") from err


def train_config(args: argparse.Namespace):  # noqa: ANN201 - a TrainConfig
    """The ``TrainConfig`` the ``train`` options describe (shared with ``--from-library``)."""
    from ..core.classify.train import TrainConfig

    default_len, per_len = _max_lens(args.max_len)
    return TrainConfig(
        model=args.model, d_model=args.d_model, layers=args.layers, heads=args.heads,
        dropout=args.dropout, max_len=default_len, max_lens=per_len,
        modalities=[m.strip() for m in args.modalities.split(",")] if args.modalities else None,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        pos_weight=_pos_weight(args.pos_weight), grad_clip=args.grad_clip,
        modality_dropout=args.modality_dropout, patience=args.patience, seed=args.seed,
        device=args.device, amp=args.amp, threads=args.threads, resume=not args.no_resume,
    )


class _TrainBar:
    """Turns ``fit``'s events into one tqdm bar with loss and validation mAP."""

    def __init__(self) -> None:
        self.bar = None
        self.post: dict[str, str] = {}

    def __call__(self, ev) -> None:
        if self.bar is None:
            self.bar = progress_bar(ev.epochs * ev.steps, "training", unit="step", leave=True)
            self.bar.update(ev.epoch * ev.steps)
        if ev.kind == "step":
            self.bar.update(1)
            self.post.update(epoch=f"{ev.epoch + 1}/{ev.epochs}", loss=f"{ev.loss:.4f}")
        else:
            if ev.metrics and "val_macro_map" in ev.metrics:
                self.post["val_mAP"] = f"{ev.metrics['val_macro_map']:.4f}"
            if ev.best is not None:
                self.post["best"] = f"{ev.best:.4f}"
            if self.bar.disable:  # no terminal (CI, pipes): one plain line per epoch instead
                vm = ev.metrics.get("val_macro_map") if ev.metrics else None
                print(f"epoch {ev.epoch + 1}/{ev.epochs}: loss {ev.loss:.4f}"
                      + (f", val mAP {vm:.4f}" if vm is not None else "")
                      + (" (best)" if ev.improved else ""), file=sys.stderr)
        self.bar.set_postfix(self.post, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _print_metrics(metrics: dict[str, Any]) -> None:
    for k, v in metrics.items():
        print(f"  {k:<24} {v:.4f}" if isinstance(v, float) else f"  {k:<24} {v}")


# ----------------------------------------------------------------------------- handlers


def cmd_train(args: argparse.Namespace) -> int:
    if args.from_library:
        return train_from_library(args)
    from ..core.classify.train import export_head, fit

    ds = _load_dataset(args)
    train, val = ds["trn"], ds["val"]
    if len(train) == 0:
        raise ConfigError("no usable training videos (see the problems above)")
    if len(val) == 0:
        print("warning: no validation videos: no early stopping, no tuned thresholds", file=sys.stderr)
    _materialise(train, "features (train)")
    _materialise(val, "features (val)")
    cfg = train_config(args)
    dirs = _dirs()
    out = args.out or dirs.data / "training" / f"{args.model}-{datetime.now():%Y%m%d-%H%M%S}"
    cfg.checkpoint_dir = str(out)
    bar = _TrainBar()
    try:
        result = fit(train, val, cfg, progress=bar)
    except ValueError as err:
        raise ConfigError(str(err)) from err
    finally:
        bar.close()
    print(f"trained {args.model} head in {result.seconds:.0f}s; best epoch {result.best_epoch + 1}"
          f"{' (stopped early)' if result.stopped_early else ''}; checkpoint {out}")
    _print_metrics(result.metrics)
    if args.no_export:
        return 0
    extra = {"dataset": {"labels": str(args.data or args.simple_csv), "splits": str(args.splits or ""),
                         "problems": len(ds.report.problems)}}
    head_dir = args.head_out or dirs.heads / f"{args.model}-{datetime.now():%Y%m%d-%H%M%S}"
    export_head(result, head_dir, extra)
    print(f"head saved to {head_dir}")
    if args.activate:
        _activate(args, head_dir)
    return 0


def train_from_library(args: argparse.Namespace) -> int:
    """``train --from-library``: called by the ``train`` command (``classify_cmds``)."""
    cfg = train_config(args)
    with open_app(args) as app, progress_bar(None, "personal head", unit="fit") as bar:
        def progress(label: str, done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.set_postfix_str(label)

        report = app.train_from_library(
            config=cfg, head_out=args.head_out, export=not args.no_export, progress=progress,
            on_warning=lambda msg: print(f"warning: {msg}", file=sys.stderr))
    print(report.summary())
    if getattr(args, "out", None):
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "personal_head_report.json").write_text(
            json.dumps(report.to_dict(), indent=2, default=str), encoding="utf-8")
    if report.activated:
        print("re-classify the library with the new head: trailertagger rerun --all")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..core.classify.train import export_head, load_trained

    result = load_trained(args.checkpoint)  # TrainingError (exit 2) when not a training folder
    dirs = _dirs()
    out = args.out or dirs.heads / f"{result.model_config.kind}-{datetime.now():%Y%m%d-%H%M%S}"
    export_head(result, out, opset=args.opset)
    print(f"head saved to {out}")
    if args.activate:
        _activate(args, out)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..core.classify.evaluate import evaluate, predictor_for
    from ..core.classify.runtime import OnnxHead, active_head

    ds = _load_dataset(args)
    samples = ds[args.split]
    if len(samples) == 0:
        raise ConfigError(f"split {args.split!r} has no usable videos")
    _materialise(samples, f"features ({args.split})")
    if args.checkpoint:
        from ..core.classify.train import load_trained

        head: Any = load_trained(args.checkpoint)
        name, thresholds = f"checkpoint {args.checkpoint}", head.thresholds
        modalities = [s.name for s in head.model_config.modalities]
    else:
        if args.head:
            try:
                head = OnnxHead(args.head)
            except (ValueError, FileNotFoundError) as err:
                raise ConfigError(f"cannot load head {args.head}: {err}") from err
        elif args.zero_shot:
            from ..core.classify.zero_shot import ZeroShotHead
            from .common import model_store

            head = ZeroShotHead(model_store())
        else:
            from .common import model_store

            head = active_head(_dirs(), model_store())
        name, thresholds = head.model_id, head.thresholds
        specs = getattr(head, "specs", None)
        modalities = [s.name for s in specs] if specs else sorted(
            {m for i in range(len(samples)) for m in samples.features(i).modalities})
    items = [samples.features(i) for i in range(len(samples))]
    steps = 1 + (0 if args.no_ablation else len(modalities))
    with progress_bar(steps, "evaluating", unit="pass") as bar:
        started = [0]

        def tick(label: str, _done: float, _total: float | None) -> None:  # before each pass
            if started[0]:
                bar.update(1)
            started[0] += 1
            bar.set_postfix_str(label)

        report = evaluate(predictor_for(head), items, samples.labels, thresholds,
                          () if args.no_ablation else modalities, name, tick)
        bar.update(1)
    print(report.table())
    if args.csv:
        report.write_csv(args.csv)
        print(f"wrote {args.csv}", file=sys.stderr)
    if args.json:
        report.write_json(args.json)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def _resolve_head_arg(dirs, text: str) -> Path | None:
    from ..core.classify.runtime import ZERO_SHOT, list_heads

    if text == ZERO_SHOT:
        return None
    path = Path(text)
    if path.is_dir():
        return path
    for info in list_heads(dirs):
        if info.model_id == text and info.path is not None:
            return info.path
    raise ConfigError(f"no head folder or model id {text!r}; see 'trailertagger heads list'")


def cmd_heads_list(args: argparse.Namespace) -> int:
    from ..core.classify.runtime import list_heads

    rows = list_heads(_dirs())
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return 0
    print(f"  {'model id':<34} {'arch':<9} {'macro mAP':>9}  {'created':<25} path")
    for r in rows:
        mm = f"{r.macro_map:.4f}" if r.macro_map is not None else "-"
        flag = "*" if r.active else " "
        err = f"  [broken: {r.error}]" if r.error else ""
        print(f"{flag} {r.model_id:<34} {r.arch:<9} {mm:>9}  {r.created:<25} {r.path or '(built in)'}{err}")
    return 0


def cmd_heads_activate(args: argparse.Namespace) -> int:
    _activate(args, _resolve_head_arg(_dirs(), args.head))
    return 0


def _activate(args: argparse.Namespace, head: Path | str | None) -> None:
    """Activate ``head`` everywhere: the pointer, and the library's record of it (older
    predictions become stale at once, so ``rerun --stale`` re-classifies them)."""
    with open_app(args) as app:
        ident = app.activate_head(head)
        stale = app.status(failures=0).counts.stale
    print(f"activated {ident.path or 'zero-shot'} ({ident.model_id} {ident.version})")
    if stale:
        print(f"{stale} video(s) have predictions from another head: "
              "'trailertagger rerun --stale' re-classifies them", file=sys.stderr)
