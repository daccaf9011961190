"""Backward motion flow from two vertex sets of one mesh, ready for ``grid_sample``.

The flow answers, for every pixel p of the *target* image: where in the *source* image does the
content for p come from? Inside the face this is an attribute render: rasterize the target mesh
with each vertex's source position as its attribute. Outside the face the displacement
``d = source - target`` is continued smoothly and faded to zero:

1. inside the target mesh's coverage, d is the exact barycentric interpolation (piecewise
   linear over triangles);
2. outside, d is extended by a pull-push fill (:func:`~core.render.fill.pull_push_fill`): the
   extension equals d on the mask and is a convex blend of nearby values of d, so it is
   continuous across the silhouette (no tearing) and bounded by max |d|;
3. the extension is multiplied by a smoothstep falloff of the distance to the mask, equal to 1
   within a thin band around the face and 0 beyond ``radius`` px, where
   ``radius = max(falloff_ratio * face_size, fold_guard * max|d|)``, face_size = sqrt(covered px).
   The second term bounds the falloff's slope (<= 1.5 max|d| / radius = 0.5 for the default
   guard), so ``x -> x + d(x)`` cannot fold over outside the face, also where the source and
   target silhouettes differ (a chin that moves up pulls the neck below it up and compresses
   the band below it, instead of tearing or duplicating it).

Target == source (intensity 0) gives exactly zero displacement everywhere.

This module is also the one home of the grid maths every flow user shares (the editors, the
pipeline, feature deformation): :func:`identity_grid` (no motion), :func:`grid_offset` and
:func:`offset_grid` (grid <-> normalised offset from the identity, channels first),
:func:`resize_grid`, and :func:`warp`, the one backward warp (``grid_sample``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from core.checks import assert_float, assert_shape
from core.render.fill import chamfer_distance, pull_push_fill, smooth_falloff
from core.render.rasterizer import rasterize
from core.render.shaders import coverage_mask, interpolate_attributes

__all__ = [
    "FlowField",
    "FlowSettings",
    "backward_flow",
    "grid_offset",
    "identity_grid",
    "offset_grid",
    "resize_grid",
    "warp",
]


@dataclass(frozen=True)
class FlowSettings:
    """How the flow is continued outside the face.

    falloff_ratio: fade-out distance as a fraction of the face size (sqrt of the target mesh's
        covered area, px). fold_guard: the fade-out distance is at least this many times the
        largest displacement (keeps the warp fold-free outside the face; >= 1.5 needed).
    distance_cells: long side, in cells, of the coarse grid the distance to the face is computed
        on (cost vs. smoothness of the falloff; the result is upsampled bilinearly).
    cull_backfaces: rasterize only faces turned towards the camera.
    """

    falloff_ratio: float = 0.35
    fold_guard: float = 3.0
    distance_cells: int = 64
    cull_backfaces: bool = False

    def __post_init__(self) -> None:
        if not self.falloff_ratio > 0:
            raise ValueError(f"FlowSettings.falloff_ratio must be > 0, got {self.falloff_ratio}")
        if not self.fold_guard >= 1.5:
            raise ValueError(f"FlowSettings.fold_guard must be >= 1.5, got {self.fold_guard}")
        if self.distance_cells < 4:
            raise ValueError(f"FlowSettings.distance_cells must be >= 4, got {self.distance_cells}")


class FlowField(NamedTuple):
    """A backward flow, target pixel -> source position.

    grid: (B, H, W, 2) float (x, y) sampling positions in ``grid_sample`` normalised coordinates,
        align_corners=False: -1 / +1 are the outer edges of the image.
    displacement: (B, H, W, 2) float (dx, dy) px: source position - target pixel centre.
    mask: (B, H, W) float in {0, 1}: pixels covered by the target mesh.
    """

    grid: torch.Tensor
    displacement: torch.Tensor
    mask: torch.Tensor


def identity_grid(
    height: int,
    width: int,
    *,
    batch: int = 1,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The no-motion grid: (batch, H, W, 2) normalised (x, y) of every pixel centre,
    ``(2 j + 1) / W - 1`` and ``(2 i + 1) / H - 1``.

    Computed in float64 and rounded once to ``dtype``, so ``grid_sample`` with it reproduces its
    input exactly (``affine_grid`` of the identity is off by a few 1e-6 after its float32 matmul).
    The batch dimension is an ``expand``ed view: clone before writing into it.
    """
    xs = (torch.arange(width, dtype=torch.float64, device=device) * 2 + 1) / width - 1
    ys = (torch.arange(height, dtype=torch.float64, device=device) * 2 + 1) / height - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((gx, gy), dim=-1).to(dtype).expand(batch, height, width, 2)


