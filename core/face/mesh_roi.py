"""Face-mesh regions of interest (MediaPipe's ROI) and the differentiable crop / un-crop.

A ROI is a rotated square in photo px, as a tensor row ``[cx, cy, side, angle]``: centre (cx, cy),
side length, and angle in radians (positive turns the crop's x axis from photo-right towards
photo-down, so the crop's x axis runs along the person's eye line).
Photo px follow OpenCV (``cv2.warpAffine``): the centre of pixel (row i, col j) is (x=j, y=i), so
the photo spans [-0.5, W - 0.5] x [-0.5, H - 0.5]. Crop px (the mesh network's output) are
measured from the crop's centre, which maps to the ROI centre, so both conventions agree there.

* from a detection: centre = box centre, side = 1.5 x the box's long side, angle from the eye
  keypoints (right eye -> left eye) made horizontal;
* from a mesh: the same on the landmarks' bounding box with eye corners 33 -> 263 (second pass).

The crop is ``affine_grid`` + ``grid_sample`` (bilinear, border-replicate), so gradients flow from
the crop (and the landmarks) back to the photo pixels and to the ROI.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from core.checks import assert_float, assert_shape
from core.face.types import Detection

ROI_SCALE = 1.5  # MediaPipe's RectTransformation scale_x / scale_y for the face mesh
RIGHT_EYE_CORNER, LEFT_EYE_CORNER = 33, 263  # mesh vertices used for the second-pass rotation


def _angle(start: np.ndarray, end: np.ndarray) -> float:
    """Rotation that makes start -> end horizontal (photo px, y down), wrapped to [-pi, pi)."""
    a = math.atan2(float(end[1] - start[1]), float(end[0] - start[0]))
    return (a + math.pi) % (2 * math.pi) - math.pi


def roi_from_detection(det: Detection, *, scale: float = ROI_SCALE) -> np.ndarray:
    """(4,) float32 [cx, cy, side, angle] around a detection (eye keypoints 0 -> 1 horizontal)."""
    c = det.centre
    side = max(det.width, det.height) * scale
    return np.array([c[0], c[1], side, _angle(det.keypoints[0], det.keypoints[1])], np.float32)


def roi_from_landmarks(landmarks: np.ndarray, *, scale: float = ROI_SCALE) -> np.ndarray:
    """landmarks (468, 2 or 3) photo px -> (4,) float32 ROI from their bounding box and eye corners."""
    if landmarks.ndim != 2 or landmarks.shape[0] != 468 or landmarks.shape[1] < 2:
        raise ValueError(f"landmarks: expected (468, 2 or 3), got {landmarks.shape}")
    lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    c = (lo + hi) / 2
    side = float((hi - lo).max()) * scale
    ang = _angle(landmarks[RIGHT_EYE_CORNER, :2], landmarks[LEFT_EYE_CORNER, :2])
    return np.array([c[0], c[1], side, ang], np.float32)


def check_rois(rois: torch.Tensor, batch: int | None = None) -> None:
    assert_shape(rois, (batch if batch is not None else "B", 4), "rois")
    assert_float(rois, "rois")


def crop_to_photo(points: torch.Tensor, rois: torch.Tensor, size: int) -> torch.Tensor:
    """Map crop px to photo px. points: (B, N, 2 or 3) in [0, size] (z, when present, is scaled
    by side / size); rois: (B, 4) -> (B, N, same) photo px."""
    check_rois(rois, points.shape[0])
    k = (rois[:, 2] / size)[:, None]  # (B, 1) photo px per crop px
    cos, sin = torch.cos(rois[:, 3])[:, None], torch.sin(rois[:, 3])[:, None]
    u = points[..., 0] - size / 2
    v = points[..., 1] - size / 2
    x = rois[:, 0:1] + k * (cos * u - sin * v)
    y = rois[:, 1:2] + k * (sin * u + cos * v)
    out = [x, y]
    if points.shape[-1] == 3:
        out.append(points[..., 2] * k)
    return torch.stack(out, dim=-1)


def crop_theta(rois: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, 4) ROIs in photo px -> (B, 2, 3) ``affine_grid`` matrices (align_corners=False, where
    normalised -1 / +1 are the photo's outer pixel edges, i.e. -0.5 and W - 0.5 photo px)."""
    cos, sin = torch.cos(rois[:, 3]), torch.sin(rois[:, 3])
    sx, sy = rois[:, 2] / width, rois[:, 2] / height
    row_x = torch.stack([sx * cos, -sx * sin, (2 * rois[:, 0] + 1) / width - 1], dim=-1)
    row_y = torch.stack([sy * sin, sy * cos, (2 * rois[:, 1] + 1) / height - 1], dim=-1)
    return torch.stack([row_x, row_y], dim=1)


def _prefilter(image: torch.Tensor, roi: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Box-filter one (1, C, H, W) image by an integer factor when the ROI shrinks > 2x, so the
    bilinear crop does not alias; returns (image, roi) in the filtered image's px."""
    factor = int(float(roi[2]) / size)
    if factor < 2:
        return image, roi
    h, w = image.shape[2] // factor * factor, image.shape[3] // factor * factor
    if h == 0 or w == 0:
        return image, roi
    small = F.avg_pool2d(image[:, :, :h, :w], factor)
    return small, shrink_roi(roi, factor)


def shrink_roi(roi: torch.Tensor, factor: float) -> torch.Tensor:
    """(4,) ROI in photo px -> the same ROI in px of the photo shrunk ``factor`` times
    (pixel-centre convention: x' = (x + 0.5) / factor - 0.5)."""
    c = (roi[:2] + 0.5) / factor - 0.5
    return torch.cat([c, roi[2:3] / factor, roi[3:4]])


def crop_rois(images: torch.Tensor, rois: torch.Tensor, *, size: int, antialias: bool = True) -> torch.Tensor:
    """Differentiable rotated square crops.

    images: (B, C, H, W) float (any range); rois: (B, 4) [cx, cy, side, angle] photo px / radians.
    antialias: box-filter first where a ROI is more than 2x larger than the crop.
    Returns (B, C, size, size), same dtype and range as ``images``.
    """
    assert_shape(images, ("B", None, None, None), "images")
    assert_float(images, "images")
    check_rois(rois, images.shape[0])
    if antialias:
        crops = []
        for b in range(images.shape[0]):
            img, roi = _prefilter(images[b:b + 1], rois[b], size)
            theta = crop_theta(roi[None], img.shape[2], img.shape[3])
            grid = F.affine_grid(theta, [1, img.shape[1], size, size], align_corners=False)
            crops.append(F.grid_sample(img, grid, mode="bilinear", padding_mode="border",
                                       align_corners=False))
        return torch.cat(crops, dim=0)
    theta = crop_theta(rois, images.shape[2], images.shape[3])
    grid = F.affine_grid(theta, [images.shape[0], images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
