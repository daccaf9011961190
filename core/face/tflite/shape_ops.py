"""Layout-aware TFLite shape ops as PyTorch modules: RESHAPE, CONCATENATION, RESIZE_BILINEAR,
DEPTH_TO_SPACE. Rank-4 activations are NCHW (see :mod:`core.face.tflite.layout`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.face.tflite.layers import apply_activation
from core.face.tflite.layout import to_nchw, to_nhwc
from core.face.tflite.schema import Activation


class Reshape(nn.Module):
    """RESHAPE that keeps the batch dim: NHWC element order, as TFLite sees it.
    shape: the output shape without the batch dim."""

    def __init__(self, *, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = to_nhwc(x).reshape((x.shape[0], *self.shape))
        return to_nchw(y)

    def extra_repr(self) -> str:
        return f"(B, {', '.join(map(str, self.shape))})"


class Concat(nn.Module):
    """CONCATENATION along ``dim`` (already an axis of the rebuilt layout)."""

    def __init__(self, *, dim: int, activation: Activation) -> None:
        super().__init__()
        self.dim, self.activation = dim, activation

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return apply_activation(torch.cat(xs, dim=self.dim), self.activation, inplace=True)


def _resize_taps(in_size: int, out_size: int, *, align_corners: bool,
                 half_pixel_centers: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TensorFlow's bilinear source taps along one axis: (lo, hi) int64 indices and the weight of hi."""
    dst = torch.arange(out_size, dtype=torch.float64)
    if align_corners and out_size > 1:
        src = dst * ((in_size - 1) / (out_size - 1))
    elif half_pixel_centers:
        src = (dst + 0.5) * (in_size / out_size) - 0.5
    else:
        src = dst * (in_size / out_size)
    src = src.clamp(min=0.0)
    lo = src.floor().long().clamp(max=in_size - 1)
    hi = (lo + 1).clamp(max=in_size - 1)
    return lo, hi, (src - src.floor()).float()


class ResizeBilinear(nn.Module):
    """RESIZE_BILINEAR to a fixed (height, width) with TensorFlow's sampling positions
    (align_corners / half_pixel_centers / legacy), written with gathers so it is exact."""

    def __init__(self, *, size: tuple[int, int], align_corners: bool, half_pixel_centers: bool) -> None:
        super().__init__()
        self.size, self.align_corners, self.half_pixel_centers = size, align_corners, half_pixel_centers

    def _axis(self, x: torch.Tensor, dim: int, out_size: int) -> torch.Tensor:
        lo, hi, w = _resize_taps(x.shape[dim], out_size, align_corners=self.align_corners,
                                 half_pixel_centers=self.half_pixel_centers)
        lo, hi, w = lo.to(x.device), hi.to(x.device), w.to(x.device, x.dtype)
        shape = [1] * x.ndim
        shape[dim] = out_size
        a, b = x.index_select(dim, lo), x.index_select(dim, hi)
        return a + (b - a) * w.view(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.half_pixel_centers and not self.align_corners:
            # identical sampling positions (PyTorch also clamps negative sources to 0)
            return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
        return self._axis(self._axis(x, 2, self.size[0]), 3, self.size[1])


class DepthToSpace(nn.Module):
    """DEPTH_TO_SPACE (TensorFlow's DCR order: NHWC channel (i * bs + j) * C + c goes to pixel
    (h * bs + i, w * bs + j), channel c). x: (B, C * bs * bs, H, W) -> (B, C, H * bs, W * bs)."""

    def __init__(self, *, block_size: int) -> None:
        super().__init__()
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.block_size = block_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        bs = self.block_size
        if c % (bs * bs):
            raise ValueError(f"DEPTH_TO_SPACE: {c} channels not divisible by block_size^2 = {bs * bs}")
        co = c // (bs * bs)
        y = x.reshape(b, bs, bs, co, h, w).permute(0, 3, 4, 1, 5, 2)
        return y.reshape(b, co, h * bs, w * bs)
