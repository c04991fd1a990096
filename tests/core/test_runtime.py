"""``core.runtime``: ONNX Runtime sessions, device choice, thread scoping, format readers."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import numpy as np
import pytest

from trailertagger.core.errors import ConfigError, ModelCorruptError, ModelMissingError
from trailertagger.core.runtime import choose_providers, ort_session, resolve_device, torch_threads
from trailertagger.core.runtime.formats import (
    onnx_has_op,
    onnx_scalar_initializers,
    proto_fields,
    read_tf_bundle,
    varint,
)

# ----------------------------------------------------------------------------- protobuf by hand


def enc_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num: int, value: int | bytes, wire: int | None = None) -> bytes:
    if isinstance(value, int):
        return enc_varint(num << 3 | 0) + enc_varint(value)
    if wire == 5:
        return enc_varint(num << 3 | 5) + value
    return enc_varint(num << 3 | 2) + enc_varint(len(value)) + value


def tiny_onnx_bytes() -> bytes:
    """A ModelProto with two scalar initializers (float raw_data, uint8 int32_data) and one
    Sigmoid node: the parts ``onnx_scalar_initializers``/``onnx_has_op`` read."""
    scale = field(8, b"x_scale") + field(2, 1) + field(9, struct.pack("<f", 0.125))
    zero = field(8, b"x_zero_point") + field(2, 2) + field(5, 7)
    node = field(1, b"x") + field(2, b"y") + field(4, b"Sigmoid")
    graph = field(1, node) + field(5, scale) + field(5, zero)
    return field(1, 8) + field(7, graph)


def test_varint_and_proto_fields_round_trip() -> None:
    for n in (0, 1, 127, 128, 300, 2**35 + 5):
        assert varint(enc_varint(n), 0) == (n, len(enc_varint(n)))
    msg = field(1, 150) + field(2, b"hello") + field(2, b"again") + field(3, b"\x00\x00\x80?", wire=5)
    assert proto_fields(msg) == {1: [150], 2: [b"hello", b"again"], 3: [b"\x00\x00\x80?"]}
    with pytest.raises(ValueError, match="wire type"):
        proto_fields(enc_varint(1 << 3 | 3))  # group start: not supported


def test_onnx_initializers_and_ops_from_raw_bytes(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(tiny_onnx_bytes())
    got = onnx_scalar_initializers(path, {"x_scale", "x_zero_point", "absent"})
    assert got == {"x_scale": 0.125, "x_zero_point": 7.0}
    assert onnx_has_op(path, "Sigmoid") and not onnx_has_op(path, "Softmax")


def test_tf_bundle_reader_refuses_what_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "ckpt.index").write_bytes(b"\0" * 64)
    with pytest.raises(ValueError, match="not a TF tensor bundle"):
        read_tf_bundle(tmp_path / "ckpt")
    with pytest.raises(FileNotFoundError):
        read_tf_bundle(tmp_path / "nothing")


def test_tf_bundle_reader_reads_the_musicnn_checkpoint(offline_store) -> None:
    from trailertagger.core.extractors import music

    try:
        res = offline_store.resolve(music.MODEL_ID)
    except ModelMissingError as err:
        pytest.skip(f"musicnn weights not installed: {err}")
    weights = read_tf_bundle(music._musicnn_dir(Path(res.path)))
    assert weights["conv2d/kernel"].dtype == np.float32 and weights["conv2d/kernel"].ndim == 4
    assert not [k for k in weights if "/Adam" in k]
    assert weights["dense_1/bias"].shape == (len(music.MSD_LABELS),)


# ----------------------------------------------------------------------------- ONNX sessions


def _identity_model(tmp_path: Path) -> Path:
    import torch

    class Twice(torch.nn.Module):
        def forward(self, x):  # noqa: ANN001, ANN202
            return x * 2.0

    path = tmp_path / "twice.onnx"
    torch.onnx.export(Twice(), (torch.zeros(1, 3),), str(path), input_names=["x"],
                      output_names=["y"], dynamo=False)
    return path


def test_ort_session_runs_with_threads_and_installed_providers(tmp_path: Path) -> None:
    import onnxruntime as ort

    sess = ort_session(_identity_model(tmp_path), threads=1, inter_threads=1)
    out = sess.run(None, {"x": np.ones((1, 3), np.float32)})[0]
    np.testing.assert_allclose(out, 2.0)
    assert set(sess.get_providers()) <= set(ort.get_available_providers())
    assert ort_session(_identity_model(tmp_path), device="cpu").get_providers() == ["CPUExecutionProvider"]


def test_providers_are_preferred_intersected_with_installed() -> None:
    both = ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]
    assert choose_providers(both) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert choose_providers([]) == ["CPUExecutionProvider"]


@pytest.mark.parametrize("content", [b"", b"not an onnx graph at all", b"\x08\x07\x3a\x05junk"])
def test_a_bad_model_file_is_a_clear_model_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelCorruptError, match="broken.onnx: not a usable ONNX model") as err:
        ort_session(path)
    assert err.value.exit_code == 4
    with pytest.raises(ModelMissingError, match="not found"):
        ort_session(tmp_path / "absent.onnx")


# ----------------------------------------------------------------------------- devices, threads


def test_device_choice(caplog) -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto", has_cuda=lambda: True) == "cuda"
    assert resolve_device("cuda:1", has_cuda=lambda: True) == "cuda:1"
    with caplog.at_level(logging.INFO, logger="trailertagger.core.runtime.devices"):
        assert resolve_device("auto", has_cuda=lambda: False) == "cpu"
        assert caplog.records == []  # auto picking the CPU is no news
        assert resolve_device("cuda", has_cuda=lambda: False, what="image.effnet_lite0") == "cpu"
    assert len(caplog.records) == 1 and caplog.records[0].levelno == logging.WARNING
    assert "image.effnet_lite0" in caplog.text and "CPU" in caplog.text
    for bad in ("gpu", "cuda:x", "cpu:0"):
        with pytest.raises(ConfigError, match="unknown device"):
            resolve_device(bad)


def test_torch_threads_is_restored_even_when_the_block_raises() -> None:
    import torch

    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with torch_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(target):
        assert torch.get_num_threads() == target
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(0):  # 0: leave the setting alone
        assert torch.get_num_threads() == before


def test_training_restores_the_thread_count() -> None:
    import torch

    from trailertagger.core.classify.train import TrainConfig, fit
    from trailertagger.devtools.synthetic import PlantedData, make_task

    task = make_task("spread")
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    fit(PlantedData(task, 32, seed=1), PlantedData(task, 16, seed=2),
        TrainConfig(model="mlp", epochs=1, mlp_hidden=16, batch_size=16, threads=target, device="cpu"))
    assert torch.get_num_threads() == before
