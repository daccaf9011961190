"""Software 3D preview: shaded renders of face meshes with the project's rasterizer (core.render).

Used where OpenGL is not available (offscreen, no GL context). No Qt here: numpy in, numpy out,
safe to call from a worker thread.

Meshes are in crop pixels as the pipeline gives them: x right, y down, z depth in pixel units
(smaller = nearer). Each mesh is centred in its own tile, all at one scale (the largest rotated
mesh fills its tile, so differences in size between the meshes stay visible); tiles are laid
out left to right, in ``columns`` columns, in the order given. :func:`grid_for` picks the
columns and tile size that fill a panel best.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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


FILL = 0.94  # of a tile's side taken by the largest mesh


FACE_ASPECT = 0.85  # a face mesh's width / height, seen from the front


def grid_for(
    n: int, width: float, height: float, *, label: float = 0.0, min_tile: int = 64, max_tile: int = 384
) -> tuple[int, int, int]:
    """(columns, tile width, tile height) px laying ``n`` tiles, each under a ``label`` px high
    caption, out in a ``width`` × ``height`` px area so that the meshes come out largest (ties:
    more columns). Tiles take their cell's shape, between 0.6 and 1.6 wide per high, each side
    clamped to [min_tile, max_tile]."""
    n = max(1, n)
    best: tuple[float, int, int, int] = (-1.0, n, min_tile, min_tile)
    for cols in range(n, 0, -1):
        rows = math.ceil(n / cols)
        w = min(max_tile, max(min_tile, width / cols))
        h = min(max_tile, max(min_tile, (height - rows * label) / rows))
        w, h = min(w, 1.6 * h), min(h, w / 0.6)
        face = min(w / FACE_ASPECT, h)  # how tall a face can be drawn
        if face > best[0] + 0.5:
            best = (face, cols, int(w), int(h))
    return best[1], best[2], best[3]


def _centred(verts: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """The mesh centred on its box centre and rotated: (V, 3)."""
    v = np.asarray(verts, np.float64)
    return (v - (v.max(0) + v.min(0)) / 2) @ rot.T


def _to_tile(v: np.ndarray, scale: float, tile_w: int, tile_h: int) -> np.ndarray:
    """Centred, rotated vertices into a tile: (V, 3) screen [x_px, y_px, depth]."""
    out = v * scale
    out[:, 0] += tile_w / 2
    out[:, 1] += tile_h / 2
    return out


def render_meshes(
    meshes: Sequence[PreviewMesh],
    faces: np.ndarray,
    *,
    yaw: float = 0.0,
    pitch: float = 0.0,
    tile: int = 256,
    tile_height: int | None = None,
    columns: int | None = None,
) -> np.ndarray:
    """Render each mesh grey-shaded and tinted in a ``tile`` × ``tile_height`` px tile (default
    square), in ``columns`` columns (default: all in one row).

    faces: (F, 3) int vertex indices shared by all meshes. Returns (tile_height * rows,
    tile * columns, 3) uint8 RGB; background (and empty cells) dark grey.
    """
    import torch  # here, not at import: the Studio's window shows before torch has loaded

    from core.render.cameras import ScreenCamera
    from core.render.rasterizer import MeshRasterizer, RasterSettings
    from core.render.shaders import LightSettings, shade_grey

    tile_w, tile_h = tile, tile if tile_height is None else tile_height
    if not meshes:
        return np.zeros((tile_h, tile_w, 3), np.uint8) + BACKGROUND.astype(np.uint8)
    rot = rotation(yaw, pitch)
    centred = [_centred(m.vertices, rot) for m in meshes]
    half_x = max(float(np.abs(v[:, 0]).max()) for v in centred) or 1.0
    half_y = max(float(np.abs(v[:, 1]).max()) for v in centred) or 1.0
    scale = FILL * min(tile_w / (2 * half_x), tile_h / (2 * half_y))
    placed = np.stack([_to_tile(v, scale, tile_w, tile_h) for v in centred])
    verts = torch.from_numpy(placed.astype(np.float32))
    f = torch.from_numpy(np.array(faces, dtype=np.int64))  # a writable copy (inputs may be read-only)
    with torch.no_grad():
        raster = MeshRasterizer(camera=ScreenCamera(), settings=RasterSettings(image_size=(tile_h, tile_w)))
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
    rgb = np.where(grey[..., None] < 0, BACKGROUND, rgb).astype(np.uint8)
    cols = len(meshes) if columns is None else max(1, min(columns, len(meshes)))
    rows = math.ceil(len(meshes) / cols)
    empty = np.broadcast_to(BACKGROUND.astype(np.uint8), rgb.shape[1:])
    cells = list(rgb) + [empty] * (rows * cols - len(meshes))
    return np.concatenate([np.concatenate(cells[r * cols : (r + 1) * cols], axis=1) for r in range(rows)])
