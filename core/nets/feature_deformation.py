"""Feature deformation (FD, [42] in §3.3): warp E_a's multi-scale features by the motion flow.

Flow convention (the renderer's output, DESIGN §5): a *backward* flow ``(B, R, R, 2)`` float that
gives, for every target pixel, the source location to sample, as ``(x, y)`` in normalised
coordinates of :func:`torch.nn.functional.grid_sample` with ``align_corners=False`` (-1 = left/top
image edge, +1 = right/bottom edge; pixel ``j`` of ``n`` has its centre at ``(2j + 1) / n - 1``).
No motion is :func:`identity_grid`.

Per scale the flow is resized as a displacement ``flow - identity`` (area average, exact for the
identity), added to that scale's identity grid, and the features are sampled bilinearly with border
padding. The warp is computed in float32 whatever the autocast state (a float16 grid is off by up
to a quarter pixel at 512 px).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from core.checks import assert_shape


def identity_grid(batch: int, height: int, width: int, *, device: torch.device | str | None = None,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The no-motion flow: (batch, height, width, 2) pixel centres in normalised (x, y).

    Computed in float64 and rounded once, so ``grid_sample`` with it reproduces its input exactly
    (``affine_grid`` of the identity is off by a few 1e-6 after its float32 matmul).
    """
    ys = (torch.arange(height, device=device, dtype=torch.float64) * 2 + 1) / height - 1
    xs = (torch.arange(width, device=device, dtype=torch.float64) * 2 + 1) / width - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1).to(dtype).expand(batch, height, width, 2)


def flow_displacement(flow: torch.Tensor, size: int) -> torch.Tensor:
    """flow: (B, R, R, 2) grid -> displacement (flow - identity) at ``size``: (B, 2, size, size) float32."""
    dims = assert_shape(flow, ("B", "R", "R", 2), "flow")
    flow32 = flow.float()
    disp = (flow32 - identity_grid(dims["B"], dims["R"], dims["R"], device=flow.device)).permute(0, 3, 1, 2)
    if size == dims["R"]:
        return disp
    if size > dims["R"]:
        return F.interpolate(disp, size=(size, size), mode="bilinear", align_corners=False)
    return F.interpolate(disp, size=(size, size), mode="area")


def warp(features: torch.Tensor, displacement: torch.Tensor) -> torch.Tensor:
    """Backward-warp features: (B, C, s, s) any float dtype; displacement (B, 2, s, s) -> (B, C, s, s).

    ``out[:, :, y, x] = features sampled at identity[y, x] + displacement[:, :, y, x]``. A zero
    displacement returns ``features`` unchanged (to float32 rounding).
    """
    dims = assert_shape(features, ("B", None, "S", "S"), "features")
    assert_shape(displacement, (dims["B"], 2, dims["S"], dims["S"]), "displacement")
    ident = identity_grid(dims["B"], dims["S"], dims["S"], device=features.device)
    grid = ident + displacement.float().permute(0, 2, 3, 1)  # b 2 h w -> b h w 2
    # Both operands float32: autocast leaves grid_sample in float32 (it is not a low-precision op).
    out = F.grid_sample(features.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.to(features.dtype)


class Deformed(NamedTuple):
    """Warped E_a pyramid and the per-scale displacement that warped it.

    features[i]: (B, C_i, R/2**i, R/2**i); displacement[i]: (B, 2, R/2**i, R/2**i) float32
    (normalised units; the decoder sees it as two extra input channels).
    """

    features: tuple[torch.Tensor, ...]
    displacement: tuple[torch.Tensor, ...]


class FeatureDeformation(nn.Module):
    """Parameter-free: warps every scale of a feature pyramid by the full-resolution flow."""

    def forward(self, features: tuple[torch.Tensor, ...], flow: torch.Tensor) -> Deformed:
        """features: pyramid, finest first (scale i has side R/2**i); flow: (B, R, R, 2) grid."""
        disps = tuple(flow_displacement(flow, f.shape[-1]) for f in features)
        warped = tuple(warp(f, d) for f, d in zip(features, disps, strict=True))
        return Deformed(features=warped, displacement=disps)
