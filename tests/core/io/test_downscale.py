"""downscaled() and the exact point mapping between the analysis copy and the full photo."""

from __future__ import annotations

import numpy as np
import pytest

from core.io import downscaled, load_photo, points_to_full, points_to_small


def test_shrinks_longest_side_and_keeps_aspect(media):
    photo = load_photo(media.path("bw_photo.jpg"))  # 2560 x 1912
    small, scale = downscaled(photo, 640)
    assert small.shape == (478, 640, 3) and small.dtype == np.uint8
    assert scale == pytest.approx(478 / 1912)


def test_no_copy_when_it_already_fits(media):
    photo = load_photo(media.path("happy.jpg"))
    result = downscaled(photo, 512)
    assert result.image is photo.rgb and result.scale == 1.0


def test_points_map_exactly_between_the_two_images():
    full = np.zeros((400, 400, 3), np.uint8)
    full[100:104, 200:204] = 255  # a 4x4 block centred on pixel coordinate (201.5, 101.5)
    small, scale = downscaled(full, 100)
    assert scale == 0.25
    y, x = np.unravel_index(np.argmax(small[..., 0]), small.shape[:2])
    np.testing.assert_allclose(points_to_small(np.array([[201.5, 101.5]]), scale), [[x, y]])
    np.testing.assert_allclose(points_to_full(np.array([[x, y]], float), scale), [[201.5, 101.5]])


def test_point_mapping_round_trips_and_scales_depth():
    pts = np.random.default_rng(0).uniform(0, 1000, (468, 3))
    np.testing.assert_allclose(points_to_full(points_to_small(pts, 0.3), 0.3), pts)
    np.testing.assert_allclose(points_to_full(pts, 0.5)[:, 2], pts[:, 2] * 2)


def test_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        downscaled(np.zeros((10, 10), np.uint8), 5)
    with pytest.raises(ValueError, match="max_side"):
        downscaled(np.zeros((10, 10, 3), np.uint8), 0)
