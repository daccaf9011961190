"""PyTorch modules for the TFLite builtin ops used by the face networks.

Rank-4 activations are NCHW (see :mod:`core.face.tflite.layout`); every module is batch-agnostic,
device-agnostic (constants are parameters / buffers) and differentiable.
TFLite 'SAME' padding puts the odd extra pixel at the end (bottom/right), unlike PyTorch's
symmetric ``padding=``, so it is computed per call from the input size.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.face.tflite.schema import Activation, Padding


def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TFLite/TensorFlow SAME padding (before, after) along one axis of length ``size``."""
    out = -(-size // stride)
    eff = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def apply_activation(x: torch.Tensor, act: Activation, *, inplace: bool = False) -> torch.Tensor:
    """A fused activation; ``inplace`` only for tensors the caller just created (autograd-safe for
    conv / add / concat / pool outputs, whose backward does not need them)."""
    if act == Activation.NONE:
        return x
    if act == Activation.RELU:
        return F.relu(x, inplace=inplace)
    if act == Activation.RELU6:
        return F.relu6(x, inplace=inplace)
    if act == Activation.RELU_N1_TO_1:
        return x.clamp(-1.0, 1.0)
    if act == Activation.TANH:
        return torch.tanh(x)
    raise ValueError(f"unsupported fused activation {act.name}")


def _pad_same(x: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
              value: float = 0.0) -> torch.Tensor:
    ph = same_padding(x.shape[2], kernel[0], stride[0], dilation[0])
    pw = same_padding(x.shape[3], kernel[1], stride[1], dilation[1])
    if ph == (0, 0) and pw == (0, 0):
        return x
    return F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=value)


class Conv2d(nn.Module):
    """CONV_2D / DEPTHWISE_CONV_2D. weight: (O, I/groups, KH, KW) float32; bias: (O,) or None.
    pre_pad: zero padding (left, right, top, bottom) of a PAD op folded into this VALID conv."""

    def __init__(self, *, weight: np.ndarray, bias: np.ndarray | None, stride: tuple[int, int],
                 dilation: tuple[int, int], padding: Padding, groups: int, activation: Activation,
                 pre_pad: tuple[int, int, int, int] = (0, 0, 0, 0)) -> None:
        super().__init__()
        if padding == Padding.SAME and any(pre_pad):
            raise ValueError("a PAD op can only be folded into a VALID convolution")
        w = torch.from_numpy(np.ascontiguousarray(weight, np.float32))
        self.weight = nn.Parameter(w.contiguous(memory_format=torch.channels_last), requires_grad=False)
        b = torch.from_numpy(np.ascontiguousarray(bias, np.float32)) if bias is not None else None
        self.bias = nn.Parameter(b, requires_grad=False) if b is not None else None
        self.stride, self.dilation, self.padding = stride, dilation, padding
        self.groups, self.activation, self.pre_pad = groups, activation, pre_pad

    def _pads(self, x: torch.Tensor) -> tuple[int, int, int, int]:
        if self.padding == Padding.VALID:
            return self.pre_pad
        ph = same_padding(x.shape[2], self.weight.shape[2], self.stride[0], self.dilation[0])
        pw = same_padding(x.shape[3], self.weight.shape[3], self.stride[1], self.dilation[1])
        return pw[0], pw[1], ph[0], ph[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right, top, bottom = self._pads(x)
        if left == right and top == bottom:
            pad = (top, left)
        else:
            x = F.pad(x, (left, right, top, bottom))
            pad = (0, 0)
        y = F.conv2d(x, self.weight, self.bias, self.stride, pad, self.dilation, self.groups)
        return apply_activation(y, self.activation, inplace=True)

    def extra_repr(self) -> str:
        return (f"{tuple(self.weight.shape)}, stride={self.stride}, padding={self.padding.name}, "
                f"pre_pad={self.pre_pad}, groups={self.groups}, act={self.activation.name}")


class Pool2d(nn.Module):
    """MAX_POOL_2D / AVERAGE_POOL_2D (average over valid pixels only, as TFLite does)."""

    def __init__(self, *, kind: str, kernel: tuple[int, int], stride: tuple[int, int], padding: Padding,
                 activation: Activation) -> None:
        super().__init__()
        if kind not in ("max", "avg"):
            raise ValueError(f"pool kind must be 'max' or 'avg', got {kind!r}")
        self.kind, self.kernel, self.stride = kind, kernel, stride
        self.padding, self.activation = padding, activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "max":
            if self.padding == Padding.SAME:
                x = _pad_same(x, self.kernel, self.stride, (1, 1), value=float("-inf"))
            y = F.max_pool2d(x, self.kernel, self.stride)
        else:
            if self.padding == Padding.SAME:
                ones = torch.ones_like(x[:1, :1])
                x = _pad_same(x, self.kernel, self.stride, (1, 1))
                ones = _pad_same(ones, self.kernel, self.stride, (1, 1))
                y = F.avg_pool2d(x, self.kernel, self.stride) / F.avg_pool2d(ones, self.kernel, self.stride)
            else:
                y = F.avg_pool2d(x, self.kernel, self.stride)
        return apply_activation(y, self.activation, inplace=True)


class Binary(nn.Module):
    """ADD / SUB / MUL of two activations, or of an activation and a constant (``const`` given,
    already arranged to broadcast in the rebuilt layout; ``const_first`` when it is the left operand)."""

    def __init__(self, *, kind: str, activation: Activation, const: torch.Tensor | None = None,
                 const_first: bool = False) -> None:
        super().__init__()
        if kind not in ("add", "sub", "mul"):
            raise ValueError(f"binary kind must be add/sub/mul, got {kind!r}")
        self.kind, self.activation, self.const_first = kind, activation, const_first
        self.const = nn.Parameter(const, requires_grad=False) if const is not None else None

    def forward(self, a: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
        if self.const is not None:
            a, b = (self.const, a) if self.const_first else (a, self.const)
        if self.kind == "add":
            y = a + b
        elif self.kind == "sub":
            y = a - b
        else:
            y = a * b
        return apply_activation(y, self.activation, inplace=True)


class Unary(nn.Module):
    """RELU, RELU6, LOGISTIC, TANH."""

    def __init__(self, *, kind: str) -> None:
        super().__init__()
        if kind not in ("relu", "relu6", "logistic", "tanh"):
            raise ValueError(f"unsupported unary op {kind!r}")
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "relu":
            return F.relu(x)
        if self.kind == "relu6":
            return F.relu6(x)
        if self.kind == "logistic":
            return torch.sigmoid(x)
        return torch.tanh(x)


class PRelu(nn.Module):
    """PRELU: x if x >= 0 else alpha * x; alpha already arranged to broadcast. A per-channel alpha
    of a rank-4 input, (1, C, 1, 1), runs as ``F.prelu``."""

    def __init__(self, *, alpha: torch.Tensor) -> None:
        super().__init__()
        self.per_channel = alpha.ndim == 4 and alpha.shape[0] == 1 and alpha.shape[2:] == (1, 1)
        self.alpha = nn.Parameter(alpha.reshape(-1) if self.per_channel else alpha, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_channel and x.ndim == 4 and x.shape[1] == self.alpha.shape[0]:
            return F.prelu(x, self.alpha)
        alpha = self.alpha.reshape(1, -1, 1, 1) if self.per_channel else self.alpha
        return torch.where(x >= 0, x, x * alpha)


class Pad(nn.Module):
    """PAD with zeros. pads: F.pad order (last dim first), batch never padded."""

    def __init__(self, *, pads: tuple[int, ...]) -> None:
        super().__init__()
        self.pads = pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, self.pads)
