"""Measure a face's expression differentiably: the face-mesh network, then the AU fit (for Eqs. 2-3).

The paper extracts expression codes with EMOCA (L_exp^shape) and AUs with MLCR (L_exp^AU). Here
both come from one differentiable measurement of the built-in AU face model:

1. :class:`core.face.facemesh_net.FaceMeshNet` (MediaPipe's 468-point mesh network as a torch
   module) on a 192² crop around a known face position (a ROI from hint landmarks: for X̂, the
   target mesh the geometry image was rendered from; for Y, its own landmarks);
2. :class:`core.geometry.au.fit_torch.DifferentiableAUFit`: pose, 20 AU intensities in [0, 1] and
   the identity residual, with gradients to the landmarks and so to the image pixels.

It always runs in float32 with autocast off (the fit solves small linear systems and an SVD).
Both X̂ and Y go through the same measurement, so its biases cancel in the losses.

Landmarks here are crop px with pixel centres at integers (:mod:`core.face.mesh_roi`,
:mod:`core.face.align`, :class:`training.batch.Batch`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from core.checks import assert_float, assert_shape
from core.face.facemesh_net import FaceMeshNet
from core.face.mesh_roi import LEFT_EYE_CORNER, RIGHT_EYE_CORNER, roi_from_landmarks
from core.geometry.au.fit_torch import DifferentiableAUFit
from core.geometry.au.model import AUFaceModel
from core.geometry.face_model import FaceParams

# Mean adult outer-canthal width (exocanthion to exocanthion), about 9 cm: converts the AU model's
# pixel-like units into metres, the unit of FLAME meshes for which λ_exp^shape = 150 was set.
OUTER_CANTHAL_METRES = 0.09


class FaceFit(NamedTuple):
    """landmarks: (B, 468, 3) float32 crop px (the mesh network's output; z in px scale);
    params: the fitted :class:`FaceParams` (expression (B, 20) AU intensities in [0, 1])."""

    landmarks: torch.Tensor
    params: FaceParams


def rois_from_hints(hints: torch.Tensor) -> torch.Tensor:
    """(B, 468, >=2) crop px -> (B, 4) mesh ROIs [cx, cy, side, angle] (:func:`roi_from_landmarks`)."""
    assert_shape(hints, ("B", 468, None), "hint landmarks")
    pts = hints[..., :2].detach().float().cpu().numpy()
    rois = np.stack([roi_from_landmarks(p) for p in pts])
    return torch.from_numpy(rois).to(hints.device)


class ExpressionFitter(nn.Module):
    """images (B, 3, R, R) in [-1, 1] + hint landmarks -> :class:`FaceFit`, differentiable w.r.t. the images.

    Frozen: no parameters train. Build with :meth:`from_assets` (needs the ``face-mesh`` and
    ``au-face-model`` assets of the app).
    """

    def __init__(self, *, mesh: FaceMeshNet, model: AUFaceModel, rounds: int = 12) -> None:
        super().__init__()
        self.mesh = mesh
        self.model = model
        self.fit = DifferentiableAUFit(model=model, rounds=rounds)
        canthal = float((model.mean[RIGHT_EYE_CORNER] - model.mean[LEFT_EYE_CORNER]).norm())
        self.unit_scale = OUTER_CANTHAL_METRES / canthal  # metres per model unit
        self.requires_grad_(False)

    @classmethod
    def from_assets(cls, *, rounds: int = 12) -> ExpressionFitter:
        return cls(mesh=FaceMeshNet.from_asset(), model=AUFaceModel(), rounds=rounds)

    def forward(self, images: torch.Tensor, hints: torch.Tensor) -> FaceFit:
        """images: (B, 3, R, R) float in [-1, 1]; hints: (B, 468, 2 or 3) crop px
        roughly where the face is (only their bounding box and eye corners are used, detached)."""
        dims = assert_shape(images, ("B", 3, "R", "R"), "images")
        assert_float(images, "images")
        assert_shape(hints, (dims["B"], 468, None), "hint landmarks")
        with torch.autocast(device_type=images.device.type, enabled=False):
            rois = rois_from_hints(hints)
            out = self.mesh.mesh_from_rois((images.float() + 1.0) * 0.5, rois)
            params = self.fit(out.landmarks)
        return FaceFit(landmarks=out.landmarks, params=params)
