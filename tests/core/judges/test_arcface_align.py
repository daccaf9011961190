"""ArcFace's 112x112 five-point chip from the mesh, on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from core.judges.arcface_align import ARCFACE_TEMPLATE, arcface_chip, arcface_matrix, arcface_points


def _mapped(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_a_neutral_frontal_face_fits_the_template(judge_shots) -> None:
    """The template is the mean of detector landmarks on (mostly neutral) faces: the mesh's five
    points of a neutral, frontal face fit it to about a pixel of 112."""
    shot = judge_shots["neutral_to_smile.mp4@0"]
    landmarks = shot.faces[0].landmarks
    chip = arcface_chip(shot.image, landmarks)
    residual = np.linalg.norm(_mapped(chip.matrix, arcface_points(landmarks)) - ARCFACE_TEMPLATE, axis=1)
    assert residual.max() < 1.5, residual


@pytest.mark.parametrize("name", ["surprise.jpg", "happy.jpg", "anger.jpg", "single_face.jpg",
                                  "multi_face.jpg"])
def test_expressive_faces_are_placed_like_the_template(judge_shots, name: str) -> None:
    shot = judge_shots[name]
    face = shot.faces[0]
    chip = arcface_chip(shot.image, face.landmarks)
    assert chip.image.shape == (112, 112, 3) and chip.image.dtype == np.uint8
    pts = _mapped(chip.matrix, arcface_points(face.landmarks))
    residual = np.linalg.norm(pts - ARCFACE_TEMPLATE, axis=1)
    assert residual.mean() < 5.0, residual  # smiles widen and raise the mouth; the fit spreads that
    assert abs(pts[0, 1] - pts[1, 1]) < 2.0  # eyes level
    assert pts[0, 0] < pts[2, 0] < pts[1, 0] and pts[3, 0] < pts[4, 0]  # not mirrored
    assert chip.image.mean() > 40  # a face, not the black border


def test_a_rotated_photo_gives_the_same_chip(judge_shots) -> None:
    shot = judge_shots["single_face.jpg"]
    landmarks = shot.faces[0].landmarks
    width = shot.image.shape[1]
    turned = np.ascontiguousarray(np.rot90(shot.image))  # 90° counter-clockwise: (x, y) -> (y, W-1-x)
    turned_landmarks = np.stack([landmarks[:, 1], width - 1 - landmarks[:, 0]], axis=1)
    a = arcface_chip(shot.image, landmarks).image.astype(np.int16)
    b = arcface_chip(turned, turned_landmarks).image.astype(np.int16)
    assert np.abs(a - b).mean() < 2.0


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="468"):
        arcface_points(np.zeros((68, 2)))
    with pytest.raises(ValueError, match="degenerate"):
        arcface_matrix(np.ones((5, 2)))
    with pytest.raises(ValueError, match="uint8 RGB"):
        arcface_chip(np.zeros((64, 64), np.uint8), np.zeros((468, 2)))
    nan = np.zeros((468, 3))
    nan[61] = np.nan  # a mouth corner
    with pytest.raises(ValueError, match="NaN"):
        arcface_points(nan)
