"""E_d: the encoder of the reference expression face (§3.2, Fig. 3).

It extracts multi-level features of the reference (high = coarsest, mid, low) and projects each to
MFAT's token width ``d``. They depend only on the reference, so an inference engine computes them
(and MFAT's self-attention and cross-attention keys/values on them) once per reference.
"""

from __future__ import annotations

import torch
from torch import nn

from core.checks import assert_float, assert_shape
from core.nets.config import GafetConfig
from core.nets.layers import ConvPyramid, EqualConv2d


class ReferenceEncoder(nn.Module):
    """E_d: reference image -> one (B, d, s, s) map per MFAT level, coarsest ("high") first."""

    def __init__(self, *, config: GafetConfig) -> None:
        super().__init__()
        self.resolution = config.resolution
        self.scales = config.mfat_scales
        deepest = max(self.scales)
        self.pyramid = ConvPyramid(in_channels=3, channels=config.reference_channels[: deepest + 1])
        self.heads = nn.ModuleList(
            EqualConv2d(in_channels=config.reference_channels[i], out_channels=config.mfat.dim, kernel=1)
            for i in self.scales
        )

    def forward(self, reference: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """reference: (B, 3, R, R) float in [-1, 1] -> levels[k]: (B, d, R/2**s_k, R/2**s_k).

        ``s_k = config.mfat_scales[k]``: the coarsest scale first.
        """
        assert_shape(reference, ("B", 3, self.resolution, self.resolution), "reference")
        assert_float(reference, "reference")
        feats = self.pyramid(reference)
        return tuple(head(feats[i]) for head, i in zip(self.heads, self.scales, strict=True))
