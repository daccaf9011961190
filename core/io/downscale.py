"""A smaller copy of a photo for analysis, and the geometry mapping between the two.

Point convention (the one ``cv2.resize`` / ``cv2.warpAffine`` use): a point (x, y) is in pixel
units with the *centre* of the top-left pixel at (0, 0). Under a downscale by ``scale`` the exact
mapping is ``small = (full + 0.5) * scale - 0.5``; the simple ``full = small / scale`` is off by
``0.5 * (1/scale - 1)`` px (1.5 px at scale 0.25), so use the helpers below.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from core.io.photo import Photo


class Downscaled(NamedTuple):
    """image: (h, w, 3) uint8; scale: h / H (<= 1; exactly 1.0 when no resize was needed).

    The size is rounded to whole pixels, so ``w / W`` can differ from ``scale`` by < 1/W.
    """

    image: np.ndarray
    scale: float


def downscaled(image: Photo | np.ndarray, max_side: int) -> Downscaled:
    """Shrink so that the longer side is at most ``max_side`` (area averaging); never enlarges.

    image: a Photo or an (H, W, 3) uint8 array. When it already fits, the same array is returned
    (no copy) with scale 1.0.
    """
    rgb = image.rgb if isinstance(image, Photo) else image
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        got = f"{rgb.dtype} {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ValueError(f"image: expected (H, W, 3) uint8, got {got}")
    if max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    height, width = rgb.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return Downscaled(rgb, 1.0)
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return Downscaled(small, size[1] / height)


def points_to_full(points: np.ndarray, scale: float) -> np.ndarray:
    """Map points (..., 2+) from the downscaled image to the full photo (x and y only; a third
    coordinate, e.g. mesh depth z, is multiplied by 1/scale). Returns float64 of the same shape."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[..., :2] = (out[..., :2] + 0.5) / scale - 0.5
    out[..., 2:] = out[..., 2:] / scale
    return out


def points_to_small(points: np.ndarray, scale: float) -> np.ndarray:
    """Inverse of :func:`points_to_full`: full-photo points (..., 2+) -> downscaled image."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[..., :2] = (out[..., :2] + 0.5) * scale - 0.5
    out[..., 2:] = out[..., 2:] * scale
    return out
