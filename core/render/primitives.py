"""Procedural meshes for tests, benchmarks and preview placeholders.

All meshes are in a y-up, right-handed model space with outward normals, faces wound
counter-clockwise seen from outside. Use :func:`model_to_screen` to place one in a photo.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = ["Mesh", "cube", "model_to_screen", "uv_sphere"]


class Mesh(NamedTuple):
    """verts: (V, 3) float32 model-space positions. faces: (F, 3) int64 vertex indices."""

    verts: torch.Tensor
    faces: torch.Tensor


def cube(*, size: float = 2.0) -> Mesh:
    """Axis-aligned cube centred at the origin with edge length ``size``: 8 verts, 12 faces."""
    h = size / 2.0
    verts = torch.tensor(
        [[x, y, z] for x in (-h, h) for y in (-h, h) for z in (-h, h)], dtype=torch.float32
    )  # index = 4*ix + 2*iy + iz
    quads = [  # each listed counter-clockwise seen from outside
        (0, 1, 3, 2),  # x = -h
        (4, 6, 7, 5),  # x = +h
        (0, 4, 5, 1),  # y = -h
        (2, 3, 7, 6),  # y = +h
        (0, 2, 6, 4),  # z = -h
        (1, 5, 7, 3),  # z = +h
    ]
    faces = [tri for a, b, c, d in quads for tri in ((a, b, c), (a, c, d))]
    return Mesh(verts=verts, faces=torch.tensor(faces, dtype=torch.int64))


def uv_sphere(*, rings: int, segments: int, radius: float = 1.0) -> Mesh:
    """Latitude/longitude sphere: ``(rings - 1) * segments + 2`` verts, ``2 * segments * (rings - 1)``
    faces. ``rings=52, segments=98`` gives 5,000 verts / 9,996 faces (FLAME-sized: 5,023 / 9,976).
    """
    if rings < 2 or segments < 3:
        raise ValueError(f"uv_sphere needs rings >= 2 and segments >= 3, got {rings}, {segments}")
    theta = torch.arange(1, rings, dtype=torch.float64) * (math.pi / rings)  # from +y (north) down
    phi = torch.arange(segments, dtype=torch.float64) * (2 * math.pi / segments)
    t, p = torch.meshgrid(theta, phi, indexing="ij")
    ring_verts = torch.stack((t.sin() * p.sin(), t.cos(), t.sin() * p.cos()), dim=-1).reshape(-1, 3)
    north = torch.tensor([[0.0, 1.0, 0.0]], dtype=torch.float64)
    verts = torch.cat((north, ring_verts, -north)) * radius
    south = verts.shape[0] - 1

    def vid(r: int, s: int) -> int:  # ring r in [0, rings-1), segment s (wraps)
        return 1 + r * segments + s % segments

    faces: list[tuple[int, int, int]] = []
    for s in range(segments):
        faces.append((0, vid(0, s), vid(0, s + 1)))
        faces.append((south, vid(rings - 2, s + 1), vid(rings - 2, s)))
        for r in range(rings - 2):
            a, b, c, d = vid(r, s), vid(r + 1, s), vid(r + 1, s + 1), vid(r, s + 1)
            faces += [(a, b, c), (a, c, d)]
    return Mesh(verts=verts.float(), faces=torch.tensor(faces, dtype=torch.int64))


def model_to_screen(verts: torch.Tensor, *, scale: float, center: tuple[float, float]) -> torch.Tensor:
    """Place y-up model-space points in screen space, orthographically, looking down -z.

    verts: (..., 3) model space. scale: px per model unit. center: (cx, cy) px of the origin.
    Returns (..., 3) ``[x_px, y_px, depth_px]`` with y flipped (down) and depth = -scale * z, so
    model +z (towards the viewer) is nearer. The map is a rotation (det +1) plus scale, so the
    outward winding stays counter-clockwise on screen for faces that face the viewer.
    """
    x, y, z = verts.unbind(-1)
    return torch.stack((x * scale + center[0], -y * scale + center[1], -z * scale), dim=-1)
