"""The face-mesh network, the ROI crop geometry and gradients back to the photo."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from core.face.analyzer import load_face_models
from core.face.facemesh_net import FaceMeshNet
from core.face.mesh_roi import crop_rois, crop_to_photo, roi_from_detection, roi_from_landmarks
from core.face.types import Detection


def _rgb(media, name: str) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(media.path(name)), cv2.IMREAD_COLOR)[:, :, ::-1])


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0


@pytest.fixture(scope="module")
def mesh_net(app_assets) -> FaceMeshNet:
    return load_face_models("cpu").mesh


@pytest.fixture(scope="module")
def happy(media) -> np.ndarray:
    return _rgb(media, "happy.jpg")


HAPPY_ROI = torch.tensor([[252.0, 322.0, 468.0, 0.04]])  # around the face of happy.jpg


def test_roi_from_detection_levels_the_eyes():
    kp = np.zeros((6, 2), np.float32)
    kp[0], kp[1] = (100, 100), (200, 150)  # the person's right eye (image left), then left eye
    det = Detection(box=np.array([50, 40, 250, 200]), keypoints=kp, score=0.9)
    roi = roi_from_detection(det)
    np.testing.assert_allclose(roi, [150, 120, 300, math.atan2(50, 100)], rtol=1e-6)


def test_roi_from_landmarks_uses_bbox_and_eye_corners():
    lm = np.zeros((468, 3), np.float32)
    lm[:, 0] = np.linspace(10, 110, 468)
    lm[:, 1] = np.linspace(20, 60, 468)
    lm[33, :2], lm[263, :2] = (40, 30), (80, 30)
    np.testing.assert_allclose(roi_from_landmarks(lm), [60, 40, 150, 0], atol=1e-5)
    with pytest.raises(ValueError, match="468"):
        roi_from_landmarks(np.zeros((10, 3)))


def test_crop_and_uncrop_are_inverse_with_rotation():
    """A bright dot seen through a rotated, enlarging crop maps back to where it is in the photo."""
    img = torch.zeros(1, 1, 200, 300)
    img[0, 0, 79:82, 119:122] = 1.0  # 3x3 blob centred on pixel (x=120, y=80)
    roi = torch.tensor([[100.0, 90.0, 96.0, 0.5]])
    crop = crop_rois(img, roi, size=192)[0, 0]
    ys, xs = torch.meshgrid(torch.arange(192.0), torch.arange(192.0), indexing="ij")
    w = crop / crop.sum()
    centroid = torch.stack([(w * (xs + 0.5)).sum(), (w * (ys + 0.5)).sum()])  # crop px, edge at 0
    back = crop_to_photo(centroid.reshape(1, 1, 2), roi, 192)[0, 0]
    torch.testing.assert_close(back, torch.tensor([120.0, 80.0]), atol=0.15, rtol=0)


def test_crop_rejects_bad_shapes():
    with pytest.raises(ValueError, match="rois"):
        crop_rois(torch.zeros(2, 3, 32, 32), torch.zeros(1, 4), size=16)
    with pytest.raises(ValueError, match="images"):
        crop_rois(torch.zeros(3, 32, 32), torch.zeros(1, 4), size=16)


def test_mesh_net_rejects_bad_inputs(mesh_net):
    with pytest.raises(ValueError, match="crops"):
        mesh_net(torch.zeros(1, 3, 128, 128))
    with pytest.raises(ValueError, match="crops"):
        mesh_net(torch.zeros(3, 192, 192))
    with pytest.raises(TypeError, match="floating"):
        mesh_net(torch.zeros(1, 3, 192, 192, dtype=torch.uint8))


def test_mesh_batched_equals_unbatched_and_sees_faces(media, mesh_net, happy):
    crops = [cv2.resize(_rgb(media, n)[120:504, 64:448], (192, 192), interpolation=cv2.INTER_AREA)
             for n in ("happy.jpg", "surprise.jpg")]
    crops.append(cv2.resize(_rgb(media, "no_face.jpg")[200:800, 600:1200], (192, 192),
                            interpolation=cv2.INTER_AREA))
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        batched = mesh_net(x)
        single = [mesh_net(x[i:i + 1]) for i in range(3)]
    for i in range(3):
        torch.testing.assert_close(batched.landmarks[i], single[i].landmarks[0], atol=1e-3, rtol=0)
        torch.testing.assert_close(batched.presence[i], single[i].presence[0], atol=1e-5, rtol=0)
    assert batched.landmarks.shape == (3, 468, 3)
    assert (batched.presence[:2] > 0.9).all() and batched.presence[2] < 0.1


@pytest.mark.parametrize("antialias", [True, False])
def test_gradient_reaches_the_photo_pixels(mesh_net, happy, antialias):
    img = _tensor(happy).requires_grad_(True)
    out = mesh_net.mesh_from_rois(img, HAPPY_ROI, antialias=antialias)
    assert out.landmarks.shape == (1, 468, 3)
    out.landmarks.sum().backward()
    g = img.grad
    assert g is not None and torch.isfinite(g).all()
    assert g.abs().sum() > 0
    # only pixels the crop reads get gradient: the rotated ROI square spans y >= ~79 px
    assert g[..., :70, :].abs().sum() == 0
    assert g[..., 250:400, 150:350].abs().sum() > 0


def test_landmarks_in_photo_px_match_the_crop_mapping(mesh_net, happy):
    with torch.no_grad():
        out = mesh_net.mesh_from_rois(_tensor(happy), HAPPY_ROI)
    lm = out.landmarks[0].numpy()
    # MediaPipe indices: 33 / 263 outer eye corners, 1 nose tip, 152 chin, 10 forehead top
    assert lm[33, 0] < lm[263, 0]
    assert lm[10, 1] < lm[1, 1] < lm[152, 1]
    assert 90 < lm[:, 0].min() and lm[:, 0].max() < 420 and 120 < lm[:, 1].min() and lm[:, 1].max() < 500
    # z is scaled like x / y: the face's depth range is a sizeable fraction of its width
    width = lm[:, 0].max() - lm[:, 0].min()
    assert 0.2 * width < lm[:, 2].max() - lm[:, 2].min() < 1.0 * width
    assert lm[1, 2] < np.median(lm[:, 2])  # the nose tip is nearer the camera (smaller z)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(mesh_net, happy):
    cuda_net = load_face_models("cuda").mesh
    img = _tensor(happy)
    with torch.no_grad():
        cpu = mesh_net.mesh_from_rois(img, HAPPY_ROI).landmarks
        gpu = cuda_net.mesh_from_rois(img.cuda(), HAPPY_ROI.cuda()).landmarks.cpu()
    torch.testing.assert_close(gpu, cpu, atol=0.05, rtol=0)
