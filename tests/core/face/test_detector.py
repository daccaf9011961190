"""Anchors, NMS, tiling and multi-scale face detection on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from core.face.analyzer import FaceAnalyzer, load_face_models
from core.face.anchors import FULL_RANGE_ANCHORS, SHORT_RANGE_ANCHORS, generate_anchors
from core.face.blazeface import SHORT_RANGE
from core.face.detector import DetectorConfig, FaceDetector
from core.face.nms import box_iou, suppress_contained, weighted_nms
from core.face.tiling import Tile, TilingConfig, plan_tiles, touches_inner_edge
from core.face.types import Detection

SINGLE = ("surprise.jpg", "happy.jpg", "anger.jpg", "disgust.jpg", "single_face.jpg")


def _rgb(media, name: str) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(media.path(name)), cv2.IMREAD_COLOR)[:, :, ::-1])


@pytest.fixture(scope="module")
def analyzer(app_assets) -> FaceAnalyzer:
    return FaceAnalyzer()


@pytest.fixture(scope="module")
def detections(media, analyzer) -> dict[str, list[Detection]]:
    names = SINGLE + ("multi_face.jpg", "no_face.jpg", "bw_photo.jpg")
    return {n: analyzer.detect(_rgb(media, n)) for n in names}


# -- anchors, NMS, tiling ------------------------------------------------------------------------

def test_anchor_counts_and_centres():
    short = generate_anchors(SHORT_RANGE_ANCHORS)
    full = generate_anchors(FULL_RANGE_ANCHORS)
    assert short.shape == (896, 4) and full.shape == (2304, 4)
    np.testing.assert_allclose(short[0], [0.5 / 16, 0.5 / 16, 1, 1])
    np.testing.assert_allclose(short[1], short[0])  # two anchors per cell at stride 8
    np.testing.assert_allclose(short[512], [0.5 / 8, 0.5 / 8, 1, 1])  # then six per cell at stride 16
    np.testing.assert_allclose(full[1], [1.5 / 48, 0.5 / 48, 1, 1])
    assert (full[:, :2] > 0).all() and (full[:, :2] < 1).all()


def test_weighted_nms_merges_overlaps_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    kps = np.stack([np.full((6, 2), v, np.float32) for v in (0.0, 4.0, 55.0)])
    scores = np.array([0.9, 0.3, 0.8], np.float32)
    out = weighted_nms(boxes, kps, scores, iou_threshold=0.3)
    assert out.scores.tolist() == pytest.approx([0.9, 0.8])
    np.testing.assert_allclose(out.boxes[0], [0.25, 0.25, 10.25, 10.25], atol=1e-5)  # 0.75 / 0.25 weights
    np.testing.assert_allclose(out.keypoints[0], 1.0, atol=1e-5)
    np.testing.assert_allclose(out.boxes[1], boxes[2])
    assert box_iou(boxes[0], boxes[2:]).tolist() == [0.0]


def test_contained_duplicates_are_dropped():
    boxes = np.array([[10, 10, 30, 30], [0, 0, 40, 40], [100, 100, 120, 120]], np.float32)
    assert suppress_contained(boxes, 0.6) == [0, 2]


def test_nms_rejects_bad_shapes():
    with pytest.raises(ValueError, match="boxes"):
        weighted_nms(np.zeros((3, 3)), np.zeros((3, 6, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="keypoints"):
        weighted_nms(np.zeros((3, 4)), np.zeros((2, 6, 2)), np.zeros(3))


def test_tiles_cover_every_small_face_completely():
    cfg = TilingConfig()
    h, w = 1280, 1920
    tiles = plan_tiles(h, w, cfg)
    levels = sorted({t.level for t in tiles})
    assert len(levels) >= 2 and len([t for t in tiles if t.level == 0]) == 1
    rng = np.random.default_rng(0)
    for level in levels[1:]:
        lt = [t for t in tiles if t.level == level]
        face = 0.25 * lt[0].side
        for x, y in rng.uniform([0, 0], [w - face, h - face], size=(200, 2)):
            assert any(t.x <= x and t.y <= y and x + face <= t.x + t.side and y + face <= t.y + t.side
                       for t in lt)
    assert plan_tiles(512, 512, cfg) == [Tile(x=0.0, y=0.0, side=512.0, level=0, inner=(False,) * 4)]
    with pytest.raises(ValueError):
        plan_tiles(0, 10, cfg)


def test_inner_tile_edges_cut_detections():
    tile = Tile(x=100, y=0, side=200, level=1, inner=(True, False, False, True))
    boxes = np.array([[101, 50, 150, 100], [150, 50, 200, 100], [150, 150, 200, 199], [250, -5, 310, 40]],
                     np.float32)
    assert touches_inner_edge(boxes, tile, 0.01).tolist() == [True, False, True, False]


# -- real photos ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SINGLE)
def test_one_face_in_each_portrait(detections, name):
    dets = detections[name]
    assert len(dets) == 1
    d = dets[0]
    kp = d.keypoints
    assert d.score > 0.5
    assert d.width > 100  # the portraits' faces are large
    assert kp[0, 0] < kp[1, 0]  # the person's right eye is on the image's left
    assert max(kp[0, 1], kp[1, 1]) < kp[3, 1]  # eyes above the mouth
    assert (kp[:4] >= d.box[:2] - 5).all() and (kp[:4] <= d.box[2:] + 5).all()


def test_five_faces_in_the_group_photo(detections):
    dets = detections["multi_face.jpg"]
    assert len(dets) == 5
    centres = np.array([d.centre[0] for d in dets])
    assert (np.diff(centres) > 0).all()  # left to right
    boxes = np.stack([d.box for d in dets])
    for i in range(5):
        assert (box_iou(boxes[i], np.delete(boxes, i, 0)) < 0.05).all()
    assert all(60 < d.width < 160 for d in dets)


def test_no_face_in_the_landscape(detections):
    assert detections["no_face.jpg"] == []


def test_small_profile_face_in_the_large_grey_photo(detections):
    dets = detections["bw_photo.jpg"]
    assert len(dets) == 1
    cx, cy = dets[0].centre
    assert 800 < cx < 1150 and 300 < cy < 650  # the soldier's face, 2560 x 1912 photo px


def test_small_faces_need_the_tiles(media, analyzer):
    """A group photo shrunk into a larger empty canvas: faces about 40 px wide."""
    img = _rgb(media, "multi_face.jpg")
    small = cv2.resize(img, (380, 253), interpolation=cv2.INTER_AREA)  # faces ~34-46 px
    canvas = np.full((853, 1280, 3), 128, np.uint8)
    canvas[400:653, 600:980] = small
    dets = analyzer.detect(canvas)
    assert len(dets) == 5
    assert all(30 < d.width < 70 for d in dets)
    no_tiles = FaceDetector(short_range=analyzer.detector.short_range,
                            full_range=analyzer.detector.full_range,
                            config=DetectorConfig(tiling=TilingConfig(min_face_px=1e6)))
    assert len(no_tiles.detect(canvas)) < 5


def test_large_photo_is_detected_downscaled_and_mapped_back(media, analyzer):
    img = _rgb(media, "multi_face.jpg")  # 1000 x 667
    big = cv2.resize(img, (4000, 2668), interpolation=cv2.INTER_LINEAR)
    small_first = FaceAnalyzer(max_side=1000).detect(img)
    big_dets = FaceAnalyzer(max_side=1000).detect(big)
    assert len(big_dets) == len(small_first) == 5
    for a, b in zip(small_first, big_dets, strict=True):
        # photo px (pixel centres at integers): x_big = 4 * (x_small + 0.5) - 0.5
        np.testing.assert_allclose(b.box, 4 * (a.box + 0.5) - 0.5, atol=0.05 * 4 * a.width)


def test_detector_rejects_bad_images(analyzer):
    with pytest.raises(ValueError, match="uint8"):
        analyzer.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        analyzer.detect(np.zeros((64, 64), np.uint8))


def test_blazeface_batched_equals_unbatched_and_checks_shape(media, app_assets):
    net = load_face_models("cpu").short_range
    imgs = [cv2.resize(_rgb(media, n), (128, 128), interpolation=cv2.INTER_AREA) for n in SINGLE[:3]]
    x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        batched = net(x)
        single = [net(x[i:i + 1]) for i in range(3)]
    for i in range(3):
        torch.testing.assert_close(batched.boxes[i], single[i].boxes[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(batched.scores[i], single[i].scores[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="images"):
        net(torch.zeros(1, 3, 192, 192))
    assert net.config is SHORT_RANGE


def test_detection_validates_its_fields():
    with pytest.raises(ValueError, match="keypoints"):
        Detection(box=np.zeros(4), keypoints=np.zeros((5, 2)), score=0.9)
    with pytest.raises(ValueError, match="x0 <= x1"):
        Detection(box=np.array([10, 0, 0, 10]), keypoints=np.zeros((6, 2)), score=0.9)
    d = Detection(box=np.array([0, 0, 10, 20]), keypoints=np.zeros((6, 2)), score=0.9)
    assert d.width == 10 and d.height == 20 and not d.box.flags.writeable
