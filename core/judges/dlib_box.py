"""The face box dlib's 68-point model expects, from the project's 468-point face mesh.

dlib's shape predictor was trained on the boxes of dlib's HOG frontal face detector
(``dlib.get_frontal_face_detector()``): upright squares about the eyes, nose and mouth, from
the brows to the chin. Those boxes come in discrete sizes (the detector's image pyramid steps
by 6/5, so the side jumps by about 20 % while the face barely moves). Here the box is a fixed
function of the mesh, so the landmark judge needs no dlib runtime and gives a box that moves
smoothly with the face:

    s      = RMS distance of the 468 mesh points (x, y, z) from their centroid (photo px;
             3D, so it does not shrink when the head turns)
    centre = mean of the mesh points' (x, y) + (OFFSET_X, OFFSET_Y) * s
    side   = SIDE * s

Fitted by ``tools/calibrate_dlib_box.py`` (least squares, against ``detector(image, 1)``) on the
test media's seven photos and every 4th frame of sad_to_laugh.mp4 and every 2nd of
neutral_to_smile.mp4 (163 faces). Box error relative to the side, leaving each video / the
photos out of the fit: centre median 1.9 %, max 9 %; side median 7 %, max 15 % (mostly the
detector's own pyramid steps). What matters is the landmarks: with the mesh box instead of the
detector's, the 68 points move on average 1.0 % of the inter-ocular distance (median over faces;
90th percentile 2.8 %; max 10 %, on a frame where a hand covers the face), against 1.4 % (max 6 %)
between the detector's own two box sizes for one face in neutral_to_smile.mp4.
"""

from __future__ import annotations

import numpy as np

from core.judges.dlib_shape import DlibRect

OFFSET_X = -0.0069  # box centre minus mesh centroid, x, in units of s
OFFSET_Y = -0.0017  # same, y (down)
SIDE = 2.7517  # box side (right - left) in units of s


def mesh_scale(landmarks: np.ndarray) -> float:
    """s: RMS distance of the mesh points from their centroid. landmarks: (468, 3) photo px."""
    pts = np.asarray(landmarks, dtype=np.float64)
    return float(np.sqrt(np.mean(np.sum((pts - pts.mean(axis=0)) ** 2, axis=1))))


def dlib_box_from_mesh(landmarks: np.ndarray) -> DlibRect:
    """dlib's detector box for a face (module docstring). landmarks: (468, 3) float photo px
    (``Face.landmarks``) -> :class:`DlibRect` (integer px, may extend past the photo)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 3 or not np.isfinite(pts).all():
        raise ValueError(f"landmarks: expected finite (N, 3) mesh points, got {pts.shape}")
    s = mesh_scale(pts)
    if s <= 0:
        raise ValueError("landmarks: all mesh points are at one place")
    centre = pts[:, :2].mean(axis=0) + np.array([OFFSET_X, OFFSET_Y]) * s
    half = SIDE * s / 2
    left, top = np.round(centre - half).astype(int)
    right, bottom = np.round(centre + half).astype(int)
    return DlibRect(int(left), int(top), int(right), int(bottom))
