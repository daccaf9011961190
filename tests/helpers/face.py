"""Faces placed into photos for the alignment and paste-back tests.

The synthetic meshes are the MediaPipe canonical face (asset ``au-face-model``) placed by a
similarity transform, so tests built on them do not depend on the face analyzer;
:func:`real_photo_and_mesh` gives the analyzer's own mesh where a real one matters.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from core.assets import asset_path
from core.face.align import LEFT_EYE_RING, MOUTH_CORNERS, RIGHT_EYE_RING, map_points
from core.io import load_photo

if TYPE_CHECKING:
    from tests.conftest import TestMedia

# Eye centres (image-left, image-right) and mouth centre, photo px, read off the test photos'
# LiteRT face meshes: the canonical face is placed onto these three points.
PHOTO_ANCHORS = {
    "happy.jpg": ((189, 252), (317, 255), (249, 374)),
    "anger.jpg": ((158, 265), (287, 260), (220, 392)),
    "surprise.jpg": ((201, 236), (330, 237), (268, 379)),
    "single_face.jpg": ((233, 248), (313, 247), (277, 327)),
}


@functools.cache
def canonical_mesh() -> np.ndarray:
    """(468, 3) float64 MediaPipe canonical face in cm, image axes (x right, y down, z away)."""
    model = torch.load(asset_path("au-face-model", "canonical_face_model.pt"), weights_only=True)
    pts = np.asarray(model, dtype=np.float64).reshape(468, 3)
    return pts * np.array([1.0, -1.0, -1.0])


def anchors(mesh: np.ndarray) -> np.ndarray:
    """(3, 2) eye centres and mouth centre of a (468, 3) mesh."""
    return np.stack([
        mesh[list(RIGHT_EYE_RING), :2].mean(axis=0),
        mesh[list(LEFT_EYE_RING), :2].mean(axis=0),
        mesh[list(MOUTH_CORNERS), :2].mean(axis=0),
    ])


def place_mesh(*, scale: float = 20.0, angle: float = 0.0, centre: Sequence[float] = (256.0, 256.0),
               targets: Sequence[Sequence[float]] | None = None) -> np.ndarray:
    """The canonical face in photo px (468, 3): scaled (px per cm), rotated (degrees, counter-
    clockwise on screen) about its eye-mouth centroid placed at ``centre``; or, with ``targets``
    ((3, 2) eye, eye, mouth), the least-squares similarity onto those points."""
    mesh = canonical_mesh()
    src = anchors(mesh)
    if targets is not None:
        dst = np.asarray(targets, dtype=np.float64)
        matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    else:
        theta = np.radians(angle)
        rot = scale * np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
        matrix = np.hstack([rot, (np.asarray(centre) - rot @ src.mean(axis=0))[:, None]])
    return map_points(mesh, matrix)


def photo_and_mesh(media: TestMedia, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 photo and a (468, 3) mesh placed on its face (``name`` in PHOTO_ANCHORS)."""
    return load_photo(media.path(name)).rgb, place_mesh(targets=PHOTO_ANCHORS[name])


@functools.cache
def _analyzed(path: str) -> tuple[np.ndarray, np.ndarray]:
    from core.face.analyzer import FaceAnalyzer

    photo = load_photo(path).rgb
    (face,) = FaceAnalyzer().analyze(photo)
    return photo, face.landmarks


def real_photo_and_mesh(media: TestMedia, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 photo and its FaceAnalyzer mesh (468, 3), computed once per test session."""
    return _analyzed(str(media.path(name)))


def jaw_drop(verts: np.ndarray, px: float) -> np.ndarray:
    """(468, 3) float32: the mesh with everything below the upper inner lip moved down by up to
    ``px`` (a jaw drop, strongest at the mouth's centre line)."""
    v = verts.astype(np.float64).copy()
    y_lip = v[[13, 82, 312], 1].max() + 0.5
    x_mid, width = v[[61, 291], 0].mean(), np.ptp(v[:, 0])
    below = v[:, 1] > y_lip
    fall = np.exp(-(((v[:, 0] - x_mid) / (0.45 * width)) ** 2))
    v[below, 1] += px * fall[below]
    return v.astype(np.float32)
