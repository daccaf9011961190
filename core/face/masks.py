"""Soft face masks in crop space, for compositing an edited crop back into its photo.

The mask is the convex hull of the mesh (the face oval, forehead to chin), eroded by half the
feather width and smoothed by two box blurs, so it is exactly 1 deep inside the face, falls
smoothly to 0 over ``feather`` pixels just inside the hull, and is exactly 0 at and beyond the hull
(compact support: pixels outside the face are never touched by the paste-back).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def hull_mask(points: np.ndarray, size: int) -> np.ndarray:
    """Binary convex-hull mask of ``points`` (N, 2+) crop px in a size x size image: uint8 {0, 1}."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 2 or pts.shape[0] < 3:
        raise ValueError(f"points: expected (N >= 3, 2|3), got {pts.shape}")
    if not np.isfinite(pts[:, :2]).all():
        raise ValueError("points contain NaN or infinite values")
    hull = cv2.convexHull(np.round(pts[:, :2]).astype(np.int32))
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    return mask


def feather_mask(binary: np.ndarray, feather: float) -> np.ndarray:
    """Soften a binary mask (H, W) {0, 1} into float32 [0, 1] that ramps over ``feather`` px inside
    its edge and is exactly 0 outside it (erode by feather/2, then two box blurs of width feather/2)."""
    if binary.ndim != 2:
        raise ValueError(f"binary: expected (H, W), got {binary.shape}")
    if feather < 0 or not math.isfinite(feather):
        raise ValueError(f"feather must be a finite width >= 0 px, got {feather}")
    radius = int(round(feather / 2))
    mask = (binary > 0).astype(np.uint8)
    if radius < 1:
        return mask.astype(np.float32)
    # A square kernel (Chebyshev distance) so that the square box blurs below can never spread
    # past the hull. Outside the image counts as background, or a face cut by the crop border
    # would keep a hard edge there.
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    eroded = cv2.erode(mask, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    soft = eroded.astype(np.float32)
    box = radius + 1 if radius % 2 == 0 else radius  # odd width: a centred box, support radius/2 each
    for _ in range(2):
        soft = cv2.blur(soft, (box, box), borderType=cv2.BORDER_CONSTANT)
    return soft


def face_size(points: np.ndarray) -> float:
    """Characteristic face size in px: sqrt of the convex-hull area of ``points`` (N, 2+)."""
    pts = np.ascontiguousarray(np.asarray(points, dtype=np.float32)[:, :2])
    return float(math.sqrt(max(cv2.contourArea(cv2.convexHull(pts)), 0.0)))


def face_mask(points: np.ndarray, size: int, *, feather: float = 0.08) -> np.ndarray:
    """Feathered face mask (size, size) float32 in [0, 1] from mesh points (N, 2|3) in crop px.

    feather: ramp width as a fraction of the face size (sqrt of the hull area).
    For an edit that moves the face outline (a jaw opening), pass the union of the source and
    edited meshes: ``np.concatenate([src_pts, edited_pts])``.
    """
    return feather_mask(hull_mask(points, size), feather * face_size(points))
