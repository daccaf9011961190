"""The geometry image (paper §3.1): what the expression encoder E_e reads about the target face.

The *target* mesh rendered at the model's resolution r: the unit view normal of every covered
pixel (3 channels in [-1, 1], exactly 0 off the face) and the coverage mask (1 channel in
{0, 1}). The GaFET editor renders it per slider move; training renders it for every sample.
"""

from __future__ import annotations

import torch

from core.checks import assert_float, assert_shape
from core.render.rasterizer import rasterize
from core.render.shaders import coverage_mask, normal_map

__all__ = ["GEOMETRY_CHANNELS", "geometry_image"]

GEOMETRY_CHANNELS = 4  # normals (3) + face mask (1): what geometry_image renders


def geometry_image(screen_verts: torch.Tensor, faces: torch.Tensor, resolution: int) -> torch.Tensor:
    """Render the geometry image E_e reads (paper §3.1).

    screen_verts: (B, V, 3) float screen space of an r x r image (``[x_px, y_px, depth]``, pixel
        centres at +0.5, smaller depth = nearer; :meth:`core.editing.editor.EditGeometry.screen`
        scaled by r / R).
    faces: (F, 3) int64. resolution: r.
    Returns (B, 4, r, r) float: channels 0-2 the unit view normal in the "y up, z towards the
    viewer" encoding of :mod:`core.render.shaders` mapped to [-1, 1] (a surface facing the camera
    is (0, 0, 1)), exactly 0 off the face; channel 3 the coverage mask in {0, 1}.
    Differentiable w.r.t. ``screen_verts`` on the face (training can render with it).
    """
    assert_shape(screen_verts, ("B", "V", 3), "screen_verts")
    assert_float(screen_verts, "screen_verts")
    fragments = rasterize(screen_verts, faces, (resolution, resolution))
    colours = normal_map(fragments, faces, screen_verts, background=0.5)  # (B, r, r, 3) in [0, 1]
    normals = colours * 2.0 - 1.0  # background 0.5 -> exactly 0
    mask = coverage_mask(fragments)[..., None]
    return torch.cat((normals, mask), dim=-1).permute(0, 3, 1, 2).contiguous()
