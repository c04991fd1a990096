"""Mixed precision for inference: float16 autocast on CUDA, opt-in bfloat16 on the CPU.

``precision`` per extractor (class attribute, settable per instance):

* ``"auto"`` (default): float16 autocast on CUDA, plain float32 on the CPU;
* ``"fp32"``: never autocast;
* ``"fp16"``: float16 autocast (CUDA only; float32 elsewhere);
* ``"bf16"``: bfloat16 autocast on either device.

Outputs are always handed back as float32.  The tolerance that mixed precision must keep is
stated here and tested (``tests/core/test_precision.py``, bfloat16 on the CPU, which is the
coarser of the two: 8 mantissa bits against float16's 11): per-row cosine similarity of the
embeddings to float32 at least ``MIN_COSINE``, and the top-1 class unchanged for rows whose
float32 top-1 probability leads the runner-up by more than ``TOP1_MARGIN``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
MIN_COSINE = 0.99
TOP1_MARGIN = 0.05


def autocast_dtype(device: str, precision: str = "auto"):  # noqa: ANN201 - torch.dtype | None
    """The autocast dtype for ``device`` and ``precision``; None means float32."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose {', '.join(PRECISIONS)}")
    cuda = str(device).startswith("cuda")
    if precision == "bf16":
        return torch.bfloat16
    if precision in ("auto", "fp16") and cuda:
        return torch.float16
    return None


@contextlib.contextmanager
def inference_autocast(device: str, precision: str = "auto") -> Iterator[None]:
    """``torch.autocast`` for ``device`` at ``precision`` (a no-op for float32)."""
    import torch

    dtype = autocast_dtype(device, precision)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type="cuda" if str(device).startswith("cuda") else "cpu",
                        dtype=dtype):
        yield
