"""Thread settings: torch's intra-op count scoped to a block, and the count native runtimes
(ONNX Runtime, CTranslate2) size their pools by."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def cpu_threads() -> int:
    """Threads for native runtimes: torch's setting (which the pipeline scopes from
    ``extract.threads`` with ``torch_threads``), so every extractor honours the same knob;
    the core count when torch is not installed."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is part of the extract extra
        return max(1, os.cpu_count() or 1)
    return max(1, int(torch.get_num_threads()))


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` for the block, then restored (also when the
    block raises): the setting is process-wide, and whatever runs afterwards in the same
    process (a training run after extraction, the GUI after a personal-head fit) should get
    the machine back.  ``n <= 0`` leaves the setting alone."""
    if n <= 0:
        yield
        return
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is part of the extract extra
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)
