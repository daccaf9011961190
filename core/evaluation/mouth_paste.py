"""The naive "mouth-paste" baseline: the reference's mouth region blended onto the source.

It gives every number a context: an editor that scores no better than cutting the reference's
mouth out and pasting it on has not earned its complexity. Both faces are already in the same
canonical crop frame (:mod:`core.face.align`); a similarity fitted on landmarks that an
expression barely moves (eye corners, nose) fine-tunes the reference onto the source, then the
reference's pixels replace the source's inside both faces' lip contours, grown and feathered,
with weight ``min(alpha, 1)``, and the crop is pasted back into the full photo.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.editing.masks import OUTER_LIP_RING, feathered, polygon_mask, ring
from core.editing.pipeline import PreparedReference, PreparedSource
from core.face.align import map_points
from core.face.paste import paste_back

# Mesh points an expression barely moves: eye corners and the nose ridge / tip / base.
STABLE_POINTS = (33, 133, 263, 362, 168, 6, 197, 195, 5, 4, 1, 2)
GROW = 0.03  # of the crop side: how far the blend reaches past the lip contours
BLUR = 0.03  # of the crop side: the feather's width


def mouth_paste(source: PreparedSource, reference: PreparedReference, alpha: float) -> np.ndarray | None:
    """The source photo (H, W, 3) uint8 RGB with the reference's mouth region blended in at
    ``min(alpha, 1)``; None when the reference is a preset (there is no mouth to paste)."""
    if reference.aligned is None or reference.vertices is None:
        return None
    size = source.aligned.size
    src_v = np.asarray(source.vertices, np.float64)
    ref_v = np.asarray(reference.vertices, np.float64) * (size / reference.aligned.size)
    ref_crop = reference.aligned.crop
    if ref_crop.shape[0] != size:
        ref_crop = cv2.resize(ref_crop, (size, size), interpolation=cv2.INTER_AREA)
    matrix, _ = cv2.estimateAffinePartial2D(ref_v[list(STABLE_POINTS), :2], src_v[list(STABLE_POINTS), :2])
    if matrix is None:
        matrix = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    warped = cv2.warpAffine(ref_crop, matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
    lips = np.maximum(polygon_mask(ring(src_v, OUTER_LIP_RING), size),
                      polygon_mask(ring(map_points(ref_v[:, :2], matrix), OUTER_LIP_RING), size))
    weight = feathered(lips, grow_px=round(GROW * size), blur_px=round(BLUR * size)) * min(float(alpha), 1.0)
    w = weight[..., None]
    crop = np.clip(source.aligned.crop * (1 - w) + warped * w + 0.5, 0, 255).astype(np.uint8)
    return paste_back(np.asarray(source.photo.rgb), source.aligned, crop, mask=weight)
