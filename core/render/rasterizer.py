"""Differentiable mesh rasterization: screen-space triangles -> per-pixel :class:`Fragments`.

Two steps, as in pytorch3d:

1. Visibility (discrete, not differentiable): the nearest face at each pixel centre, from the
   pure-torch z-buffer in :mod:`core.render.zbuffer` (or pytorch3d, see :mod:`.backends`).
2. Barycentrics and depth, recomputed with plain torch ops from the chosen face's three vertex
   positions at each covered pixel centre, so gradients flow to the vertex positions.

Conventions (screen space, pixel centres, depth order) are in :mod:`core.render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from core.checks import assert_float, assert_shape
from core.render.backends import Backend, resolve_backend, visible_faces_pytorch3d
from core.render.cameras import Camera
from core.render.zbuffer import visible_faces

__all__ = [
    "Fragments",
    "MeshRasterizer",
    "RasterSettings",
    "RasterizedMesh",
    "barycentric_fragments",
    "rasterize",
]


class Fragments(NamedTuple):
    """Per-pixel result of rasterization (one face per pixel, the nearest).

    pix_to_face: (B, H, W) int64 index into ``faces`` (per mesh, not packed); -1 = background.
    bary: (B, H, W, 3) float barycentric weights of the face's vertices at the pixel centre,
        summing to 1 (perspective-correct when rasterized so); 0 on background. Differentiable
        w.r.t. vertex positions. Within 2**-10 px of an edge a weight may be slightly negative.
    zbuf: (B, H, W) float depth at the pixel centre in the input's depth units (smaller =
        nearer); +inf on background. Differentiable on covered pixels.
    """

    pix_to_face: torch.Tensor
    bary: torch.Tensor
    zbuf: torch.Tensor


def _check_inputs(verts: torch.Tensor, faces: torch.Tensor, image_size: tuple[int, int]) -> None:
    assert_shape(verts, ("B", "V", 3), "verts_screen")
    assert_float(verts, "verts_screen")
    assert_shape(faces, ("F", 3), "faces")
    if faces.dtype != torch.int64:
        raise TypeError(f"faces: expected int64 (torch.long) vertex indices, got {faces.dtype}")
    if faces.device != verts.device:
        raise ValueError(f"faces are on {faces.device} but verts_screen on {verts.device}")
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= verts.shape[1]):
        raise ValueError(
            f"faces: indices must lie in [0, {verts.shape[1]}), got [{int(faces.min())}, {int(faces.max())}]"
        )
    if len(image_size) != 2 or any(int(s) != s or s <= 0 for s in image_size):
        raise ValueError(f"image_size: expected (H, W) positive ints, got {image_size!r}")


def barycentric_fragments(
    verts_screen: torch.Tensor, faces: torch.Tensor, pix_to_face: torch.Tensor, *, perspective_correct: bool
) -> Fragments:
    """Differentiable barycentrics and depth for a given face-per-pixel choice.

    verts_screen: (B, V, 3) float screen space. faces: (F, 3) int64. pix_to_face: (B, H, W)
    int64 from a visibility pass (-1 = background). perspective_correct: weights are corrected
    with depth = view-space z (> 0), and zbuf = 1 / sum(w_i / z_i) (w: screen-space weights).
    Returns :class:`Fragments` (see there for shapes).
    """
    B, H, W = pix_to_face.shape
    F = faces.shape[0]
    dtype = verts_screen.dtype
    # Per face (differentiable): p = v0 + b1 (v1 - v0) + b2 (v2 - v0) solved for (b1, b2) as
    # affine functions of (p - v0); one row per face: x0, y0, db1/dx, db1/dy, db2/dx, db2/dy,
    # z0, z1, z2. Anchoring at v0 keeps float32 precise far from the image origin.
    v0, v1, v2 = (verts_screen[:, faces[:, k]] for k in range(3))  # (B, F, 3) each
    e1, e2 = v1 - v0, v2 - v0
    den = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]  # twice the signed area
    den = torch.where(den == 0, torch.ones_like(den), den)  # such faces never cover a pixel
    rows = torch.stack(
        (v0[..., 0], v0[..., 1], e2[..., 1] / den, -e2[..., 0] / den, -e1[..., 1] / den, e1[..., 0] / den,
         v0[..., 2], v1[..., 2], v2[..., 2]),
        dim=-1,
    ).reshape(B * F, 9)

    flat_p2f = pix_to_face.reshape(-1)
    flat = torch.nonzero(flat_p2f >= 0).squeeze(1)  # covered pixels, index into B*H*W
    batch = torch.div(flat, H * W, rounding_mode="floor")
    in_img = flat - batch * (H * W)
    row = torch.div(in_img, W, rounding_mode="floor")
    r = rows.index_select(0, flat_p2f.index_select(0, flat) + batch * F)  # (n, 9)
    dx = (in_img - row * W).to(dtype) + 0.5 - r[:, 0]
    dy = row.to(dtype) + 0.5 - r[:, 1]
    b1 = r[:, 2] * dx + r[:, 3] * dy
    b2 = r[:, 4] * dx + r[:, 5] * dy
    bary = torch.stack((1.0 - b1 - b2, b1, b2), dim=-1)
    z = r[:, 6:9]
    if perspective_correct:
        q = bary / z
        qsum = q.sum(dim=-1, keepdim=True)
        bary = q / qsum
        depth = 1.0 / qsum.squeeze(-1)
    else:
        depth = (bary * z).sum(dim=-1)
    bary_img = verts_screen.new_zeros(B * H * W, 3).index_copy(0, flat, bary).reshape(B, H, W, 3)
    zbuf = verts_screen.new_full((B * H * W,), float("inf")).index_copy(0, flat, depth).reshape(B, H, W)
    return Fragments(pix_to_face=pix_to_face, bary=bary_img, zbuf=zbuf)


def rasterize(
    verts_screen: torch.Tensor,
    faces: torch.Tensor,
    image_size: tuple[int, int],
    *,
    cull_backfaces: bool = False,
    perspective_correct: bool = False,
    backend: Backend = "auto",
    max_candidates: int = 1 << 21,
) -> Fragments:
    """Rasterize a batch of triangle meshes given in screen space.

    verts_screen: (B, V, 3) float ``[x_px, y_px, depth]``; x right, y down, pixel (i, j) has its
        centre at (j + 0.5, i + 0.5); smaller depth = nearer. Any device.
    faces: (F, 3) int64 vertex indices shared by the batch; winding counter-clockwise on screen
        = facing the camera.
    image_size: (H, W) in px.
    cull_backfaces: ignore faces wound clockwise on screen.
    perspective_correct: depth is view-space z (> 0, from :class:`PerspectiveCamera`);
        interpolate 1/z linearly and correct the barycentrics. Leave False for screen-space and
        orthographic meshes.
    backend: "auto", "torch" or "pytorch3d" (see :mod:`core.render.backends`).
    max_candidates: memory bound: triangles are processed in chunks whose bounding boxes hold
        at most this many pixels (a larger single triangle forms its own chunk).
    Returns :class:`Fragments`. Gradients reach ``verts_screen`` through ``bary`` and ``zbuf``.
    """
    _check_inputs(verts_screen, faces, image_size)
    if max_candidates < 1:
        raise ValueError(f"max_candidates must be >= 1, got {max_candidates}")
    size = (int(image_size[0]), int(image_size[1]))
    chosen = resolve_backend(backend, verts_screen.device)
    if chosen == "pytorch3d":
        pix_to_face = visible_faces_pytorch3d(
            verts_screen, faces, size, cull_backfaces=cull_backfaces, perspective_correct=perspective_correct
        )
    else:
        pix_to_face = visible_faces(
            verts_screen, faces, size, cull_backfaces=cull_backfaces,
            perspective_correct=perspective_correct, max_candidates=max_candidates,
        )
    return barycentric_fragments(verts_screen, faces, pix_to_face, perspective_correct=perspective_correct)


@dataclass(frozen=True)
class RasterSettings:
    """How :class:`MeshRasterizer` rasterizes.

    image_size: (H, W) px. cull_backfaces: skip faces turned away from the camera.
    backend: "auto" | "torch" | "pytorch3d". max_candidates: memory bound (see :func:`rasterize`).
    """

    image_size: tuple[int, int]
    cull_backfaces: bool = False
    backend: Backend = "auto"
    max_candidates: int = 1 << 21


class RasterizedMesh(NamedTuple):
    """What shaders receive.

    fragments: :class:`Fragments`. verts_view: (B, V, 3) view space (x right, y down, z forward;
    the camera's units). verts_screen: (B, V, 3) ``[x_px, y_px, depth]``. faces: (F, 3) int64.
    """

    fragments: Fragments
    verts_view: torch.Tensor
    verts_screen: torch.Tensor
    faces: torch.Tensor


class MeshRasterizer:
    """Camera + settings -> callable ``(verts (B, V, 3) world, faces (F, 3)) -> RasterizedMesh``."""

    def __init__(self, *, camera: Camera, settings: RasterSettings) -> None:
        self.camera = camera
        self.settings = settings

    def __call__(self, verts: torch.Tensor, faces: torch.Tensor) -> RasterizedMesh:
        view = self.camera.to_view(verts)
        screen = self.camera.transform(verts)
        s = self.settings
        fragments = rasterize(
            screen, faces, s.image_size, cull_backfaces=s.cull_backfaces,
            perspective_correct=self.camera.perspective, backend=s.backend, max_candidates=s.max_candidates,
        )
        return RasterizedMesh(fragments=fragments, verts_view=view, verts_screen=screen, faces=faces)

    def __repr__(self) -> str:
        return f"MeshRasterizer(camera={self.camera!r}, settings={self.settings!r})"
