"""MeshRenderer: composes a rasterizer and a shader, pytorch3d style.

>>> renderer = MeshRenderer(
...     rasterizer=MeshRasterizer(camera=ScreenCamera(), settings=RasterSettings(image_size=(256, 256))),
...     shader=NormalShader(),
... )
>>> image = renderer(verts, faces)  # (B, 256, 256, 3) in [0, 1]
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from core.render.rasterizer import MeshRasterizer, RasterizedMesh

__all__ = ["MeshRenderer", "Shader"]

Shader = Callable[[RasterizedMesh], torch.Tensor]
"""A shader maps a :class:`RasterizedMesh` to a (B, H, W, C) image."""


class MeshRenderer:
    """``(verts (B, V, 3) world, faces (F, 3) int64) -> shader(rasterizer(verts, faces))``."""

    def __init__(self, *, rasterizer: MeshRasterizer, shader: Shader) -> None:
        self.rasterizer = rasterizer
        self.shader = shader

    def __call__(self, verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """Render. Returns the shader's (B, H, W, C) image (see the shader for range and units)."""
        return self.shader(self.rasterizer(verts, faces))

    def __repr__(self) -> str:
        return f"MeshRenderer(rasterizer={self.rasterizer!r}, shader={self.shader!r})"
