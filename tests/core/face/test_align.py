"""Alignment: FFHQ framing from the 468-point mesh, similarity matrices, ROI-only resampling.

Meshes here are the MediaPipe canonical face (asset au-face-model) placed into photos by a
similarity transform (``tests.helpers.face``, shared with the paste-back tests), so these tests
do not depend on the face analyzer.
"""

from __future__ import annotations

import tracemalloc

import cv2
import numpy as np
import pytest

from core.face.align import (
    AlignConfig,
    align_face,
    alignment_matrix,
    map_points,
    warp_affine,
)
from tests.helpers.face import anchors, photo_and_mesh, place_mesh, real_photo_and_mesh


def _eyes_mouth(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    left, right, mouth = anchors(points)
    return left, right, mouth


@pytest.mark.parametrize("size", [256, 512, 1024])
@pytest.mark.parametrize("angle", [-35.0, 0.0, 20.0])
def test_framing_puts_eyes_and_mouth_where_ffhq_does(app_assets, size, angle):
    mesh = place_mesh(scale=13.0, angle=angle, centre=(300.0, 220.0))
    aligned = align_face(np.zeros((480, 640, 3), np.uint8), mesh, AlignConfig(size=size))
    left, right, mouth = _eyes_mouth(aligned.landmarks)
    eyes = (left + right) / 2
    assert abs(eyes[0] - (size - 1) / 2) < 0.01 * size, "eyes are centred horizontally"
    assert abs(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0]))) < 0.5, "eyes are level"
    assert 0.46 < eyes[1] / size < 0.49
    assert 0.72 < mouth[1] / size < 0.77 and abs(mouth[0] - (size - 1) / 2) < 0.01 * size
    # canonical proportions: the eye term dominates, so the side is 4x the eye distance (FFHQ)
    assert np.hypot(*(right - left)) / size == pytest.approx(0.25, abs=1e-6)


def test_zoom_tightens_the_crop(app_assets):
    mesh = place_mesh()
    wide = alignment_matrix(mesh, AlignConfig(size=256))
    tight = alignment_matrix(mesh, AlignConfig(size=256, zoom=1.25))
    assert np.linalg.det(tight[:, :2]) ** 0.5 == pytest.approx(1.25 * np.linalg.det(wide[:, :2]) ** 0.5)


def test_matrices_points_and_depth(app_assets):
    mesh = place_mesh(scale=17.0, angle=12.0)
    aligned = align_face(np.zeros((512, 512, 3), np.uint8), mesh, AlignConfig(size=256))
    linear = aligned.matrix[:, :2]
    np.testing.assert_allclose(linear @ linear.T, aligned.scale**2 * np.eye(2), atol=1e-9)  # similarity
    np.testing.assert_allclose(aligned.to_photo(aligned.to_crop(mesh)), mesh, atol=1e-9)
    np.testing.assert_allclose(aligned.landmarks, aligned.to_crop(mesh), atol=1e-3)
    np.testing.assert_allclose(aligned.landmarks[:, 2], mesh[:, 2] * aligned.scale, rtol=1e-5, atol=1e-4)
    assert aligned.crop.shape == (256, 256, 3) and aligned.crop.dtype == np.uint8


def test_alignment_undoes_photo_rotation(app_assets, media):
    photo, mesh = photo_and_mesh(media, "happy.jpg")
    reference = align_face(photo, mesh)
    turn = cv2.getRotationMatrix2D((255.5, 255.5), 30.0, 1.0)
    rotated = cv2.warpAffine(
        photo, turn, (512, 512), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101
    )
    again = align_face(rotated, map_points(mesh, turn))
    diff = np.abs(again.crop.astype(int) - reference.crop)[120:460, 120:400]  # the face
    assert diff.mean() < 1.5, f"mean abs difference {diff.mean():.2f}"


def test_large_faces_are_area_averaged_not_aliased(app_assets):
    checker = ((np.indices((2400, 2400)).sum(axis=0) % 2) * 255).astype(np.uint8)
    photo = np.repeat(checker[:, :, None], 3, axis=2)
    mesh = place_mesh(scale=120.0, centre=(1200.0, 1200.0))  # a 760 px eye distance into 256 px
    aligned = align_face(photo, mesh, AlignConfig(size=256))
    assert aligned.scale < 0.1
    assert abs(aligned.crop.mean() - 127.5) < 2 and aligned.crop.std() < 3
    naive = cv2.warpAffine(photo, aligned.matrix, (256, 256), flags=cv2.INTER_CUBIC)
    assert naive.std() > 30, "the pattern aliases without area averaging (test sanity)"


@pytest.mark.parametrize(
    ("angle", "centre"), [(10.0, (200.0, 150.0)), (-25.0, (30.0, 280.0)), (5.0, (390.0, 5.0))]
)
def test_roi_warp_equals_whole_image_warp(angle, centre):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.7)
    matrix[:, 2] += (64 - np.asarray(centre)) * 1  # bring the centre near the output's middle
    ours = warp_affine(image, matrix, (128, 128))
    full = cv2.warpAffine(image, matrix, (128, 128), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)
    assert np.abs(ours.astype(int) - full).max() <= 1


def test_only_the_face_region_is_read(app_assets):
    photo = np.zeros((3000, 4000, 3), np.uint8)  # 36 MB
    mesh = place_mesh(scale=12.0, centre=(3100.0, 700.0))
    tracemalloc.start()
    try:
        align_face(photo, mesh, AlignConfig(size=512))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB: more than the face region was copied"


def test_bad_inputs(app_assets):
    mesh = place_mesh()
    with pytest.raises(ValueError, match="468"):
        alignment_matrix(mesh[:68])
    broken = mesh.copy()
    broken[5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        alignment_matrix(broken)
    with pytest.raises(ValueError, match="degenerate"):
        alignment_matrix(np.zeros((468, 3)))
    with pytest.raises(ValueError, match="uint8"):
        align_face(np.zeros((64, 64, 3), np.float32), mesh)
    with pytest.raises(ValueError, match="size"):
        AlignConfig(size=4)


def test_framing_on_a_real_mesh(app_assets, media):
    photo, landmarks = real_photo_and_mesh(media, "happy.jpg")
    aligned = align_face(photo, landmarks, AlignConfig(size=512))
    left, right, mouth = _eyes_mouth(aligned.landmarks)
    eyes = (left + right) / 2
    assert abs(eyes[0] / 512 - 0.5) < 0.01 and 0.46 < eyes[1] / 512 < 0.49
    assert 0.69 < mouth[1] / 512 < 0.77 and abs(mouth[0] / 512 - 0.5) < 0.02
    assert abs(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0]))) < 2.0
