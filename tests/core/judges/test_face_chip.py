"""dlib's five-point face chip from the mesh: geometry, against dlib.get_face_chip, the torch warp.

The mesh's five points (263, 362, 33, 133, 2) against dlib's own 5-point shape predictor on the
test photos (checked once by hand, the predictor is not an asset): 0.3 to 5.7 % of the
inter-ocular distance apart per point.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.judges.face_chip import (
    CHIP_PADDING,
    CHIP_SIZE,
    chip_matrix,
    face_chip,
    five_points,
    warp_chips,
)

NO_DLIB = "dlib (dlib-bin, dev extra) is not installed: no reference runtime"


def _map(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def test_points_land_on_dlibs_template(judge_shots):
    lm = judge_shots["happy.jpg"].faces[0].landmarks
    pts = five_points(lm)
    on_chip = _map(pts, chip_matrix(pts))
    # eyes level and left/right as in dlib's template; the nose base below and between them
    assert on_chip[0, 0] > on_chip[1, 0] > on_chip[3, 0] > on_chip[2, 0]
    assert abs(on_chip[0, 1] - on_chip[2, 1]) < 3
    assert on_chip[2, 0] < on_chip[4, 0] < on_chip[0, 0] and on_chip[4, 1] > on_chip[0, 1] + 30
    # dlib's template, padded by 0.25, in chip px
    template = (np.array([0.8596, 0.6461, 0.1206, 0.3341, 0.4901]) + CHIP_PADDING) / 1.5 * CHIP_SIZE
    assert np.abs(on_chip[:, 0] - template).max() < 6


def test_chip_equals_dlib_get_face_chip(judge_shots):
    dlib = pytest.importorskip("dlib", reason=NO_DLIB)
    shot = judge_shots["multi_face.jpg"]
    for face in shot.faces[:2]:  # faces smaller than the chip: plain bilinear sampling in both
        pts = np.round(five_points(face.landmarks))
        det = dlib.full_object_detection(dlib.rectangle(0, 0, 10, 10),
                                         [dlib.point(int(x), int(y)) for x, y in pts])
        ref = dlib.get_face_chip(shot.image, det, size=CHIP_SIZE, padding=CHIP_PADDING)
        lm = np.array(face.landmarks)
        lm[[263, 362, 33, 133, 2], :2] = pts
        ours = face_chip(shot.image, lm).image
        diff = np.abs(ours.astype(int) - ref.astype(int))
        assert ours.shape == (150, 150, 3) and diff.mean() < 0.7 and diff.max() <= 2


def test_torch_warp_matches_cv2(judge_shots):
    shot = judge_shots["multi_face.jpg"]
    chip = face_chip(shot.image, shot.faces[1].landmarks)
    img = torch.from_numpy(shot.image).permute(2, 0, 1)[None].float().requires_grad_(True)
    out = warp_chips(img, torch.from_numpy(chip.matrix)[None])
    assert out.shape == (1, 3, 150, 150)
    diff = (out[0].permute(1, 2, 0).detach() - torch.from_numpy(chip.image).float()).abs()
    assert diff.mean() < 0.7 and diff.max() <= 2
    out.mean().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_bad_inputs():
    with pytest.raises(ValueError, match="468"):
        five_points(np.zeros((68, 2)))
    with pytest.raises(ValueError, match="degenerate"):
        chip_matrix(np.ones((5, 2)))
    with pytest.raises(ValueError, match="uint8"):
        face_chip(np.zeros((10, 10, 3), np.float32), np.zeros((468, 2)))
