"""Pull-push fill, chamfer distance and falloff used by the flow's extension outside the face."""

from __future__ import annotations

import pytest
import torch
from scipy.ndimage import distance_transform_edt

from core.render.fill import chamfer_distance, pull_push_fill, smooth_falloff


def _disk(H: int, W: int, cy: float, cx: float, r: float) -> torch.Tensor:
    ys, xs = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    return ((ys - cy) ** 2 + (xs - cx) ** 2 < r * r)[None, None]


def test_pull_push_keeps_known_values_and_stays_bounded() -> None:
    known = _disk(37, 50, 18.0, 20.0, 9.0)  # odd sizes on purpose
    values = torch.randn(2, 3, 37, 50)
    out = pull_push_fill(values, known.float().expand(2, 1, 37, 50))
    assert torch.equal(out[known.expand(2, 3, 37, 50)], values[known.expand(2, 3, 37, 50)])
    inside_max = values.abs()[known.expand(2, 3, 37, 50)].max()
    assert out.abs().max() <= inside_max + 1e-6
    assert torch.isfinite(out).all()


def test_pull_push_extends_a_constant_and_a_linear_field() -> None:
    known = _disk(64, 64, 32.0, 32.0, 12.0).float()
    const = pull_push_fill(torch.full((1, 1, 64, 64), 3.5), known)
    torch.testing.assert_close(const, torch.full_like(const, 3.5), atol=1e-5, rtol=0)
    # A linear ramp is continued without a step at the border of the known disk.
    ramp = (torch.arange(64.0) * 0.25).expand(1, 1, 64, 64)
    out = pull_push_fill(ramp * known, known)
    row = out[0, 0, 32]
    border_steps = (row[1:] - row[:-1]).abs()[[18, 19, 20, 43, 44, 45]]
    assert border_steps.max() < 0.5  # the ramp's own slope is 0.25 per px


def test_nothing_known_gives_zero() -> None:
    out = pull_push_fill(torch.randn(1, 2, 16, 16), torch.zeros(1, 1, 16, 16))
    assert (out == 0).all()


def test_chamfer_distance_is_close_to_euclidean() -> None:
    mask = _disk(48, 48, 20.0, 25.0, 6.0)
    dist = chamfer_distance(mask, max_distance=100.0)[0, 0]
    exact = torch.from_numpy(distance_transform_edt(~mask[0, 0].numpy())).float()
    assert (dist[mask[0, 0]] == 0).all()
    rel = (dist - exact).abs() / exact.clamp(min=1.0)
    assert rel.max() < 0.09


def test_smooth_falloff_is_one_near_and_zero_far() -> None:
    d = torch.linspace(0, 40, 81).reshape(1, 1, 1, 81)
    w = smooth_falloff(d, radius=torch.tensor([20.0]), band=4.0)[0, 0, 0]
    assert (w[d[0, 0, 0] <= 4.0] == 1).all() and (w[d[0, 0, 0] >= 24.0] == 0).all()
    assert (w[1:] <= w[:-1]).all()
    assert ((w[1:] - w[:-1]).abs() / 0.5).max() <= 1.5 / 20.0 + 1e-6


def test_bad_gain_raises() -> None:
    with pytest.raises(ValueError, match="confidence_gain"):
        pull_push_fill(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), confidence_gain=0.0)
