"""Pure parts of the mouth fill: colour matching, opening measures, configuration."""

from __future__ import annotations

import numpy as np
import pytest

from core.editing.geometry_link import geometry_link
from core.editing.warp.colour import LabStats, from_lab, lab_stats, match_colour, to_lab
from core.editing.warp.mouth_fill import MouthFillConfig, mouth_frame, relative_opening


def canonical_mesh(size: int = 256) -> np.ndarray:
    """The canonical MediaPipe face (y up, cm) placed in a size x size crop (y down, px)."""
    c = np.asarray(geometry_link().model.data.mean)  # model frame: y up
    s = 0.55 * size / np.ptp(c[:, 0])
    v = np.stack([c[:, 0] * s + size / 2, -c[:, 1] * s + size / 2, -c[:, 2] * s], 1)
    return v.astype(np.float32)


def test_lab_round_trip_any_shape() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(from_lab(to_lab(rgb)), rgb, atol=1.0)
    flat = rgb.reshape(-1, 3)
    assert to_lab(flat).shape == flat.shape


def test_match_colour_follows_the_lighting_but_keeps_teeth_neutral() -> None:
    ref = LabStats(mean=np.array([45.0, 25.0, 10.0]), std=np.array([8.0, 4.0, 3.0]))  # warm, dark
    src = LabStats(mean=np.array([60.0, 12.0, 6.0]), std=np.array([10.0, 3.0, 3.0]))  # pale, brighter
    skin, teeth, cavity = [45.0, 25.0, 10.0], [75.0, 2.0, 8.0], [12.0, 20.0, 8.0]
    px = np.array([skin, teeth, cavity], np.float32)
    out = match_colour(px, from_stats=ref, to_stats=src)
    assert out[0, 0] == pytest.approx(60.0)  # the ring's mean maps onto the source's
    assert out[1, 0] > 80 and abs(out[1, 1]) < 6  # teeth: brighter, still near neutral
    assert out[2, 0] < 25 and out[2, 1] > 15  # the dark cavity stays dark and red
    weights = np.zeros((4, 4), np.float32)
    weights[1:3, 1:3] = 1
    image = np.full((4, 4, 3), 128, np.uint8)
    stats = lab_stats(image, weights)
    assert stats.mean[0] == pytest.approx(53.6, abs=0.5)


def test_opening_measures_on_the_canonical_face() -> None:
    v = canonical_mesh()
    closed = relative_opening(v)  # the canonical face's lips are slightly apart
    assert 0.0 < closed < 0.12
    opened = v.copy()
    lower = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
    opened[lower[1:-1], 1] += 15.0
    assert relative_opening(opened) > closed + 0.1
    frame = mouth_frame(opened)
    up, lo = frame.lips(np.zeros(1))
    assert lo[0] - up[0] > 12.0 and frame.width > 20


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        MouthFillConfig(keep_ratio=1.5, full_ratio=1.2)
