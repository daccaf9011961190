"""Basic convolutional layers shared by the GaFET networks.

Convolutions and linear layers use StyleGAN2's *equalised learning rate*: weights are stored as
N(0, 1) and scaled by ``gain / sqrt(fan_in)`` at run time, so Adam's step size is the same for every
layer (the paper trains with Adam, lr 0.002, betas (0, 0.99), §4.1). Activations are leaky ReLU
(slope 0.2) scaled by sqrt(2) to keep unit variance.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.checks import assert_shape

LRELU_GAIN = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (slope 0.2) times sqrt(2)."""
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate; ``padding = kernel // 2`` ("same" for odd kernels)."""

    def __init__(self, *, in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                 bias: bool = True, bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.full((out_channels,), float(bias_init))) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.stride = stride
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        out_c, in_c, k, _ = self.weight.shape
        return f"{in_c}, {out_c}, kernel={k}, stride={self.stride}, bias={self.bias is not None}"


class EqualConvTranspose2d(nn.Module):
    """Transposed conv (kernel 4, stride 2, padding 1): exactly doubles H and W. Equalised lr."""

    def __init__(self, *, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_channels, out_channels, 4, 4))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # Each output pixel of a stride-2 4x4 transposed conv sees 2x2 taps per input channel.
        self.scale = 1.0 / math.sqrt(in_channels * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.weight * self.scale, self.bias, stride=2, padding=1)

    def extra_repr(self) -> str:
        in_c, out_c, _, _ = self.weight.shape
        return f"{in_c}, {out_c}, kernel=4, stride=2"


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate."""

    def __init__(self, *, in_features: int, out_features: int, bias: bool = True,
                 bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.scale = 1.0 / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, bias={self.bias is not None}"


class ConvAct(nn.Module):
    """EqualConv2d followed by scaled leaky ReLU."""

    def __init__(self, *, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.conv = EqualConv2d(in_channels=in_channels, out_channels=out_channels, kernel=kernel,
                                stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrelu(self.conv(x))


class ConvPyramid(nn.Module):
    """A conv encoder that returns one feature map per scale: the down path of a U-Net.

    Scale 0 keeps the input size (stem: two 3x3 convs); each further scale halves H and W with a
    stride-2 3x3 conv followed by a 3x3 conv. ``channels[i]`` is the width at scale ``i``.
    """

    def __init__(self, *, in_channels: int, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.channels = tuple(channels)
        self.stem = nn.Sequential(ConvAct(in_channels=in_channels, out_channels=channels[0]),
                                  ConvAct(in_channels=channels[0], out_channels=channels[0]))
        self.down = nn.ModuleList(
            nn.Sequential(ConvAct(in_channels=c_in, out_channels=c_out, stride=2),
                          ConvAct(in_channels=c_out, out_channels=c_out))
            for c_in, c_out in zip(channels[:-1], channels[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x: (B, C_in, H, W) -> features[i]: (B, channels[i], H / 2**i, W / 2**i), finest first."""
        assert_shape(x, ("B", self.in_channels, "H", "W"), "ConvPyramid input")
        feats = [self.stem(x)]
        for block in self.down:
            feats.append(block(feats[-1]))
        return tuple(feats)
