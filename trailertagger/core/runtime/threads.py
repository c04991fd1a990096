"""Thread settings: the CPU share one extraction may use, torch's intra-op count scoped to a
block, and the count native runtimes (ONNX Runtime, CTranslate2) size their pools by.

The CPU share: a worker of a pool that runs several extractions at once (``[jobs] workers``
and the extract stage limit) is told how many cores are its own, ``cores // concurrent
extractions`` (``share_for``), and sizes everything from that instead of the whole machine:
the extraction lanes and threads (``pipeline.plan_threads``), ffmpeg's decode threads
(``set_decode_threads``), OpenBLAS/OpenMP and OpenCV pools (``limit_native_pools``).  Without
it (one worker, a CLI ``extract``, the GUI's inline runs) every count is what it was: sized
from ``os.cpu_count()``.  Issue 13: two workers each sizing for the whole 2-core machine ran
4 extraction lanes plus decode threads on 2 cores and burned 195% CPU for the throughput one
worker had at 162%.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

_SHARE: list[int | None] = [None]  # this process's CPU share; None: the whole machine


def machine_cores() -> int:
    return max(1, os.cpu_count() or 1)


def share_for(concurrent: int, cores: int | None = None) -> int:
    """Cores each of ``concurrent`` simultaneous extractions may use: ``cores //
    concurrent``, at least 1 (more extractions than cores: one thread each, the rest is the
    OS's to share out)."""
    cores = machine_cores() if cores is None else max(1, int(cores))
    return max(1, cores // max(1, int(concurrent)))


def set_cpu_share(cores: int | None) -> None:
    """This process's CPU share (``None``: the whole machine, the default)."""
    _SHARE[0] = None if cores is None else max(1, int(cores))


def cpu_share() -> int:
    """Cores this process's extraction may use: its share, else every core."""
    share = _SHARE[0]
    return machine_cores() if share is None else share


def shared() -> bool:
    """True when this process has a share smaller than the machine."""
    return _SHARE[0] is not None and _SHARE[0] < machine_cores()


def decode_threads() -> int:
    """ffmpeg decoder threads: 0 (ffmpeg's auto, one per core and then some) for a process
    with the whole machine, its share otherwise."""
    return cpu_share() if shared() else 0


def set_decode_threads(stream: Any) -> None:
    """Frame + slice threading on a PyAV stream (settable before its first decode), as many
    threads as ``decode_threads`` says."""
    n = decode_threads()
    if n > 0:
        with contextlib.suppress(AttributeError, ValueError):
            stream.codec_context.thread_count = n
    stream.thread_type = "AUTO"


def limit_native_pools(n: int) -> None:
    """OpenBLAS / OpenMP / MKL (through threadpoolctl when installed: numpy's OpenBLAS is
    already loaded by then, so environment variables come too late) and OpenCV's pool to
    ``n`` threads for the rest of the process.  torch's own count is scoped per call by
    ``torch_threads``; ONNX Runtime and CTranslate2 read ``cpu_threads`` at load."""
    n = max(1, int(n))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)  # for libraries loaded later and child processes
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency of scikit-learn, not of ours
        pass
    else:
        try:
            threadpool_limits(limits=n)
        except Exception as err:  # noqa: BLE001 - an odd BLAS build must not stop a worker
            log.debug("threadpoolctl could not limit native pools: %s", err)
    try:
        import cv2
    except ImportError:  # pragma: no cover - cv2 is part of the extract extra
        return
    with contextlib.suppress(Exception):
        cv2.setNumThreads(n)


def cpu_threads() -> int:
    """Threads for native runtimes: torch's setting (which the pipeline scopes from
    ``extract.threads`` with ``torch_threads``), so every extractor honours the same knob;
    the CPU share when torch is not installed."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is part of the extract extra
        return cpu_share()
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
