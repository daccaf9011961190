"""E_a: the appearance encoder of the source face (§3.3): the down path of a U-Net.

Its multi-scale features are warped by the flow (feature deformation) and fed to the decoder as
skip connections. They depend only on the source image, so an inference engine computes them once
per source.
"""

from __future__ import annotations

import torch
from torch import nn

from core.checks import assert_float, assert_shape
from core.nets.config import GafetConfig
from core.nets.layers import ConvPyramid


class AppearanceEncoder(nn.Module):
    """E_a: source image -> one feature map per scale."""

    def __init__(self, *, config: GafetConfig) -> None:
        super().__init__()
        self.resolution = config.resolution
        self.pyramid = ConvPyramid(in_channels=3, channels=config.appearance_channels)

    def forward(self, source: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """source: (B, 3, R, R) float in [-1, 1] -> features[i]: (B, appearance_channels[i], R/2**i, R/2**i).

        Finest scale first (i = 0 .. L).
        """
        assert_shape(source, ("B", 3, self.resolution, self.resolution), "source")
        assert_float(source, "source")
        return self.pyramid(source)
