"""Where the detector looks: a pyramid of square tiles over the (downscaled) photo.

Level 0 is the whole photo letterboxed into one square. Finer levels cover the photo with
overlapping square tiles, so that faces down to ``min_face_px`` wide reach the smallest size the
full-range BlazeFace finds (about ``min_face_fraction`` of its input). The overlap is larger than
the biggest face a level is meant for, so each such face lies wholly inside some tile; detections
that touch a tile's inner edge are dropped (see :func:`touches_inner_edge`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TilingConfig:
    min_face_px: float = 36.0  # smallest face width to find, px of the photo being tiled
    min_face_fraction: float = 0.07  # smallest reliable face width / network input width
    level_ratio: float = 4.0  # largest ratio of tile sides between consecutive levels
    overlap: float = 0.3  # overlap of neighbouring tiles, fraction of the tile side
    min_gain: float = 1.5  # add tiles only when the photo is this much larger than the finest tile


@dataclass(frozen=True)
class Tile:
    """A square window of side ``side`` px whose top-left corner is (x, y) px in the photo
    (negative / past the photo where it letterboxes). ``inner`` marks which edges (left, top,
    right, bottom) lie inside the photo, next to another tile."""

    x: float
    y: float
    side: float
    level: int
    inner: tuple[bool, bool, bool, bool]


def level_sides(height: int, width: int, cfg: TilingConfig) -> list[float]:
    """Tile sides per level, coarsest (the long side) first."""
    long_side = float(max(height, width))
    finest = cfg.min_face_px / cfg.min_face_fraction
    sides = [long_side]
    if long_side <= cfg.min_gain * finest:
        return sides
    ratio = long_side / finest
    levels = math.ceil(math.log(ratio) / math.log(cfg.level_ratio) - 1e-9)
    return sides + [long_side / ratio ** (k / levels) for k in range(1, levels + 1)]


def _origins(length: int, side: float, overlap: float) -> np.ndarray:
    if length <= side:
        return np.array([(length - side) / 2.0])
    n = math.ceil((length - side) / (side * (1.0 - overlap)) - 1e-9) + 1
    return np.linspace(0.0, length - side, n)


def plan_tiles(height: int, width: int, cfg: TilingConfig) -> list[Tile]:
    """All tiles for a photo of height x width px, level by level."""
    if height < 1 or width < 1:
        raise ValueError(f"photo size must be positive, got {height}x{width}")
    tiles: list[Tile] = []
    for level, side in enumerate(level_sides(height, width, cfg)):
        xs = _origins(width, side, cfg.overlap)
        ys = _origins(height, side, cfg.overlap)
        for y in ys:
            for x in xs:
                inner = (x > 0.5, y > 0.5, x + side < width - 0.5, y + side < height - 0.5)
                tiles.append(Tile(x=float(x), y=float(y), side=float(side), level=level, inner=inner))
    return tiles


def touches_inner_edge(boxes: np.ndarray, tile: Tile, margin: float) -> np.ndarray:
    """boxes (N, 4) photo px -> (N,) bool: the box comes within ``margin`` (fraction of the tile side)
    of an edge of ``tile`` that is inside the photo (the face may be cut there)."""
    m = margin * tile.side
    x0, y0, x1, y1 = tile.x + m, tile.y + m, tile.x + tile.side - m, tile.y + tile.side - m
    left, top, right, bottom = tile.inner
    hit = np.zeros(len(boxes), bool)
    if left:
        hit |= boxes[:, 0] < x0
    if top:
        hit |= boxes[:, 1] < y0
    if right:
        hit |= boxes[:, 2] > x1
    if bottom:
        hit |= boxes[:, 3] > y1
    return hit
