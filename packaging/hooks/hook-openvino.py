# OpenVINO (OCR's text detector, core/runtime/openvino.py): the Python module links only
# libopenvino itself; the CPU plugin and the ONNX reader are loaded at run time from the same
# folder, so PyInstaller's analysis does not see them.  Only what the app uses is collected:
# the CPU plugin, the ONNX and IR frontends, TBB and hwloc (not the GPU/NPU plugins or the
# TensorFlow, PyTorch, PaddlePaddle, JAX, GGUF frontends: ~100 MB the app never loads).
# Without the plugin the app still works: OCR's warm-up at load fails and ONNX Runtime runs it.
from PyInstaller.utils.hooks import collect_dynamic_libs

_WANTED = ("libopenvino.so", "libopenvino_c.so", "libopenvino_intel_cpu_plugin", "libopenvino_onnx_frontend",
           "libopenvino_ir_frontend", "libtbb", "libhwloc")

# the default patterns ("*.so") miss the versioned libraries (libopenvino_onnx_frontend.so.N)
_ALL = collect_dynamic_libs("openvino", search_patterns=["*.so", "*.so.*", "*.dll", "*.dylib"])
binaries = [(src, dest) for src, dest in _ALL
            if src.rsplit("/", 1)[-1].startswith(_WANTED)
            and "malloc_proxy" not in src]  # it would replace malloc if anything loaded it
