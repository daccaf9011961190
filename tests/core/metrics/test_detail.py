"""Detail and stability measures: known answers on a real face (the same image, a blur, added
grain), changed pixels outside a mask, the face-box difference, and the face regions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.metrics import metric
from core.metrics.detail import (
    changed_outside,
    detail_ratio,
    face_box_mad,
    face_region,
    laplacian_variance,
    skin_region,
)


@pytest.fixture(scope="module")
def portrait(media, app_assets):
    from core.face.analyzer import FaceAnalyzer

    image = cv2.imread(str(media.path("single_face.jpg")), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
    return image, FaceAnalyzer().analyze_one(image).landmarks


def test_detail_ratio_known_answers(portrait):
    image, mesh = portrait
    region = skin_region(mesh, image.shape, exclude=(mesh,))
    assert detail_ratio(image, image, region) == 1.0
    blurred = cv2.GaussianBlur(image, (0, 0), 1.5)
    assert detail_ratio(blurred, image, region) < 0.5
    grain = np.random.default_rng(0).normal(0, 8, image.shape)
    noisy = np.clip(image + grain, 0, 255).astype(np.uint8)
    assert detail_ratio(noisy, image, region) > 1.5
    assert metric("detail_ratio").fn(blurred, image, region) == detail_ratio(blurred, image, region)
    face_only = np.where(face_region(mesh, image.shape)[..., None], blurred, image)  # blur inside the region
    outside_hull = ~face_region(mesh, image.shape, erosion=0)
    assert detail_ratio(face_only, image, outside_hull) == 1.0
    with pytest.raises(ValueError, match="no detail"):
        detail_ratio(image, np.zeros_like(image), region)
    with pytest.raises(ValueError, match="fewer than 2"):
        laplacian_variance(image, np.zeros(image.shape[:2], bool))


def test_regions(portrait):
    image, mesh = portrait
    hull = face_region(mesh, image.shape, erosion=0)
    region, skin = face_region(mesh, image.shape), skin_region(mesh, image.shape, exclude=(mesh,))
    assert skin.sum() < region.sum() < hull.sum()
    assert not (region & ~hull).any() and not (skin & ~region).any()
    eye = np.round(mesh[[33, 133]].mean(axis=0)[:2]).astype(int)  # an eye's corners' midpoint
    mouth = np.round(mesh[[61, 291]].mean(axis=0)[:2]).astype(int)
    for x, y in (eye, mouth):
        assert region[y, x] and not skin[y, x]
    assert region.shape == image.shape[:2] and region.dtype == bool


def test_changed_outside_and_face_box_mad():
    rng = np.random.default_rng(1)
    source = rng.integers(10, 246, (60, 80, 3), dtype=np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[10:30, 20:50] = True
    output = source.copy()
    output[15, 25, 0] ^= 1  # inside the mask: allowed
    assert changed_outside(output, source, mask) == 0
    output[0, 0, 2] ^= 1
    output[59, 79] = 255 - output[59, 79]
    assert changed_outside(output, source, mask) == 2
    brighter = source.copy()
    brighter[10:30, 20:50] += 10
    assert face_box_mad(brighter, source, (20, 10, 50, 30)) == pytest.approx(10.0)
    assert face_box_mad(brighter, source, (20, 10, 80, 30)) == pytest.approx(5.0)  # half the box changed
    assert face_box_mad(source, source, (-5, -5, 500, 500)) == 0.0  # clipped to the image
    with pytest.raises(ValueError, match="does not overlap"):
        face_box_mad(source, source, (100, 0, 120, 10))
    with pytest.raises(ValueError, match="differ in size"):
        changed_outside(source[:10], source, mask)
    with pytest.raises(ValueError, match="mask"):
        changed_outside(source, source, mask[:10])
