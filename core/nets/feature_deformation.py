"""Feature deformation (FD, [42] in §3.3): warp E_a's multi-scale features by the motion flow.

Flow convention (the renderer's output, DESIGN §5): a *backward* flow ``(B, R, R, 2)`` float that
gives, for every target pixel, the source location to sample, as ``(x, y)`` in normalised
coordinates of :func:`torch.nn.functional.grid_sample` with ``align_corners=False`` (-1 = left/top
image edge, +1 = right/bottom edge; pixel ``j`` of ``n`` has its centre at ``(2j + 1) / n - 1``).
No motion is :func:`core.render.flow.identity_grid`.

Per scale the flow is resized as a displacement ``flow - identity`` (:func:`core.render.flow.grid_offset`:
area average, exact for the identity), added to that scale's identity grid, and the features are
sampled bilinearly with border padding (:func:`core.render.flow.warp`). The warp is computed in
float32 whatever the autocast state (a float16 grid is off by up to a quarter pixel at 512 px).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from core.checks import assert_shape
from core.render.flow import grid_offset, offset_grid, warp


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
        """features: pyramid, finest first (scale i has side R/2**i), each (B, C_i, s, s) any float
        dtype; flow: (B, R, R, 2) grid. Warped features keep their dtype; the warp is float32."""
        dims = assert_shape(flow, ("B", "R", "R", 2), "flow")
        flow32 = flow.float()
        disps, warped = [], []
        for i, f in enumerate(features):
            side = assert_shape(f, (dims["B"], None, "S", "S"), f"features[{i}]")["S"]
            disp = grid_offset(flow32, side)  # (B, 2, s, s) float32
            disps.append(disp)
            warped.append(warp(f, offset_grid(disp), mode="bilinear", padding_mode="border"))
        return Deformed(features=tuple(warped), displacement=tuple(disps))
