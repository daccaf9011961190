"""Detail and stability of an edit, output against source (issue 10's "keep detail", "stay on the face").

* ``detail_ratio``: the variance of the Laplacian of the output's grey image over the face region,
  divided by the source's (1 = as much fine detail as the source; a blurring warp gives less,
  drawn edges or noise more). The face region is the source face's mesh hull, eroded by
  :data:`FACE_REGION_EROSION` of the face size, so the hull's edge (hair, background) stays out
  (:func:`face_region`); ``gafet evaluate`` also leaves out the eyes and the mouth of the source
  and of the output (each face's own mesh, grown by :data:`FEATURE_GROWTH` of the face size), which
  an edit may rightly change, so the ratio speaks of the skin (:func:`skin_region`).
* ``changed_outside``: how many pixels differ at all (any channel, any amount) outside a mask
  the caller gives (the editor's face-and-hair mask: the output must equal the source there
  bit for bit, so the ideal count is 0). Not in ``gafet evaluate``'s tables: the evaluation has
  no editor's mask to give it.
* ``face_box_mad``: the mean absolute difference (0-255, over pixels and channels) inside a
  face box, e.g. for ``neutral`` applied to a neutral face (ideal: near 0).

Images: (H, W, 3) uint8 RGB of one size. Masks: (H, W) bool or {0, 1}. Grey is OpenCV's
BT.601 luma in float32; the Laplacian is OpenCV's 3x3 four-neighbour one (``ksize=1``).
"""

from __future__ import annotations

import cv2
import numpy as np

from core.face.masks import face_size, hull_mask
from core.geometry.au.topology import EYE_LEFT, EYE_RIGHT, LIPS_OUTER
from core.metrics.registry import register_metric

FACE_REGION_EROSION = 0.04  # of the face size (sqrt of the mesh hull's area)
FEATURE_GROWTH = 0.07  # eyes and mouth left out of the skin region, grown by this much of the face size


def _check_pair(output: np.ndarray, source: np.ndarray) -> None:
    for name, img in (("output", output), ("source", source)):
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            got = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
            raise ValueError(f"{name}: expected (H, W, 3) uint8 RGB, got {got}")
    if output.shape != source.shape:
        raise ValueError(f"output and source differ in size: {output.shape} vs {source.shape}")


def _check_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != shape[:2]:
        raise ValueError(f"mask: expected {shape[:2]}, got {m.shape}")
    return m.astype(bool)


def face_region(landmarks: np.ndarray, shape: tuple[int, ...],
                erosion: float = FACE_REGION_EROSION) -> np.ndarray:
    """(H, W) bool: the convex hull of a face's mesh points (N, 2|3) photo px, eroded by
    ``erosion`` of the face size. shape: the image's (H, W[, C])."""
    h, w = int(shape[0]), int(shape[1])
    pts = np.asarray(landmarks, dtype=np.float64)
    region = hull_mask(pts, max(h, w))[:h, :w]
    radius = int(round(erosion * face_size(pts)))
    if radius >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        region = cv2.erode(region, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return region.astype(bool)


def skin_region(landmarks: np.ndarray, shape: tuple[int, ...], *, exclude: tuple[np.ndarray, ...] = (),
                erosion: float = FACE_REGION_EROSION, growth: float = FEATURE_GROWTH) -> np.ndarray:
    """(H, W) bool: :func:`face_region` of ``landmarks`` (468, 2|3) photo px, without the eyes and
    the outer-lip area of every mesh in ``exclude`` (each (468, 2|3) photo px), grown by ``growth``
    of the face size."""
    region = face_region(landmarks, shape, erosion)
    if not exclude:
        return region
    h, w = region.shape
    holes = np.zeros((h, w), np.uint8)
    for mesh in exclude:
        pts = np.asarray(mesh, dtype=np.float64)[:, :2]
        polygons = [np.round(pts[list(idx)]).astype(np.int32) for idx in (EYE_RIGHT, EYE_LEFT, LIPS_OUTER)]
        cv2.fillPoly(holes, polygons, 1)
    radius = int(round(growth * face_size(np.asarray(landmarks, dtype=np.float64))))
    if radius >= 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        holes = cv2.dilate(holes, kernel)
    return region & (holes == 0)


def laplacian_variance(image: np.ndarray, mask: np.ndarray) -> float:
    """Variance of the grey image's Laplacian over ``mask`` (float; 0 for a flat region).
    image: (H, W, 3) uint8 RGB; mask: (H, W), at least 2 pixels set."""
    m = _check_mask(mask, image.shape)
    if m.sum() < 2:
        raise ValueError("mask: fewer than 2 pixels to measure detail on")
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT_101)
    return float(np.var(lap[m].astype(np.float64)))


@register_metric(key="detail_ratio", label="Detail ratio", group="detail", better="higher",
                 description="face-region Laplacian variance of the output over the source's "
                             "(1 = the source's fine detail; issue 10 asks 0.85-1.15)")
def detail_ratio(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """laplacian_variance(pred, mask) / laplacian_variance(target, mask). pred: the output, target:
    the source, both (H, W, 3) uint8 RGB; mask: (H, W) face region (:func:`face_region`).
    Raises ValueError when the source has no detail there (variance 0)."""
    _check_pair(pred, target)
    base = laplacian_variance(target, mask)
    if base <= 0:
        raise ValueError("the source has no detail in the face region (Laplacian variance 0)")
    return laplacian_variance(pred, mask) / base


def changed_outside(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> int:
    """Count of pixels outside ``mask`` (H, W) where any channel of pred (output) and target
    (source) differs; both (H, W, 3) uint8 RGB."""
    _check_pair(pred, target)
    inside = _check_mask(mask, pred.shape)
    changed = np.any(pred != target, axis=2)
    return int(np.count_nonzero(changed & ~inside))


@register_metric(key="face_box_mad", label="Face-box MAD", group="detail", better="lower",
                 description="mean absolute difference (0-255) of output and source in the face box")
def face_box_mad(pred: np.ndarray, target: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Mean |pred - target| over the pixels and channels of ``box`` (x0, y0, x1, y1 px, x1 / y1
    exclusive, clipped to the image); pred, target (H, W, 3) uint8 RGB. Raises ValueError for a
    box that misses the image."""
    _check_pair(pred, target)
    h, w = pred.shape[:2]
    x0, y0 = max(int(box[0]), 0), max(int(box[1]), 0)
    x1, y1 = min(int(box[2]), w), min(int(box[3]), h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"box {tuple(box)} does not overlap the {w}x{h} image")
    diff = np.abs(pred[y0:y1, x0:x1].astype(np.int16) - target[y0:y1, x0:x1].astype(np.int16))
    return float(diff.mean())
