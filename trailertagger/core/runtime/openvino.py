"""OpenVINO on the CPU for convolution-heavy ONNX models, with ONNX Runtime as the fallback.

Why: OCR's text detector (PP-OCRv6 det, a convolutional net run on every scene frame) was
half of all the CPU a video costs.  On the same frames, one thread, OpenVINO's CPU plugin
ran it 3.1x faster than ONNX Runtime with the input shape left dynamic and 3.6x with the
shape fixed per compiled model (0.058 against 0.211 s a frame, 640x352, 2-core Xeon), with
the probability map within 5e-5 of ONNX Runtime's.  Three things keep the numbers those of
the ONNX model:

* precision pinned to f32: on CPUs with AMX or AVX-512 BF16 OpenVINO infers in bfloat16 by
  default, which moved the same map by up to 0.5;
* one compiled model per input shape (frames of one video share theirs), compiled on first
  use (~0.2 s) and kept while that shape keeps coming;
* one compiled model per concurrent caller: an OpenVINO stream runs one request at a time,
  so lanes sharing one would take turns; the pool hands each caller its own and keeps the
  idle ones for the next call.

``set_openvino(False)`` (``[extract] openvino = false``) or ``TRAILERTAGGER_OPENVINO=0``
turns it off; without the ``openvino`` package the callers use ONNX Runtime as before.

Privacy: ``import openvino`` imports its model-conversion tools, which send a usage event to
Google Analytics through the ``openvino-telemetry`` package (installed with it) unless the
user opted out with that package's own script.  ``import_openvino`` hides that package
before the first import, so the tools fall back to their built-in no-op stub: the app sends
nothing anywhere.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelCorruptError
from .onnx import short_error

log = logging.getLogger(__name__)

#: idle compiled models kept per model (one per lane that used it; more lanes than this
#: compile again when they come back)
MAX_IDLE = 4
_ENV = "TRAILERTAGGER_OPENVINO"
_enabled = True


def set_openvino(enabled: bool) -> None:
    """Whether models that can run on OpenVINO do (the ``[extract] openvino`` setting)."""
    global _enabled
    _enabled = bool(enabled)


def import_openvino() -> Any:
    """``import openvino`` without its telemetry (see the module docstring): a ``None`` entry
    in ``sys.modules`` makes ``import openvino_telemetry`` raise ImportError, which OpenVINO's
    tools answer with their no-op stub."""
    if "openvino" not in sys.modules:
        sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def openvino_version() -> str | None:
    """The installed OpenVINO's version when it may be used now, else None (turned off by
    the setting or ``TRAILERTAGGER_OPENVINO=0``, or not installed)."""
    if not _enabled or os.environ.get(_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        ov = import_openvino()
    except Exception:  # noqa: BLE001 - a broken install is the same as none here
        return None
    return str(getattr(ov, "__version__", "?")).split("-")[0]


class OpenVinoModel:
    """An ONNX model on OpenVINO's CPU plugin, called like an ONNX Runtime session with one
    input and one output: ``model(x) -> first output``.  Thread-safe; see the module
    docstring for why each caller gets its own compiled model."""

    def __init__(self, path: Path | str, threads: int = 1) -> None:
        ov = import_openvino()
        self.path = Path(path)
        self.threads = max(1, int(threads))
        self._core = ov.Core()
        try:
            self._model = self._core.read_model(str(self.path))
        except Exception as err:  # noqa: BLE001 - OpenVINO raises RuntimeError subclasses
            raise ModelCorruptError(f"{self.path}: OpenVINO cannot read this model "
                                    f"({short_error(err)})") from err
        if len(self._model.inputs) != 1:
            raise ModelCorruptError(f"{self.path}: expected one input, found "
                                    f"{len(self._model.inputs)}")
        self._lock = threading.Lock()
        self._idle: list[tuple[tuple[int, ...], Any]] = []  # (shape, infer request)
        self.compiled = 0  # compiled models made so far (for tests and logs)

    def _config(self) -> dict[str, Any]:
        return {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": self.threads,
                "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
                "ENABLE_CPU_PINNING": False}  # lanes and other workers share the cores

    def _take(self, shape: tuple[int, ...]) -> Any:
        with self._lock:
            for i, (s, request) in enumerate(self._idle):
                if s == shape:
                    del self._idle[i]
                    return request
        model = self._model.clone()
        model.reshape(list(shape))
        compiled = self._core.compile_model(model, "CPU", self._config())
        with self._lock:
            self.compiled += 1
        log.debug("%s compiled for input %s on OpenVINO (%d so far)", self.path.name, shape,
                  self.compiled)
        return compiled.create_infer_request()

    def _give_back(self, shape: tuple[int, ...], request: Any) -> None:
        with self._lock:
            # another shape means another video: the old ones will not be asked for again
            self._idle = [(s, r) for s, r in self._idle if s == shape]
            if len(self._idle) < MAX_IDLE:
                self._idle.append((shape, request))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        shape = tuple(int(d) for d in x.shape)
        request = self._take(shape)
        request.infer({0: x})  # a request that raised is not given back, so not reused
        out = np.array(request.get_output_tensor(0).data, copy=True)
        self._give_back(shape, request)
        return out

    def close(self) -> None:
        """Drop every compiled model (their memory goes with them)."""
        with self._lock:
            self._idle = []
