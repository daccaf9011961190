"""Backward flow on the canonical face: correspondence, zero flow at intensity 0, bounded,
identity far away, continuous and fold-free across the silhouette, warping."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt

from core.render.flow import FlowSettings, backward_flow, identity_grid, warp
from core.render.rasterizer import rasterize

# Pixel tolerance for "flow at a target vertex lands on its source position". The flow is the
# exact piecewise-linear interpolation at pixel centres; sampling it bilinearly at an arbitrary
# point between centres errs by the field's curvature over one pixel (~0.3 px at the lips
# here, < 0.05 px on average).
VERTEX_TOL_PX = 0.5


def _mouth_open(scene, amount_px: float) -> torch.Tensor:
    """Target = source with the lower lip and chin around the mouth pulled down smoothly."""
    m = scene.model
    mouth = m[[13, 14]].mean(0)  # between the inner lips
    d = (m[:, :2] - mouth[:2]).norm(dim=1)
    weight = torch.exp(-((d / 2.5) ** 2)) * torch.sigmoid((mouth[1] - m[:, 1]) / 0.15)
    target = scene.verts.clone()
    target[0, :, 1] += amount_px * weight
    return target


def _jaw_shift(scene, amount_px: float) -> torch.Tensor:
    """Target = source with everything below the mouth moved vertically, fading in from the
    mouth to the chin: the chin's silhouette moves by ``amount_px``."""
    m = scene.model
    t = ((m[[13, 14], 1].mean() - m[:, 1]) / (m[[13, 14], 1].mean() - m[152, 1])).clamp(0, 1)
    target = scene.verts.clone()
    target[0, :, 1] += amount_px * t * t * (3 - 2 * t)
    return target


