"""A reader of dlib's serialized files, no dlib needed: DNNs (``net_type`` saved with
``dlib::serialize``, :func:`read_dlib_net`) and the regression-tree ``shape_predictor``
(:func:`read_shape_predictor`, at the end of this module).

dlib writes a network as nested C++ objects, outermost first, each with its own version tag
(``dlib/dnn/core.h``, ``layers.h``, ``input.h``, ``loss.h``; primitives in ``dlib/serialize.h``):

* integers: one control byte (low 4 bits: byte count, bit 7: negative) then that many
  little-endian bytes; ``bool``: the character ``'0'`` or ``'1'``; ``float``: an integer mantissa
  and an ``int16`` exponent (value = mantissa * 2**exponent); ``std::string``: a length, then bytes;
* tensors: version 2, four ``long long`` sizes (N, K, R, C), then raw little-endian float32;
* ``add_loss_layer``: version, the loss details, then the network below it;
* ``add_layer``: version, *the layer below it* (recursively), then its own details and a trailer
  of training state (flags, empty tensors); on the input the "layer below" is the input layer;
* ``add_tag_layer`` / ``add_skip_layer``: version, then the layer below; tag ids are not stored.

So the file holds every wrapper's version first (outside in), then the input layer, then each
layer's details from the input outward. Because tag ids are not stored, the reader needs the
network's layout: a sequence of :data:`Wrapper` kinds from the input outward. Each layer's
details are self-describing (a name and version string such as ``"con_4"``) and are checked
against the layout. Only numbers are read: no code runs, nothing is unpickled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from core.judges.errors import JudgeWeightsError

Wrapper = Literal["layer", "tag", "skip"]  # an add_layer (has details), add_tag_layer, add_skip_layer


@dataclass(frozen=True, eq=False)
class DlibConv:
    """``con_``: weight (O, I, kh, kw) float32 (cross-correlation, as torch), bias (O,) or None."""

    weight: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, int]  # (y, x)
    padding: tuple[int, int]  # (y, x), zeros
    fused_relu: bool  # con_6 may carry a ReLU folded into it


@dataclass(frozen=True, eq=False)
class DlibAffine:
    """``affine_`` in conv mode: y = gamma[c] * x + beta[c]; gamma, beta (C,) float32."""

    gamma: np.ndarray
    beta: np.ndarray
    disabled: bool


@dataclass(frozen=True)
class DlibRelu:
    disabled: bool


@dataclass(frozen=True)
class DlibPool:
    """``max_pool_`` / ``avg_pool_``. window (0, 0) means the whole input (``avg_pool_everything``)."""

    kind: Literal["max", "avg"]
    window: tuple[int, int]  # (y, x)
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class DlibAddPrev:
    """``add_prev_``: adds a tagged output; the tag id is not stored in the file."""


@dataclass(frozen=True, eq=False)
class DlibFc:
    """``fc_``: y = x @ weight.T (+ bias); weight (out, in) float32, bias (out,) or None."""

    weight: np.ndarray
    bias: np.ndarray | None


@dataclass(frozen=True)
class DlibWrapperOnly:
    """A tag or skip wrapper: no details of its own."""

    kind: Literal["tag", "skip"]


DlibLayer = DlibConv | DlibAffine | DlibRelu | DlibPool | DlibAddPrev | DlibFc | DlibWrapperOnly


@dataclass(frozen=True)
class DlibInputRGB:
    """``input_rgb_image(_sized)``: channel value = (pixel - mean) / 256, R, G, B order."""

    mean_rgb: tuple[float, float, float]
    size: tuple[int, int] | None  # (rows, cols) of the sized variant


@dataclass(frozen=True)
class DlibLoss:
    name: str  # e.g. "loss_metric_2"
    values: tuple[float, ...]  # loss_metric: (margin, distance_threshold)


@dataclass(frozen=True)
class DlibNet:
    """A parsed network: input layer, layers from the input outward (aligned with the layout)
    and the loss layer."""

    input: DlibInputRGB
    layers: tuple[DlibLayer, ...]
    loss: DlibLoss


class _Stream:
    """dlib's primitive encodings over an in-memory buffer (see the module docstring)."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.source = source

    def fail(self, what: str) -> JudgeWeightsError:
        return JudgeWeightsError(
            f"{self.source} is not a dlib network of the expected layout: {what} (at byte {self.pos})."
        )

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise self.fail(f"the file ends early (wanted {n} more bytes)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        ctrl = self.take(1)[0]
        size, negative = ctrl & 0x0F, bool(ctrl & 0x80)
        if size == 0 or size > 8 or ctrl & 0x70:
            raise self.fail(f"bad integer control byte 0x{ctrl:02x}")
        value = int.from_bytes(self.take(size), "little")
        return -value if negative else value

    def bool(self) -> bool:
        ch = self.take(1)[0]
        if ch not in (0x30, 0x31):
            raise self.fail(f"bad bool byte 0x{ch:02x}")
        return ch == 0x31

    def float(self) -> float:
        if self.data[self.pos] & 0x70:
            raise self.fail("a float in dlib's old ASCII format (not supported)")
        mantissa, exponent = self.int(), self.int()
        if exponent == 32000:
            return float("inf")
        if exponent == 32001:
            return float("-inf")
        if exponent == 32002:
            return float("nan")
        return float(np.ldexp(float(mantissa), exponent))

    def string(self) -> str:
        n = self.int()
        return bytes(self.take(n)).decode("latin-1")

    def version(self, allowed: tuple[int, ...], what: str) -> int:
        v = self.int()
        if v not in allowed:
            raise self.fail(f"{what} has version {v}, expected one of {allowed}")
        return v

    def tensor(self) -> np.ndarray:
        self.version((2,), "tensor")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        raw = self.take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias_shape(self) -> tuple[int, int, int, int]:
        self.version((1,), "alias_tensor")
        n, k, r, c = (self.int() for _ in range(4))
        return n, k, r, c


def _slice(params: np.ndarray, offset: int, shape: tuple[int, ...]) -> np.ndarray:
    flat = params.reshape(-1)
    size = int(np.prod(shape))
    return flat[offset:offset + size].reshape(shape).copy()


def _read_conv(s: _Stream, tag: str) -> DlibConv:
    if tag not in ("con_4", "con_5", "con_6"):
        raise s.fail(f"unsupported convolution version '{tag}'")
    params = s.tensor()
    s.int()  # num_filters (repeated in the filters' alias shape)
    s.int(), s.int()  # nr, nc (repeated in the filters' alias shape)
    stride = (s.int(), s.int())
    padding = (s.int(), s.int())
    filt, bias = s.alias_shape(), s.alias_shape()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        s.float()
    use_bias = s.bool() if tag in ("con_5", "con_6") else True
    fused_relu = s.bool() if tag == "con_6" else False
    weight = _slice(params, 0, filt)
    b = _slice(params, weight.size, (bias[1] * bias[2] * bias[3],)) if use_bias else None
    return DlibConv(weight=weight, bias=b, stride=stride, padding=padding, fused_relu=fused_relu)


def _read_affine(s: _Stream, tag: str) -> DlibAffine:
    if tag not in ("affine_", "affine_2"):
        raise s.fail(f"unsupported affine version '{tag}' (batch-norm layers are not read)")
    params = s.tensor()
    g, b = s.alias_shape(), s.alias_shape()
    mode = s.int()
    disabled = s.bool() if tag == "affine_2" else False
    if mode != 0 or g[2:] != (1, 1):
        raise s.fail("an affine layer in fully-connected mode (only conv mode is read)")
    gamma = _slice(params, 0, (g[1],))
    return DlibAffine(gamma=gamma, beta=_slice(params, gamma.size, (b[1],)), disabled=disabled)


def _read_pool(s: _Stream, tag: str) -> DlibPool:
    window = (s.int(), s.int())
    stride = (s.int(), s.int())
    padding = (s.int(), s.int())
    return DlibPool(kind="max" if tag.startswith("max") else "avg", window=window, stride=stride,
                    padding=padding)


def _read_fc(s: _Stream, tag: str) -> DlibFc:
    if tag not in ("fc_2", "fc_3"):
        raise s.fail(f"unsupported fc version '{tag}'")
    s.int(), s.int()  # num_outputs, num_inputs (repeated in the alias shapes)
    params = s.tensor()
    w, b = s.alias_shape(), s.alias_shape()
    no_bias = s.int() == 1  # fc_bias_mode: FC_HAS_BIAS = 0, FC_NO_BIAS = 1
    for _ in range(4):
        s.float()
    use_bias = s.bool() if tag == "fc_3" else True
    weight = _slice(params, 0, (w[0], w[1] * w[2] * w[3]))  # alias (num_inputs, num_outputs), row-major
    bias = None if no_bias or not use_bias else _slice(params, weight.size, (b[1] * b[2] * b[3],))
    return DlibFc(weight=np.ascontiguousarray(weight.T), bias=bias)


def _read_details(s: _Stream) -> DlibLayer:
    tag = s.string()
    if tag.startswith("con_"):
        return _read_conv(s, tag)
    if tag.startswith("affine_"):
        return _read_affine(s, tag)
    if tag in ("max_pool_2", "avg_pool_2"):
        return _read_pool(s, tag)
    if tag in ("relu_", "relu_2"):
        return DlibRelu(disabled=s.bool() if tag == "relu_2" else False)
    if tag == "add_prev_":
        return DlibAddPrev()
    if tag.startswith("fc_"):
        return _read_fc(s, tag)
    raise s.fail(f"unsupported layer '{tag}'")


def _read_input(s: _Stream) -> DlibInputRGB:
    tag = s.string()
    if tag not in ("input_rgb_image", "input_rgb_image_sized"):
        raise s.fail(f"unsupported input layer '{tag}'")
    mean = (s.float(), s.float(), s.float())
    size = (s.int(), s.int()) if tag == "input_rgb_image_sized" else None
    return DlibInputRGB(mean_rgb=mean, size=size)


def _read_loss(s: _Stream) -> DlibLoss:
    s.version((1,), "add_loss_layer")
    name = s.string()
    if name == "loss_metric_":
        return DlibLoss(name, (0.1, 0.75))
    if name == "loss_metric_2":
        return DlibLoss(name, (s.float(), s.float()))
    raise s.fail(f"unsupported loss layer '{name}'")


def _layer_trailer(s: _Stream, version: int, on_input: bool) -> None:
    """Skip an add_layer's training state after its details (flags and, in a saved net, empty
    tensors)."""
    for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, ..._disabled
        s.bool()
    s.tensor()  # x_grad
    s.tensor()  # cached_output
    if on_input:
        s.tensor()  # grad_final
        if version >= 3:
            s.int()  # _sample_expansion_factor
    elif version == 2:
        s.tensor()  # params_grad


def read_dlib_net(path: Path, layout: tuple[Wrapper, ...]) -> DlibNet:
    """Parse a dlib ``.dat`` network file.

    layout: the wrapper kinds from the input outward, below the loss layer; the first must be
    ``"layer"`` (the add_layer that sits on the input layer). Raises :class:`JudgeWeightsError`
    when the file does not match (another network, another dlib layer type, truncated).
    """
    if not layout or layout[0] != "layer":
        raise ValueError("layout must start with the add_layer on the input ('layer')")
    s = _Stream(Path(path).read_bytes(), Path(path).name)
    loss = _read_loss(s)
    versions = [0] * len(layout)
    for i in reversed(range(len(layout))):  # headers, outside in
        allowed = (2, 3) if i == 0 else (1, 2) if layout[i] == "layer" else (1,)
        versions[i] = s.version(allowed, f"the {layout[i]} wrapper {i}")
    net_input = _read_input(s)
    layers: list[DlibLayer] = []
    for i, kind in enumerate(layout):  # details, inside out
        if kind == "layer":
            layers.append(_read_details(s))
            _layer_trailer(s, versions[i], on_input=i == 0)
        else:
            layers.append(DlibWrapperOnly(kind=kind))
    if s.pos != len(s.data):
        raise s.fail(f"{len(s.data) - s.pos} bytes are left over after the network")
    return DlibNet(input=net_input, layers=tuple(layers), loss=loss)


# ---------------------------------------------------------------------------------------------
# shape_predictor (dlib/image_processing/shape_predictor.h, Kazemi & Sullivan 2014)
#
# ``serialize(shape_predictor)`` writes, in order (every item one of dlib's integers; a float is two):
#   version (1); initial_shape: a float column matrix (sizes written negated: -2P, -1; then 2P
#   floats x0 y0 x1 y1 ... in the unit square of the face box); forests: C cascades of T trees,
#   each tree = splits (S x (idx1, idx2, thresh)) then leaves (L float column matrices of 2P
#   values, the shape increments); anchor_idx: C x F landmark indices; deltas: C x F (x, y) floats.
# Because the whole file is a run of integers, it is decoded at once (:func:`decode_integers`)
# and then cut into arrays: 16 M leaf values parse in a few seconds without a per-value loop.


@dataclass(frozen=True, eq=False)
class DlibShapeModel:
    """A parsed ``shape_predictor``: C cascades of T depth-d regression trees over F pixel features.

    initial_shape: (P, 2) float32, the mean shape in the unit face box (x, y).
    split_pixels:  (C, T, S, 2) int64, the two feature indices a split compares (S = 2**d - 1).
    split_thresholds: (C, T, S) float32; a split goes left (child 2i+1) when
                   value[idx1] - value[idx2] > threshold, else right (2i+2).
    leaf_values:   (C, T, L, P, 2) float32 shape increments (L = S + 1 leaves).
    anchor_idx:    (C, F) int64, the landmark each feature pixel hangs on.
    deltas:        (C, F, 2) float32, its offset from that landmark in the mean shape's frame.
    """

    initial_shape: np.ndarray
    split_pixels: np.ndarray
    split_thresholds: np.ndarray
    leaf_values: np.ndarray
    anchor_idx: np.ndarray
    deltas: np.ndarray

    @property
    def num_parts(self) -> int:
        return int(self.initial_shape.shape[0])


def _integer_starts(b: np.ndarray, block: int = 4096, sync: int = 48) -> np.ndarray:
    """Start offsets of every integer of a buffer that is nothing but dlib integers.

    Each integer is a control byte (low 4 bits: how many value bytes follow) and its bytes, so
    the starts form one chain from offset 0. The chain is followed in lockstep from many
    anchors: a walk begun anywhere falls onto the true chain within a few steps (the codes
    resynchronise), so walks of ``sync`` steps from every ``block``-th byte give anchors, and
    the walk between consecutive anchors must land exactly on the next one; an anchor it jumps
    over is off the chain and is replaced by the landing point (then all walks are redone).
    """
    n = len(b)
    padded = np.concatenate([b, np.zeros(16, np.uint8)])

    def step(q: np.ndarray) -> np.ndarray:
        return q + 1 + (padded[q] & 15)

    anchors = np.arange(0, n, block, dtype=np.int64)
    for _ in range(sync):
        anchors = np.where(anchors < n, step(anchors), anchors)
    anchors[0] = 0
    anchors = np.unique(anchors[anchors < n])
    while True:
        ends = np.append(anchors[1:], n)
        pos = anchors.copy()
        rows = []
        live = pos < ends
        while live.any():
            rows.append(np.where(live, pos, -1))
            pos = np.where(live, step(pos), pos)
            live = pos < ends
        missed = np.flatnonzero(pos != ends)
        if not len(missed):
            break
        if missed[-1] == len(anchors) - 1:  # the last walk overshoots the end: not a file of integers
            raise ValueError("the data is not a sequence of dlib integers")
        i = int(missed[0])
        anchors[i + 1] = pos[i]  # the landing point is on the chain; redo from there
        anchors = np.unique(anchors)
    starts = np.stack(rows, axis=1).reshape(-1)  # (anchor, step) order is file order
    return starts[starts >= 0]


def decode_integers(data: bytes) -> np.ndarray:
    """Every integer of a buffer written as dlib integers only, as (N,) int64 (the encoding of
    :class:`_Stream.int`; raises ValueError on a control byte dlib never writes)."""
    b = np.frombuffer(data, dtype=np.uint8)
    if not len(b):
        return np.zeros(0, np.int64)
    starts = _integer_starts(b)
    ctrl = b[starts]
    size = (ctrl & 15).astype(np.int64)
    if (size == 0).any() or (size > 8).any() or (ctrl & 0x70).any():
        raise ValueError("bad integer control byte")
    padded = np.concatenate([b, np.zeros(8, np.uint8)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 8)
    values = np.empty(len(starts), np.int64)
    chunk = 1 << 22
    for i in range(0, len(starts), chunk):
        s, n_bytes = starts[i:i + chunk], size[i:i + chunk]
        raw = np.ascontiguousarray(windows[s + 1]).view("<u8")[:, 0]
        keep = np.where(n_bytes >= 8, np.uint64(0xFFFFFFFFFFFFFFFF),
                        (np.uint64(1) << (8 * n_bytes).astype(np.uint64)) - np.uint64(1))
        v = (raw & keep).astype(np.int64)
        values[i:i + chunk] = np.where(ctrl[i:i + chunk] & 0x80, -v, v)
    return values


class _Values:
    """A cursor over decoded integers, with dlib's float and matrix encodings on top."""

    def __init__(self, values: np.ndarray, source: str) -> None:
        self.v = values
        self.pos = 0
        self.source = source

    def fail(self, what: str) -> JudgeWeightsError:
        return JudgeWeightsError(
            f"{self.source} is not a dlib shape predictor: {what} (at value {self.pos}).")

    def take(self, n: int) -> np.ndarray:
        if n < 0 or self.pos + n > len(self.v):
            raise self.fail(f"the file ends early (wanted {n} more values)")
        out = self.v[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self) -> int:
        return int(self.take(1)[0])

    def count(self, what: str, limit: int = 1 << 24) -> int:
        n = self.int()
        if not 0 <= n <= limit:
            raise self.fail(f"{what} has a bad size {n}")
        return n

    def floats(self, n: int) -> np.ndarray:
        pairs = self.take(2 * n).reshape(n, 2)
        return _floats(pairs)

    def column(self, what: str) -> np.ndarray:
        rows, cols = self.int(), self.int()
        if cols not in (1, -1) or rows == 0:
            raise self.fail(f"{what} is a {rows}x{cols} matrix, expected a column")
        return self.floats(abs(rows))


def _floats(pairs: np.ndarray) -> np.ndarray:
    """(..., 2) (mantissa, exponent) int64 -> (...) float32 (dlib's ``float_details``)."""
    mantissa, exponent = pairs[..., 0], pairs[..., 1]
    special = exponent >= 32000
    out = np.ldexp(mantissa.astype(np.float64), np.where(special, 0, exponent).astype(np.int32))
    if special.any():
        out = np.where(exponent == 32000, np.inf, np.where(exponent == 32001, -np.inf,
                       np.where(exponent == 32002, np.nan, out)))
    return out.astype(np.float32)


def read_shape_predictor(path: Path) -> DlibShapeModel:
    """Parse a dlib ``shape_predictor`` ``.dat`` file (layout above). Raises
    :class:`JudgeWeightsError` when it is another kind of file, truncated or inconsistent."""
    name = Path(path).name
    try:
        values = decode_integers(Path(path).read_bytes())
    except ValueError as err:
        raise JudgeWeightsError(f"{name} is not a dlib shape predictor: {err}.") from None
    s = _Values(values, name)
    if s.int() != 1:
        raise s.fail("unknown version")
    initial = s.column("the initial shape")
    if len(initial) % 2:
        raise s.fail("the initial shape has an odd length")
    parts = len(initial) // 2
    cascades = s.count("the forests")
    splits, thresholds, leaves = [], [], []
    for _ in range(cascades):
        n_tree = s.count("a forest")
        if n_tree == 0:
            raise s.fail("a forest has no trees")
        # every tree of a forest has one size (dlib grows them to one depth): read them as rows
        n_split = int(s.take(1)[0])
        s.pos -= 1  # peeked: the rows below start with it
        n_leaf = n_split + 1
        if n_split < 1 or n_leaf & (n_leaf - 1):
            raise s.fail(f"a tree has {n_split} splits; expected a complete tree")
        leaf_len = 2 + 4 * parts  # rows, cols, then (mantissa, exponent) per value
        tree_len = 2 + 4 * n_split + n_leaf * leaf_len
        rows = s.take(n_tree * tree_len).reshape(n_tree, tree_len)
        leaf = rows[:, 2 + 4 * n_split:].reshape(n_tree, n_leaf, leaf_len)
        if ((rows[:, 0] != n_split).any() or (rows[:, 1 + 4 * n_split] != n_leaf).any()
                or (np.abs(leaf[:, :, 0]) != 2 * parts).any() or (np.abs(leaf[:, :, 1]) != 1).any()):
            raise s.fail("the trees of a forest differ in size, or a leaf is not a column of "
                         f"{2 * parts} values")
        block = rows[:, 1:1 + 4 * n_split].reshape(n_tree, n_split, 4)
        splits.append(block[:, :, :2])
        thresholds.append(_floats(block[:, :, 2:]))
        leaves.append(_floats(leaf[:, :, 2:].reshape(n_tree, n_leaf, parts, 2, 2)))
    if cascades == 0 or len({x.shape for x in splits}) != 1:
        raise s.fail("the cascades are empty or differ in their trees")
    anchors = [s.take(s.count("an anchor list")) for _ in range(s.count("the anchor lists"))]
    deltas = [s.floats(2 * s.count("a delta list")).reshape(-1, 2) for _ in range(s.count("the delta lists"))]
    if s.pos != len(values):
        raise s.fail(f"{len(values) - s.pos} values are left over")
    if len(anchors) != cascades or len(deltas) != cascades or len({len(a) for a in anchors + deltas}) != 1:
        raise s.fail("the feature pixels do not match the cascades")
    split_pixels = np.stack(splits)
    anchor_idx = np.stack(anchors)
    if (split_pixels < 0).any() or (split_pixels >= anchor_idx.shape[1]).any() \
            or (anchor_idx < 0).any() or (anchor_idx >= parts).any():
        raise s.fail("a split or feature pixel points outside its table")
    return DlibShapeModel(
        initial_shape=initial.reshape(parts, 2),
        split_pixels=split_pixels,
        split_thresholds=np.stack(thresholds),
        leaf_values=np.stack(leaves),
        anchor_idx=anchor_idx,
        deltas=np.stack(deltas),
    )


__all__ = [
    "DlibAddPrev", "DlibAffine", "DlibConv", "DlibFc", "DlibInputRGB", "DlibLayer", "DlibLoss", "DlibNet",
    "DlibPool", "DlibRelu", "DlibShapeModel", "DlibWrapperOnly", "Wrapper", "decode_integers",
    "read_dlib_net", "read_shape_predictor",
]
