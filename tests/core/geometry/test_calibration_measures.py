"""The mesh twins of the dlib-68 brow height and eye opening (:mod:`core.geometry.au.calibration`)."""

from __future__ import annotations

import numpy as np
import pytest

from core.geometry.au.calibration import BROW_POINTS, LID_PAIRS, brow_height, eye_opening


@pytest.fixture(scope="module")
def mean_face(au_model) -> np.ndarray:
    return np.asarray(au_model.data.mean, dtype=np.float64) * np.array([1.0, -1.0, -1.0])  # photo axes


def _similar(mesh: np.ndarray, angle: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    out = mesh.copy()
    out[:, :2] = scale * mesh[:, :2] @ rot.T + np.asarray(shift)
    return out


def test_brow_height_and_eye_opening_are_similarity_invariant(mean_face: np.ndarray) -> None:
    brow, eye = brow_height(mean_face), eye_opening(mean_face)
    assert 0.15 < brow < 0.6 and 0.03 < eye < 0.25  # a face's proportions, / IOD
    moved = _similar(mean_face, 0.5, 2.7, (120.0, -40.0))
    assert brow_height(moved) == pytest.approx(brow, abs=1e-9)
    assert eye_opening(moved) == pytest.approx(eye, abs=1e-9)
    upside_down = _similar(mean_face, np.pi, 1.0, (0.0, 0.0))  # "up" is away from the mouth, not -y
    assert brow_height(upside_down) == pytest.approx(brow, abs=1e-9)


def test_raising_the_brows_and_opening_the_lids_read_as_such(mean_face: np.ndarray) -> None:
    eyes_iod = np.linalg.norm(mean_face[[33, 133]].mean(0)[:2] - mean_face[[362, 263]].mean(0)[:2])
    raised = mean_face.copy()
    raised[list(BROW_POINTS), 1] -= 0.05 * eyes_iod  # up in photo axes; the eye-ring centres stay put
    assert brow_height(raised) - brow_height(mean_face) == pytest.approx(0.05, rel=0.15)
    opened = mean_face.copy()
    uppers = [u for u, _ in LID_PAIRS]
    opened[uppers, 1] -= 0.02 * eyes_iod
    assert eye_opening(opened) > eye_opening(mean_face) + 0.015


@pytest.mark.parametrize("measure", [brow_height, eye_opening])
def test_bad_meshes_are_rejected(measure) -> None:
    with pytest.raises(ValueError):
        measure(np.zeros((10, 3)))
    with pytest.raises(ValueError):
        measure(np.zeros((468, 3)))  # the eye centres coincide
