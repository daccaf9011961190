"""dlib-68 face measures and the source -> reference gap closure: a hand-made face with known
values, invariance to roll / scale / position, gap-closure answers, and real photos and frames
(surprise.jpg's brows and eyes against single_face.jpg's; the judge's noise on a still face)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.metrics import metric
from core.metrics.face_geometry import MEASURES, MIN_GAPS, GapClosure, face_geometry, gap_closure


def synthetic_face(brow_raise: float = 0.0, eye_open: float = 0.2, mouth_open: float = 0.2) -> np.ndarray:
    """68 points (image px, y down): eye centres at (-1, 0) and (1, 0) (IOD 2), brows 0.6 above
    the eye line, lids ``eye_open`` apart, inner lips ``mouth_open`` apart at y = 1.5, mouth
    corners 1.6 apart."""
    p = np.zeros((68, 2))
    p[:17] = np.stack([np.linspace(-2, 2, 17), 1.0 + np.abs(np.linspace(-1, 1, 17))], axis=1)  # jaw
    p[17:27] = np.stack([np.r_[np.linspace(-1.8, -0.3, 5), np.linspace(0.3, 1.8, 5)],
                         np.full(10, -0.6 - brow_raise)], axis=1)
    h = eye_open / 2
    for i, cx in ((36, -1.0), (42, 1.0)):
        p[i:i + 6] = [(cx - 0.5, 0), (cx - 0.2, -h), (cx + 0.2, -h), (cx + 0.5, 0), (cx + 0.2, h),
                      (cx - 0.2, h)]
    p[27:36] = [(0, y) for y in np.linspace(0, 0.9, 4)] + [(x, 1.0) for x in np.linspace(-0.4, 0.4, 5)]
    outer = [(-0.8, 1.5), (-0.5, 1.35), (-0.2, 1.3), (0, 1.32), (0.2, 1.3), (0.5, 1.35), (0.8, 1.5),
             (0.5, 1.7), (0.2, 1.75), (0, 1.76), (-0.2, 1.75), (-0.5, 1.7)]
    p[48:60] = outer
    m = mouth_open / 2
    p[60:68] = [(-0.7, 1.5), (-0.3, 1.5 - m), (0, 1.5 - m), (0.3, 1.5 - m), (0.7, 1.5), (0.3, 1.5 + m),
                (0, 1.5 + m), (-0.3, 1.5 + m)]
    return p


def test_known_values_and_invariance():
    g = face_geometry(synthetic_face())
    assert g.iod == pytest.approx(2.0)
    assert g[:4] == pytest.approx((0.3, 0.1, 0.1, 0.8))  # brows, eyes, mouth opening, mouth width
    angle = np.deg2rad(40)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = face_geometry(synthetic_face() @ rot.T * 37.0 + (250, 120))
    for m in MEASURES:
        assert moved.measure(m) == pytest.approx(g.measure(m))
    upside_down = face_geometry(synthetic_face() * (1, -1))  # "up" is away from the mouth, whatever y does
    assert upside_down.brow_height == pytest.approx(0.3)
    assert face_geometry(synthetic_face(brow_raise=0.2)).brow_height == pytest.approx(0.4)
    with pytest.raises(ValueError, match="68, 2"):
        face_geometry(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="coincide"):
        face_geometry(np.zeros((68, 2)))
    assert type(g).from_json(g.to_json()) == g


def test_gap_closure_answers():
    s = face_geometry(synthetic_face())
    r = face_geometry(synthetic_face(brow_raise=0.2, eye_open=0.4, mouth_open=0.6))
    halfway = face_geometry(synthetic_face(brow_raise=0.1, eye_open=0.3, mouth_open=0.4))
    assert gap_closure(s, r, s) == GapClosure(0.0, 0.0, 0.0, None)  # mouth width: no gap
    assert gap_closure(s, r, r)[:3] == pytest.approx((1.0, 1.0, 1.0))
    assert gap_closure(s, r, halfway)[:3] == pytest.approx((0.5, 0.5, 0.5))
    wrong_way = face_geometry(synthetic_face(brow_raise=-0.2))
    assert gap_closure(s, r, wrong_way).brow_height == pytest.approx(-1.0)
    assert gap_closure(s, s, r) == GapClosure(None, None, None, None)  # the same image: no gap
    tiny = face_geometry(synthetic_face(brow_raise=MIN_GAPS.brow_height))  # IOD 2: half the minimum gap
    assert gap_closure(s, tiny, tiny).brow_height is None
    assert metric("brow_gap_closure").fn(halfway, (s, r)) == pytest.approx(0.5)
    assert metric("mouth_width_gap_closure").fn(halfway, (s, r)) is None


@pytest.fixture(scope="module")
def measure(media, app_assets):
    from core import assets
    from core.face.analyzer import FaceAnalyzer
    from core.judges.dlib_box import dlib_box_from_mesh
    from core.judges.dlib_shape import load_dlib_shape_predictor, predict_landmarks

    assets.ensure(["identity-dlib"])
    model, analyzer = load_dlib_shape_predictor(), FaceAnalyzer()

    def run(image: np.ndarray):
        face = analyzer.analyze_one(image)
        return face_geometry(predict_landmarks(model, image, dlib_box_from_mesh(face.landmarks)))

    return run


def test_surprise_has_higher_brows_and_wider_eyes(media, measure):
    photo = lambda name: cv2.imread(str(media.path(name)), cv2.IMREAD_COLOR)[:, :, ::-1].copy()  # noqa: E731
    surprise, smiling = measure(photo("surprise.jpg")), measure(photo("single_face.jpg"))
    # observed: brows 0.38 vs 0.33, eyes 0.14 vs 0.09, mouth width 0.67 vs 0.98 (a round, not a wide mouth)
    assert surprise.brow_height > smiling.brow_height + 2 * MIN_GAPS.brow_height / 3
    assert surprise.eye_opening > smiling.eye_opening + 2 * MIN_GAPS.eye_opening
    assert surprise.mouth_width < smiling.mouth_width - 2 * MIN_GAPS.mouth_width


def test_judge_noise_on_a_still_face_is_below_the_minimum_gaps(media, measure):
    from core.io.video import iter_frames

    frames = iter_frames(media.path("neutral_to_smile.mp4"), max_frames=17)  # still and neutral
    values = np.array([[measure(f).measure(m) for m in MEASURES] for f in frames])
    spread = values.std(axis=0)  # observed: 0.003, 0.003, 0.003, 0.010
    assert (4 * spread < np.array(MIN_GAPS, dtype=np.float64)).all(), spread
    last = measure(next(iter_frames(media.path("neutral_to_smile.mp4"), start=60, max_frames=1)))
    assert last.mouth_opening - values[:, 2].mean() > 0.1  # the smile opens the mouth (0.01 -> 0.2)
