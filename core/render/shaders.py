"""Shaders: turn :class:`~core.render.rasterizer.Fragments` into images.

Functions do the work; the small shader classes bind their options so that
:class:`~core.render.renderer.MeshRenderer` can compose ``rasterizer -> shader`` (pytorch3d
style). Images are channels-last, ``(B, H, W, C)`` as in pytorch3d; use
``img.permute(0, 3, 1, 2)`` for networks. Every output is 0 (or ``background``) where no face
covers the pixel, and differentiable w.r.t. vertex positions and attributes elsewhere.

Normal-map colours encode view-space unit normals in the usual "y up, z towards the viewer"
form: ``rgb = (0.5 + 0.5 nx, 0.5 - 0.5 ny, 0.5 - 0.5 nz)`` (view space is y down, z forward),
so a surface facing the camera is (0.5, 0.5, 1.0), light blue.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.checks import assert_float, assert_shape
from core.render.normals import vertex_normals
from core.render.rasterizer import Fragments, RasterizedMesh

__all__ = [
    "DepthShader",
    "GreyShader",
    "LightSettings",
    "MaskShader",
    "NormalShader",
    "coverage_mask",
    "depth_map",
    "interpolate_attributes",
    "normal_map",
    "shade_grey",
]


def interpolate_attributes(
    fragments: Fragments, faces: torch.Tensor, vert_attrs: torch.Tensor
) -> torch.Tensor:
    """Barycentric interpolation of per-vertex attributes at every pixel centre.

    fragments: from :func:`~core.render.rasterizer.rasterize` (B, H, W ...).
    faces: (F, 3) int64, the faces that were rasterized. vert_attrs: (B, V, C) float, any units.
    Returns (B, H, W, C) in the attributes' units; exactly 0 on background pixels.
    """
    p2f = fragments.pix_to_face
    B, H, W = p2f.shape
    assert_shape(vert_attrs, (B, None, None), "vert_attrs")
    assert_float(vert_attrs, "vert_attrs")
    assert_shape(faces, ("F", 3), "faces")
    V, C = vert_attrs.shape[1:]
    flat_p2f = p2f.reshape(-1)
    flat = torch.nonzero(flat_p2f >= 0).squeeze(1)
    face = flat_p2f.index_select(0, flat)
    batch = torch.div(flat, H * W, rounding_mode="floor")
    vidx = faces.index_select(0, face) + (batch * V)[:, None]  # (n, 3)
    vals = vert_attrs.reshape(B * V, C).index_select(0, vidx.reshape(-1)).reshape(-1, 3, C)
    bary = fragments.bary.reshape(B * H * W, 3).index_select(0, flat).to(vals.dtype)
    out = torch.bmm(bary[:, None, :], vals)[:, 0]  # (n, C)
    return vert_attrs.new_zeros(B * H * W, C).index_copy(0, flat, out).reshape(B, H, W, C)


def coverage_mask(fragments: Fragments) -> torch.Tensor:
    """(B, H, W) float {0, 1}: 1 where a face covers the pixel centre. Not differentiable."""
    return (fragments.pix_to_face >= 0).to(fragments.bary.dtype)


def depth_map(fragments: Fragments, *, background: float = 0.0) -> torch.Tensor:
    """(B, H, W) float depth (input depth units, smaller = nearer); ``background`` elsewhere."""
    covered = fragments.pix_to_face >= 0
    return torch.where(covered, fragments.zbuf, fragments.zbuf.new_tensor(background))


def normal_map(
    fragments: Fragments, faces: torch.Tensor, verts_view: torch.Tensor, *, background: float = 0.0
) -> torch.Tensor:
    """Interpolated vertex normals as colours.

    verts_view: (B, V, 3) view-space positions (x right, y down, z forward; screen space works
    for screen/orthographic cameras). Returns (B, H, W, 3) float in [0, 1] (encoding in the
    module docstring); ``background`` on uncovered pixels.
    """
    n = _pixel_normals(fragments, faces, verts_view)
    rgb = 0.5 + 0.5 * n * n.new_tensor([1.0, -1.0, -1.0])
    covered = (fragments.pix_to_face >= 0)[..., None]
    return torch.where(covered, rgb, rgb.new_tensor(background))


@dataclass(frozen=True)
class LightSettings:
    """Directional light for grey previews.

    direction: view-space vector from the surface towards the light (x right, y down, z
    forward); the default comes from the upper left, in front. ambient, diffuse: weights in
    [0, 1]; ambient + diffuse <= 1 keeps the output in [0, 1]. two_sided: light faces turned
    away from the camera as if they faced it.
    """

    direction: tuple[float, float, float] = (-0.4, -0.5, -1.0)
    ambient: float = 0.25
    diffuse: float = 0.75
    two_sided: bool = True


def shade_grey(
    fragments: Fragments,
    faces: torch.Tensor,
    verts_view: torch.Tensor,
    *,
    light: LightSettings = LightSettings(),
    background: float = 0.0,
) -> torch.Tensor:
    """Lambert + ambient grey shading for previews.

    verts_view: (B, V, 3) view-space positions. Returns (B, H, W, 1) float intensity in [0, 1]
    when ambient + diffuse <= 1; ``background`` on uncovered pixels.
    """
    n = _pixel_normals(fragments, faces, verts_view)
    if light.two_sided:
        n = torch.where(n[..., 2:3] > 0, -n, n)
    ldir = n.new_tensor(light.direction)
    ldir = ldir / ldir.norm().clamp(min=1e-12)
    lambert = (n * ldir).sum(dim=-1, keepdim=True).clamp(min=0.0)
    grey = light.ambient + light.diffuse * lambert
    covered = (fragments.pix_to_face >= 0)[..., None]
    return torch.where(covered, grey, grey.new_tensor(background))


def _pixel_normals(fragments: Fragments, faces: torch.Tensor, verts_view: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) unit interpolated vertex normals (0 on background)."""
    assert_shape(verts_view, (fragments.pix_to_face.shape[0], "V", 3), "verts_view")
    n = interpolate_attributes(fragments, faces, vertex_normals(verts_view, faces))
    sq = (n * n).sum(dim=-1, keepdim=True)
    return n * torch.rsqrt(sq.clamp(min=1e-24)) * (sq > 0)