def grid_offset(grid: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """A square grid's offset from the identity grid, channels first, optionally resized.

    grid: (B, N, N, 2) float normalised (x, y) sampling positions (align_corners=False).
    size: s, the side of the result (default N).
    Returns (B, 2, s, s) in ``grid``'s dtype: ``grid - identity_grid(N, N)``, resized by area
    average when shrinking and bilinearly when growing. Offsets are in normalised units, so they
    need no rescaling, and a zero offset stays exactly zero at every size.
    """
    dims = assert_shape(grid, ("B", "N", "N", 2), "grid")
    assert_float(grid, "grid")
    n = dims["N"]
    offset = (grid - identity_grid(n, n, dtype=grid.dtype, device=grid.device)).permute(0, 3, 1, 2)
    if size is None or size == n:
        return offset
    if size < n:
        return F.interpolate(offset, size=(size, size), mode="area")
    return F.interpolate(offset, size=(size, size), mode="bilinear", align_corners=False)


def offset_grid(offset: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`grid_offset`: (B, 2, H, W) float normalised offset ->
    (B, H, W, 2) grid ``identity_grid(H, W) + offset``, in ``offset``'s dtype."""
    dims = assert_shape(offset, ("B", 2, "H", "W"), "offset")
    assert_float(offset, "offset")
    ident = identity_grid(dims["H"], dims["W"], dtype=offset.dtype, device=offset.device)
    return ident + offset.permute(0, 2, 3, 1)


def resize_grid(grid: torch.Tensor, size: int) -> torch.Tensor:
    """(B, N, N, 2) normalised backward-flow grid (align_corners=False) -> (B, size, size, 2).

    The offset from the identity grid is resized (:func:`grid_offset`: area when shrinking,
    bilinear when growing) and added to the new identity grid, so no motion stays exactly the
    identity. ``size == N`` returns ``grid`` itself.
    """
    if assert_shape(grid, ("B", "N", "N", 2), "grid")["N"] == size:
        return grid
    return offset_grid(grid_offset(grid, size))


def _falloff_weight(
    mask: torch.Tensor, radius: torch.Tensor, image_size: tuple[int, int], cells: int
) -> torch.Tensor:
    """(B, H, W) coverage -> (B, 1, H, W) weight: 1 on and near the mask, 0 beyond radius px."""
    H, W = image_size
    f = max(1, math.ceil(max(H, W) / cells))  # px per coarse cell
    hc, wc = math.ceil(H / f), math.ceil(W / f)
    padded = F.pad(mask[:, None], (0, wc * f - W, 0, hc * f - H))
    coarse = F.max_pool2d(padded, kernel_size=f, stride=f) > 0  # any coverage in the cell
    max_cells = float(radius.max()) / f + 2.0
    dist = chamfer_distance(coarse, max_distance=max_cells) * f  # px
    # Band of 1.5 cells: every fine pixel on or next to the mask interpolates only cells at
    # distance <= sqrt(2) cells, so its weight is exactly 1 and the silhouette stays continuous.
    weight = smooth_falloff(dist, radius=radius, band=1.5 * f)
    weight = F.interpolate(weight, size=(hc * f, wc * f), mode="bilinear", align_corners=False)
    return weight[..., :H, :W]


def backward_flow(
    target_verts: torch.Tensor,
    source_xy: torch.Tensor,
    faces: torch.Tensor,
    image_size: tuple[int, int],
    *,
    settings: FlowSettings = FlowSettings(),
) -> FlowField:
    """Backward flow from the target mesh to source positions (see the module docstring).

    target_verts: (B, V, 3) float screen space ``[x_px, y_px, depth]`` of the target (edited)
        mesh; smaller depth = nearer.
    source_xy: (B, V, 2) float screen (x_px, y_px) of the same vertices in the source image.
    faces: (F, 3) int64. image_size: (H, W) px of the target (and source) image.
    Returns :class:`FlowField`. ``displacement`` and ``grid`` are differentiable w.r.t. both
    vertex sets; the fade-out radius is not (it is computed without gradient).
    """
    assert_shape(target_verts, ("B", "V", 3), "target_verts")
    assert_shape(source_xy, (target_verts.shape[0], target_verts.shape[1], 2), "source_xy")
    assert_float(source_xy, "source_xy")
    H, W = int(image_size[0]), int(image_size[1])
    fragments = rasterize(target_verts, faces, (H, W), cull_backfaces=settings.cull_backfaces)
    disp_verts = source_xy.to(target_verts.dtype) - target_verts[..., :2]
    inside = interpolate_attributes(fragments, faces, disp_verts)  # (B, H, W, 2), 0 outside
    mask = coverage_mask(fragments)
    extended = pull_push_fill(inside.permute(0, 3, 1, 2), mask[:, None])  # (B, 2, H, W)
    with torch.no_grad():
        face_size = mask.sum(dim=(1, 2)).sqrt()
        largest = (inside.detach().norm(dim=-1) * mask).amax(dim=(1, 2))
        radius = torch.maximum(settings.falloff_ratio * face_size, settings.fold_guard * largest)
        radius = radius.clamp(min=1.0)
        weight = _falloff_weight(mask, radius, (H, W), settings.distance_cells).to(extended.dtype)
    displacement = (extended * weight).permute(0, 2, 3, 1)
    scale = displacement.new_tensor([2.0 / W, 2.0 / H])
    grid = identity_grid(H, W, dtype=displacement.dtype, device=displacement.device) + displacement * scale
    return FlowField(grid=grid, displacement=displacement, mask=mask)


def warp(
    image: torch.Tensor,
    flow: FlowField | torch.Tensor,
    *,
    mode: str = "bilinear",
    padding_mode: str = "border",
) -> torch.Tensor:
    """Backward-warp an image (or a feature map) with a flow: ``out[p] = image[p + displacement[p]]``.

    image: (B, C, H', W') float, any range; it must show the same field of view as the flow
    (H', W' may differ from the flow's H, W: the grid is resolution-independent).
    flow: a :class:`FlowField`, or just its grid (B, H, W, 2) normalised (x, y).
    Returns (B, C, H, W) with the flow's size and ``image``'s dtype (``grid_sample``,
    align_corners=False). Half-precision images are sampled in float32 (a float16 grid is off by
    up to a quarter pixel at 512 px), also under autocast; float64 images in float64.
    """
    grid = flow.grid if isinstance(flow, FlowField) else flow
    assert_shape(grid, ("B", None, None, 2), "flow.grid")
    assert_shape(image, (grid.shape[0], None, None, None), "image")
    assert_float(image, "image")
    work = torch.promote_types(image.dtype, torch.float32)
    out = F.grid_sample(
        image.to(work), grid.to(work), mode=mode, padding_mode=padding_mode, align_corners=False
    )
    return out.to(image.dtype)
