"""Genre heads on planted-signal data: quality vs the Bayes-optimal score, training speed, and
ONNX vs torch inference latency.  All numbers come from one run, side by side.

Run: ``python benchmarks/classifier.py [--quick] [--threads 2] [--zero-shot]``.

1. **Quality.**  Planted tasks (``trailertagger.devtools.synthetic``), labels with
   MovieNet-like imbalance and co-occurrence (Drama ~48 %, Comedy ~32 %, Thriller ~21 % ...
   Western 1.3 %).  Default: ``event`` and ``missing``; ``--tasks`` also takes ``spread`` and
   ``order``:
   ``event``   six genres are told only by two short events (3 rows) at random places in a
               40-80 row sequence that cancel exactly in the time-mean: averaging must lose
               them, a transformer can read them; the other genres as in ``spread``;
   ``order``   like ``event`` but the sign is told by which event comes first (harder);
   ``missing`` evidence spread over whole sequences; audio missing for half the videos,
               music for 30 %;
   ``spread``  evidence spread over whole sequences (averaging is sufficient).
   MLP, single- and multi-transformer are trained with the same budget; the test macro mAP of
   each is printed next to the Bayes-optimal score (exact posterior given what a head sees,
   assuming the events are read perfectly) and the constant label-frequency predictor, plus
   the same on the event genres only and on the videos with a missing modality only.
2. **Epoch time** on 18,000 synthetic trailers with the seed paper's dimensions and sequence
   lengths (CLIP 512, OCR/ASR 384, audio 521, music 50; 100-200 rows, capped at 150): a fixed
   number of real training steps of ``fit`` is timed and extrapolated to a full epoch.
3. **Latency** per trailer of the exported ONNX graph (ONNX Runtime, CPU) vs torch eager, at
   batch 1 and 32, printed as a ratio.
4. ``--zero-shot``: builds the labelled cold-start clip set (real media through the real
   extraction pipeline; minutes) and prints the zero-shot head's macro mAP vs the constant
   predictor.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
    os.environ["OMP_NUM_THREADS"] = str(n)


def quality(args) -> None:
    from trailertagger.core.classify.metrics import macro_map, per_genre_ap
    from trailertagger.core.classify.train import TrainConfig, fit, predict_probs
    from trailertagger.core.genres import GENRE_INDEX
    from trailertagger.devtools.synthetic import PlantedData, make_task

    print(f"\n== 1. planted-signal quality (test macro mAP; train {args.n_train}, val {args.n_val}, "
          f"test {args.n_test}, {args.epochs} epochs max, d_model {args.d_model}, same budget for all)")
    print(f"  {'task':<16} {'constant':>8} {'MLP':>7} {'single':>7} {'multi':>7} {'Bayes':>7}   "
          "train s (mlp/single/multi)")
    for name in args.tasks:
        task = make_task(name)
        train = PlantedData(task, args.n_train, seed=1)
        val = PlantedData(task, args.n_val, seed=2)
        test = PlantedData(task, args.n_test, seed=3)
        probs = {"Bayes": test.bayes_probs()}
        secs = {}
        for kind in ("mlp", "single", "multi"):
            cfg = TrainConfig(model=kind, epochs=args.epochs, d_model=args.d_model, layers=2,
                              heads=4, mlp_hidden=256, batch_size=32, lr=args.lr, seed=0,
                              patience=max(3, args.epochs // 3), modality_dropout=0.1)
            t = time.perf_counter()
            res = fit(train, val, cfg)
            secs[kind] = time.perf_counter() - t
            probs[kind] = predict_probs(res.model, test)
        y = test.labels
        const = float(y.mean(0)[y.sum(0) > 0].mean())
        m = {k: macro_map(y, p) for k, p in probs.items()}
        print(f"  {name:<16} {const:>8.4f} {m['mlp']:>7.4f} {m['single']:>7.4f} {m['multi']:>7.4f} "
              f"{m['Bayes']:>7.4f}   {secs['mlp']:.0f}/{secs['single']:.0f}/{secs['multi']:.0f}",
              flush=True)
        if task.order_genres:  # the genres whose evidence averaging cannot see
            cols = [GENRE_INDEX[g] for g in task.order_genres]
            ev = {k: float(np.nanmean(per_genre_ap(y, p)[cols])) for k, p in probs.items()}
            cm = float(y.mean(0)[cols].mean())
            print(f"  {'  event genres':<16} {cm:>8.4f} {ev['mlp']:>7.4f} {ev['single']:>7.4f} "
                  f"{ev['multi']:>7.4f} {ev['Bayes']:>7.4f}   ({', '.join(task.order_genres)})",
                  flush=True)
        if task.missing:
            miss = np.zeros(len(y), dtype=bool)
            for mod in task.missing:
                miss |= test.is_missing[mod]
            mm = {k: macro_map(y[miss], p[miss]) for k, p in probs.items()}
            cm = float(y[miss].mean(0)[y[miss].sum(0) > 0].mean())
            print(f"  {'  with a gap':<16} {cm:>8.4f} {mm['mlp']:>7.4f} {mm['single']:>7.4f} "
                  f"{mm['multi']:>7.4f} {mm['Bayes']:>7.4f}   ({int(miss.sum())} test videos "
                  "missing audio and/or music)", flush=True)


def epoch_time(args) -> None:
    import torch

    from trailertagger.core.classify.batching import as_arrays, pack_batch
    from trailertagger.core.classify.models import ModelConfig, build_model, count_parameters
    from trailertagger.core.classify.train import TrainConfig, fit, infer_specs
    from trailertagger.devtools.synthetic import PlantedData, make_task

    n_full = 18_000
    steps = args.time_steps
    bs = 32
    data = PlantedData(make_task("spread", scale="seed"), steps * bs, seed=5)
    dims = ", ".join(f"{k} {v}" for k, v in data.task.dims.items())
    print(f"\n== 2. one epoch on {n_full:,} synthetic trailers, seed dims ({dims}), 100-200 rows "
          f"capped at 150, batch {bs}, {torch.get_num_threads()} CPU threads")
    print(f"  measured {steps} real training steps of fit() (steps 3..{steps}, after warm-up), "
          "extrapolated to a full epoch")
    print(f"  {'model':<7} {'params':>9} {'s/step':>8} {'epoch (18k) min':>16}  of which data s/step")
    for kind in ("mlp", "single", "multi"):
        stamps: list[float] = []
        cfg = TrainConfig(model=kind, epochs=1, batch_size=bs, d_model=128, layers=2, heads=4,
                          stats_samples=64, seed=0, device="cpu")
        fit(data, [], cfg, progress=lambda ev, s=stamps: s.append(time.perf_counter())
            if ev.kind == "step" else None)
        per_step = (stamps[-1] - stamps[2]) / (len(stamps) - 3)
        # the data side alone (generation + subsampling + padding), to separate it out
        specs = infer_specs(data, cfg)
        t = time.perf_counter()
        rng = np.random.default_rng(0)
        for s in range(3):
            pack_batch([as_arrays(data[i][0], specs) for i in range(s * bs, (s + 1) * bs)], specs, rng=rng)
        data_s = (time.perf_counter() - t) / 3
        params = count_parameters(build_model(ModelConfig(kind=kind, modalities=specs, d_model=128,
                                                          layers=2, heads=4)))
        print(f"  {kind:<7} {params:>9,} {per_step:>8.3f} {per_step * n_full / bs / 60:>16.1f}  "
              f"{data_s:.3f}", flush=True)
    if torch.cuda.is_available():
        print("  (a GPU is present: rerun with --device cuda in fit to measure it)")
    else:
        print("  no GPU on this machine: GPU epoch time not measured")


def latency(args) -> None:
    import torch

    from trailertagger.core.classify.batching import pack_batch
    from trailertagger.core.classify.models import ModelConfig, build_model, to_tensors
    from trailertagger.core.classify.onnx_export import export_onnx
    from trailertagger.core.classify.train import TrainConfig, infer_specs
    from trailertagger.core.runtime.onnx import ort_session
    from trailertagger.devtools.synthetic import PlantedData, make_task

    data = PlantedData(make_task("spread", scale="seed"), 64, seed=9)
    specs = infer_specs(data, TrainConfig())
    items = [data[i][0] for i in range(64)]
    threads = torch.get_num_threads()
    print(f"\n== 3. inference latency per trailer, seed dims, {threads} threads "
          "(torch eager vs ONNX Runtime CPU; median of repeats)")
    print(f"  {'model':<7} {'batch':>5} {'torch ms':>9} {'onnx ms':>9} {'torch/onnx':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("mlp", "single", "multi"):
            torch.manual_seed(0)
            model = build_model(ModelConfig(kind=kind, modalities=specs, d_model=128, layers=2,
                                            heads=4)).eval()
            path = Path(tmp) / f"{kind}.onnx"
            diff = export_onnx(model, path)
            sess = ort_session(path, threads=threads, device="cpu")
            for b in (1, 32):
                batch = pack_batch(items[:b], specs)
                tensors = to_tensors(batch)
                feeds = batch.feeds()
                reps = 30 if b == 1 else 6

                def run_torch(t=tensors, mdl=model):
                    with torch.no_grad():
                        mdl(*t)

                def run_onnx(f=feeds, s=sess):
                    s.run(["probs"], f)

                tt = _median_time(run_torch, reps) / b * 1000
                to = _median_time(run_onnx, reps) / b * 1000
                print(f"  {kind:<7} {b:>5} {tt:>9.2f} {to:>9.2f} {tt / to:>10.2f}", flush=True)
            print(f"          (ONNX parity vs torch: max |dp| {diff:.1e})")


def _median_time(fn, reps: int) -> float:
    fn()
    fn()  # warm-up
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def zero_shot(args) -> None:
    from trailertagger.cli.common import model_store
    from trailertagger.core.classify.metrics import macro_map, micro_map, per_genre_ap
    from trailertagger.core.classify.zero_shot import ZeroShotHead
    from trailertagger.core.genres import GENRES
    from trailertagger.devtools import coldstart_set as cs

    folder = Path(args.clips_dir or Path(tempfile.gettempdir()) / "trailertagger-coldstart-clips")
    print(f"\n== 4. zero-shot head on {len(cs.SCRIPTS)} real generated clips (title card + "
          f"espeak-ng voice-over + music, default extraction profile), clips in {folder}")
    t = time.perf_counter()
    paths = cs.make_clips(folder)
    fss = cs.extract_all(paths)
    print(f"  clips made and features extracted in {time.perf_counter() - t:.0f} s")
    head = ZeroShotHead(model_store())
    probs = np.array([head.probabilities(fs) for fs in fss])
    y = cs.labels_matrix()
    const = np.tile(y.mean(0), (len(y), 1))
    zs, cm = macro_map(y, probs), macro_map(y, const)
    print(f"  macro mAP: zero-shot {zs:.4f}  constant {cm:.4f}  margin {zs - cm:+.4f}")
    print(f"  micro mAP: zero-shot {micro_map(y, probs):.4f}  constant {micro_map(y, const):.4f}")
    # which evidence carries it: each source alone
    for keep in ("asr", "ocr", "audio", "image", "music"):
        sub = []
        for fs in fss:
            f2 = type(fs)(fs.content_hash, fs.duration, {k: v for k, v in fs.modalities.items()
                                                         if k == keep}, dict(fs.missing), fs.profile)
            sub.append(head.probabilities(f2))
        print(f"    {keep:<6} alone: macro mAP {macro_map(y, np.array(sub)):.4f}")
    if args.per_genre:
        ap = per_genre_ap(y, probs)
        print("  " + ", ".join(f"{g} {a:.2f}" for g, a in zip(GENRES, ap, strict=True)))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="torch/ORT CPU threads (default 2)")
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run in about a minute")
    p.add_argument("--tasks", nargs="+", default=["event", "missing"],
                   help="planted tasks: spread, event, order (harder, positional), missing")
    p.add_argument("--skip", nargs="*", default=[], choices=["quality", "epoch", "latency"])
    p.add_argument("--zero-shot", action="store_true", help="also run the cold-start clip set (minutes)")
    p.add_argument("--clips-dir", type=Path, help="where the cold-start clips are kept (reused)")
    p.add_argument("--per-genre", action="store_true")
    args = p.parse_args()
    args.n_train, args.n_val, args.n_test, args.epochs, args.d_model, args.lr = (
        (300, 100, 200, 3, 32, 2e-3) if args.quick else (1500, 300, 600, 8, 64, 1e-3))
    args.time_steps = 6 if args.quick else 10
    _threads(args.threads)
    t = time.perf_counter()
    if "quality" not in args.skip:
        quality(args)
    if "epoch" not in args.skip:
        epoch_time(args)
    if "latency" not in args.skip:
        latency(args)
    if args.zero_shot:
        zero_shot(args)
    print(f"\ntotal {time.perf_counter() - t:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
