"""Face masks for paste-back: compact support, solid core, feather proportional to face size."""

from __future__ import annotations

import numpy as np
import pytest

from core.face.align import AlignConfig, align_face
from core.face.masks import face_mask, face_size, feather_mask, hull_mask
from core.face.paste import PasteConfig, change_mask
from tests.helpers.face import place_mesh


def _crop_landmarks(size: int) -> np.ndarray:
    mesh = place_mesh(scale=20.0, angle=8.0)
    return align_face(np.zeros((512, 512, 3), np.uint8), mesh, AlignConfig(size=size)).landmarks


def test_mask_is_zero_outside_the_hull_and_one_inside(app_assets):
    points = _crop_landmarks(512)
    hull = hull_mask(points, 512)
    mask = face_mask(points, 512, feather=0.08)
    assert mask.dtype == np.float32 and mask.shape == (512, 512)
    assert mask.min() >= 0 and mask.max() <= 1
    assert (mask[hull == 0] == 0).all(), "the mask never reaches past the face hull"
    feather = 0.08 * face_size(points)
    core = feather_mask(hull, 1.2 * feather) >= 0.9999  # at least 1.2 feather widths inside the hull
    assert mask[core].min() > 0.999
    assert 0.3 < (mask > 0.5).sum() / hull.sum() < 1.0


def test_feather_width_scales_with_the_face(app_assets):
    def ramp_pixels(size: int) -> int:
        mask = face_mask(_crop_landmarks(size), size, feather=0.1)
        row = mask[size // 2]
        return int(((row > 0) & (row < 1)).sum())

    small, large = ramp_pixels(256), ramp_pixels(512)
    assert small > 6 and 1.7 < large / small < 2.3


def test_zero_feather_is_the_plain_hull(app_assets):
    points = _crop_landmarks(256)
    np.testing.assert_array_equal(face_mask(points, 256, feather=0.0), hull_mask(points, 256))


def test_change_mask(app_assets):
    original = np.full((128, 128, 3), 100, np.uint8)
    assert not change_mask(original, original).any()
    edited = original.copy()
    edited[60:64, 60:64] = 110
    edited[10, 10] = 101  # below the threshold: not a change
    mask = change_mask(original, edited, PasteConfig(change_grow=0.05))
    assert (mask[60:64, 60:64] == 1).all() and mask[10, 10] == 0 and mask[61, 90] == 0
    assert mask[61, 70] > 0


def test_bad_points():
    with pytest.raises(ValueError):
        hull_mask(np.zeros((2, 2)), 64)
    with pytest.raises(ValueError, match="NaN"):
        hull_mask(np.full((5, 2), np.nan), 64)
    with pytest.raises(ValueError, match="feather"):
        feather_mask(np.ones((8, 8), np.uint8), -1)
