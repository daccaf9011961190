"""Parse a ``.tflite`` file into plain, typed records: tensors (shape, type, constant data,
quantization, sparsity) and operators (op name, inputs, outputs, decoded options).

Pure Python + numpy; no TensorFlow, LiteRT or mediapipe at run time. Only the first subgraph is
read (the face networks have one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.face.tflite.flatbuffer import FlatBufferError, Table
from core.face.tflite.options import OperatorOptions, decode_options
from core.face.tflite.schema import (
    BUILTIN_OPS,
    FILE_IDENTIFIER,
    NUMPY_DTYPE,
    SPARSE_INDEX_DTYPE,
    BufferField,
    DimensionMetadataField,
    DimensionType,
    ModelField,
    OperatorCodeField,
    OperatorField,
    QuantizationField,
    SparseIndexVector,
    SparsityField,
    SubGraphField,
    TensorField,
    TensorType,
)


class TfliteFormatError(ValueError):
    """The file is not a TFLite model this reader understands."""


@dataclass(frozen=True)
class Quantization:
    """Affine quantization ``real = scale * (q - zero_point)``, per tensor or along ``axis``."""

    scale: np.ndarray  # (Q,) float32
    zero_point: np.ndarray  # (Q,) int64
    axis: int


@dataclass(frozen=True)
class DimensionMetadata:
    """One level of a sparse tensor's storage, in traversal order."""

    format: DimensionType
    dense_size: int  # for DENSE levels
    segments: np.ndarray | None  # for SPARSE_CSR levels: (n_parent + 1,) int64
    indices: np.ndarray | None  # for SPARSE_CSR levels: (nnz,) int64


@dataclass(frozen=True)
class Sparsity:
    """TACO-style sparse storage: ``traversal_order`` permutes the n tensor dims plus k block dims."""

    traversal_order: tuple[int, ...]
    block_map: tuple[int, ...]
    dims: tuple[DimensionMetadata, ...]


@dataclass(frozen=True, eq=False)
class TensorSpec:
    """A tensor of the graph. ``data`` is the constant content (None for activations): shaped
    ``shape`` when dense, or the 1-D stored values when ``sparsity`` is set."""

    index: int
    name: str
    shape: tuple[int, ...]
    type: TensorType
    data: np.ndarray | None
    quantization: Quantization | None
    sparsity: Sparsity | None

    @property
    def is_constant(self) -> bool:
        return self.data is not None


@dataclass(frozen=True)
class OperatorSpec:
    """One operator, in execution order. Input index -1 marks an omitted optional input."""

    index: int
    name: str  # builtin op name, e.g. "CONV_2D"; "CUSTOM:<code>" for custom ops
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: OperatorOptions


@dataclass(frozen=True, eq=False)
class TfliteModel:
    version: int
    description: str
    tensors: tuple[TensorSpec, ...]
    operators: tuple[OperatorSpec, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor_by_name(self, name: str) -> TensorSpec:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"no tensor named {name!r}")


def _index_vector(dm: Table, type_slot: int) -> np.ndarray:
    tag, tab = dm.union(type_slot)
    if tab is None:
        raise TfliteFormatError("sparse dimension without its index vector")
    try:
        dtype = SPARSE_INDEX_DTYPE[SparseIndexVector(tag)]
    except (ValueError, KeyError) as err:
        raise TfliteFormatError(f"unknown SparseIndexVector type {tag}") from err
    return tab.array(0, dtype).astype(np.int64)


def _parse_sparsity(t: Table) -> Sparsity:
    dims = []
    for dm in t.tables(SparsityField.DIM_METADATA):
        fmt = DimensionType(int(dm.scalar(DimensionMetadataField.FORMAT, "b", 0)))
        if fmt == DimensionType.DENSE:
            dims.append(DimensionMetadata(fmt, int(dm.scalar(DimensionMetadataField.DENSE_SIZE, "i", 0)),
                                          None, None))
        else:
            dims.append(DimensionMetadata(fmt, 0,
                                          _index_vector(dm, DimensionMetadataField.ARRAY_SEGMENTS_TYPE),
                                          _index_vector(dm, DimensionMetadataField.ARRAY_INDICES_TYPE)))
    return Sparsity(
        traversal_order=tuple(int(v) for v in t.array(SparsityField.TRAVERSAL_ORDER, "<i4")),
        block_map=tuple(int(v) for v in t.array(SparsityField.BLOCK_MAP, "<i4")),
        dims=tuple(dims),
    )


def _parse_quantization(t: Table | None) -> Quantization | None:
    if t is None:
        return None
    scale = t.array(QuantizationField.SCALE, "<f4")
    if scale.size == 0:
        return None
    zp = t.array(QuantizationField.ZERO_POINT, "<i8")
    if zp.size == 0:
        zp = np.zeros(scale.shape, np.int64)
    return Quantization(scale=scale.astype(np.float32), zero_point=zp.astype(np.int64),
                        axis=int(t.scalar(QuantizationField.QUANTIZED_DIMENSION, "i", 0)))


