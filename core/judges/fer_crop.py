"""fer's 64x64 grey face crop, from a face box of the project's detector.

fer (``FER.detect_emotions``) converts the photo to grey (``cv2.COLOR_BGR2GRAY``), pads it by 40 px
with the mean grey of its bottom two rows, makes its detector's box square (lengthening the
shorter side about the centre), widens it by 10 px on every side, cuts it out and resizes it to
64x64 with ``cv2.resize`` (bilinear). Here the box comes from the project's BlazeFace detection
(:attr:`core.face.types.Detection.box`) instead of fer's Haar cascade (opencv-python 5 has no
``CascadeClassifier``), squared the same way, and parts of the square outside the photo take the same
bottom-rows grey. fer's fixed 10 px widening would make the crop depend on the photo's
resolution, so the widening here is a fraction of the side, :data:`MARGIN`, 0 by default: on the
test photos BlazeFace's box needs none (surprise.jpg reads surprise 0.93 without widening, but
sad 0.40 at 5 % and angry 0.35 at 10 %; the classifier is that sensitive to framing).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.checks import assert_float, assert_shape

CROP_SIZE = 64
MARGIN = 0.0  # widening on each side, as a fraction of the square's side (see the module docstring)
GREY_WEIGHTS = (0.299, 0.587, 0.114)  # cv2's RGB -> grey (ITU-R BT.601)


def square_box(box: np.ndarray, margin: float = MARGIN) -> tuple[int, int, int, int]:
    """fer's square face box. box: (4,) x0, y0, x1, y1 photo px -> integer x0, y0, x1, y1 (exclusive
    ends) of the square about the box's centre, its side the box's longer side plus ``margin`` of
    it on each side (may extend past the photo)."""
    b = np.asarray(box, dtype=np.float64)
    if b.shape != (4,) or not np.isfinite(b).all() or b[2] <= b[0] or b[3] <= b[1]:
        raise ValueError(f"box: expected finite x0, y0, x1, y1 with x0 < x1, y0 < y1, got {b.tolist()}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    side = max(b[2] - b[0], b[3] - b[1]) * (1 + 2 * margin)
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    x0, y0 = round(cx - side / 2), round(cy - side / 2)
    n = max(1, round(side))
    return x0, y0, x0 + n, y0 + n


def fer_face_crop(image: np.ndarray, box: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """The classifier's crop of one face. image: (H, W, 3) uint8 RGB; box: (4,) x0, y0, x1, y1
    photo px (e.g. ``Detection.box``). Returns (64, 64) uint8 grey."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image: expected (H, W, 3) uint8 RGB, got {got}")
    x0, y0, x1, y1 = square_box(box, margin)
    height, width = image.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    inside = sx1 > sx0 and sy1 > sy0
    if (sx0, sy0, sx1, sy1) == (x0, y0, x1, y1):
        grey = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    else:  # the square leaves the photo: fill as fer pads
        fill = round(cv2.mean(cv2.cvtColor(image[-2:], cv2.COLOR_RGB2GRAY))[0])
        grey = np.full((y1 - y0, x1 - x0), fill, np.uint8)
        if inside:
            grey[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = cv2.cvtColor(image[sy0:sy1, sx0:sx1],
                                                                     cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)


def fer_input(crops: np.ndarray) -> torch.Tensor:
    """Network input from grey crops. crops: (B, 64, 64) or (64, 64) uint8 -> (B, 1, 64, 64)
    float32 in [-1, 1] (fer's ``(x / 255 - 0.5) * 2``)."""
    arr = np.asarray(crops)
    batch = arr[None] if arr.ndim == 2 else arr
    if batch.ndim != 3 or batch.shape[1:] != (CROP_SIZE, CROP_SIZE) or batch.dtype != np.uint8:
        raise ValueError(f"crops: expected (B, 64, 64) uint8 grey, got {arr.dtype} {arr.shape}")
    x = torch.from_numpy(np.ascontiguousarray(batch)).float()[:, None]
    return (x / 255.0 - 0.5) * 2.0


def rgb_to_fer_input(faces: torch.Tensor) -> torch.Tensor:
    """Differentiable input from RGB face crops (already framed as :func:`fer_face_crop` frames).

    faces: (B, 3, H, W) float RGB in [0, 1]. Returns (B, 1, 64, 64) in [-1, 1]: grey with cv2's
    weights, resized bilinearly (no rounding to 8 bits, so within about 1/255 of the uint8 path).
    """
    assert_shape(faces, (None, 3, None, None), "faces")
    assert_float(faces, "faces")
    w = torch.tensor(GREY_WEIGHTS, dtype=faces.dtype, device=faces.device).view(1, 3, 1, 1)
    grey = (faces * w).sum(dim=1, keepdim=True)
    if grey.shape[-2:] != (CROP_SIZE, CROP_SIZE):
        grey = F.interpolate(grey, size=(CROP_SIZE, CROP_SIZE), mode="bilinear", align_corners=False)
    return grey * 2.0 - 1.0