def _sample(field: torch.Tensor, xy: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear sample of (1, H, W, C) at screen points (N, 2) px -> (N, C)."""
    H, W = size
    g = (xy / xy.new_tensor([W, H]) * 2 - 1)[None, None]
    return F.grid_sample(field.permute(0, 3, 1, 2), g, align_corners=False)[0, :, 0].T


def _visible(target: torch.Tensor, faces: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(V,) bool: vertices nothing else covers from nearer (z-buffer at the vertex's pixel is not
    much nearer than the vertex; background counts as not covering)."""
    frags = rasterize(target, faces, size)
    H, W = size
    col = target[0, :, 0].long().clamp(0, W - 1)
    row = target[0, :, 1].long().clamp(0, H - 1)
    return frags.zbuf[0, row, col] > target[0, :, 2] - 3.0


def _gradients(disp: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Finite differences (px/px) of the displacement between 4-neighbours, split into pairs
    inside the mask, across its silhouette, and outside."""
    d, m = disp[0], mask[0]
    gx = (d[:, 1:] - d[:, :-1]).norm(dim=-1).reshape(-1)
    g = torch.cat((gx, (d[1:] - d[:-1]).norm(dim=-1).reshape(-1)))
    n = torch.cat(((m[:, 1:] + m[:, :-1]).reshape(-1), (m[1:] + m[:-1]).reshape(-1)))
    return g[n == 2], g[n == 1], g[n == 0]


def _jacobian_det(disp: torch.Tensor) -> torch.Tensor:
    """det(I + grad d) by central differences, (H-2, W-2): > 0 means the warp does not fold."""
    d = disp[0]
    dx = (d[1:-1, 2:] - d[1:-1, :-2]) / 2
    dy = (d[2:, 1:-1] - d[:-2, 1:-1]) / 2
    return (1 + dx[..., 0]) * (1 + dy[..., 1]) - dx[..., 1] * dy[..., 0]


@pytest.mark.parametrize("case", ["mouth_open", "jaw_down", "jaw_up"])
def test_flow_maps_target_vertices_to_their_source_positions(face_scene, case: str) -> None:
    target = {
        "mouth_open": lambda: _mouth_open(face_scene, 12.0),
        "jaw_down": lambda: _jaw_shift(face_scene, 15.0),
        "jaw_up": lambda: _jaw_shift(face_scene, -15.0),
    }[case]()
    source_xy = face_scene.verts[..., :2]
    flow = backward_flow(target, source_xy, face_scene.faces, face_scene.size)
    assert torch.isfinite(flow.grid).all() and torch.isfinite(flow.displacement).all()
    visible = _visible(target, face_scene.faces, face_scene.size)
    assert visible.float().mean() > 0.9
    landed = target[0, :, :2] + _sample(flow.displacement, target[0, :, :2], face_scene.size)
    err = (landed - source_xy[0]).norm(dim=1)[visible]
    assert err.max() < VERTEX_TOL_PX
    assert err.mean() < 0.05
    # The grid says the same thing in normalised coordinates.
    H, W = face_scene.size
    g = _sample(flow.grid, target[0, :, :2], face_scene.size)
    in_px = (g + 1) / 2 * g.new_tensor([W, H])
    torch.testing.assert_close(in_px[visible], landed[visible], atol=1e-3, rtol=0)


def test_zero_intensity_gives_exactly_zero_flow(face_scene) -> None:
    flow = backward_flow(face_scene.verts, face_scene.verts[..., :2], face_scene.faces, face_scene.size)
    assert (flow.displacement == 0).all()
    assert torch.equal(flow.grid, identity_grid(*face_scene.size))
    assert flow.mask.sum() > 0.3 * 256 * 256


@pytest.mark.parametrize("amount", [12.0, -15.0])
def test_flow_is_bounded_and_exactly_identity_far_from_the_face(face_scene, amount: float) -> None:
    # A smaller face in the same image, so that there is room to fade out.
    small = face_scene.verts * torch.tensor([0.5, 0.5, 0.5]) + torch.tensor([64.0, 64.0, 0.0])
    scene = face_scene._replace(verts=small)
    target = _jaw_shift(scene, amount)
    flow = backward_flow(target, small[..., :2], scene.faces, scene.size)
    disp_norm = flow.displacement[0].norm(dim=-1)
    largest = (target[0, :, :2] - small[0, :, :2]).norm(dim=1).max()
    assert disp_norm.max() <= largest + 1e-4
    # Outside the fade-out radius (+ the coarse grid's slack) the displacement is exactly 0.
    settings = FlowSettings()
    mask = flow.mask[0]
    radius = max(settings.falloff_ratio * math.sqrt(float(mask.sum())), settings.fold_guard * float(largest))
    cell = math.ceil(256 / settings.distance_cells)
    dist = torch.from_numpy(distance_transform_edt(mask.numpy() == 0))
    far = dist > radius + 4 * cell
    assert far.float().mean() > 0.3
    assert (disp_norm[far] == 0).all()
    # ... and it does extend beyond the face: just outside the chin it follows the chin.
    chin = target[0, 152, :2]
    below = chin + torch.tensor([0.0, 3.0])
    assert mask[int(below[1]), int(below[0])] == 0
    d_below = _sample(flow.displacement, below[None], scene.size)[0]
    assert abs(float(d_below[1]) + amount) < 0.25 * abs(amount)


@pytest.mark.parametrize("amount", [15.0, -15.0])
def test_flow_is_continuous_and_fold_free_across_the_silhouette(face_scene, amount: float) -> None:
    target = _jaw_shift(face_scene, amount)
    flow = backward_flow(target, face_scene.verts[..., :2], face_scene.faces, face_scene.size)
    inside, across, outside = _gradients(flow.displacement, flow.mask)
    # No tear at the silhouette: the step across it is no larger than steps within the face
    # (a tear would jump by ~|d| = 15 px). Outside, the slope adds at most the falloff's
    # 1.5 * max|d| / radius <= 1.5 / fold_guard = 0.5.
    assert across.max() <= 1.25 * inside.max() + 0.05
    assert outside.max() <= inside.max() + 1.5 / FlowSettings().fold_guard
    assert outside.max() < 1.0
    det = _jacobian_det(flow.displacement)
    outside = flow.mask[0, 1:-1, 1:-1] == 0
    assert det[outside].min() > 0.2


def test_warp_samples_the_source_where_the_flow_points(face_scene) -> None:
    target = _mouth_open(face_scene, 12.0)
    flow = backward_flow(target, face_scene.verts[..., :2], face_scene.faces, face_scene.size)
    H, W = face_scene.size
    # A source image holding its own pixel-centre coordinates (linear, so bilinear is exact).
    coords = ((identity_grid(H, W) + 1) / 2 * torch.tensor([W, H])).permute(0, 3, 1, 2)
    warped = warp(coords, flow).permute(0, 2, 3, 1)
    want = (identity_grid(H, W) + 1) / 2 * torch.tensor([W, H]) + flow.displacement
    inside_image = ((want > 0.5) & (want < torch.tensor([W, H]) - 0.5)).all(-1)
    torch.testing.assert_close(warped[inside_image], want[inside_image], atol=1e-3, rtol=0)
    # Zero flow reproduces the image.
    still = backward_flow(face_scene.verts, face_scene.verts[..., :2], face_scene.faces, face_scene.size)
    img = torch.rand(1, 3, H, W)
    torch.testing.assert_close(warp(img, still), img, atol=1e-5, rtol=0)


def test_batched_flow_matches_single_items(face_scene) -> None:
    targets = torch.cat((face_scene.verts, _mouth_open(face_scene, 8.0)))
    sources = face_scene.verts[..., :2].expand(2, -1, -1)
    batched = backward_flow(targets, sources, face_scene.faces, face_scene.size)
    for b in range(2):
        single = backward_flow(targets[b : b + 1], sources[b : b + 1], face_scene.faces, face_scene.size)
        torch.testing.assert_close(batched.displacement[b], single.displacement[0], atol=1e-5, rtol=0)
    assert (batched.displacement[0] == 0).all()


@pytest.mark.parametrize(
    "kwargs", [{"falloff_ratio": 0.0}, {"fold_guard": 1.0}, {"distance_cells": 2}]
)
def test_bad_settings_raise(kwargs) -> None:
    with pytest.raises(ValueError):
        FlowSettings(**kwargs)
