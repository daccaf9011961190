"""dlib's 68-point shape predictor in numpy: the reader, a hand-made model with a known answer,
and the port against dlib's own runtime on real photos and video frames.

Against ``dlib.shape_predictor(...)(image, rect)`` (dlib-bin 20.0.1), whose points are whole
pixels: the port's points rounded (``floor(x + 0.5)``) equal dlib's exactly, on every face the
detector finds in the judges' photos and frames, in the detector's box and in boxes moved by up
to 15 px (observed: 0 of 184 (face, box) cases differ, over every 15th video frame as well).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import EXIT_ASSET
from core.judges import dlib_dat
from core.judges.dlib_dat import decode_integers, read_shape_predictor
from core.judges.dlib_shape import (
    WEIGHTS,
    DlibRect,
    grey_intensity,
    load_dlib_shape_predictor,
    predict_landmarks,
    similarity_2x2,
)
from core.judges.errors import JudgeAssetMissingError, JudgeWeightsError

NO_DLIB = "dlib (dlib-bin, dev extra) is not installed: no reference runtime"


def _int(v: int) -> bytes:
    body = abs(v).to_bytes(max(1, (abs(v).bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if v < 0 else 0)]) + body


def _float(x: float) -> bytes:
    num, den = float(x).as_integer_ratio()  # den is a power of two
    return _int(num) + _int(-(den.bit_length() - 1))


def _column(values: list[float]) -> bytes:
    return _int(-len(values)) + _int(-1) + b"".join(_float(v) for v in values)


def _tiny_predictor() -> bytes:
    """Two landmarks, one cascade of one depth-1 tree over two feature pixels (one per landmark):
    left (leaf 0, point 0 moves right by 1/8) when pixel 0 is brighter than pixel 1 by > 10,
    else right (leaf 1, point 1 moves up by 1/8)."""
    tree = (_int(1) + _int(0) + _int(1) + _float(10.0)  # splits: (idx1 0, idx2 1, thresh 10)
            + _int(2) + _column([0.125, 0, 0, 0]) + _column([0, 0, 0, -0.125]))  # leaves
    return b"".join([
        _int(1), _column([0.25, 0.25, 0.75, 0.75]),  # version, initial shape
        _int(1), _int(1), tree,  # forests: 1 cascade of 1 tree
        _int(1), _int(2), _int(0), _int(1),  # anchor_idx: [[0, 1]]
        _int(1), _int(2), _float(0), _float(0), _float(0), _float(0),  # deltas: [[(0, 0), (0, 0)]]
    ])


@pytest.fixture(scope="module")
def model(identity_assets):
    return load_dlib_shape_predictor()


def test_integers_decode_with_and_without_resync():
    rng = np.random.default_rng(0)
    values = rng.integers(-(2**40), 2**40, 60_000) >> rng.integers(0, 40, 60_000)
    values[::7] = 0
    blob = b"".join(_int(int(v)) for v in values)
    assert np.array_equal(decode_integers(blob), values)
    b = np.frombuffer(blob, np.uint8)
    starts = dlib_dat._integer_starts(b, block=512, sync=0)  # unsynced anchors: every repair path
    assert np.array_equal(starts, dlib_dat._integer_starts(b))
    with pytest.raises(ValueError):
        decode_integers(blob[:-1])  # the last integer is cut


def test_hand_made_predictor_known_answer(tmp_path: Path):
    path = tmp_path / "tiny.dat"
    path.write_bytes(_tiny_predictor())
    m = read_shape_predictor(path)
    assert m.num_parts == 2 and m.split_pixels.shape == (1, 1, 1, 2)
    assert m.leaf_values.shape == (1, 1, 2, 2, 2)
    image = np.zeros((120, 120), np.uint8)
    image[25, 25] = 200  # the pixel under landmark 0 (box (0, 0)-(100, 100): unit 0.25 -> 25 px)
    assert np.allclose(predict_landmarks(m, image, (0, 0, 100, 100)), [[37.5, 25], [75, 75]])
    image[25, 25], image[75, 75] = 0, 200
    assert np.allclose(predict_landmarks(m, image, (0, 0, 100, 100)), [[25, 25], [75, 62.5]])
    rgb = np.stack([image, image, image], axis=2)  # grey as (r + g + b) // 3
    assert np.allclose(predict_landmarks(m, rgb, (0, 0, 100, 100)), [[25, 25], [75, 62.5]])
    moved = predict_landmarks(m, image, (-20, 0, 80, 100))  # landmark 1's pixel is now (55, 75): 0
    assert np.allclose(moved, [[5, 25], [55, 62.5]])

    path.write_bytes(_tiny_predictor()[:-2])
    with pytest.raises(JudgeWeightsError, match="tiny.dat"):
        read_shape_predictor(path)


def test_real_file_structure(model):
    assert model.num_parts == 68
    assert model.split_pixels.shape == (15, 500, 15, 2) and model.leaf_values.shape == (15, 500, 16, 68, 2)
    assert model.anchor_idx.shape == (15, 500) and model.deltas.shape == (15, 500, 2)
    assert 0 < model.initial_shape.min() and model.initial_shape.max() < 1.1  # the mean shape fills the box
    assert np.isfinite(model.leaf_values).all() and np.abs(model.leaf_values).max() < 0.1


def test_matches_dlib_runtime(judge_shots, model):
    dlib = pytest.importorskip("dlib", reason=NO_DLIB)
    from core.assets import asset_path

    reference = dlib.shape_predictor(str(asset_path("identity-dlib", WEIGHTS)))
    detector = dlib.get_frontal_face_detector()
    rng = np.random.default_rng(1)
    checked = 0
    for name, shot in judge_shots.items():
        for r in detector(shot.image, 1):
            for shift in (np.zeros(4, int), *rng.integers(-15, 16, (2, 4))):
                rect = DlibRect(r.left() + int(shift[0]), r.top() + int(shift[1]), r.right() + int(shift[2]),
                                r.bottom() + int(shift[3]))
                want = np.array([[p.x, p.y] for p in reference(shot.image, dlib.rectangle(*rect)).parts()])
                got = predict_landmarks(model, shot.image, rect)
                assert np.array_equal(np.floor(got + 0.5), want), (name, rect)
                assert np.abs(got - want).max() <= 0.5 + 1e-9
                checked += 1
    assert checked >= 3 * 10  # photos (multi_face: 4 of its 5 faces) and frames


def test_helpers_and_input_checks(model):
    a = np.array([[0, 0], [1, 0], [0, 1]], np.float32)
    rot = np.array([[0, -2], [2, 0]], np.float32)  # 90 degrees, scale 2
    assert np.allclose(similarity_2x2(a, a @ rot.T + 5), rot, atol=1e-6)
    rgb = np.array([[[255, 255, 254], [1, 2, 3]]], np.uint8)
    assert grey_intensity(rgb).tolist() == [[254, 2]]
    with pytest.raises(ValueError, match="uint8"):
        predict_landmarks(model, np.zeros((10, 10, 3), np.float32), (0, 0, 5, 5))
    with pytest.raises(ValueError, match="empty"):
        predict_landmarks(model, np.zeros((10, 10), np.uint8), (5, 5, 5, 9))
    with pytest.raises(ValueError, match="whole numbers"):
        predict_landmarks(model, np.zeros((10, 10), np.uint8), (0.5, 0, 5, 9))


def test_bad_files_and_missing_asset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, identity_assets):
    from core.assets import asset_path

    with pytest.raises(JudgeWeightsError) as err:  # a DNN file is not a shape predictor
        read_shape_predictor(asset_path("identity-dlib", "dlib_face_recognition_resnet_model_v1.dat"))
    assert err.value.exit_code == EXIT_ASSET
    monkeypatch.setenv("GAFET_HOME", str(tmp_path))
    with pytest.raises(JudgeAssetMissingError) as missing:
        load_dlib_shape_predictor()
    assert "landmark judge" in str(missing.value) and "gafet assets fetch identity-dlib" in str(missing.value)
