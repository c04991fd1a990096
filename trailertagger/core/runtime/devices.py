"""Device choice for every model: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` → what runs here."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..errors import ConfigError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")


def cuda_available() -> bool:
    """Can torch use a CUDA GPU in this process? (False without torch.)"""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is part of the extract extra
        return False
    return bool(torch.cuda.is_available())


def resolve_device(requested: str | None = "auto", has_cuda: Callable[[], bool] | None = None,
                   what: str = "") -> str:
    """``"cpu"`` or ``"cuda"``/``"cuda:N"`` for a requested device.

    ``auto`` picks CUDA when it is usable, else the CPU, silently; an explicit ``cuda`` that
    cannot be used falls back to the CPU with one warning naming ``what`` asked for it.
    ``has_cuda`` tells whether the backend in question sees a GPU (default: torch's view;
    CTranslate2 passes its own).  Anything else is a ``ConfigError``.
    """
    name = (requested or "auto").strip().lower()
    base = name.partition(":")[0]
    if base not in DEVICES or (base != "cuda" and ":" in name):
        raise ConfigError(f"unknown device {requested!r}; choose auto, cpu, cuda or cuda:N")
    if base == "cpu":
        return "cpu"
    if base == "cuda" and ":" in name and not name.partition(":")[2].isdigit():
        raise ConfigError(f"unknown device {requested!r}; choose auto, cpu, cuda or cuda:N")
    usable = (has_cuda or cuda_available)()
    if usable:
        return "cuda" if base == "auto" else name
    if base == "cuda":
        log.warning("%sdevice %s requested but CUDA is not available here; running on the CPU",
                    f"{what}: " if what else "", requested)
    return "cpu"  # auto choosing the CPU is no news (``benchmarks/gpu.py`` prints the choice)


def place(model, device: str, what: str = ""):  # noqa: ANN001, ANN201 - torch modules
    """``(model on device, device)``; a model that cannot be moved to a CUDA device (out of
    memory, a driver too old for this torch) stays on the CPU with one warning."""
    if not str(device).startswith("cuda"):
        return model.to("cpu"), "cpu"
    try:
        return model.to(device), device
    except (RuntimeError, AssertionError) as err:  # torch's CUDA errors are RuntimeErrors
        log.warning("%scould not use %s (%s); running on the CPU",
                    f"{what}: " if what else "", device, str(err).splitlines()[0][:200])
        return model.to("cpu"), "cpu"


def ort_cuda_available() -> bool:
    """Does the installed onnxruntime offer the CUDA provider (onnxruntime-gpu)?"""
    try:
        import onnxruntime as ort
    except ImportError:  # pragma: no cover - a core dependency
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()
