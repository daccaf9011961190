"""The flow of one edit: fold-free, and the identity outside the face (issue 10 §5).

The backward flow target -> source in the aligned crop (R x R), for both editors:

1. **untangle** (:func:`untangle`): where the target mesh folds over itself (a triangle that
   flips or collapses to under ``collapse`` of its source area, e.g. an upper lip raised into the
   nose base by AU09/AU10), the flow would mirror the source there and draw a crease; one squashed
   to a sliver turns a soft shading into a hard line. The corners of such a triangle move towards
   the triangle's mean displacement (the source triangle translated cannot fold), repeatedly, until
   none folds (the mouth and eye openings, which legitimately close, and triangles already folded
   on the source's silhouette are not checked);
2. **inside** the target mesh T (its rasterized coverage): the exact piecewise-affine mesh
   correspondence (barycentric interpolation of the source positions);
3. **outside** T the flow is the identity, except where the face contour *retreats* (the source
   face reached farther out than the target's, e.g. a chin that moves up): there the neck or
   background behind must follow. The displacement is continued (pull-push extension from T), and
   its component r along the outward normal n (when positive) is kept, r n, over a band of
   ``band_guard`` x r + ``band_margin`` px, faded to zero with a smoothstep (slope <= 1.5 /
   band_guard < 1: no fold). Where the contour moves *out* (a jaw that drops) or slides along
   itself, the new contour simply occludes what was there: the flow stops at T's edge (an ear next
   to a cheek that moves down stays where it is);
4. at T's edge, the component of the displacement *along* the edge (a cheek contour that slides
   down as the jaw drops) fades to zero over ``band_guard`` x |d_t| + ``band_margin`` px inside T,
   so the face's edge does not shear against the still background (no seam, no stair-step);
5. displacements below ``min_motion`` px are exactly zero, so the warp is the identity there.

The **region** is where the edit may change the crop: T plus the retreat band, i.e. the union of
the source's and the target's faces (the source's face is inside the band wherever it reaches past
T). Everything outside it is left bit for bit. Target == source (intensity 0) gives the identity
flow and an empty region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import torch

from core.render.fill import pull_push_fill
from core.render.flow import FlowField, identity_grid
from core.render.rasterizer import rasterize
from core.render.shaders import coverage_mask, interpolate_attributes


@dataclass(frozen=True, kw_only=True)
class FaceFlowConfig:
    band_guard: float = 2.5  # the retreat band is band_guard x |d| + band_margin px wide (>= 1.5: fold-free)
    band_margin: float = 1.0  # px
    min_motion: float = 0.02  # px: smaller displacements are exactly zero (the identity)
    collapse: float = 0.3  # a triangle whose oriented area falls below this fraction of the source's folds
    min_area: float = 0.02  # triangles smaller than this fraction of the median source area are not checked
    untangle_steps: int = 300  # relaxation sweeps at most
    relax: float = 0.5  # each sweep moves a folding triangle's corners this far to its mean displacement

    def __post_init__(self) -> None:
        if self.band_guard < 1.5 or self.band_margin < 0 or self.min_motion < 0:
            raise ValueError(f"invalid FaceFlowConfig: {self}")
        if not 0 <= self.collapse < 1 or not 0 < self.relax <= 1 or self.untangle_steps < 0:
            raise ValueError(f"invalid FaceFlowConfig: {self}")


class FaceFlow(NamedTuple):
    """flow: the backward flow (grid (1, R, R, 2), displacement (1, R, R, 2) px, mask (1, R, R) the
    target's coverage). target: (V, 3) float32 the untangled target mesh (crop px) the flow was
    made from. region: (R, R) float32 {0, 1}, where the edit may change the crop."""

    flow: FlowField
    target: np.ndarray
    region: np.ndarray


def signed_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) float64 signed areas (px², counter-clockwise on screen > 0) of a (V, 2|3) mesh."""
    v = np.asarray(vertices, np.float64)
    a, b, c = v[faces[:, 0], :2], v[faces[:, 1], :2], v[faces[:, 2], :2]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def folded_faces(source: np.ndarray, target: np.ndarray, faces: np.ndarray, *, skip: np.ndarray | None = None,
                 config: FaceFlowConfig = FaceFlowConfig()) -> np.ndarray:
    """(F,) bool: triangles of ``target`` that flip or collapse relative to ``source`` (see
    :class:`FaceFlowConfig`); ``skip`` (F,) bool marks triangles that are not checked."""
    checked, facing, limit = _fold_test(source, faces, skip, config)
    return checked & (signed_areas(target, faces) * facing < limit)


def _fold_test(source: np.ndarray, faces: np.ndarray, skip: np.ndarray | None,
               config: FaceFlowConfig) -> tuple[np.ndarray, float, np.ndarray]:
    """What :func:`folded_faces` needs of the source: (checked (F,) bool, the winding's sign, the
    (F,) area below which a checked triangle folds)."""
    a0 = signed_areas(source, faces)
    facing = np.sign(np.median(a0))  # the mesh's winding on screen; silhouette triangles folded
    checked = (a0 * facing > config.min_area * np.median(np.abs(a0)))  # already in the source are left
    if skip is not None:
        checked &= ~skip
    return checked, facing, config.collapse * np.abs(a0)


def untangle(source: np.ndarray, target: np.ndarray, faces: np.ndarray, *, skip: np.ndarray | None = None,
             config: FaceFlowConfig = FaceFlowConfig()) -> np.ndarray:
    """The target mesh with folds relaxed (see the module docstring).

    source, target: (V, 3) crop px. faces: (F, 3) int64. skip: (F,) bool triangles not checked
    (the openings). Returns (V, 3) float32; exactly ``target`` when nothing folds. Only x, y move.
    """
    src = np.asarray(source, np.float64)
    out = np.array(target, np.float64)
    checked, facing, limit = _fold_test(src, faces, skip, config)
    bad = checked & (signed_areas(out, faces) * facing < limit)
    if not bad.any():
        return np.asarray(target, np.float32).copy()
    n = len(src)
    d = out[:, :2] - src[:, :2]
    for _ in range(config.untangle_steps):
        if not bad.any():
            break
        # each folding triangle's corners move towards the triangle's mean displacement: a
        # triangle whose corners all move alike is the source's, translated (it cannot fold)
        tri = faces[bad]
        target_d = np.repeat(d[tri].mean(axis=1), 3, axis=0)
        idx = tri.ravel()
        total = np.stack([np.bincount(idx, target_d[:, 0], n), np.bincount(idx, target_d[:, 1], n)], axis=1)
        count = np.bincount(idx, minlength=n).astype(np.float64)
        moving = count > 0
        d[moving] += config.relax * (total[moving] / count[moving, None] - d[moving])
        out[:, :2] = src[:, :2] + d
        bad = checked & (signed_areas(out, faces) * facing < limit)
    return out.astype(np.float32)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def identity_flow(size: int, device: torch.device | str = "cpu") -> FlowField:
    """The no-motion flow of an R x R crop."""
    grid = identity_grid(size, size, device=device)
    zeros = torch.zeros(1, size, size, 2, device=device)
    return FlowField(grid=grid, displacement=zeros, mask=zeros[..., 0])


def flow_from_displacement(displacement: np.ndarray, mask: torch.Tensor | None = None,
                           device: torch.device | str = "cpu") -> FlowField:
    """(R, R, 2) float displacement px -> FlowField (grid exactly the identity where it is 0)."""
    size = displacement.shape[0]
    if displacement.shape != (size, size, 2):
        raise ValueError(f"displacement: expected (R, R, 2), got {displacement.shape}")
    disp = torch.from_numpy(np.ascontiguousarray(displacement, dtype=np.float32))[None].to(device)
    grid = identity_grid(size, size, device=device) + disp * (2.0 / size)
    if mask is None:
        mask = torch.zeros(1, size, size, device=device)
    return FlowField(grid=grid, displacement=disp, mask=mask)


def face_flow(
    source: np.ndarray,
    target: np.ndarray,
    faces: np.ndarray,
    size: int,
    *,
    skip: np.ndarray | None = None,
    device: torch.device | str = "cpu",
    config: FaceFlowConfig = FaceFlowConfig(),
) -> FaceFlow:
    """The edit's flow and region (see the module docstring).

    source, target: (V, 3) float crop px (pixel centres at integers). faces: (F, 3) int64.
    size: R. skip: (F,) bool triangles not checked for folds (the mouth and eye openings).
    """
    src = np.asarray(source, np.float32)
    if np.array_equal(src, np.asarray(target, np.float32)):
        return FaceFlow(identity_flow(size, device), src.copy(), np.zeros((size, size), np.float32))
    tgt = untangle(src, target, faces, skip=skip, config=config)
    screen = torch.from_numpy(tgt.copy())
    screen[:, :2] += 0.5  # renderer screen space: pixel centres at +0.5
    faces_t = torch.as_tensor(faces, dtype=torch.int64)
    with torch.no_grad():
        frags = rasterize(screen[None], faces_t, (size, size))
        disp_v = torch.from_numpy(src[:, :2] - tgt[:, :2])[None]
        inside = interpolate_attributes(frags, faces_t, disp_v)  # (1, R, R, 2), 0 off the mesh
        cover = coverage_mask(frags)  # (1, R, R)
        ext = pull_push_fill(inside.permute(0, 3, 1, 2), cover[:, None])[0].permute(1, 2, 0).numpy()
    covered = cover[0].numpy() > 0
    if not covered.any():
        return FaceFlow(identity_flow(size, device), tgt, np.zeros((size, size), np.float32))
    disp, region = shape_flow(inside[0].numpy(), covered, ext, config)
    flow = flow_from_displacement(disp, cover.to(device), device)
    return FaceFlow(flow, tgt, region)


def shape_flow(inside: np.ndarray, covered: np.ndarray, extended: np.ndarray,
               config: FaceFlowConfig = FaceFlowConfig(), *, blur_px: float = 3.0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Steps 3-5 of the module docstring, at any crop size (the exact and the live paths share it).

    inside: (R, R, 2) float32 px, the mesh correspondence's displacement on the target's coverage.
    covered: (R, R) bool, the target's coverage (not empty). extended: (R, R, 2) ``inside``
    continued off the coverage (pull-push). blur_px: the smoothing of the edge's normal field (px;
    3 at the exact path's 512 px crop). Returns the displacement (R, R, 2) float32 px and the
    region (R, R) float32 {0, 1}.
    """
    d_in = inside
    # n: the outward normal of T's edge (gradient of the smoothed signed distance to it)
    dist = cv2.distanceTransform((~covered).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    depth = cv2.distanceTransform(covered.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    gy, gx = np.gradient(cv2.GaussianBlur(dist - depth, (0, 0), blur_px))
    norm = np.hypot(gx, gy)
    nx, ny = gx / np.maximum(norm, 1e-6), gy / np.maximum(norm, 1e-6)
    # inside T, near its edge: the motion along the edge fades out towards it (the edge slides on
    # nothing: no shear seam against the still background); the motion across it is kept
    normal = d_in[..., 0] * nx + d_in[..., 1] * ny
    tx, ty = d_in[..., 0] - normal * nx, d_in[..., 1] - normal * ny
    slide = _smoothstep(depth / (config.band_guard * np.hypot(tx, ty) + config.band_margin))
    d_in = np.stack([normal * nx + slide * tx, normal * ny + slide * ty], axis=-1)
    # outside T: follow the contour only where it retreats, along n (the part of d that points away
    # from the face); a contour that moves out occludes what was there: the flow stops at T's edge
    ext = extended
    retreat = np.maximum(ext[..., 0] * nx + ext[..., 1] * ny, 0.0)
    fade = retreat * (1.0 - _smoothstep(dist / (config.band_guard * retreat + config.band_margin)))
    band = np.stack([nx * fade, ny * fade], axis=-1)
    disp = np.where(covered[..., None], d_in, band).astype(np.float32)
    disp[np.hypot(disp[..., 0], disp[..., 1]) < config.min_motion] = 0.0
    region = (covered | (disp != 0).any(axis=-1)).astype(np.float32)
    return disp, region
