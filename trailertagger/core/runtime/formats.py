"""Binary model formats read without their libraries: schema-less protobuf messages, the
ONNX initializers and operators we need, and TensorFlow checkpoint "tensor bundles".

Why by hand: ``onnx`` and ``tensorflow`` are large and not run-time dependencies.  The
musicnn checkpoint (``extractors.music``) is an SSTable index (LevelDB table format, no
compression) of ``name -> BundleEntryProto`` plus one raw little-endian data file; YAMNet's
quantisation parameters (``extractors.audio_tags``) are scalar ONNX initializers.
Malformed input raises ``ValueError`` naming what is wrong.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

# ------------------------------------------------------------------ protobuf and TF bundles

_TABLE_MAGIC = 0xDB4775248B80FB57
_DT_FLOAT = 1


def varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def proto_fields(buf: bytes) -> dict[int, list[int | bytes]]:
    """Decode one protobuf message into ``{field number: [values]}`` (no schema needed).

    Enough for the two formats we read without their libraries: TF checkpoint index entries
    here and ONNX initializers in ``audio_tags``.
    """
    out: dict[int, list[int | bytes]] = {}
    i = 0
    while i < len(buf):
        tag, i = varint(buf, i)
        wire = tag & 7
        value: int | bytes
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 2:
            size, i = varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.setdefault(tag >> 3, []).append(value)
    return out


def _block(table: bytes, offset: int, size: int) -> bytes:
    if table[offset + size] != 0:
        raise ValueError("compressed SSTable blocks are not supported")
    return table[offset : offset + size]


def _block_entries(block: bytes):
    """Yield ``(key, value)`` of one SSTable block (keys are prefix-compressed)."""
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    i, key = 0, b""
    while i < end:
        shared, i = varint(block, i)
        unshared, i = varint(block, i)
        size, i = varint(block, i)
        key = key[:shared] + block[i : i + unshared]
        i += unshared
        yield key, block[i : i + size]
        i += size


def read_tf_bundle(prefix: Path, skip_optimizer: bool = True) -> dict[str, np.ndarray]:
    """Read every float32 tensor of a TF checkpoint ``<prefix>.index`` + ``.data-*``.

    ``prefix`` may be a directory when the checkpoint was saved with an empty basename (as
    musicnn's are: ``MSD_musicnn/.index``).  Adam slots are skipped unless asked for.
    """
    prefix = Path(prefix)
    stem = str(prefix) + os.sep if prefix.is_dir() else str(prefix)
    index = Path(stem + ".index").read_bytes()
    footer = index[-48:]
    if struct.unpack("<Q", footer[-8:])[0] != _TABLE_MAGIC:
        raise ValueError(f"{stem}.index is not a TF tensor bundle index")
    j = 0
    for _ in range(2):  # skip the metaindex handle
        _, j = varint(footer, j)
    index_off, j = varint(footer, j)
    index_size, j = varint(footer, j)
    shards: dict[int, bytes] = {}
    n_shards = 1
    tensors: dict[str, np.ndarray] = {}
    for _, handle in _block_entries(_block(index, index_off, index_size)):
        off, k = varint(handle, 0)
        size, k = varint(handle, k)
        for raw_name, value in _block_entries(_block(index, off, size)):
            fields = proto_fields(value)
            if raw_name == b"":  # BundleHeaderProto: num_shards is field 1
                n_shards = int(fields.get(1, [1])[0])  # type: ignore[arg-type]
                continue
            name = raw_name.decode()
            if skip_optimizer and ("/Adam" in name or name.endswith("_power")):
                continue
            dtype = fields.get(1, [0])[0]
            if dtype != _DT_FLOAT:
                continue
            shape_msg = proto_fields(fields.get(2, [b""])[0])  # type: ignore[arg-type]
            shape = [
                int(proto_fields(d).get(1, [0])[0])  # type: ignore[arg-type]
                for d in shape_msg.get(2, [])
            ]
            shard = int(fields.get(3, [0])[0])  # type: ignore[arg-type]
            offset = int(fields.get(4, [0])[0])  # type: ignore[arg-type]
            nbytes = int(fields.get(5, [0])[0])  # type: ignore[arg-type]
            if shard not in shards:
                shards[shard] = Path(f"{stem}.data-{shard:05d}-of-{n_shards:05d}").read_bytes()
            data = shards[shard][offset : offset + nbytes]
            tensors[name] = np.frombuffer(data, dtype="<f4").reshape(shape).copy()
    if not tensors:
        raise ValueError(f"no float tensors in {stem}.index")
    return tensors


# ------------------------------------------------------------------ ONNX initializer reading

_ONNX_FLOAT, _ONNX_UINT8, _ONNX_INT8, _ONNX_INT32 = 1, 2, 3, 6


def onnx_scalar_initializers(model_path: Path, names: set[str]) -> dict[str, float]:
    """Scalar initializers of an ONNX model by name (ModelProto.graph.initializer).

    Used for the quantization parameters of the input and output; the ONNX file of a model
    with external data is small (the weights live in the ``.data`` file), so this is cheap.
    """
    model = proto_fields(Path(model_path).read_bytes())
    found: dict[str, float] = {}
    for graph in model.get(7, []):  # ModelProto.graph
        for init in proto_fields(graph).get(5, []):  # GraphProto.initializer  # type: ignore[arg-type]
            t = proto_fields(init)  # type: ignore[arg-type]
            name = t.get(8, [b""])[0].decode()  # type: ignore[union-attr]
            if name not in names:
                continue
            dtype = int(t.get(2, [0])[0])  # type: ignore[arg-type]
            if 9 in t:  # raw_data
                np_type = {_ONNX_FLOAT: "<f4", _ONNX_UINT8: "u1", _ONNX_INT8: "i1", _ONNX_INT32: "<i4"}[dtype]
                found[name] = float(np.frombuffer(t[9][0], dtype=np_type)[0])  # type: ignore[arg-type]
            elif 4 in t:  # float_data (packed or not)
                raw = t[4][0]
                found[name] = float(np.frombuffer(raw, "<f4")[0]) if isinstance(raw, bytes) else float(
                    np.frombuffer(int(raw).to_bytes(4, "little"), "<f4")[0])
            elif 5 in t:  # int32_data: also holds uint8/int8 values
                raw = t[5][0]
                if isinstance(raw, bytes):  # packed varints
                    raw = varint(raw, 0)[0]
                found[name] = float(raw)
    return found


def onnx_has_op(model_path: Path, op: str) -> bool:
    model = proto_fields(Path(model_path).read_bytes())
    for graph in model.get(7, []):
        for node in proto_fields(graph).get(1, []):  # type: ignore[arg-type]
            if proto_fields(node).get(4, [b""])[0] == op.encode():  # type: ignore[arg-type]
                return True
    return False


