"""Relative driving: AUs and the lip gap measured against the driving video's own neutral."""

from __future__ import annotations

import numpy as np
import pytest

from core.driving.relative import pick_neutral, relative_aus, relative_gap, with_mouth_gap
from core.geometry.au.calibration import mouth_gap


def test_relative_aus_adds_the_driving_change_to_the_source() -> None:
    src = np.full(20, 0.2)
    neutral = np.zeros(20)
    neutral[3] = 0.3  # the driver's resting face reads a little sad
    drv = neutral.copy()
    assert np.allclose(relative_aus(src, drv, neutral), src)  # at rest: the source as it is
    drv[5] = 0.9
    out = relative_aus(src, drv, neutral)
    assert out[5] == pytest.approx(1.0) and out[3] == pytest.approx(0.2)  # clipped to [0, 1]


def test_pick_neutral_skips_frames_without_a_face() -> None:
    assert pick_neutral([None, 0.5, 0.1, None, 0.3]) == 2
    with pytest.raises(ValueError):
        pick_neutral([None, None])


def test_with_mouth_gap_sets_the_gap_and_leaves_the_upper_face(media, app_assets: None) -> None:
    from core.face.analyzer import FaceAnalyzer
    from core.io import load_photo

    face = FaceAnalyzer().analyze(np.asarray(load_photo(media.path("happy.jpg")).rgb))[0]
    mesh = face.landmarks
    for goal in (0.02, 0.25):
        moved = with_mouth_gap(mesh, goal)
        assert mouth_gap(moved) == pytest.approx(goal, abs=1e-4)
        assert np.array_equal(moved[[10, 151, 33, 263, 1]], mesh[[10, 151, 33, 263, 1]])  # brow, eyes, nose
    assert relative_gap(0.15, 0.01, 0.01, 0.01) == pytest.approx(0.15)  # an open source stays open
    assert relative_gap(0.01, 0.2, 0.01, 0.01) == pytest.approx(0.2)
    assert relative_gap(0.01, -0.05, 0.01, 0.01) == pytest.approx(0.01)  # never tighter than closed
