"""Export a trained head to ONNX: the artifact the app loads with ONNX Runtime.

The graph takes ``<modality>`` ``[batch, t_<modality>, D]`` float32, ``<modality>_mask``
``[batch, t_<modality>]`` bool for each modality of the head, and ``present`` ``[batch, M]``
bool; it returns ``logits`` and ``probs`` (sigmoid applied in the graph, so no consumer can
threshold logits by mistake), both ``[batch, 21]``.  Batch and every sequence axis are
dynamic.

We use torch's TorchScript-based exporter (``dynamo=False``): the dynamo exporter needs the
separate ``onnxscript`` package and its dynamic-shape handling is still moving between torch
releases, while the traced graph of these small heads is stable and verified by a parity check
after every export.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..fsutil import atomic_write_bytes
from .batching import InputBatch, ModalitySpec, input_names, pack_batch
from .models import GenreModel, to_tensors

DEFAULT_OPSET = 17
OUTPUT_NAMES = ("logits", "probs")


class _FlatInputs(nn.Module):
    """Adapts ``model(values, masks, present)`` to the flat positional inputs ONNX wants."""

    def __init__(self, model: GenreModel) -> None:
        super().__init__()
        self.model = model
        self.n = len(model.cfg.modalities)

    def forward(self, *flat: Tensor) -> tuple[Tensor, Tensor]:
        values = [flat[2 * j] for j in range(self.n)]
        masks = [flat[2 * j + 1] for j in range(self.n)]
        logits = self.model(values, masks, flat[-1])
        return logits, torch.sigmoid(logits)


def example_batch(specs: list[ModalitySpec], batch: int = 2, seed: int = 0) -> InputBatch:
    """A small random batch with ragged lengths and one missing modality, for tracing/checks."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(batch):
        item = {}
        for j, s in enumerate(specs):
            if (i + j) % 3 == 2 and len(specs) > 1:
                continue  # missing for this video
            t = int(rng.integers(1, max(2, min(s.max_len, 12))))
            item[s.name] = rng.normal(size=(t, s.dim)).astype(np.float32)
        items.append(item)
    return pack_batch(items, specs)


def export_onnx(model: GenreModel, path: Path, opset: int = DEFAULT_OPSET, check: bool = True) -> float:
    """Write ``model`` to ``path`` and return the max |probs difference| vs torch (NaN unchecked).

    The model is exported in eval mode on CPU; its training state is restored afterwards.
    """
    specs = model.cfg.modalities
    was_training = model.training
    device = next(model.parameters()).device
    model = model.to("cpu").eval()
    wrapper = _FlatInputs(model).eval()
    ex = example_batch(specs)
    values, masks, present = to_tensors(ex)
    flat: list[Tensor] = []
    for v, m in zip(values, masks, strict=True):
        flat += [v, m]
    flat.append(present)
    names = input_names(specs)
    dyn: dict[str, dict[int, str]] = {}
    for s in specs:
        dyn[s.name] = {0: "batch", 1: f"t_{s.name}"}
        dyn[f"{s.name}_mask"] = {0: "batch", 1: f"t_{s.name}"}
    dyn["present"] = {0: "batch"}
    for out in OUTPUT_NAMES:
        dyn[out] = {0: "batch"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python ints
        torch.onnx.export(
            wrapper, tuple(flat), buf, dynamo=False, input_names=names,
            output_names=list(OUTPUT_NAMES), dynamic_axes=dyn, opset_version=opset,
            do_constant_folding=True,
        )
    atomic_write_bytes(path, buf.getvalue())
    diff = float("nan")
    if check:
        diff = parity(model, path, example_batch(specs, batch=3, seed=1))
    model.to(device).train(was_training)
    return diff


@torch.no_grad()
def parity(model: GenreModel, path: Path, batch: InputBatch) -> float:
    """Max |probs_torch - probs_onnx| on ``batch`` (CPU provider, so it is exact to float32)."""
    from ..runtime.onnx import ort_session

    sess = ort_session(path, device="cpu")
    ours = sess.run(["probs"], batch.feeds())[0]
    model = model.eval()
    ref = torch.sigmoid(model(*to_tensors(batch))).numpy()
    return float(np.abs(ours - ref).max())