# ---------------------------------------------------------------------------------------------
# Shader objects for MeshRenderer: callables RasterizedMesh -> image.


@dataclass(frozen=True)
class NormalShader:
    """-> (B, H, W, 3) normal map in [0, 1] (see :func:`normal_map`)."""

    background: float = 0.0

    def __call__(self, mesh: RasterizedMesh) -> torch.Tensor:
        return normal_map(mesh.fragments, mesh.faces, mesh.verts_view, background=self.background)


@dataclass(frozen=True)
class GreyShader:
    """-> (B, H, W, 1) Lambert + ambient grey in [0, 1] (see :func:`shade_grey`)."""

    light: LightSettings = LightSettings()  # frozen, immutable
    background: float = 0.0

    def __call__(self, mesh: RasterizedMesh) -> torch.Tensor:
        return shade_grey(
            mesh.fragments, mesh.faces, mesh.verts_view, light=self.light, background=self.background
        )


@dataclass(frozen=True)
class DepthShader:
    """-> (B, H, W, 1) depth, ``background`` where uncovered (see :func:`depth_map`)."""

    background: float = 0.0

    def __call__(self, mesh: RasterizedMesh) -> torch.Tensor:
        return depth_map(mesh.fragments, background=self.background)[..., None]


@dataclass(frozen=True)
class MaskShader:
    """-> (B, H, W, 1) coverage in {0, 1} (see :func:`coverage_mask`)."""

    def __call__(self, mesh: RasterizedMesh) -> torch.Tensor:
        return coverage_mask(mesh.fragments)[..., None]
