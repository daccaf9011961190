"""The rebuilt PyTorch networks against LiteRT running the same .tflite on the same input.

Tolerances (max abs difference; observed about 1e-4 everywhere, float32 rounding):
* detectors: regressors <= 5e-3 input px, score logits <= 5e-3;
* face mesh: landmarks <= 5e-3 crop px (192-px units), presence logit <= 5e-3.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from core.assets import asset_path
from core.face.blazeface import FULL_RANGE, SHORT_RANGE, BlazeFace
from core.face.facemesh_net import FaceMeshNet

litert = pytest.importorskip("ai_edge_litert.interpreter",
                             reason="ai_edge_litert (dev extra) is not installed: no reference runtime")

PHOTOS = ("happy.jpg", "disgust.jpg", "multi_face.jpg")
TOL = 5e-3


def _rgb(media, name: str) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(media.path(name)), cv2.IMREAD_COLOR)[:, :, ::-1])


def _letterbox(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = size / max(h, w)
    nh, nw = round(h * s), round(w * s)
    out = np.zeros((size, size, 3), np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def _litert(path, x_nhwc: np.ndarray) -> list[np.ndarray]:
    it = litert.Interpreter(model_path=str(path))
    it.allocate_tensors()
    outs = []
    for x in x_nhwc:
        it.set_tensor(it.get_input_details()[0]["index"], x[None])
        it.invoke()
        outs.append([it.get_tensor(d["index"]).copy() for d in it.get_output_details()])
    return [np.concatenate(o) for o in zip(*outs, strict=True)]


@pytest.mark.parametrize("config", [SHORT_RANGE, FULL_RANGE], ids=["short_range", "full_range"])
def test_detector_raw_outputs_match_litert(media, app_assets, config):
    net = BlazeFace.from_asset(config)
    s = config.input_size
    imgs = np.stack([_letterbox(_rgb(media, n), s) for n in PHOTOS]).astype(np.float32) / 255.0
    ref_reg, ref_logit = _litert(asset_path("face-detector", config.asset_file), imgs * 2.0 - 1.0)
    with torch.no_grad():
        reg, logit = net.raw(torch.from_numpy(imgs).permute(0, 3, 1, 2))
    assert np.abs(reg.numpy() - ref_reg).max() <= TOL
    assert np.abs(logit.numpy() - ref_logit).max() <= TOL
    # the comparison is not vacuous: real faces give confident anchors
    assert ref_logit.max() > 2.0


def test_mesh_landmarks_match_litert(media, app_assets):
    net = FaceMeshNet.from_asset()
    # centre crops of the lab portraits: the face fills the crop as the network expects
    crops = []
    for name in ("happy.jpg", "surprise.jpg", "anger.jpg"):
        img = _rgb(media, name)
        crops.append(cv2.resize(img[120:504, 64:448], (192, 192), interpolation=cv2.INTER_AREA))
    x = np.stack(crops).astype(np.float32) / 255.0
    ref_lm, ref_flag = _litert(asset_path("face-mesh", "face_landmark.tflite"), x)
    with torch.no_grad():
        out = net(torch.from_numpy(x).permute(0, 3, 1, 2))
    diff = np.abs(out.landmarks.numpy() - ref_lm.reshape(-1, 468, 3))
    assert diff.max() <= TOL, f"max landmark difference {diff.max():.2e} crop px"
    assert np.abs(out.presence_logit.numpy() - ref_flag.reshape(-1)).max() <= TOL
    assert (out.presence.numpy() > 0.9).all()
