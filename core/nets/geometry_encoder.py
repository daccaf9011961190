"""E_e: the expression encoder of the 3D geometry image (§3.1, §3.3).

Input: the geometry image rendered from the combined face (source identity and pose, reference
expression), ``(B, C_g, R, R)`` float. With the default ``C_g = 4``: channels 0-2 the camera-space
normal map in [-1, 1] (zero outside the face), channel 3 the face mask in {0, 1}. Any other C_g works
the same way (e.g. adding a depth channel), as long as values stay roughly in [-1, 1].

Output: spatial features at every scale (they drive SGMM's spatial modulation, after MFAT adds its
residual on the coarsest scales) and, when SGMM's global modulation is on, a global vector.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from core.checks import assert_float, assert_shape
from core.nets.config import GafetConfig
from core.nets.layers import ConvAct, ConvPyramid, EqualLinear, lrelu


class GeometryFeatures(NamedTuple):
    """E_e's output.

    spatial: spatial[i] is (B, geometry_feature_channels[i], R/2**i, R/2**i), finest first.
    global_vector: (B, global_dim), or None when global modulation is off.
    """

    spatial: tuple[torch.Tensor, ...]
    global_vector: torch.Tensor | None


class GlobalHead(nn.Module):
    """Bottleneck features -> global vector: 3x3 conv, global average pool, two-layer MLP."""

    def __init__(self, *, in_channels: int, dim: int) -> None:
        super().__init__()
        self.conv = ConvAct(in_channels=in_channels, out_channels=dim)
        self.fc1 = EqualLinear(in_features=dim, out_features=dim)
        self.fc2 = EqualLinear(in_features=dim, out_features=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, h, w) -> (B, dim)."""
        pooled = self.conv(x).mean(dim=(2, 3))
        return self.fc2(lrelu(self.fc1(pooled)))


class GeometryEncoder(nn.Module):
    """E_e: geometry image -> :class:`GeometryFeatures`."""

    def __init__(self, *, config: GafetConfig) -> None:
        super().__init__()
        self.resolution = config.resolution
        self.in_channels = config.geometry_channels
        widths = config.geometry_feature_channels
        self.pyramid = ConvPyramid(in_channels=config.geometry_channels, channels=widths)
        self.global_head = (GlobalHead(in_channels=widths[-1], dim=config.global_dim)
                            if config.switches.use_global_modulation else None)

    def forward(self, geometry: torch.Tensor) -> GeometryFeatures:
        """geometry: (B, C_g, R, R) float, roughly in [-1, 1] (see the module docstring)."""
        assert_shape(geometry, ("B", self.in_channels, self.resolution, self.resolution), "geometry")
        assert_float(geometry, "geometry")
        spatial = self.pyramid(geometry)
        global_vector = self.global_head(spatial[-1]) if self.global_head is not None else None
        return GeometryFeatures(spatial=spatial, global_vector=global_vector)
