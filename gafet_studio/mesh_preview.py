"""Software 3D preview: shaded renders of face meshes with the project's rasterizer (core.render).

Used where OpenGL is not available (offscreen, no GL context). No Qt here: numpy in, numpy out,
safe to call from a worker thread.

Meshes are in crop pixels as the pipeline gives them: x right, y down, z depth in pixel units
(smaller = nearer). Each mesh is centred and scaled into its own square tile; tiles are laid out
left to right in the order given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.render.cameras import ScreenCamera
from core.render.rasterizer import MeshRasterizer, RasterSettings
from core.render.shaders import LightSettings, shade_grey

BACKGROUND = np.array([43, 43, 43], np.float32)


@dataclass(frozen=True)
class PreviewMesh:
    """vertices: (V, 3) float (x right, y down, z smaller = nearer); tint: RGB in [0, 1]."""

    vertices: np.ndarray
    tint: tuple[float, float, float]
    label: str


def rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """(3, 3) rotation: yaw about the vertical (y) axis, then pitch about the horizontal (x) axis."""
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    return rx @ ry


def _place(verts: np.ndarray, rot: np.ndarray, tile: int, fill: float = 0.82) -> np.ndarray:
    """Centre, rotate and scale one mesh into a tile: (V, 3) screen [x_px, y_px, depth]."""
    v = np.asarray(verts, np.float64)
    centre = (v.max(0) + v.min(0)) / 2
    v = (v - centre) @ rot.T
    radius = float(np.linalg.norm(np.asarray(verts, np.float64) - centre, axis=1).max()) or 1.0
    s = fill * tile / (2 * radius)
    out = v * s
    out[:, 0] += tile / 2
    out[:, 1] += tile / 2
    return out


def render_meshes(
    meshes: Sequence[PreviewMesh], faces: np.ndarray, *, yaw: float = 0.0, pitch: float = 0.0, tile: int = 256
) -> np.ndarray:
    """Render each mesh grey-shaded and tinted in a ``tile``² square, side by side.

    faces: (F, 3) int vertex indices shared by all meshes. Returns (tile, tile * len(meshes), 3)
    uint8 RGB; background is dark grey.
    """
    if not meshes:
        return np.zeros((tile, tile, 3), np.uint8) + BACKGROUND.astype(np.uint8)
    rot = rotation(yaw, pitch)
    verts = torch.from_numpy(np.stack([_place(m.vertices, rot, tile) for m in meshes]).astype(np.float32))
    f = torch.from_numpy(np.array(faces, dtype=np.int64))  # a writable copy (inputs may be read-only)
    with torch.no_grad():
        raster = MeshRasterizer(camera=ScreenCamera(), settings=RasterSettings(image_size=(tile, tile)))
        mesh = raster(verts, f)
        grey = shade_grey(
            mesh.fragments,
            mesh.faces,
            mesh.verts_view,
            light=LightSettings(ambient=0.3, diffuse=0.7),
            background=-1.0,
        )
    grey = grey[..., 0].numpy()  # (B, tile, tile); -1 = background
    tints = np.asarray([m.tint for m in meshes], np.float32)[:, None, None, :]
    rgb = np.clip(grey[..., None], 0, 1) * tints * 255.0
    rgb = np.where(grey[..., None] < 0, BACKGROUND, rgb)
    return np.concatenate(list(rgb.astype(np.uint8)), axis=1)
