"""The grid maths of core.render.flow: one identity grid, offsets, resizing and the one warp."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.render.flow import FlowField, grid_offset, identity_grid, offset_grid, resize_grid, warp


@pytest.mark.parametrize("side", [8, 64, 256])
def test_the_identity_grid_reproduces_its_input_exactly(side: int) -> None:
    x = torch.rand(2, 3, side, side, generator=torch.Generator().manual_seed(side))
    grid = identity_grid(side, side, batch=2)
    assert grid.shape == (2, side, side, 2) and grid.dtype == torch.float32
    for mode in ("bilinear", "bicubic", "nearest"):
        assert torch.equal(F.grid_sample(x, grid, mode=mode, align_corners=False), x)
        assert torch.equal(warp(x, grid, mode=mode), x)


def test_identity_grid_layout_and_dtype() -> None:
    g = identity_grid(4, 2, dtype=torch.float64)
    assert g.shape == (1, 4, 2, 2) and g.dtype == torch.float64
    assert g[0, :, :, 0].tolist() == [[-0.5, 0.5]] * 4  # x: (2 j + 1) / W - 1
    assert g[0, :, 0, 1].tolist() == [-0.75, -0.25, 0.25, 0.75]  # y: (2 i + 1) / H - 1


def test_offset_round_trip_and_zero_motion_at_every_size() -> None:
    g = torch.Generator().manual_seed(0)
    grid = identity_grid(16, 16) + 0.1 * torch.randn(1, 16, 16, 2, generator=g)
    offset = grid_offset(grid)
    assert offset.shape == (1, 2, 16, 16)
    torch.testing.assert_close(offset_grid(offset), grid, atol=1e-6, rtol=0)
    for size in (4, 16, 64):
        assert torch.equal(grid_offset(identity_grid(16, 16), size), torch.zeros(1, 2, size, size))
        assert torch.equal(resize_grid(identity_grid(16, 16), size), identity_grid(size, size))
    assert resize_grid(grid, 16) is grid


def test_warp_takes_a_flow_field_or_its_grid_and_keeps_the_image_dtype() -> None:
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 32, 32, generator=g)
    grid = identity_grid(32, 32) + 0.05 * torch.randn(1, 32, 32, 2, generator=g)
    flow = FlowField(grid=grid, displacement=torch.zeros_like(grid), mask=grid[..., 0])
    assert torch.equal(warp(image, flow), warp(image, grid))
    half = warp(image.half(), grid)
    assert half.dtype == torch.float16
    assert torch.equal(half, warp(image.half().float(), grid).half())  # sampled in float32
    with pytest.raises(ValueError, match="image"):
        warp(torch.rand(2, 3, 32, 32), grid)  # batch of 2, grid of 1
    with pytest.raises(ValueError, match="grid"):
        grid_offset(torch.zeros(1, 8, 4, 2))  # not square
