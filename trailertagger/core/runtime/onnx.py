"""ONNX Runtime sessions, opened one way everywhere.

Execution providers are a preferred list intersected with what the installed onnxruntime
offers (``CUDAExecutionProvider`` only with onnxruntime-gpu), CPU as the last resort; a
session that cannot start on a GPU provider is retried on the CPU with one warning.  A file
that is missing or is not a loadable graph raises ``ModelCorruptError`` naming the file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ModelCorruptError, ModelMissingError

log = logging.getLogger(__name__)

PREFERRED_PROVIDERS: tuple[str, ...] = ("CUDAExecutionProvider", "CPUExecutionProvider")
CPU = "CPUExecutionProvider"


def choose_providers(available: Sequence[str] | None = None,
                     preferred: Sequence[str] = PREFERRED_PROVIDERS) -> list[str]:
    """Preferred providers that this onnxruntime build actually has (CPU as the last resort)."""
    if available is None:
        import onnxruntime as ort

        available = ort.get_available_providers()
    chosen = [p for p in preferred if p in available]
    return chosen or [CPU]


def ort_session(path: Path | str, *, threads: int = 0, inter_threads: int = 0,
                providers: Sequence[str] | None = None, device: str = "auto",
                log_level: int = 3) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path``.

    ``threads``/``inter_threads``: intra- and inter-op pool sizes (0: ONNX Runtime's
    default).  ``providers``: an explicit list, else ``choose_providers()``; ``device="cpu"``
    restricts to the CPU provider.  Raises ``ModelMissingError`` when the file is absent and
    ``ModelCorruptError`` when ONNX Runtime cannot parse it.
    """
    try:
        import onnxruntime as ort
    except ImportError as err:  # pragma: no cover - onnxruntime is a core dependency
        raise ModelMissingError(f"{path}: running ONNX models needs onnxruntime ({err})") from err
    path = Path(path)
    if not path.is_file():
        raise ModelMissingError(f"{path}: ONNX model file not found")
    opts = ort.SessionOptions()
    if threads > 0:
        opts.intra_op_num_threads = int(threads)
    if inter_threads > 0:
        opts.inter_op_num_threads = int(inter_threads)
    opts.log_severity_level = int(log_level)
    if providers:
        chosen = list(providers)
    elif device == "cpu":
        chosen = [CPU]
    else:
        chosen = choose_providers()
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=chosen)
    except Exception as err:  # noqa: BLE001 - ORT raises its own exception types
        if _is_bad_model(err):
            raise ModelCorruptError(
                f"{path}: not a usable ONNX model ({short_error(err)}); delete it and fetch or "
                "export it again") from err
        if chosen == [CPU]:
            raise
        log.warning("ONNX Runtime could not start %s for %s (%s); using the CPU",
                    chosen, path.name, short_error(err))
        return ort.InferenceSession(str(path), sess_options=opts, providers=[CPU])


def short_error(err: BaseException) -> str:
    """A runtime's error on one line of at most 200 characters (ONNX Runtime and OpenVINO
    put whole stack traces in their messages)."""
    text = " ".join(str(err).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _is_bad_model(err: BaseException) -> bool:
    """Did ONNX Runtime refuse the file itself (rather than a provider)?  Seen: a truncated or
    foreign file gives ``InvalidProtobuf`` "Load model from X failed:Protobuf parsing failed",
    an empty one ``InvalidArgument`` "Load model from X failed:No graph was found"."""
    return type(err).__name__ in ("InvalidProtobuf", "InvalidGraph") or "Load model from" in str(err)
