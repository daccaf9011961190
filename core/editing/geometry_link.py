"""The editing pipeline's one door to the face geometry (:mod:`core.geometry`).

* **fit**: :class:`core.geometry.au.fit.AUFitter` on the aligned crop's mesh (pose on the skull,
  bounded AUs with ridge + L1 priors, identity = the exact residual);
* **target**: :func:`core.geometry.combine.combine` semantics: the source's identity and pose with
  the target AUs (the reference's, with the user's overrides via
  :func:`~core.geometry.combine.override_expression`);
* **interpolate**: :func:`core.geometry.interpolate.vertex_alpha` (per-vertex intensity from the
  intensity and the per-region weights over the model's soft region masks) and
  :func:`~core.geometry.interpolate.interpolate_vertices`. The source end is the person's own
  landmarks and the target end is those landmarks plus the model's change
  ``vertices(target) - vertices(source)``: the same as interpolating the model's vertices (they
  reproduce the landmarks), but bit-exact at intensity 0 rather than to float32 rounding.

Meshes are (468, 3) crop px (z in px), as the pipeline keeps them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch

from core.editing.masks import EYE_RINGS
from core.editing.params import AU_NAMES, REGION_NAMES
from core.geometry.au.fit import AUFitter, default_fitter
from core.geometry.combine import combine, override_expression, with_expression
from core.geometry.face_model import FaceParams
from core.geometry.interpolate import interpolate_vertices, vertex_alpha


class ExpressionFit(NamedTuple):
    """A fitted face: params (FaceParams, B = 1, pose into crop px) and its AUs as (20,) float64."""

    params: FaceParams
    aus: np.ndarray
    residual: float  # RMS (model units) of what the AUs did not explain


class GeometryLink:
    """Fit, target and interpolation for 468-point meshes in crop px (see the module docstring)."""

    def __init__(self, fitter: AUFitter | None = None) -> None:
        self.fitter = fitter or default_fitter()
        self.model = self.fitter.model
        data = self.model.data
        if tuple(data.au_names) != AU_NAMES:
            raise ValueError(f"AU model columns {data.au_names} differ from {AU_NAMES}")
        missing = set(REGION_NAMES) - set(self.model.region_names)
        if missing:
            raise ValueError(f"the face model has no region(s) {sorted(missing)}")
        self.faces = np.array(data.faces, dtype=np.int64)
        self.mouth_faces = np.flatnonzero(data.mouth_interior).astype(np.int64)
        eye = np.flatnonzero(data.eye_interior)
        right = np.isin(self.faces[eye], EYE_RINGS[0]).all(axis=1)
        self.eye_faces = (eye[right].astype(np.int64), eye[~right].astype(np.int64))

    def fit(self, landmarks: np.ndarray) -> ExpressionFit:
        """landmarks: (468, 3) crop px -> :class:`ExpressionFit`."""
        result = self.fitter.fit(np.asarray(landmarks, np.float64))
        params = result.params
        return ExpressionFit(params=params, aus=params.expression[0].double().numpy(),
                             residual=float(result.residual_rms[0]))

    def target_aus(self, aus: np.ndarray, overrides: Mapping[str, float]) -> np.ndarray:
        """(20,) float64: ``aus`` with the named AUs replaced by ``overrides``."""
        expr = torch.as_tensor(np.array(aus, dtype=np.float64))
        return override_expression(self.model, expr, dict(overrides)).numpy()

    def expression_change(self, fit: ExpressionFit, aus_to: np.ndarray) -> np.ndarray:
        """(468, 3) float64 crop px: ``vertices(target) - vertices(source)`` for the target
        ``combine(source, reference with aus_to)``."""
        expr = torch.as_tensor(np.array(aus_to, dtype=np.float64))[None]
        reference = with_expression(fit.params, expr)
        target = combine(source=fit.params, reference=reference)
        with torch.no_grad():
            v_t = self.model.vertices_of(target).double()
            v_s = self.model.vertices_of(fit.params).double()
        return (v_t - v_s)[0].numpy()

    def vertex_weights(self, alpha: float, region_weights: Mapping[str, float]) -> np.ndarray:
        """(468,) float64 per-vertex intensity alpha_v."""
        return vertex_alpha(self.model, alpha=alpha, region_weights=dict(region_weights)).double().numpy()

    def interpolate(self, vertices: np.ndarray, change: np.ndarray, alpha_v: np.ndarray) -> np.ndarray:
        """(468, 3) float32: ``vertices + alpha_v * change`` (exactly ``vertices`` where alpha_v = 0)."""
        src = torch.as_tensor(np.array(vertices, dtype=np.float64))[None]
        tgt = src + torch.as_tensor(np.array(change, dtype=np.float64))[None]
        out = interpolate_vertices(src, tgt, torch.as_tensor(np.array(alpha_v, dtype=np.float64)))
        return out[0].numpy().astype(np.float32)


@functools.lru_cache(maxsize=1)
def geometry_link() -> GeometryLink:
    """The shared GeometryLink (loads the AU model once)."""
    return GeometryLink()
