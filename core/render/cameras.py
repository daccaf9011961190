"""Cameras: map (B, V, 3) vertices to screen space ``[x_px, y_px, depth]``.

Camera ("view") space follows OpenCV: x right, y down, z forward (away from the camera), so a
point with a smaller z is nearer. ``R`` and ``T`` take world points into view space,
``X_view = X_world @ R^T + T`` (row-vector form of ``R X + T``). Screen space is the photo's
pixel grid described in :mod:`core.render`.

Three cameras share one small interface (``transform``, ``perspective``):

* :class:`ScreenCamera`: the identity. Face meshes from the landmark network are already in
  screen space (x, y in photo pixels, z in the same pixel units, smaller = nearer).
* :class:`OrthographicCamera`: ``x_px = s * x + cx``, ``y_px = s * y + cy``, ``depth = s * z``;
  depth stays in pixel units like the landmark network's z.
* :class:`PerspectiveCamera`: pinhole, ``x_px = fx * x / z + cx``, ``y_px = fy * y / z + cy``,
  ``depth = z`` (view-space units, must be > 0). The rasterizer then needs perspective-correct
  interpolation, which :class:`~core.render.rasterizer.MeshRasterizer` switches on from
  ``camera.perspective``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from core.checks import assert_float, assert_shape

__all__ = ["Camera", "OrthographicCamera", "PerspectiveCamera", "ScreenCamera", "world_to_view"]


class Camera(Protocol):
    """What the rasterizer needs from a camera."""

    @property
    def perspective(self) -> bool:
        """True when screen depth is view-space z and interpolation must be perspective-correct."""
        ...

    def to_view(self, verts: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) world -> (B, V, 3) view space (x right, y down, z forward)."""
        ...

    def transform(self, verts: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) world -> (B, V, 3) screen ``[x_px, y_px, depth]``."""
        ...


def world_to_view(verts: torch.Tensor, R: torch.Tensor | None, T: torch.Tensor | None) -> torch.Tensor:
    """Rigid world -> view transform.

    verts: (B, V, 3) float world points. R: (B, 3, 3) or (3, 3) rotation, or None for identity.
    T: (B, 3) or (3,) translation in world units, or None for zero.
    Returns (B, V, 3) view-space points, same dtype/device as ``verts``.
    """
    assert_shape(verts, ("B", "V", 3), "verts")
    assert_float(verts, "verts")
    out = verts
    if R is not None:
        R = R.to(verts) if R.ndim == 3 else R.to(verts).expand(verts.shape[0], 3, 3)
        assert_shape(R, (verts.shape[0], 3, 3), "R")
        out = out @ R.transpose(1, 2)
    if T is not None:
        T = T.to(verts) if T.ndim == 2 else T.to(verts).expand(verts.shape[0], 3)
        assert_shape(T, (verts.shape[0], 3), "T")
        out = out + T[:, None, :]
    return out


@dataclass(frozen=True)
class ScreenCamera:
    """Identity camera: vertices are already ``[x_px, y_px, depth]`` (e.g. face-mesh landmarks)."""

    @property
    def perspective(self) -> bool:
        return False

    def to_view(self, verts: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) -> the same tensor; screen space doubles as view space."""
        assert_shape(verts, ("B", "V", 3), "verts")
        assert_float(verts, "verts")
        return verts

    def transform(self, verts: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) screen-space vertices -> the same tensor."""
        return self.to_view(verts)


@dataclass(frozen=True)
class OrthographicCamera:
    """Scaled orthographic camera.

    scale: pixels per world unit (float, > 0). principal_point: (cx, cy) in px, where the view
    axis meets the image. R, T: optional world -> view rigid transform (see module docstring).
    """

    scale: float
    principal_point: tuple[float, float] = (0.0, 0.0)
    R: torch.Tensor | None = None
    T: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"OrthographicCamera: scale must be > 0, got {self.scale!r}")

    @property
    def perspective(self) -> bool:
        return False

    def to_view(self, verts: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) world -> (B, V, 3) view space, world units."""
        return world_to_view(verts, self.R, self.T)

    def transform(self, verts: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) world -> (B, V, 3) screen: x, y in px; depth = scale * z_view, in px."""
        view = self.to_view(verts)
        cx, cy = self.principal_point
        offset = view.new_tensor([cx, cy, 0.0])
        return view * self.scale + offset


@dataclass(frozen=True)
class PerspectiveCamera:
    """Pinhole camera.

    focal_length: (fx, fy) in px. principal_point: (cx, cy) in px. R, T: optional world -> view
    rigid transform. Points must lie in front of the camera (z_view > 0); the rasterizer drops
    triangles with a vertex at z_view <= 0 (no near-plane clipping).
    """

    focal_length: tuple[float, float]
    principal_point: tuple[float, float] = (0.0, 0.0)
    R: torch.Tensor | None = None
    T: torch.Tensor | None = None

    def __post_init__(self) -> None:
        fx, fy = self.focal_length
        if not (fx > 0 and fy > 0):
            raise ValueError(f"PerspectiveCamera: focal lengths must be > 0, got {self.focal_length!r}")

    @property
    def perspective(self) -> bool:
        return True

    def to_view(self, verts: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) world -> (B, V, 3) view space, world units."""
        return world_to_view(verts, self.R, self.T)

    def transform(self, verts: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) world -> (B, V, 3) screen: x, y in px; depth = z_view (world units, > 0).

        Points with z_view <= 0 give non-finite or mirrored x, y; the rasterizer ignores them.
        """
        view = self.to_view(verts)
        fx, fy = self.focal_length
        cx, cy = self.principal_point
        z = view[..., 2]
        x = fx * view[..., 0] / z + cx
        y = fy * view[..., 1] / z + cy
        return torch.stack((x, y, z), dim=-1)
