"""A reader of dlib's serialized DNN files (``net_type`` saved with ``dlib::serialize``), no dlib needed.

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


__all__ = [
    "DlibAddPrev", "DlibAffine", "DlibConv", "DlibFc", "DlibInputRGB", "DlibLayer", "DlibLoss", "DlibNet",
    "DlibPool", "DlibRelu", "DlibWrapperOnly", "Wrapper", "read_dlib_net",
]
