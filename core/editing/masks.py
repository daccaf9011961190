"""Crop-space masks of an edit: the region where the crop may change and its feathered weight
(``face``), the mouth and eye openings. The one home of the edit's masks and mesh contours.

Polygons come straight from the MediaPipe mesh contours (ordered rings below), drawn with
sub-pixel precision and anti-aliased edges. All masks are (R, R) float32 in [0, 1], in crop
pixels with the centre of the top-left pixel at (0, 0) (:mod:`core.face.align`'s convention).
"""

from __future__ import annotations

import cv2
import numpy as np

from core.editing.editor import EditGeometry, EditMasks
from core.geometry.au.topology import FACE_OVAL

# Ordered contours of the 468-point MediaPipe mesh (the person's right = image left).
INNER_LIP_RING = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
OUTER_LIP_RING = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
INNER_LIP_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)  # corner to corner, image left to right
INNER_LIP_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
RIGHT_EYE_RING = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE_RING = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
EYE_RINGS = (RIGHT_EYE_RING, LEFT_EYE_RING)
# Eye corners (outer, inner) of each eye, and each lid as a polyline from corner to corner.
EYE_CORNERS = ((33, 133), (263, 362))
EYE_UPPER_LIDS = ((33, 246, 161, 160, 159, 158, 157, 173, 133), (263, 466, 388, 387, 386, 385, 384, 398, 362))
EYE_LOWER_LIDS = ((33, 7, 163, 144, 145, 153, 154, 155, 133), (263, 249, 390, 373, 374, 380, 381, 382, 362))

_SHIFT = 4  # sub-pixel bits for cv2 polygon drawing
_CHANGE_EPS = 0.1  # px: a smaller displacement counts as "unchanged" (invisible, and keeps the photo exact)
_FEATHER = 0.01  # the face mask rises to 1 over this fraction of R inside the region's edge


def polygon_mask(points: np.ndarray, size: int, *, supersample: bool = True) -> np.ndarray:
    """Filled polygon (N, 2+) crop px -> (size, size) float32 in [0, 1], anti-aliased edge."""
    pts = np.asarray(points, dtype=np.float64)[:, :2]
    if pts.ndim != 2 or len(pts) < 3:
        raise ValueError(f"points: expected (N >= 3, 2+), got {np.shape(points)}")
    if not np.isfinite(pts).all():
        raise ValueError("polygon points contain NaN or infinite values")
    mask = np.zeros((size, size), np.uint8)
    fixed = np.round(pts * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [fixed], 255, lineType=cv2.LINE_AA if supersample else cv2.LINE_8, shift=_SHIFT)
    return mask.astype(np.float32) * (1.0 / 255.0)


def polygon_area(points: np.ndarray) -> float:
    """Unsigned area (px²) of a polygon (N, 2+)."""
    p = np.asarray(points, dtype=np.float64)[:, :2]
    x, y = p[:, 0], p[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def ring(vertices: np.ndarray, indices: tuple[int, ...]) -> np.ndarray:
    """(len(indices), 2) float64 the ring's points from a (V, 2|3) vertex array."""
    return np.asarray(vertices, dtype=np.float64)[list(indices), :2]


def grow(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilate a float mask by ``radius`` px (elliptical kernel); radius 0 returns it unchanged."""
    if radius <= 0:
        return mask
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask, k)


def feathered(binary: np.ndarray, *, grow_px: int, blur_px: int) -> np.ndarray:
    """Grow a [0, 1] mask by ``grow_px`` then soften it with a Gaussian of ``blur_px``: the result
    is (nearly) 1 on the whole original mask and falls to 0 within grow_px + 2 blur_px outside."""
    m = grow(binary.astype(np.float32), grow_px + blur_px)
    if blur_px > 0:
        m = cv2.GaussianBlur(m, (0, 0), sigmaX=blur_px / 2.0, borderType=cv2.BORDER_CONSTANT)
    return np.clip(m, 0.0, 1.0)


def change_support(displacement: np.ndarray, *, eps: float = _CHANGE_EPS) -> np.ndarray:
    """(R, R, 2) float displacement px -> (R, R) float32 {0, 1}: where the flow moves pixels."""
    return (np.linalg.norm(displacement, axis=-1) > eps).astype(np.float32)


def inner_feather(region: np.ndarray, width: float) -> np.ndarray:
    """(R, R) {0, 1} region -> float32 [0, 1]: exactly 0 outside the region, rising to 1 over
    ``width`` px *inside* its edge (smoothstep of the distance to the nearest outside pixel)."""
    inside = (region > 0.5).astype(np.uint8)
    if not inside.any():
        return np.zeros(region.shape, np.float32)
    if width <= 0:
        return inside.astype(np.float32)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    t = np.clip((dist - 0.5) / width, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def build_masks(geometry: EditGeometry, displacement: np.ndarray,
                region: np.ndarray | None = None) -> EditMasks:
    """The masks of one edit.

    geometry: source/target meshes in crop px. displacement: (R, R, 2) float32 backward-flow
    displacement px (0 where nothing moves). region: (R, R) {0, 1} where the edit may change the
    crop (:func:`core.editing.face_flow.face_flow`); None: where the displacement exceeds 0.1 px
    plus the target's face oval.
    face = the region feathered inside its edge over ``_FEATHER`` x R. All masks but mouth/eyes are
    exactly 0 when the target equals the source (intensity 0), so an unchanged edit leaves the
    photo bit-identical.
    """
    size = geometry.size
    if displacement.shape != (size, size, 2):
        raise ValueError(f"displacement: expected ({size}, {size}, 2), got {displacement.shape}")
    tgt, src = geometry.target, geometry.source
    mouth = polygon_mask(ring(tgt, INNER_LIP_RING), size)
    eyes = np.maximum(polygon_mask(ring(tgt, RIGHT_EYE_RING), size),
                      polygon_mask(ring(tgt, LEFT_EYE_RING), size))
    if region is None:
        region = change_support(displacement)
        if not np.array_equal(src, tgt):
            region = np.maximum(region, (polygon_mask(ring(tgt, FACE_OVAL), size) > 0).astype(np.float32))
    elif region.shape != (size, size):
        raise ValueError(f"region: expected ({size}, {size}), got {region.shape}")
    region = (np.asarray(region) > 0.5).astype(np.float32)
    face = inner_feather(region, max(1.5, _FEATHER * size))
    return EditMasks(face=face, mouth=mouth, eyes=eyes, region=region)


def mask_box(mask: np.ndarray, pad: int) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1), end-exclusive, of ``mask > 0`` grown by ``pad`` px and clipped; None if empty."""
    ys, xs = np.nonzero(mask > 0)
    if len(ys) == 0:
        return None
    h, w = mask.shape
    y0, y1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1)
    return y0, y1, max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
