"""Face and vertex normals of triangle meshes (batched, differentiable).

With counter-clockwise-on-screen winding for faces that face the camera (see :mod:`core.render`),
the normal ``(v1 - v0) x (v2 - v0)`` of a visible face points towards the camera, i.e. has a
negative z in view/screen space (x right, y down, z forward).
"""

from __future__ import annotations

import torch

from core.checks import assert_float, assert_shape

__all__ = ["face_normals", "vertex_normals"]


def face_normals(verts: torch.Tensor, faces: torch.Tensor, *, unit: bool = True) -> torch.Tensor:
    """Per-face normals.

    verts: (B, V, 3) float. faces: (F, 3) int64.
    unit: True -> unit length (zero for degenerate faces); False -> length = twice the area.
    Returns (B, F, 3), same dtype as ``verts``.
    """
    assert_shape(verts, ("B", "V", 3), "verts")
    assert_float(verts, "verts")
    assert_shape(faces, ("F", 3), "faces")
    v0, v1, v2 = (verts[:, faces[:, k]] for k in range(3))
    n = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)
    return _normalize(n) if unit else n


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted vertex normals (sum of adjacent faces' area-scaled normals, normalised).

    verts: (B, V, 3) float. faces: (F, 3) int64.
    Returns (B, V, 3) unit normals; zero for vertices no face uses.
    """
    n = face_normals(verts, faces, unit=False)  # (B, F, 3)
    B, V, _ = verts.shape
    acc = verts.new_zeros(B, V, 3)
    for k in range(3):
        acc = acc.index_add(1, faces[:, k], n)
    return _normalize(acc)


def _normalize(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """v / |v| with a safe gradient at |v| = 0 (returns 0 there)."""
    sq = (v * v).sum(dim=-1, keepdim=True)
    return v * torch.rsqrt(sq.clamp(min=eps * eps)) * (sq > 0)
