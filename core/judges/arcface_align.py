"""ArcFace's five-point 112x112 face alignment (insightface ``norm_crop``), from the mesh.

ArcFace, CurricularFace and most face-recognition networks trained on MS1M take faces aligned by
a least-squares similarity (Umeyama) that maps five landmarks onto a fixed template in a
112x112 chip (``arcface_dst`` in insightface's ``python-package/insightface/utils/face_align.py``),
sampled bilinearly with black outside the photo:

    0: the eye centre on the image's left     (38.2946, 51.6963)
    1: the eye centre on the image's right    (73.5318, 51.5014)
    2: the nose                               (56.0252, 71.7366)
    3: the mouth corner on the image's left   (41.5493, 92.3655)
    4: the mouth corner on the image's right  (70.7299, 92.2041)

insightface takes the points from its detector (RetinaFace / SCRFD); here they come from the
project's 468-point MediaPipe mesh (:data:`MESH_NOSE_POINT` and the eye rings and mouth corners of
:mod:`core.face.align`): each eye centre is the mean of its 16-point contour, the mouth corners
are 61 and 291, and the nose point is vertex 4, just above the tip. The template puts its nose
0.495 of the way from the eyes' midpoint to the mouth's; on the neutral faces of the test media
vertex 4 lies at 0.46-0.50 of that way, the tip itself (vertex 1) at 0.57-0.61, which would pull
every chip up by about 5 px. Shrinking uses area averaging first, as
:func:`core.face.align.warp_affine` does for every crop of the project.

Point convention: photo and chip px with the centre of the top-left pixel at (0, 0), as
``cv2.warpAffine`` and insightface.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.face.align import LEFT_EYE_RING, MOUTH_CORNERS, N_LANDMARKS, RIGHT_EYE_RING, warp_affine
from core.judges.face_chip import similarity_matrix

CHIP_SIZE = 112
MESH_NOSE_POINT = 4  # MediaPipe mesh vertex just above the nose tip (module docstring)
# insightface's arcface_dst, chip px for a 112x112 chip, in the order of the module docstring.
ARCFACE_TEMPLATE = np.array([
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
])


@dataclass(frozen=True, eq=False)
class ArcfaceChip:
    """A face aligned for ArcFace-style networks.

    image:  (112, 112, 3) uint8 RGB.
    matrix: (2, 3) float64, photo px -> chip px (a similarity).
    """

    image: np.ndarray
    matrix: np.ndarray


def arcface_points(landmarks: np.ndarray) -> np.ndarray:
    """The five ArcFace points of a face mesh. landmarks: (468, 2|3) photo px -> (5, 2) float64,
    in :data:`ARCFACE_TEMPLATE`'s order."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] != N_LANDMARKS or pts.shape[1] not in (2, 3):
        raise ValueError(f"landmarks: expected (468, 2|3) MediaPipe mesh, got {pts.shape}")
    xy = pts[:, :2]
    out = np.stack([xy[list(RIGHT_EYE_RING)].mean(axis=0), xy[list(LEFT_EYE_RING)].mean(axis=0),
                    xy[MESH_NOSE_POINT], xy[MOUTH_CORNERS[0]], xy[MOUTH_CORNERS[1]]])
    if not np.isfinite(out).all():
        raise ValueError("landmarks: the five alignment points contain NaN or infinite values")
    return out


def arcface_matrix(points: np.ndarray, size: int = CHIP_SIZE) -> np.ndarray:
    """The (2, 3) float64 photo px -> chip px similarity that best maps ``points`` (5, 2) onto
    the template (scaled by size / 112, as insightface does for other chip sizes)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (5, 2) or not np.isfinite(pts).all():
        raise ValueError(f"points: expected finite (5, 2), got {pts.shape}")
    if size < 8:
        raise ValueError(f"size must be >= 8, got {size}")
    if np.ptp(pts, axis=0).max() < 1e-6:
        raise ValueError(f"points are degenerate (all at one place): {pts.tolist()}")
    return similarity_matrix(pts, ARCFACE_TEMPLATE * (size / CHIP_SIZE))


def arcface_chip(image: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE) -> ArcfaceChip:
    """The aligned chip of one face. image: (H, W, 3) uint8 RGB; landmarks: (468, 2|3) photo px."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image: expected (H, W, 3) uint8 RGB, got {got}")
    matrix = arcface_matrix(arcface_points(landmarks), size)
    chip = warp_affine(image, matrix, (size, size), interpolation=cv2.INTER_LINEAR,
                       border=cv2.BORDER_CONSTANT)
    return ArcfaceChip(image=chip, matrix=matrix)
