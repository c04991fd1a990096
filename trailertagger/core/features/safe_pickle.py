"""Reading pickles that someone else wrote without running their code.

A pickle is a small program: ``GLOBAL``/``STACK_GLOBAL`` opcodes import any callable and
``REDUCE`` calls it, so ``pickle.load`` on a downloaded file can run anything.  The seed
authors publish their features as a plain pickle (``features.pkl``: dicts, lists, numpy arrays
and numpy scalars), so :class:`RestrictedUnpickler` admits exactly the globals that format
needs and refuses every other one with :class:`UnsafePickleError` naming it, *before* it is
called.  Everything else in a pickle (dicts, lists, tuples, strings, numbers, bytes) is built
by opcodes that call nothing.

Admitted:
  * numpy array and scalar reconstruction (``_reconstruct``, ``ndarray``, ``dtype``,
    ``scalar``, ``_frombuffer``, under both the numpy 1 ``numpy.core`` and the numpy 2
    ``numpy._core`` spellings) and ``_codecs.encode`` (how protocol 2 spells bytes);
  * ``collections.OrderedDict`` and the builtin containers;
  * torch tensors pickled with the plain pickle module: ``torch._utils._rebuild_tensor_v2``,
    and ``torch.storage._load_from_bytes`` replaced by a loader that reads the storage bytes
    with ``torch.load(weights_only=True)`` (torch's own version would unpickle them freely).

Arrays of ``object`` dtype are refused after loading: the format never has them.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import TrailerTaggerError


class UnsafePickleError(TrailerTaggerError):
    """The pickle asks for a global outside the admitted set (nothing was executed)."""

    exit_code = 2


def _numpy_global(module: str, name: str) -> Any:
    import numpy as np

    if name in ("ndarray", "dtype") and module == "numpy":
        return getattr(np, name)
    if module.endswith(".multiarray") and name in ("_reconstruct", "scalar"):
        from numpy._core import multiarray

        return getattr(multiarray, name)
    if module.endswith(".numeric") and name == "_frombuffer":
        from numpy._core import numeric

        return numeric._frombuffer
    if module == "numpy.dtypes" and name.endswith("DType") and hasattr(np.dtypes, name):
        cls = getattr(np.dtypes, name)
        if cls is not np.dtypes.ObjectDType:
            return cls
    raise KeyError(name)


def _torch_storage_from_bytes(data: bytes) -> Any:
    import torch

    return torch.load(io.BytesIO(data), weights_only=True)


def _torch_global(module: str, name: str) -> Any:
    if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
        import torch._utils

        return torch._utils._rebuild_tensor_v2
    if (module, name) == ("torch.storage", "_load_from_bytes"):
        return _torch_storage_from_bytes
    raise KeyError(name)


_BUILTINS = frozenset({"dict", "list", "tuple", "set", "frozenset", "bytearray", "bytes",
                       "str", "int", "float", "complex", "bool", "slice", "range"})
_NUMPY_MODULES = frozenset({"numpy", "numpy.core.multiarray", "numpy._core.multiarray",
                            "numpy.core.numeric", "numpy._core.numeric", "numpy.dtypes"})


def _codecs_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol 2 uses it (str -> bytes); only text codecs."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        raise UnsafePickleError(f"refused _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode(encoding)


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only the seed format's globals."""

    def __init__(self, file: BinaryIO, *, allow_torch: bool = True, source: str = "") -> None:
        super().__init__(file)
        self.allow_torch = allow_torch
        self.source = source

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle API
        try:
            if module == "builtins" and name in _BUILTINS:
                import builtins

                return getattr(builtins, name)
            if (module, name) == ("collections", "OrderedDict"):
                import collections

                return collections.OrderedDict
            if (module, name) == ("_codecs", "encode"):
                return _codecs_encode
            if module in _NUMPY_MODULES:
                return _numpy_global(module, name)
            if self.allow_torch and module.startswith("torch"):
                return _torch_global(module, name)
        except KeyError:
            pass
        where = f"{self.source}: " if self.source else ""
        raise UnsafePickleError(
            f"{where}refused to load: the pickle asks for the global {module}.{name}, which the "
            "seed authors' format never contains (a pickle can run code through globals, so "
            "only numpy arrays, torch tensors and plain containers are admitted); nothing from "
            "the file was executed")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source or 'pickle'}: refused a persistent id {pid!r}; "
                                "this is a torch.save archive, not a plain pickle")


def _check_no_objects(obj: Any, source: str, depth: int = 0) -> None:
    import numpy as np

    if depth > 64:
        raise UnsafePickleError(f"{source}: nesting deeper than 64 levels; not the seed format")
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise UnsafePickleError(f"{source}: an array of dtype object; not the seed format")
    elif isinstance(obj, dict):
        for v in obj.values():
            _check_no_objects(v, source, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_no_objects(v, source, depth + 1)


def safe_load(path: Path | str, *, allow_torch: bool = True,
              opener: Callable[[Path], BinaryIO] | None = None) -> Any:
    """Load a plain pickle through :class:`RestrictedUnpickler` (never ``pickle.load``)."""
    path = Path(path)
    with (opener or (lambda p: open(p, "rb")))(path) as fh:
        head = fh.read(4)
        fh.seek(0)
        if head.startswith(b"PK\x03\x04"):
            raise UnsafePickleError(f"{path}: a torch.save zip archive, not a plain pickle; "
                                    "load it with torch.load(weights_only=True)")
        try:
            obj = RestrictedUnpickler(fh, allow_torch=allow_torch, source=str(path)).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                IndexError, MemoryError) as err:
            raise UnsafePickleError(f"{path}: not a readable pickle ({type(err).__name__}: {err})") from err
    _check_no_objects(obj, str(path))
    return obj
