"""Measure a face's FLAME expression differentiably, for L_exp^shape (Eq. 2) when FLAME is imported.

The paper measures the expression for Eq. 2 with EMOCA/FLAME. Without FLAME the AU model stands in
(:mod:`training.face_fit`); with the user's imported FLAME (``gafet import-flame``) this module
measures with FLAME itself:

1. :class:`core.face.facemesh_net.FaceMeshNet` on the face's ROI (as in :mod:`training.face_fit`);
2. the iBUG 68 points as a fixed affine map of the 468 mesh points
   (:func:`core.geometry.flame.mesh_landmarks.ibug68_from_mesh`, fitted against dlib on real faces);
3. FLAME's landmark fit (:func:`core.geometry.flame.fit.fit_landmarks`, Levenberg-Marquardt on the
   68 3D points) with ``differentiable=True``: the gradient of the fitted ψ and jaw w.r.t. the
   landmarks is the implicit-function gradient of the solution (one Gauss-Newton step).

FLAME's unit is the metre, so the shape loss's ``unit_scale`` is 1 and λ_exp^shape = 150 applies
as in the paper. It runs in the model's dtype (the LM normal equations in float64) with autocast off.
"""

from __future__ import annotations

import torch
from torch import nn

from core.checks import assert_float, assert_shape
from core.face.facemesh_net import FaceMeshNet
from core.geometry.flame.fit import FitConfig, fit_landmarks
from core.geometry.flame.mesh_landmarks import ibug68_from_mesh
from core.geometry.flame.model import FlameModel
from training.face_fit import FaceFit, rois_from_hints

__all__ = ["FlameExpressionFitter"]

# ψ and jaw only (the shape β stays the mean face's: Eq. 2 combines X̂'s expression with Y's
# identity, so only the expression must be measured); FLAME's first 50 expression components.
FLAME_FIT = FitConfig(landmarks="68", n_expression=50, fit_shape=False, steps=20)


class FlameExpressionFitter(nn.Module):
    """images (B, 3, R, R) in [-1, 1] + hint landmarks -> :class:`FaceFit` with FLAME parameters.

    ``params.expression`` is (B, n_expression + 3) [ψ, jaw], differentiable w.r.t. the images;
    ``params.identity`` is β (the mean face's); ``landmarks`` are the mesh network's 468 points.
    Frozen: no parameters train.
    """

    unit_scale = 1.0  # metres per model unit (FLAME is in metres)

    def __init__(self, *, mesh: FaceMeshNet, model: FlameModel, config: FitConfig = FLAME_FIT) -> None:
        super().__init__()
        self.mesh = mesh
        self.model = model
        self.config = config
        self.requires_grad_(False)

    @classmethod
    def from_assets(cls) -> FlameExpressionFitter:
        """Needs the app's ``face-mesh`` asset and the user's imported FLAME with its landmark
        embedding (raises :class:`core.geometry.flame.importer.FlameNotImportedError` otherwise)."""
        from core.geometry.flame.importer import load_flame

        return cls(mesh=FaceMeshNet.from_asset(), model=load_flame())

    def forward(self, images: torch.Tensor, hints: torch.Tensor) -> FaceFit:
        """images: (B, 3, R, R) float in [-1, 1]; hints: (B, 468, 2 or 3) crop px near the face."""
        dims = assert_shape(images, ("B", 3, "R", "R"), "images")
        assert_float(images, "images")
        assert_shape(hints, (dims["B"], 468, None), "hint landmarks")
        with torch.autocast(device_type=images.device.type, enabled=False):
            rois = rois_from_hints(hints)
            mesh = self.mesh.mesh_from_rois((images.float() + 1.0) * 0.5, rois).landmarks
            target = ibug68_from_mesh(mesh).to(self.model.v_template.dtype)
            fit = fit_landmarks(self.model, target, config=self.config, differentiable=True)
        return FaceFit(landmarks=mesh, params=fit.params)