def _buffer_bytes(buf: bytes, b: Table) -> memoryview | None:
    if b.has(BufferField.OFFSET):
        off, size = int(b.scalar(BufferField.OFFSET, "Q")), int(b.scalar(BufferField.SIZE, "Q"))
        if off <= 1 or off + size > len(buf):
            raise TfliteFormatError(f"buffer offset {off}+{size} outside the file of {len(buf)} bytes")
        return memoryview(buf)[off:off + size]
    data = b.array(BufferField.DATA, "u1")
    return memoryview(data) if data.size else None


def _parse_tensor(index: int, t: Table, buffers: list[memoryview | None]) -> TensorSpec:
    shape = tuple(int(v) for v in t.array(TensorField.SHAPE, "<i4"))
    ttype = TensorType(int(t.scalar(TensorField.TYPE, "b", 0)))
    sp = t.table(TensorField.SPARSITY)
    sparsity = _parse_sparsity(sp) if sp is not None else None
    buf_idx = int(t.scalar(TensorField.BUFFER, "I", 0))
    if buf_idx >= len(buffers):
        raise TfliteFormatError(f"tensor {index} refers to buffer {buf_idx} of {len(buffers)}")
    raw = buffers[buf_idx]
    data = None
    if raw is not None:
        if ttype not in NUMPY_DTYPE:
            raise TfliteFormatError(f"tensor {index} has constant data of unsupported type {ttype.name}")
        dtype = NUMPY_DTYPE[ttype]
        if len(raw) % dtype.itemsize:
            raise TfliteFormatError(f"tensor {index}: {len(raw)} bytes is not a whole number of {dtype}")
        data = np.frombuffer(raw, dtype=dtype).copy()
        if sparsity is None:
            if data.size != int(np.prod(shape, dtype=np.int64)):
                raise TfliteFormatError(f"tensor {index} ({t.string(TensorField.NAME)!r}): "
                                        f"{data.size} values for shape {shape}")
            data = data.reshape(shape)
    return TensorSpec(index=index, name=t.string(TensorField.NAME), shape=shape, type=ttype, data=data,
                      quantization=_parse_quantization(t.table(TensorField.QUANTIZATION)), sparsity=sparsity)


def _op_names(model: Table) -> list[str]:
    names = []
    for oc in model.tables(ModelField.OPERATOR_CODES):
        code = max(int(oc.scalar(OperatorCodeField.DEPRECATED_BUILTIN_CODE, "b", 0)),
                   int(oc.scalar(OperatorCodeField.BUILTIN_CODE, "i", 0)))
        if code == 32:
            names.append("CUSTOM:" + oc.string(OperatorCodeField.CUSTOM_CODE))
        else:
            names.append(BUILTIN_OPS.get(code, f"BUILTIN_{code}"))
    return names


def read_tflite(source: str | Path | bytes) -> TfliteModel:
    """Parse a TFLite flatbuffer (a path or the file's bytes). Raises TfliteFormatError."""
    buf = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        root = Table.root(buf, identifier=FILE_IDENTIFIER)
        op_names = _op_names(root)
        buffers = [_buffer_bytes(buf, b) for b in root.tables(ModelField.BUFFERS)]
        subgraphs = root.tables(ModelField.SUBGRAPHS)
        if not subgraphs:
            raise TfliteFormatError("the model has no subgraph")
        sg = subgraphs[0]
        tensors = tuple(_parse_tensor(i, t, buffers) for i, t in enumerate(sg.tables(SubGraphField.TENSORS)))
        ops = []
        for i, o in enumerate(sg.tables(SubGraphField.OPERATORS)):
            code_idx = int(o.scalar(OperatorField.OPCODE_INDEX, "I", 0))
            if code_idx >= len(op_names):
                raise TfliteFormatError(f"operator {i} uses opcode index {code_idx} of {len(op_names)}")
            name = op_names[code_idx]
            _, opt = o.union(OperatorField.BUILTIN_OPTIONS_TYPE)
            ops.append(OperatorSpec(
                index=i, name=name,
                inputs=tuple(int(v) for v in o.array(OperatorField.INPUTS, "<i4")),
                outputs=tuple(int(v) for v in o.array(OperatorField.OUTPUTS, "<i4")),
                options=decode_options(name, opt),
            ))
        return TfliteModel(
            version=int(root.scalar(ModelField.VERSION, "I", 0)),
            description=root.string(ModelField.DESCRIPTION),
            tensors=tensors,
            operators=tuple(ops),
            inputs=tuple(int(v) for v in sg.array(SubGraphField.INPUTS, "<i4")),
            outputs=tuple(int(v) for v in sg.array(SubGraphField.OUTPUTS, "<i4")),
        )
    except FlatBufferError as err:
        raise TfliteFormatError(f"not a valid TFLite file: {err}") from err
