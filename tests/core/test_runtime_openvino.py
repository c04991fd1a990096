"""OpenVINO for convolutional ONNX models (``runtime.openvino``): ONNX Runtime's numbers in
f32, one compiled model per input shape and per concurrent caller, off by setting or
environment, and no telemetry sent by importing it."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from trailertagger.core.errors import ModelCorruptError  # noqa: E402
from trailertagger.core.runtime import openvino as ovrt  # noqa: E402
from trailertagger.core.runtime.onnx import ort_session  # noqa: E402


def _random_conv_net(path, seed=0):
    """A small detector-like ONNX graph (conv, ReLU, conv, sigmoid) with seeded random
    weights and a dynamic height and width, written with onnx.helper."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.normal(0, 0.1, 8).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.3, (1, 8, 3, 3)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["h"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Conv", ["r", "w2"], ["l"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["l"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "random_weights_net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, "h", "w"])],
        initializer=[w1, b1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_random_weights_net_matches_onnx_runtime_per_shape_and_reuses_compiled_models(tmp_path):
    path = _random_conv_net(tmp_path / "random weights net.onnx")
    ov_model = ovrt.OpenVinoModel(path, threads=1)
    ort = ort_session(path, threads=1, device="cpu")
    rng = np.random.default_rng(1)
    for shape in ((1, 3, 32, 64), (1, 3, 32, 64), (1, 3, 48, 40)):
        x = rng.normal(size=shape).astype(np.float32)
        got = ov_model(x)
        want = ort.run(None, {"x": x})[0]
        assert got.shape == want.shape == (1, 1, *shape[2:])
        np.testing.assert_allclose(got, want, atol=2e-5)
    assert ov_model.compiled == 2  # the second call of a shape reused the first's model
    ov_model.close()
    ov_model(np.zeros((1, 3, 32, 64), np.float32))
    assert ov_model.compiled == 3  # closed: compiled again


def test_concurrent_callers_each_get_their_own_compiled_model(tmp_path):
    """An OpenVINO stream runs one request at a time: callers in two lanes must not share
    one (they would take turns), and their results must not mix."""
    path = _random_conv_net(tmp_path / "random weights net.onnx", seed=3)
    ov_model = ovrt.OpenVinoModel(path, threads=1)
    ort = ort_session(path, threads=1, device="cpu")
    xs = [np.random.default_rng(k).normal(size=(1, 3, 64, 64)).astype(np.float32) for k in range(8)]
    want = [ort.run(None, {"x": x})[0] for x in xs]
    got: dict[int, np.ndarray] = {}
    start = threading.Barrier(2)

    def lane(ks):
        start.wait()
        for k in ks:
            got[k] = ov_model(xs[k])

    threads = [threading.Thread(target=lane, args=(range(i, 8, 2),)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(8):
        np.testing.assert_allclose(got[k], want[k], atol=2e-5)
    assert 1 <= ov_model.compiled <= 2


def test_off_by_setting_or_environment(monkeypatch):
    assert ovrt.openvino_version()
    ovrt.set_openvino(False)
    try:
        assert ovrt.openvino_version() is None
    finally:
        ovrt.set_openvino(True)
    monkeypatch.setenv("TRAILERTAGGER_OPENVINO", "0")
    assert ovrt.openvino_version() is None


def test_a_file_that_is_not_a_model_is_a_corrupt_model_error(tmp_path):
    bad = tmp_path / "det model.onnx"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ModelCorruptError, match="det model.onnx"):
        ovrt.OpenVinoModel(bad)


def test_importing_openvino_through_the_app_sends_no_telemetry():
    """``import openvino`` would send a usage event through openvino-telemetry; through the
    app the tools get their no-op stub instead (fresh process: nothing imported before)."""
    code = (
        "import sys\n"
        "from trailertagger.core.runtime.openvino import openvino_version\n"
        "assert openvino_version()\n"
        "import openvino.tools.ovc.telemetry_utils as tu\n"
        "assert sys.modules['openvino_telemetry'] is None\n"
        "print(tu.tm.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "openvino.tools.ovc.telemetry_stub"
