"""Paired TPS and colour augmentation (training/data/tps.py): identity at zero, the same on both images."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.data.tps import NO_PAIR_AUGMENT, PairAugmentConfig, augment_pair, draw_pair, tps_grid


def _images(b: int = 2, h: int = 24, w: int = 32) -> torch.Tensor:
    return torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_zero_displacement_is_the_identity() -> None:
    x = _images()
    grid = tps_grid(torch.zeros(2, 4, 4, 2), (24, 32))
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    assert torch.allclose(y, x, atol=1e-5)
    out_x, out_t = augment_pair(x, x.clone(), NO_PAIR_AUGMENT, torch.Generator().manual_seed(0))
    assert torch.equal(out_x, x) and torch.equal(out_t, x)


def test_the_spline_interpolates_its_control_points() -> None:
    disp = torch.zeros(1, 3, 3, 2)
    disp[0, 1, 1] = torch.tensor([0.1, -0.05])  # the centre point moves
    grid = tps_grid(disp, (9, 9))  # pixel centre (4, 4) is the normalised origin
    assert torch.allclose(grid[0, 4, 4], torch.tensor([0.1, -0.05]), atol=1e-5)
    assert torch.allclose(grid[0, 0, 0], torch.tensor([-8 / 9, -8 / 9]), atol=0.05)


def test_the_same_warp_on_input_and_target_and_it_warps() -> None:
    x = _images()
    cfg = PairAugmentConfig(tps_jitter=0.08, tps_probability=1.0, flip=0.5)
    a, b = augment_pair(x, x.clone(), cfg, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)  # identical inputs stay identical: one draw for both
    assert float((a - x).abs().mean()) > 0.02  # and the draw did change them
    # a pair of different images: warping each alone with the same draw gives the same results
    y = -x
    g = torch.Generator().manual_seed(5)
    a2, b2 = augment_pair(x, y, cfg, g)
    from training.data.tps import apply_draw

    d = draw_pair(cfg, 2, torch.Generator().manual_seed(5))
    assert torch.allclose(a2, apply_draw(x, d)) and torch.allclose(b2, apply_draw(y, d))
    assert float(a2.min()) >= -1 and float(a2.max()) <= 1
    # seeded: the same seed gives the same augmentation
    a3, _ = augment_pair(x, y, cfg, torch.Generator().manual_seed(5))
    assert torch.equal(a2, a3)
