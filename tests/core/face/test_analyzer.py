"""FaceAnalyzer end to end on real photos: faces, meshes in photo px, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from core.errors import EXIT_NO_FACE, GafetError
from core.face.analyzer import FaceAnalyzer
from core.face.errors import FaceIndexError, NoFaceError
from core.face.mesh_roi import roi_from_detection
from core.face.types import Face


def _rgb(media, name: str) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(media.path(name)), cv2.IMREAD_COLOR)[:, :, ::-1])


@pytest.fixture(scope="module")
def analyzer(app_assets) -> FaceAnalyzer:
    return FaceAnalyzer()


@pytest.fixture(scope="module")
def happy(media) -> np.ndarray:
    return _rgb(media, "happy.jpg")


@pytest.fixture(scope="module")
def happy_face(analyzer, happy) -> Face:
    faces = analyzer.analyze(happy)
    assert len(faces) == 1
    return faces[0]


def _face_width(face: Face) -> float:
    return float(np.ptp(face.landmarks[:, 0]))


def test_portrait_mesh(happy_face):
    f = happy_face
    lm = f.landmarks
    assert lm.shape == (468, 3) and lm.dtype == np.float32
    assert f.presence > 0.9
    box = f.detection.box
    margin = 0.3 * f.detection.width
    assert (lm[:, 0] > box[0] - margin).all() and (lm[:, 0] < box[2] + margin).all()
    assert (lm[:, 1] > box[1] - margin).all() and (lm[:, 1] < box[3] + margin).all()
    assert lm[33, 0] < lm[263, 0]  # the person's right eye corner is on the image's left
    assert lm[1, 2] < lm[234, 2] and lm[1, 2] < lm[454, 2]  # nose tip nearer than the cheek sides
    # mouth open (happy.jpg): inner lips 13 (upper) and 14 (lower) clearly apart
    assert lm[14, 1] - lm[13, 1] > 0.05 * _face_width(f)


def test_group_photo_faces_left_to_right(media, analyzer):
    faces = analyzer.analyze(_rgb(media, "multi_face.jpg"))
    assert len(faces) == 5
    xs = [f.detection.centre[0] for f in faces]
    assert xs == sorted(xs)
    for f in faces:
        c = f.landmarks[:, :2].mean(0)
        b = f.detection.box
        assert b[0] < c[0] < b[2] and b[1] < c[1] < b[3]
        assert f.presence > 0.5


def test_mesh_follows_a_rotated_photo(analyzer, happy, happy_face):
    """Rotate the photo 25 degrees: the mesh found on it equals the original mesh rotated."""
    m = cv2.getRotationMatrix2D((255.5, 255.5), 25.0, 1.0)  # pixel-centre convention, like ours
    rotated = cv2.warpAffine(happy, m, (512, 512), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    faces = analyzer.analyze(rotated)
    assert len(faces) == 1
    expected = happy_face.landmarks[:, :2] @ m[:, :2].T + m[:, 2]
    err = np.linalg.norm(faces[0].landmarks[:, :2] - expected, axis=1)
    assert err.mean() < 0.02 * _face_width(happy_face), f"mean error {err.mean():.2f} px"
    # depth does not depend on in-plane rotation
    dz = faces[0].landmarks[:, 2] - happy_face.landmarks[:, 2]
    assert np.abs(dz - dz.mean()).mean() < 0.02 * _face_width(happy_face)


def test_large_photo_mesh_maps_back(analyzer, happy, happy_face):
    big = cv2.resize(happy, (4096, 4096), interpolation=cv2.INTER_CUBIC)  # 16.8 MP
    faces = FaceAnalyzer(max_side=512).analyze(big)
    assert len(faces) == 1
    expected = 8 * (happy_face.landmarks + 0.5) - 0.5
    expected[:, 2] = 8 * happy_face.landmarks[:, 2]
    err = np.abs(faces[0].landmarks - expected)
    assert err[:, :2].mean() < 0.01 * 8 * _face_width(happy_face)
    assert err[:, 2].mean() < 0.02 * 8 * _face_width(happy_face)


def test_patch_mesh_equals_differentiable_mesh(analyzer, happy, happy_face):
    roi = roi_from_detection(happy_face.detection)
    fast = analyzer.mesh(happy, roi[None])
    x = torch.from_numpy(happy).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        diff = analyzer.mesh_net.mesh_from_rois(x, torch.from_numpy(roi)[None])
    np.testing.assert_allclose(fast.landmarks[0], diff.landmarks[0].numpy(), atol=0.02)
    np.testing.assert_allclose(fast.presence, diff.presence.numpy(), atol=1e-4)


def test_no_face(media, analyzer):
    img = _rgb(media, "no_face.jpg")
    assert analyzer.analyze(img) == []
    with pytest.raises(NoFaceError) as err:
        analyzer.analyze_one(img)
    assert isinstance(err.value, GafetError) and err.value.exit_code == EXIT_NO_FACE
    assert str(err.value).startswith("No face was found")


def test_face_index_out_of_range(analyzer, happy, happy_face):
    face = analyzer.analyze_one(happy, 0)
    np.testing.assert_allclose(face.landmarks, happy_face.landmarks)
    with pytest.raises(FaceIndexError, match="1 face"):
        analyzer.analyze_one(happy, 3)


def test_verify_drops_what_the_mesh_rejects(media, analyzer):
    """The grey photo's near-profile face is detected, but the mesh network does not accept it."""
    img = _rgb(media, "bw_photo.jpg")
    assert len(analyzer.detect(img)) == 1
    assert analyzer.detect(img, verify=True) == []
    assert analyzer.analyze(img) == []


def test_models_are_built_once_per_device(analyzer):
    other = FaceAnalyzer(min_score=0.7, max_side=800)
    assert other.mesh_net is analyzer.mesh_net
    assert other.detector.full_range is analyzer.detector.full_range
    with pytest.raises(ValueError, match="min_presence"):
        FaceAnalyzer(min_presence=1.5)


def test_rejects_bad_images(analyzer):
    with pytest.raises(ValueError):
        analyzer.analyze(np.zeros((32, 32, 4), np.uint8))
    with pytest.raises(ValueError, match="rois"):
        analyzer.mesh(np.zeros((32, 32, 3), np.uint8), np.zeros((2, 3), np.float32))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_analyzer_matches_cpu(happy, happy_face):
    faces = FaceAnalyzer(device="cuda").analyze(happy)
    assert len(faces) == 1
    np.testing.assert_allclose(faces[0].landmarks, happy_face.landmarks, atol=0.1)


def test_block_mean_in_bands_equals_one_pass():
    from core.face.analyzer import _block_mean

    rng = np.random.default_rng(1)
    patch = rng.integers(0, 256, (120, 80, 3), dtype=np.uint8)
    banded = _block_mean(patch, 4, band_bytes=2000)  # forces many bands
    whole = cv2.resize(patch.astype(np.float32), (20, 30), interpolation=cv2.INTER_AREA) / 255
    np.testing.assert_allclose(banded, whole, atol=1e-6)
