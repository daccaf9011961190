"""StyleGAN2-style residual discriminators (§3.5): the global D and the component D.

Both share one structure (the component D is narrower and sees eye/mouth patches):

* fromRGB: 1x1 conv + act at the input resolution;
* residual blocks down to 4x4: ``(conv3x3 -> act -> conv3x3 -> 2x down -> act) + (2x down -> 1x1 conv)``,
  summed and scaled by 1/sqrt(2) (StyleGAN2's "resnet" D; 2x2 average pooling replaces its blur);
* epilogue at 4x4: minibatch standard deviation (1 channel), 3x3 conv, flatten, two linear layers
  -> one logit per image.

Width at side ``r``: ``min(max_channels, base_channels * input_size / r)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.checks import assert_float, assert_shape
from core.nets.config import GafetConfig
from core.nets.layers import ConvAct, EqualConv2d, EqualLinear, lrelu

_SQRT_HALF = 1.0 / math.sqrt(2.0)


def minibatch_stddev(x: torch.Tensor, group: int) -> torch.Tensor:
    """Append the group-wise feature standard deviation as one extra channel: (B, C, H, W) -> (B, C+1, H, W).

    Samples are grouped as in StyleGAN2 (sample ``n = k * (B / G) + m`` is member k of group m). The
    group size G is the largest divisor of B that is at most ``group`` (StyleGAN2 requires G to
    divide B; this keeps odd batch sizes working).
    """
    b, c, h, w = x.shape
    g = max(d for d in range(1, min(group, b) + 1) if b % d == 0)
    y = x.float().reshape(g, b // g, c, h, w)  # (g m) c h w -> g m c h w
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (m,)
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w).to(x.dtype)  # (g m) 1 h w
    return torch.cat([x, y], dim=1)


class ResBlockDown(nn.Module):
    def __init__(self, *, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = ConvAct(in_channels=in_channels, out_channels=in_channels)
        self.conv2 = EqualConv2d(in_channels=in_channels, out_channels=out_channels, kernel=3)
        self.skip = EqualConv2d(in_channels=in_channels, out_channels=out_channels, kernel=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = lrelu(F.avg_pool2d(self.conv2(self.conv1(x)), 2))
        skip = self.skip(F.avg_pool2d(x, 2))
        return (main + skip) * _SQRT_HALF


class ResidualDiscriminator(nn.Module):
    """Image (B, 3, S, S) float in [-1, 1] -> logits (B,) float (real > 0 > fake after training)."""

    def __init__(self, *, size: int, base_channels: int, max_channels: int, mbstd_group: int) -> None:
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"ResidualDiscriminator: size must be a power of two >= 8, got {size}")
        self.size = size
        self.mbstd_group = mbstd_group

        def width(side: int) -> int:
            return min(max_channels, base_channels * (size // side))

        self.from_rgb = ConvAct(in_channels=3, out_channels=width(size), kernel=1)
        sides = [size >> k for k in range(int(math.log2(size)) - 2)]  # size, size/2, ..., 8
        self.blocks = nn.ModuleList(
            ResBlockDown(in_channels=width(s), out_channels=width(s // 2)) for s in sides)
        c4 = width(4)
        self.epilogue_conv = ConvAct(in_channels=c4 + 1, out_channels=c4)
        self.fc = EqualLinear(in_features=c4 * 16, out_features=c4)
        self.out = EqualLinear(in_features=c4, out_features=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """image: (B, 3, S, S) float in [-1, 1] -> (B,) logits."""
        assert_shape(image, ("B", 3, self.size, self.size), "discriminator input")
        assert_float(image, "discriminator input")
        x = self.from_rgb(image)
        for block in self.blocks:
            x = block(x)
        x = self.epilogue_conv(minibatch_stddev(x, self.mbstd_group))
        x = lrelu(self.fc(x.flatten(1)))
        return self.out(x).squeeze(1)


def build_global_discriminator(config: GafetConfig) -> ResidualDiscriminator:
    """The global D on whole (B, 3, R, R) images."""
    d = config.discriminator
    return ResidualDiscriminator(size=config.resolution, base_channels=d.base_channels,
                                 max_channels=d.max_channels, mbstd_group=d.mbstd_group)


def build_component_discriminator(config: GafetConfig) -> ResidualDiscriminator | None:
    """The component D on (B, 3, P, P) eye/mouth patches, or None when the switch is off."""
    if not config.switches.use_component_discriminator:
        return None
    d = config.discriminator
    return ResidualDiscriminator(size=d.component_patch, base_channels=d.component_base_channels,
                                 max_channels=d.component_max_channels, mbstd_group=d.mbstd_group)
