"""The expression generator's decoder (§3.3, Fig. 4): SGMM blocks, U-Net skips, transposed convs, toRGB.

Starting from the (warped) E_a bottleneck, every scale ``i = L .. 0``:

* ``i < L``: 4x4 stride-2 transposed conv from scale ``i + 1``, concatenated with the warped E_a
  skip at scale ``i`` (and, with feature deformation on, the 2-channel displacement that warped it);
* a 3x3 fusion conv to the scale's width ``appearance_channels[i]``;
* an :class:`SgmmBlock` modulated spatially by E_e(+MFAT) features at scale ``i`` and globally by
  E_e's global vector.

Finally toRGB: a 1x1 modulated conv without demodulation (a plain 1x1 conv when global modulation is
off), giving the image. The output is not squashed: it is nominally in [-1, 1]; clamp for display.
"""

from __future__ import annotations

import torch
from torch import nn

from core.checks import assert_shape
from core.nets.config import GafetConfig
from core.nets.layers import EqualConv2d, EqualConvTranspose2d, lrelu
from core.nets.modulated_conv import ModulatedConv2d
from core.nets.sgmm import SgmmBlock


class ToRGB(nn.Module):
    """Features -> RGB: modulated 1x1 conv (no demodulation) + bias, or a plain 1x1 conv."""

    def __init__(self, *, in_channels: int, style_dim: int | None) -> None:
        super().__init__()
        self.style_dim = style_dim
        if style_dim is None:
            self.conv: nn.Module = EqualConv2d(in_channels=in_channels, out_channels=3, kernel=1)
        else:
            self.conv = ModulatedConv2d(in_channels=in_channels, out_channels=3, kernel=1,
                                        style_dim=style_dim, demodulate=False)
            self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        if self.style_dim is None:
            return self.conv(x)
        return self.conv(x, style) + self.bias[:, None, None]


class SgmmDecoder(nn.Module):
    """Decoder of the expression generator; see the module docstring."""

    def __init__(self, *, config: GafetConfig) -> None:
        super().__init__()
        self.resolution = config.resolution
        self.channels = config.appearance_channels
        self.cond_channels = config.geometry_feature_channels
        self.with_displacement = config.switches.use_feature_deformation
        style_dim = config.global_dim if config.switches.use_global_modulation else None
        self.style_dim = style_dim
        extra = 2 if self.with_displacement else 0
        levels = config.levels
        ch = self.channels
        # fuse[i]: input at scale i -> ch[i]; at the bottleneck the input is the E_a feature alone.
        self.fuse = nn.ModuleList(
            EqualConv2d(in_channels=(ch[i] if i == levels else 2 * ch[i]) + extra, out_channels=ch[i],
                        kernel=3)
            for i in range(levels + 1)
        )
        # up[i]: scale i+1 -> scale i (i = 0 .. L-1).
        self.up = nn.ModuleList(
            EqualConvTranspose2d(in_channels=ch[i + 1], out_channels=ch[i]) for i in range(levels))
        self.blocks = nn.ModuleList(
            SgmmBlock(channels=ch[i], cond_channels=self.cond_channels[i], style_dim=style_dim)
            for i in range(levels + 1)
        )
        self.to_rgb = ToRGB(in_channels=ch[0], style_dim=style_dim)

    def forward(self, appearance: tuple[torch.Tensor, ...], displacement: tuple[torch.Tensor, ...] | None,
                expression: tuple[torch.Tensor, ...], style: torch.Tensor | None) -> torch.Tensor:
        """Decode one image.

        appearance[i]: (B, appearance_channels[i], R/2**i, R/2**i) warped E_a features, finest first.
        displacement[i]: (B, 2, R/2**i, R/2**i) flow displacement (required iff feature deformation is on).
        expression[i]: (B, geometry_feature_channels[i], R/2**i, R/2**i) E_e features (+ MFAT residual).
        style: (B, global_dim) E_e's global vector, or None without global modulation.
        Returns (B, 3, R, R) float, nominally in [-1, 1].
        """
        levels = len(self.channels) - 1
        if len(appearance) != levels + 1 or len(expression) != levels + 1:
            raise ValueError(f"SgmmDecoder: expected {levels + 1} scales, got {len(appearance)} appearance "
                             f"and {len(expression)} expression maps")
        if (displacement is None) == self.with_displacement:
            raise ValueError("SgmmDecoder: displacement must be given exactly when feature deformation is on")
        if (style is None) != (self.style_dim is None):
            raise ValueError("SgmmDecoder: style must be given exactly when global modulation is on")
        batch = appearance[0].shape[0]
        for i in range(levels + 1):
            side = self.resolution >> i
            assert_shape(appearance[i], (batch, self.channels[i], side, side), f"appearance[{i}]")
            assert_shape(expression[i], (batch, self.cond_channels[i], side, side), f"expression[{i}]")
        x: torch.Tensor | None = None
        for i in range(levels, -1, -1):
            parts = [appearance[i]] if x is None else [lrelu(self.up[i](x)), appearance[i]]
            if displacement is not None:
                parts.append(displacement[i].to(appearance[i].dtype))
            x = lrelu(self.fuse[i](torch.cat(parts, dim=1)))
            x = self.blocks[i](x, expression[i], style)
        return self.to_rgb(x, style)
