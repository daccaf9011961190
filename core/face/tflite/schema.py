"""Constants of the TFLite FlatBuffer schema (``tensorflow/lite/schema/schema.fbs``) that this reader uses.

Field numbers are the 0-based slot of each field in its table; a union takes two slots (tag, value).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

FILE_IDENTIFIER = b"TFL3"


class TensorType(IntEnum):
    FLOAT32 = 0
    FLOAT16 = 1
    INT32 = 2
    UINT8 = 3
    INT64 = 4
    STRING = 5
    BOOL = 6
    INT16 = 7
    COMPLEX64 = 8
    INT8 = 9
    FLOAT64 = 10


NUMPY_DTYPE: dict[TensorType, np.dtype] = {
    TensorType.FLOAT32: np.dtype("<f4"),
    TensorType.FLOAT16: np.dtype("<f2"),
    TensorType.INT32: np.dtype("<i4"),
    TensorType.UINT8: np.dtype("u1"),
    TensorType.INT64: np.dtype("<i8"),
    TensorType.BOOL: np.dtype("?"),
    TensorType.INT16: np.dtype("<i2"),
    TensorType.INT8: np.dtype("i1"),
    TensorType.FLOAT64: np.dtype("<f8"),
}

# BuiltinOperator codes: the subset this project executes or folds, plus common ones for messages.
BUILTIN_OPS: dict[int, str] = {
    0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
    5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D",
    18: "MUL", 19: "RELU", 21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 25: "SOFTMAX",
    28: "TANH", 32: "CUSTOM", 34: "PAD", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 43: "SQUEEZE",
    45: "STRIDED_SLICE", 54: "PRELU", 97: "RESIZE_NEAREST_NEIGHBOR", 98: "LEAKY_RELU",
    124: "DENSIFY",
}


class Padding(IntEnum):
    SAME = 0
    VALID = 1


class Activation(IntEnum):
    NONE = 0
    RELU = 1
    RELU_N1_TO_1 = 2
    RELU6 = 3
    TANH = 4
    SIGN_BIT = 5


class DimensionType(IntEnum):
    DENSE = 0
    SPARSE_CSR = 1


class SparseIndexVector(IntEnum):
    """Tags of the union holding CSR segments / indices; each member table has one field: values."""

    NONE = 0
    INT32 = 1
    UINT16 = 2
    UINT8 = 3


SPARSE_INDEX_DTYPE = {
    SparseIndexVector.INT32: "<i4",
    SparseIndexVector.UINT16: "<u2",
    SparseIndexVector.UINT8: "u1",
}


class ModelField(IntEnum):
    VERSION = 0
    OPERATOR_CODES = 1
    SUBGRAPHS = 2
    DESCRIPTION = 3
    BUFFERS = 4


class OperatorCodeField(IntEnum):
    DEPRECATED_BUILTIN_CODE = 0
    CUSTOM_CODE = 1
    VERSION = 2
    BUILTIN_CODE = 3


class SubGraphField(IntEnum):
    TENSORS = 0
    INPUTS = 1
    OUTPUTS = 2
    OPERATORS = 3
    NAME = 4


class TensorField(IntEnum):
    SHAPE = 0
    TYPE = 1
    BUFFER = 2
    NAME = 3
    QUANTIZATION = 4
    IS_VARIABLE = 5
    SPARSITY = 6


class QuantizationField(IntEnum):
    MIN = 0
    MAX = 1
    SCALE = 2
    ZERO_POINT = 3
    DETAILS_TYPE = 4  # union: 4 (tag), 5 (value)
    QUANTIZED_DIMENSION = 6


class SparsityField(IntEnum):
    TRAVERSAL_ORDER = 0
    BLOCK_MAP = 1
    DIM_METADATA = 2


class DimensionMetadataField(IntEnum):
    FORMAT = 0
    DENSE_SIZE = 1
    ARRAY_SEGMENTS_TYPE = 2  # union: 2 (tag), 3 (value)
    ARRAY_INDICES_TYPE = 4  # union: 4 (tag), 5 (value)


class OperatorField(IntEnum):
    OPCODE_INDEX = 0
    INPUTS = 1
    OUTPUTS = 2
    BUILTIN_OPTIONS_TYPE = 3  # union: 3 (tag), 4 (value)


class BufferField(IntEnum):
    DATA = 0
    OFFSET = 1  # for models over 2 GB: absolute file offset of the data
    SIZE = 2
