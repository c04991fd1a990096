"""The GPU path, checked on a machine without one: mixed precision within its stated tolerance
(bfloat16 autocast on the CPU stands in for float16 on CUDA: it is the coarser of the two),
and every CUDA choice made with injected availability."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from trailertagger.core.runtime import devices, precision


def test_autocast_dtype_per_device_and_setting():
    torch = pytest.importorskip("torch")
    assert precision.autocast_dtype("cuda", "auto") is torch.float16
    assert precision.autocast_dtype("cuda:1", "fp16") is torch.float16
    assert precision.autocast_dtype("cpu", "auto") is None  # float32 on the CPU by default
    assert precision.autocast_dtype("cpu", "fp16") is None
    assert precision.autocast_dtype("cuda", "fp32") is None
    assert precision.autocast_dtype("cpu", "bf16") is torch.bfloat16
    with pytest.raises(ValueError):
        precision.autocast_dtype("cpu", "int4")


def test_auto_picks_cuda_when_present_and_an_explicit_request_says_when_it_falls_back(caplog):
    assert devices.resolve_device("auto", has_cuda=lambda: True) == "cuda"
    assert devices.resolve_device("cuda:1", has_cuda=lambda: True) == "cuda:1"
    with caplog.at_level(logging.INFO, logger=devices.__name__):
        assert devices.resolve_device("auto", has_cuda=lambda: False, what="probe-x") == "cpu"
        assert devices.resolve_device("cuda", has_cuda=lambda: False, what="probe-y") == "cpu"
    assert "probe-x" not in caplog.text  # auto choosing the CPU is no news
    assert "probe-y: device cuda requested but CUDA is not available" in caplog.text


def test_a_model_that_cannot_move_to_the_gpu_stays_on_the_cpu(caplog):
    class Model:
        def __init__(self):
            self.where = "cpu"

        def to(self, device):
            if str(device).startswith("cuda"):
                raise RuntimeError("CUDA error: no kernel image is available for execution\nmore")
            self.where = device
            return self

    with caplog.at_level(logging.WARNING, logger=devices.__name__):
        model, device = devices.place(Model(), "cuda", "image.test")
    assert device == "cpu" and model.where == "cpu"
    assert "image.test: could not use cuda (CUDA error: no kernel image" in caplog.text


def test_whisper_runs_float16_on_cuda_and_int8_on_the_cpu(monkeypatch, tmp_path):
    from trailertagger.core.extractors import asr

    seen = []

    class FakeWhisper:
        def __init__(self, path, **kw):
            seen.append(kw)
            self.model = type("M", (), {"is_multilingual": False})()

    class Store:
        def resolve(self, model_id):
            return type("R", (), {"path": str(tmp_path), "model_id": model_id, "sha256": "0",
                                  "source": "test"})()

    for f in ("model.bin", "config.json", "tokenizer.json"):
        (tmp_path / f).write_text("x")
    fake_module = type("FW", (), {"WhisperModel": FakeWhisper})
    monkeypatch.setitem(__import__("sys").modules, "faster_whisper", fake_module)
    monkeypatch.setattr(asr, "get_text_embedder", lambda store, device: type(
        "E", (), {"model_id": "e", "weights_sha256": "1", "device": device})())
    for has_gpu, want in ((True, ("cuda", "float16")), (False, ("cpu", "int8"))):
        monkeypatch.setattr(asr, "_ct2_cuda", lambda has_gpu=has_gpu: has_gpu)
        ex = asr.FasterWhisperExtractor()
        ex._load(Store(), "auto")
        assert (seen[-1]["device"], seen[-1]["compute_type"]) == want


def test_yamnet_and_the_genre_head_ask_onnxruntime_for_its_cuda_provider():
    from trailertagger.core.runtime.onnx import choose_providers

    gpu = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(gpu) == gpu  # onnxruntime-gpu: CUDA first, CPU as the fallback
    assert choose_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


def _frames(path, n: int = 8) -> list[np.ndarray]:
    import av

    out = []
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i % 12 == 0:
                out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == n:
                break
    return out


@pytest.mark.slow
def test_image_embeddings_under_mixed_precision_stay_within_the_stated_tolerance(
        real_clips, offline_store):
    """EfficientNet-Lite0 on real frames: bfloat16 autocast against float32."""
    from trailertagger.core.extractors.image import EfficientNetLite0Extractor

    images = _frames(real_clips["bbb"])
    ex = EfficientNetLite0Extractor()
    ex.load(offline_store, "cpu")
    emb32, p32 = ex.embed_images(images)
    ex.precision = "bf16"
    emb16, p16 = ex.embed_images(images)
    assert emb16.dtype == np.float32 and emb16.shape == emb32.shape
    cos = (emb32 * emb16).sum(1) / (np.linalg.norm(emb32, axis=1) * np.linalg.norm(emb16, axis=1))
    assert cos.min() >= precision.MIN_COSINE, cos
    top2 = np.sort(p32, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > precision.TOP1_MARGIN
    assert clear.any()
    assert (p32.argmax(1) == p16.argmax(1))[clear].all()
