from __future__ import annotations

import math

import pytest
import torch

from core.nets.component_crops import LEFT_EYE, MOUTH, RIGHT_EYE, component_boxes, crop_components
from tests.helpers.nets import fake_landmarks


def test_patch_shapes_and_3d_landmarks() -> None:
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    for dims in (2, 3):
        patches = crop_components(images, fake_landmarks(2, 64, dims=dims), size=16)
        for p in patches.patches:
            assert p.shape == (2, 3, 16, 16)
        assert patches.boxes.shape == (2, 3, 5)


def test_patches_are_centred_on_the_components() -> None:
    size = 128
    lm = fake_landmarks(1, size, jitter=0.0)
    images = torch.full((1, 3, size, size), -1.0)
    for spec, channel in ((LEFT_EYE, 0), (RIGHT_EYE, 1), (MOUTH, 2)):
        cx, cy = component_boxes(lm, spec)[0, :2].round().long().tolist()
        images[0, channel, cy - 4:cy + 4, cx - 4:cx + 4] = 1.0  # a bright dot at each centre
    patches = crop_components(images, lm, size=32)
    for patch, channel in zip(patches.patches, (0, 1, 2), strict=True):
        centre = patch[0, :, 15:17, 15:17].mean(dim=(1, 2))
        assert centre[channel] > 0.5 and all(centre[c] < -0.5 for c in range(3) if c != channel)
        assert patch[0, channel, :3].max() < -0.9  # the patch edge is away from the dot


def test_box_size_follows_the_corner_distance_and_rotation() -> None:
    lm = fake_landmarks(1, 100, jitter=0.0)
    box = component_boxes(lm, RIGHT_EYE)[0]
    assert box[2].item() == pytest.approx(1.8 * 12.0, rel=1e-4)  # corners 33 -> 133 are 12 px apart
    assert box[3].item() == pytest.approx(1.0) and box[4].item() == pytest.approx(0.0, abs=1e-6)
    # Rotate the face by 30 degrees about the image centre: the box turns with it.
    a = math.radians(30)
    rot = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    turned = (lm - 50) @ rot.T + 50
    tbox = component_boxes(turned, RIGHT_EYE)[0]
    assert tbox[2].item() == pytest.approx(box[2].item(), rel=1e-4)
    assert math.atan2(tbox[4].item(), tbox[3].item()) == pytest.approx(a, abs=1e-4)


def test_a_rotated_face_gives_the_same_patch_as_the_upright_one() -> None:
    size = 96
    lm = fake_landmarks(1, size, jitter=0.0)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    image = torch.stack([torch.sin(4 * xx), torch.cos(3 * yy), xx * yy])[None]
    # Rotate image content by 90 degrees (exact on the pixel grid) and the landmarks with it.
    turned_image = torch.rot90(image, k=1, dims=(2, 3))  # (x, y) -> (y, size - x)
    turned_lm = torch.stack([lm[..., 1], size - lm[..., 0]], dim=-1)
    a = crop_components(image, lm, size=24)
    b = crop_components(turned_image, turned_lm, size=24)
    for pa, pb in zip(a.patches, b.patches, strict=True):
        torch.testing.assert_close(pa, pb, atol=1e-4, rtol=0)


def test_crops_are_differentiable_in_images_and_landmarks() -> None:
    images = (torch.rand(1, 3, 64, 64) * 2 - 1).requires_grad_(True)
    lm = fake_landmarks(1, 64).requires_grad_(True)
    loss = sum(p.square().sum() for p in crop_components(images, lm, size=16).patches)
    loss.backward()
    assert images.grad.abs().sum() > 0
    assert lm.grad[0, [33, 133, 362, 263, 61, 291]].abs().sum() > 0


def test_bad_landmarks_are_rejected() -> None:
    images = torch.zeros(1, 3, 64, 64)
    with pytest.raises(ValueError, match="landmarks"):
        crop_components(images, torch.zeros(1, 68, 2), size=16)
    with pytest.raises(ValueError, match="landmarks"):
        crop_components(images, torch.zeros(1, 468, 4), size=16)
