"""A tiny-64 GaFET overfits one example: the L1 loss falls at least tenfold within a few hundred steps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.nets.config import GafetConfig
from core.nets.gafet import GaFET
from core.render.flow import identity_grid

MAX_STEPS = 300


def _example(r: int) -> tuple[torch.Tensor, ...]:
    """Smooth synthetic source/reference/geometry/flow and a target that needs all of them."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, r), torch.linspace(-1, 1, r), indexing="ij")
    source = torch.stack([xx, yy, xx * yy])[None] * 0.8
    reference = torch.stack([yy, -xx, xx.square() + yy.square() - 0.5])[None] * 0.8
    mask = (xx.square() + yy.square() < 0.6).float()
    normals = torch.stack([xx, yy, (1 - xx.square() - yy.square()).clamp_min(0).sqrt()]) * mask
    geometry = torch.cat([normals, mask[None]])[None]
    flow = identity_grid(r, r) + 0.05 * torch.stack([torch.sin(3 * yy), torch.cos(3 * xx)], dim=-1)[None]
    warped = F.grid_sample(source, flow, align_corners=False)
    target = (warped * (1 - mask) + reference * mask).clamp(-1, 1)
    return source, reference, geometry, flow, target


@pytest.mark.slow
def test_tiny_model_overfits_one_example(tiny: GafetConfig) -> None:
    torch.manual_seed(0)
    model = GaFET(config=tiny)
    source, reference, geometry, flow, target = _example(tiny.resolution)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3, betas=(0.0, 0.99))
    first = last = None
    steps = 0
    while steps < MAX_STEPS:
        steps += 1
        loss = (model(source, reference, geometry, flow).image - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        last = loss.item()
        first = first if first is not None else last
        if last <= first / 10:
            break
    print(f"L1 {first:.4f} -> {last:.4f} after {steps} steps")
    assert last <= first / 10, f"L1 only fell from {first:.4f} to {last:.4f} in {MAX_STEPS} steps"
