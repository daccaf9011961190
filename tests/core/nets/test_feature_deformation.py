from __future__ import annotations

import torch
import torch.nn.functional as F

from core.nets.feature_deformation import FeatureDeformation
from core.render.flow import grid_offset, identity_grid, offset_grid, warp


def test_zero_flow_is_the_identity_at_every_scale() -> None:
    g = torch.Generator().manual_seed(0)
    pyramid = tuple(torch.randn(2, c, 64 >> i, 64 >> i, generator=g) for i, c in enumerate((4, 8, 16, 16)))
    out = FeatureDeformation()(pyramid, identity_grid(64, 64, batch=2))
    for f, w, d in zip(pyramid, out.features, out.displacement, strict=True):
        assert (w - f).abs().max() <= 1e-6
        assert torch.equal(d, torch.zeros_like(d))


def test_identity_grid_matches_affine_grid() -> None:
    ref = F.affine_grid(torch.eye(2, 3)[None], [1, 1, 16, 8], align_corners=False)
    torch.testing.assert_close(identity_grid(16, 8), ref, atol=1e-5, rtol=0)


def test_a_one_pixel_shift_moves_features_by_one_pixel() -> None:
    x = torch.randn(1, 3, 16, 16)
    flow = identity_grid(16, 16).clone()
    flow[..., 0] += 2 / 16  # each target pixel samples the source pixel to its right
    out = warp(x, offset_grid(grid_offset(flow, 16)))
    torch.testing.assert_close(out[..., :-1], x[..., 1:], atol=1e-5, rtol=0)


def test_resized_displacement_keeps_a_constant_shift_in_normalised_units() -> None:
    flow = identity_grid(32, 32) + torch.tensor([0.1, -0.05])
    for size in (32, 16, 8, 4):
        disp = grid_offset(flow, size)
        assert disp.shape == (1, 2, size, size)
        torch.testing.assert_close(disp[0, 0], torch.full((size, size), 0.1), atol=1e-6, rtol=0)
        torch.testing.assert_close(disp[0, 1], torch.full((size, size), -0.05), atol=1e-6, rtol=0)


def test_low_precision_features_keep_their_dtype_and_the_warp_is_float32() -> None:
    x = torch.randn(1, 3, 8, 8)
    disp = offset_grid(torch.zeros(1, 2, 8, 8))  # the identity grid
    out = warp(x.to(torch.bfloat16), disp)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, x.to(torch.bfloat16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert warp(x, disp).dtype == torch.float32
