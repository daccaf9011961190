"""SGMM: the Spatial and Global Modulation Module of the generator (§3.3, Fig. 4).

* Spatial modulation (SPADE-like): instance-normalise the activations, then scale and shift them
  with per-pixel ``gamma``/``beta`` maps predicted from E_e's spatial features (+ MFAT residual).
* Global modulation: StyleGAN2 modulated/demodulated 3x3 convolutions driven by E_e's global
  vector. With ``use_global_modulation`` off ("w/o SGMM" in Table 3) they are plain 3x3 convs.

One block: ``h = act(conv1(spatial1(x))); h = act(conv2(spatial2(h))); out = (x + h) / sqrt(2)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from core.checks import assert_shape
from core.nets.layers import EqualConv2d, lrelu
from core.nets.modulated_conv import ModulatedConv2d


def instance_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per-sample, per-channel normalisation over H, W; statistics in float32, result in x's dtype."""
    xf = x.float()
    mean = xf.mean(dim=(2, 3), keepdim=True)
    var = xf.var(dim=(2, 3), keepdim=True, unbiased=False)
    return ((xf - mean) * torch.rsqrt(var + eps)).to(x.dtype)


class SpatialModulation(nn.Module):
    """SPADE-like: ``norm(x) * (1 + gamma(cond)) + beta(cond)``, gamma/beta: 3x3 convs of cond."""

    def __init__(self, *, channels: int, cond_channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.cond_channels = cond_channels
        self.gamma = EqualConv2d(in_channels=cond_channels, out_channels=channels, kernel=3)
        self.beta = EqualConv2d(in_channels=cond_channels, out_channels=channels, kernel=3)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W); cond: (B, C_cond, H, W) -> (B, C, H, W)."""
        dims = assert_shape(x, ("B", self.channels, "H", "W"), "SpatialModulation x")
        assert_shape(cond, (dims["B"], self.cond_channels, dims["H"], dims["W"]), "SpatialModulation cond")
        return instance_norm(x) * (1 + self.gamma(cond)) + self.beta(cond)


class SgmmBlock(nn.Module):
    """Residual SGMM block at one decoder scale. ``style_dim=None`` removes the global modulation."""

    def __init__(self, *, channels: int, cond_channels: int, style_dim: int | None) -> None:
        super().__init__()
        self.channels = channels
        self.style_dim = style_dim
        self.spatial1 = SpatialModulation(channels=channels, cond_channels=cond_channels)
        self.spatial2 = SpatialModulation(channels=channels, cond_channels=cond_channels)
        self.conv1 = self._make_conv(channels, style_dim)
        self.conv2 = self._make_conv(channels, style_dim)
        self.bias1 = nn.Parameter(torch.zeros(channels))
        self.bias2 = nn.Parameter(torch.zeros(channels))

    @staticmethod
    def _make_conv(channels: int, style_dim: int | None) -> nn.Module:
        if style_dim is None:
            return EqualConv2d(in_channels=channels, out_channels=channels, kernel=3, bias=False)
        return ModulatedConv2d(in_channels=channels, out_channels=channels, kernel=3, style_dim=style_dim)

    def _conv(self, conv: nn.Module, x: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        return conv(x) if self.style_dim is None else conv(x, style)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        """x: (B, C, H, W); cond: (B, C_cond, H, W) E_e(+MFAT) features; style: (B, style_dim) or None."""
        assert_shape(x, ("B", self.channels, "H", "W"), "SgmmBlock x")
        if (style is None) != (self.style_dim is None):
            state = "missing" if style is None else "given"
            raise ValueError(f"SgmmBlock: style is {state} but the block was built with "
                             f"style_dim={self.style_dim}")
        h = lrelu(self._conv(self.conv1, self.spatial1(x, cond), style) + self.bias1[:, None, None])
        h = lrelu(self._conv(self.conv2, self.spatial2(h, cond), style) + self.bias2[:, None, None])
        return (x + h) * (1.0 / math.sqrt(2.0))
