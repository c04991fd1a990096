"""The inference runtime in one place: ONNX Runtime sessions, torch device choice, thread
scoping, and the binary format readers the extractors need.

* ``onnx.ort_session``: one way to open an ONNX model (providers = preferred ∩ installed,
  thread settings, a clear ``ModelCorruptError`` for a file that is not a usable graph);
* ``openvino.OpenVinoModel``: a convolutional ONNX model on OpenVINO's CPU plugin (f32, one
  compiled model per shape and caller), where it is installed and allowed;
* ``devices.resolve_device``: ``auto|cpu|cuda[:N]`` to what this machine can run, with
  one log line when a CUDA request falls back to the CPU;
* ``threads.torch_threads``: torch's thread count set for a block and always restored;
  ``threads.cpu_threads`` the count native runtimes (ORT, CTranslate2) size their pools by;
* ``memory.release_free_memory``: heap pages freed by a finished step go back to the OS;
* ``formats``: schema-less protobuf fields, ONNX initializers/ops and TF tensor bundles.
"""

from __future__ import annotations

from .devices import cuda_available, resolve_device
from .memory import release_free_memory
from .onnx import PREFERRED_PROVIDERS, choose_providers, ort_session
from .threads import cpu_threads, torch_threads

__all__ = ["PREFERRED_PROVIDERS", "choose_providers", "cpu_threads", "cuda_available",
           "ort_session", "release_free_memory", "resolve_device", "torch_threads"]
