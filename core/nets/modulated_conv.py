"""StyleGAN2-style modulated / demodulated convolution: the global modulation network of SGMM (§3.3).

A style vector scales the conv's input channels (modulation); demodulation then rescales each
output channel so that, for unit-variance input, the output has unit variance again. The
implementation modulates the *activations* instead of building one weight per sample::

    y[b, o] = d[b, o] * conv(x[b] * s[b], W)[o]
    d[b, o] = 1 / sqrt(sum_{i,k} (W[o, i, k] * s[b, i])**2 + eps)

which equals convolving with the per-sample weights ``W * s / ||W * s||`` (StyleGAN2 eq. 1-3), uses
one ordinary convolution for the whole batch, and keeps the demodulation sum in float32 under
autocast (a float16 sum of squares overflows easily).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.checks import assert_shape
from core.nets.layers import EqualLinear


class ModulatedConv2d(nn.Module):
    """Conv2d whose input channels are scaled per sample by an affine map of a style vector."""

    def __init__(self, *, in_channels: int, out_channels: int, kernel: int, style_dim: int,
                 demodulate: bool = True) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.demodulate = demodulate
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.scale = 1.0 / math.sqrt(in_channels * kernel * kernel)
        self.padding = kernel // 2
        # A: the learned affine from the global vector to per-input-channel scales (bias 1 = identity).
        self.affine = EqualLinear(in_features=style_dim, out_features=in_channels, bias_init=1.0)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """x: (B, C_in, H, W) float; style: (B, style_dim) float -> (B, C_out, H, W)."""
        dims = assert_shape(x, ("B", self.in_channels, "H", "W"), "ModulatedConv2d x")
        assert_shape(style, (dims["B"], self.affine.weight.shape[1]), "ModulatedConv2d style")
        s = self.affine(style)  # (B, C_in)
        weight = self.weight * self.scale
        y = F.conv2d(x * s[:, :, None, None].to(x.dtype), weight, padding=self.padding)
        if self.demodulate:
            # sum_{i,k} W[o,i,k]^2 s[b,i]^2 = (s^2) @ (sum_k W^2)^T, computed in float32.
            w2 = weight.float().square().sum(dim=(2, 3))  # (C_out, C_in)
            d = torch.rsqrt(s.float().square() @ w2.t() + 1e-8)  # (B, C_out)
            y = y * d[:, :, None, None].to(y.dtype)
        return y

    def extra_repr(self) -> str:
        k = self.weight.shape[-1]
        return f"{self.in_channels}, {self.out_channels}, kernel={k}, demodulate={self.demodulate}"
