"""The AU transfer calibration: its file, gains, single-photo neutral and mouth gap."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.geometry.au.calibration import (
    AUCalibration,
    AUCalibrationError,
    calibrated_change,
    gain_field,
    load_au_calibration,
    mouth_gap,
    neutral_calibration,
    parse_au_calibration,
    single_photo_neutral,
)


@pytest.fixture(scope="module")
def shipped(au_model) -> AUCalibration:
    return load_au_calibration()


def test_the_shipped_calibration_is_measured_and_in_range(shipped: AUCalibration, au_model) -> None:
    assert shipped.au_names == au_model.au_names
    assert set(shipped.region_gains) <= set(au_model.region_names)
    gains = np.array(list(shipped.region_gains.values()))
    assert (gains >= 1.0).all() and (gains <= 2.0).all()  # the tool clips to [1, 2]
    assert gains.max() > 1.05  # the model's change is smaller than real faces show: something is boosted
    floor = shipped.floor
    assert floor.shape == (20,) and (floor >= 0).all() and (floor <= 1).all()
    # the thin-lipped neutral man reads lip pressor 1.0: AU24 is not identifiable from one photo
    assert floor[shipped.au_names.index("AU24")] == pytest.approx(1.0)
    assert floor[shipped.au_names.index("AU12")] < 0.05 and floor[shipped.au_names.index("AU06")] < 0.2
    assert set(shipped.opening_aus) == {"AU25", "AU26"}
    o0, o1 = shipped.closed_mouth_gap
    assert 0 < shipped.closed_mouth < o0 < o1 < 0.2
    assert "tools/calibrate_au_transfer.py" in shipped.provenance


def test_round_trip_and_strict_parsing(shipped: AUCalibration) -> None:
    doc = json.loads(json.dumps(shipped.to_json()))
    assert parse_au_calibration(doc) == shipped
    bad = [dict(doc, extra=1), {k: v for k, v in doc.items() if k != "neutral_floor"}, dict(doc, version=2),
           dict(doc, region_gains={"brows": [1.0, 9.0, 1.0]}),
           dict(doc, region_gains={"brows": [1.0, True, 1.0]}),
           dict(doc, neutral_floor=dict(doc["neutral_floor"], AU12=1.5)),
           dict(doc, closed_mouth_gap=[0.1, 0.05]), dict(doc, opening_aus=["AU99"]), [doc]]
    for d in bad:
        with pytest.raises(AUCalibrationError):
            parse_au_calibration(d)


def test_a_missing_file_is_a_user_facing_error(tmp_path) -> None:
    with pytest.raises(AUCalibrationError, match="Cannot read the AU calibration"):
        load_au_calibration(str(tmp_path / "none.json"))


def test_gain_field_blends_the_region_gains(au_model) -> None:
    data = au_model.data
    none = gain_field(data.region_names, data.region_masks, neutral_calibration(data.au_names))
    assert np.array_equal(none, np.ones((468, 3)))
    cal = AUCalibration(au_names=data.au_names, region_gains={"brows": (1.0, 1.5, 1.0)})
    g = gain_field(data.region_names, data.region_masks, cal)
    brows = data.region_masks[data.region_names.index("brows")]
    np.testing.assert_allclose(g[:, 1], 1.0 + 0.5 * brows)
    assert np.array_equal(g[:, [0, 2]], np.ones((468, 2)))
    assert g[brows > 0.99, 1].min() > 1.49 and g[brows < 1e-6, 1].max() < 1.0 + 1e-6
    with pytest.raises(AUCalibrationError, match="unknown region"):
        gain_field(data.region_names, data.region_masks,
                   AUCalibration(au_names=data.au_names, region_gains={"ears": (1, 1, 1)}))


def test_unit_gains_give_the_models_own_vertex_change(au_model) -> None:
    """calibrated_change with every gain 1 is vertices(target) - vertices(source) of the model."""
    from core.geometry.face_model import FaceParams, Pose

    rng = np.random.default_rng(0)
    m64 = type(au_model)(dtype=torch.float64)
    a, b = rng.uniform(0, 1, 20), rng.uniform(0, 1, 20)
    angle = 0.3
    roll = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    rot = roll @ np.diag([1.0, -1.0, -1.0])
    pose = Pose(scale=torch.tensor([2.5], dtype=torch.float64), rotation=torch.as_tensor(rot)[None],
                translation=torch.tensor([[100.0, 120.0, 5.0]], dtype=torch.float64))
    identity = torch.as_tensor(rng.normal(0, 1, (1, 468, 3)))
    v = lambda e: m64.vertices_of(FaceParams(identity=identity, expression=torch.as_tensor(e)[None],  # noqa: E731
                                             pose=pose))[0].numpy()
    change = calibrated_change(au_model.data.basis, b - a, np.ones((468, 3)), 2.5, rot)
    np.testing.assert_allclose(change, v(b) - v(a), atol=1e-9)
    with pytest.raises(ValueError, match="do not match"):
        calibrated_change(au_model.data.basis, b[:5], np.ones((468, 3)), 1.0, rot)


def test_single_photo_neutral_is_the_floor_and_lips_apart_are_never_neutral(shipped: AUCalibration) -> None:
    names = shipped.au_names
    a = np.full(20, 0.9)
    n = single_photo_neutral(a, shipped)  # no gap given: the lips count as closed
    np.testing.assert_allclose(n, np.minimum(a, shipped.floor))
    o0, o1 = shipped.closed_mouth_gap
    i26 = names.index("AU26")
    assert single_photo_neutral(a, shipped, o0)[i26] == pytest.approx(n[i26])
    assert single_photo_neutral(a, shipped, (o0 + o1) / 2)[i26] == pytest.approx(n[i26] / 2)
    wide = single_photo_neutral(a, shipped, o1 + 0.1)
    assert wide[i26] == 0 and wide[names.index("AU25")] == 0
    assert wide[names.index("AU24")] == n[names.index("AU24")]  # only the opening AUs fade
    with pytest.raises(ValueError):
        single_photo_neutral(np.zeros(5), shipped)


def test_mouth_gap_is_signed_and_similarity_invariant(au_model) -> None:
    mean = np.asarray(au_model.data.mean) * np.array([1.0, -1.0, -1.0])  # model frame -> photo axes
    g = mouth_gap(mean)
    assert 0.05 < g < 0.2  # the model's mean face has parted lips
    angle = 0.4
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = mean.copy()
    moved[:, :2] = 3.0 * mean[:, :2] @ rot.T + np.array([40.0, -7.0])
    assert mouth_gap(moved) == pytest.approx(g, abs=1e-9)
    crossed = mean.copy()
    crossed[[13, 82, 312], 1], crossed[[14, 87, 317], 1] = mean[[14, 87, 317], 1], mean[[13, 82, 312], 1]
    assert mouth_gap(crossed) == pytest.approx(-g, abs=1e-4)  # lips pressed past each other read negative
