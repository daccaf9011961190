"""The built-in face model: MediaPipe topology + a linear 20-action-unit expression model.

::

    canonical_vertices(identity, a) = μ + identity + Σ_k a_k B_k          (B, 468, 3) model frame
    vertices(identity, a, pose)     = s · R · canonical_vertices + t       (B, 468, 3) photo px

* μ (468, 3): the py-feat AU→mesh model at all AUs = 0 (first 468 of its 478 points; z scaled by
  the depth calibration κ — :mod:`core.geometry.au.model_data`).
* B_k (468, 3), k = 1..20: the model's AU rows, one vertex offset per unit intensity of AU k.
* expression ``a`` (B, 20): AU intensities, in [0, 1] when fitted (values outside extrapolate).
* identity (B, 468, 3): the person's own deformation that the AUs do not explain, in model units.
  A fit sets it to the exact residual, so a fitted face reproduces its input mesh exactly.
* pose: similarity into photo pixels; frontal rotation diag(1, −1, −1) (y up → y down, +z front
  → z away from the camera).

Frame, topology, openings and regions are documented in docs/geometry.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from core.checks import assert_shape
from core.geometry.au.model_data import AUModelConfig, AUModelData, load_au_model_data
from core.geometry.face_model import FaceModel

__all__ = ["AUFaceModel", "UnknownAUError"]


class UnknownAUError(ValueError):
    """An AU name the model does not have."""


class AUFaceModel(FaceModel):
    """MediaPipe-topology AU face model (468 vertices, 898 triangles, 20 AUs)."""

    def __init__(self, *, config: AUModelConfig | None = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        config = config or AUModelConfig()
        data = load_au_model_data(config)
        self.config = config
        self.data: AUModelData = data  # float64 numpy arrays, for the exact fitter
        t = lambda a: torch.as_tensor(np.array(a), dtype=dtype)  # noqa: E731
        self.register_buffer("mean", t(data.mean))  # (468, 3) μ
        self.register_buffer("basis", t(data.basis))  # (20, 468, 3) B
        self.register_buffer("faces", torch.as_tensor(np.array(data.faces), dtype=torch.long))  # (898, 3)
        self.register_buffer("_mouth_interior", torch.as_tensor(np.array(data.mouth_interior)))  # (898,)
        self.register_buffer("_eye_interior", torch.as_tensor(np.array(data.eye_interior)))  # (898,)
        self.register_buffer("_region_masks", t(data.region_masks))  # (6, 468)
        self.register_buffer("mirror", torch.as_tensor(np.array(data.mirror), dtype=torch.long))  # (468,)
        self.register_buffer("_landmarks", torch.arange(data.mean.shape[0]))
        self._au_index = {n: i for i, n in enumerate(data.au_names)}

    # -- sizes ------------------------------------------------------------------------------
    @property
    def num_vertices(self) -> int:
        return int(self.mean.shape[0])

    @property
    def expression_dim(self) -> int:
        return int(self.basis.shape[0])

    @property
    def identity_shape(self) -> tuple[int, ...]:
        return (self.num_vertices, 3)

    @property
    def identity_dim(self) -> int:
        return self.num_vertices * 3

    @property
    def expression_names(self) -> tuple[str, ...]:
        return self.data.au_names

    @property
    def au_names(self) -> tuple[str, ...]:
        """The 20 AU names, in expression order ('AU01', 'AU02', 'AU04', …, 'AU43')."""
        return self.data.au_names

    def au_index(self, name: str) -> int:
        """Position of an AU in ``expression``; raises :class:`UnknownAUError`."""
        try:
            return self._au_index[name]
        except KeyError:
            raise UnknownAUError(f"unknown AU {name!r}; this model has {', '.join(self.au_names)}") from None

    def expression_from_mapping(self, aus: Mapping[str, float], *, base: torch.Tensor | None = None
                                ) -> torch.Tensor:
        """AU name → intensity (unlisted AUs from ``base``, default 0) → (E,) float tensor."""
        out = (torch.zeros(self.expression_dim, dtype=self.mean.dtype, device=self.mean.device)
               if base is None else base.clone())
        for name, value in aus.items():
            out[self.au_index(name)] = float(value)
        return out

    # -- geometry ---------------------------------------------------------------------------
    def canonical_vertices(self, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """identity (B, 468, 3), expression (B, 20) → (B, 468, 3) model frame (y up, +z front)."""
        b = assert_shape(expression, ("B", self.expression_dim), "expression")["B"]
        assert_shape(identity, (b, self.num_vertices, 3), "identity")
        offsets = torch.einsum("be,evc->bvc", expression.to(self.basis.dtype), self.basis)
        return self.mean + identity.to(self.mean.dtype) + offsets

    @property
    def landmark_indices(self) -> torch.Tensor:
        """(468,) long: the mesh *is* the 468 MediaPipe landmarks, in order."""
        return self._landmarks

    # -- regions and openings ---------------------------------------------------------------
    @property
    def region_names(self) -> tuple[str, ...]:
        return self.data.region_names

    def region_weights(self, name: str) -> torch.Tensor:
        """(468,) soft mask in [0, 1]; the six masks sum to 1 at every vertex."""
        try:
            return self._region_masks[self.data.region_names.index(name)]
        except ValueError:
            raise ValueError(f"unknown region {name!r}; regions: {', '.join(self.region_names)}") from None

    def region_masks(self, names: Sequence[str] | None = None) -> torch.Tensor:
        """(R, V) soft masks, a partition of unity over the vertices (default: all six regions)."""
        return self._region_masks if names is None else super().region_masks(names)

    @property
    def mouth_interior_faces(self) -> torch.Tensor:
        """(898,) bool: the 18 triangles spanning the mouth opening (corners on the inner-lip loop)."""
        return self._mouth_interior

    @property
    def eye_interior_faces(self) -> torch.Tensor:
        """(898,) bool: the 2 × 14 triangles spanning the eye openings (corners on an eyelid loop)."""
        return self._eye_interior
