"""Throughput on the device at hand: trailers per minute per extractor profile, and the genre
head's trailers per second on ONNX Runtime.  The same table on a CPU (``--device cpu``) and a
GPU (``--device cuda`` or ``auto``), so the script is checked where no GPU is
(``tests/core/test_benchmark_gpu.py``) and ready where one is.

Run: ``python benchmarks/gpu.py [--device auto] [--profiles default,paper] [--trailers 6]
[--duration 60] [--folder DIR] [--quick]``.

1. **Extraction.**  For each profile: a fresh feature cache, the models loaded first (timed
   apart), then every trailer through ``ExtractionSession.run`` (decode + every extractor);
   trailers per minute = trailers / wall minutes, after the load.  The device each extractor
   ended up on is printed (``cuda``, ``cpu``, or ``cpu*`` when CUDA was asked for and fell
   back).  Trailers: ``--folder`` (real ones), else synthetic 640x360 trailers of
   ``--duration`` seconds (``devtools.mediagen.make_trailer``: shots, title cards, speech over
   music).
2. **Genre head.**  The single-transformer head with the seed paper's dimensions (CLIP 512,
   OCR/ASR 384, audio 521, music 50; 150 rows), random weights, exported to ONNX and run by
   ONNX Runtime with the providers the device allows (CUDA with onnxruntime-gpu); trailers per
   second at batch 1 and 64, and the max |dp| between ONNX and torch float32.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _trailers(args, tmp: Path) -> list[Path]:
    from trailertagger.core.media.files import iter_videos

    if args.folder:
        videos = sorted(iter_videos([Path(args.folder)]))[: args.trailers]
        if not videos:
            raise SystemExit(f"no videos in {args.folder}")
        return videos
    from trailertagger.devtools import mediagen

    out = []
    for i in range(args.trailers):
        path, _ = mediagen.make_trailer(tmp / f"trailer {i}.mp4", duration=args.duration,
                                        size=(640, 360), seed=100 + i)
        out.append(path)
    return out


def extraction(args, videos: list[Path], device: str, tmp: Path) -> None:
    from trailertagger.core.config import load_config
    from trailertagger.core.errors import TrailerTaggerError
    from trailertagger.core.features.cache import FeatureCache
    from trailertagger.core.pipeline import ExtractionSession

    seconds = sum(_duration(v) for v in videos)
    print(f"\n== 1. extraction: {len(videos)} trailers, {seconds:.0f} s of video, "
          f"--device {device}")
    print(f"  {'profile':<9} {'load s':>7} {'wall s':>7} {'trailers/min':>12}  devices")
    cfg = load_config()
    for profile in args.profiles:
        session = ExtractionSession(profile, cfg, device,
                                    cache=FeatureCache(tmp / f"features-{profile}"))
        t = time.perf_counter()
        try:
            session.load_all()
        except TrailerTaggerError as err:
            print(f"  {profile:<9} unavailable: {str(err).splitlines()[0][:100]}")
            continue
        load_s = time.perf_counter() - t
        t = time.perf_counter()
        for v in videos:
            session.run(v)
        wall = time.perf_counter() - t
        devs = []
        for name in session.names:
            inst = session._instances.get(name)
            if inst is None:
                devs.append(f"{name}=n/a")
                continue
            used = str(getattr(inst, "_torch_device", None) or inst.device)
            fell_back = device.startswith("cuda") and not used.startswith("cuda")
            devs.append(f"{name}={used}{'*' if fell_back else ''}")
        print(f"  {profile:<9} {load_s:>7.1f} {wall:>7.1f} {len(videos) / wall * 60:>12.2f}  "
              + " ".join(devs), flush=True)


def _duration(path: Path) -> float:
    from trailertagger.core.media.probe import probe

    return float(probe(path).duration or 0.0)


def head(args, device: str, tmp: Path) -> None:
    import torch

    from trailertagger.core.classify.batching import pack_batch
    from trailertagger.core.classify.models import ModelConfig, build_model
    from trailertagger.core.classify.onnx_export import export_onnx
    from trailertagger.core.classify.train import TrainConfig, infer_specs
    from trailertagger.core.runtime.devices import ort_cuda_available, resolve_device
    from trailertagger.core.runtime.onnx import ort_session
    from trailertagger.devtools.synthetic import PlantedData, make_task

    n = 64
    data = PlantedData(make_task("spread", scale="seed"), n, seed=9)
    specs = infer_specs(data, TrainConfig())
    items = [data[i][0] for i in range(n)]
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="single", modalities=specs, d_model=128, layers=2,
                                    heads=4)).eval()
    path = tmp / "head.onnx"
    diff = export_onnx(model, path)
    ort_device = resolve_device(device, has_cuda=ort_cuda_available, what="genre head")
    sess = ort_session(path, device="cpu" if ort_device == "cpu" else "auto")
    print(f"\n== 2. genre head (single transformer, seed dims), ONNX Runtime on "
          f"{sess.get_providers()[0]}")
    print(f"  {'batch':>5} {'ms/batch':>9} {'trailers/s':>11}")
    for b in (1, n):
        feeds = pack_batch(items[:b], specs).feeds()
        reps = 3 if args.quick else (30 if b == 1 else 10)
        sess.run(["probs"], feeds)  # warm-up
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            sess.run(["probs"], feeds)
            ts.append(time.perf_counter() - t)
        ms = float(np.median(ts)) * 1000
        print(f"  {b:>5} {ms:>9.2f} {b / ms * 1000:>11.1f}", flush=True)
    print(f"  ONNX vs torch float32 (at export): max |dp| {diff:.1e}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--profiles", default="default,paper",
                    type=lambda s: [p for p in s.split(",") if p])
    ap.add_argument("--trailers", type=int, default=6)
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per synthetic trailer")
    ap.add_argument("--folder", default=None, help="real trailers instead of synthetic ones")
    ap.add_argument("--quick", action="store_true", help="1 trailer of 6 s, few repeats (a check)")
    ap.add_argument("--no-extract", action="store_true", help="only the genre head")
    args = ap.parse_args()
    if args.quick:
        args.trailers, args.duration = 1, 6.0
    import torch

    from trailertagger.core.runtime.devices import resolve_device

    device = resolve_device(args.device, what="benchmark")
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "none"
    print(f"device: requested {args.device}, using {device} (GPU: {gpu}); torch "
          f"{torch.__version__}, {torch.get_num_threads()} CPU threads")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        if not args.no_extract:
            extraction(args, _trailers(args, tmp), device, tmp)
        head(args, device, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
