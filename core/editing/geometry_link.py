"""The editing pipeline's one door to the face geometry (:mod:`core.geometry`).

* **fit**: :class:`core.geometry.au.fit.AUFitter` on the aligned crop's mesh (pose on the skull,
  bounded AUs with ridge + L1 priors, identity = the exact residual);
* **target**: :func:`core.geometry.combine.combine` semantics: the source's identity and pose with
  the target AUs (the reference's, with the user's overrides via
  :func:`~core.geometry.combine.override_expression`). A *photo* reference gives its own readings
  (what the photo shows, the reference person's own neutral included); a *preset* describes an
  expression on top of the person's neutral face, so its target is the source's single-photo
  neutral plus the preset (:meth:`GeometryLink.preset_target`, clipped to [0, 1]): ``neutral``
  leaves a neutral face as it is, and removes only what lies beyond the neutral floor;
* **change**: ``vertices(target) - vertices(source)`` with the measured region gains of
  :mod:`core.geometry.au.calibration` (the model's change, per region and axis, scaled to the
  size real faces show; all gains 1 is exactly the linear model's vertex difference);
* **mouth aperture**: the model's mean face has parted lips and its AUs are non-negative, so AUs
  alone cannot close an open mouth, and a laugh's jaw drop reads smaller than it is. The target's
  inner-lip gap (/ IOD, :func:`~core.geometry.au.calibration.mouth_gap`) is therefore set to a goal
  (:meth:`GeometryLink.mouth_goal`) by adding a multiple of the jaw-drop deformation (AU26's
  calibrated, posed basis; negative closes): a photo reference's own gap, or -- for presets and
  when the user sets an opening AU -- a relaxed closed mouth plus the opening the model predicts
  from the person's neutral to the target AUs. A target within 0.005 of its goal is left as it is
  (a neutral face under the ``neutral`` preset does not move at all);
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
from core.geometry.au.calibration import (
    AUCalibration,
    calibrated_change,
    gain_field,
    load_au_calibration,
    mouth_gap,
    single_photo_neutral,
)
from core.geometry.au.fit import AUFitter, default_fitter
from core.geometry.combine import override_expression
from core.geometry.face_model import FaceParams
from core.geometry.interpolate import interpolate_vertices, vertex_alpha


class ExpressionFit(NamedTuple):
    """A fitted face: params (FaceParams, B = 1, pose into crop px) and its AUs as (20,) float64.

    neutral_aus: (20,) float64 the person's neutral AUs estimated from this one photo
    (:func:`core.geometry.au.calibration.single_photo_neutral`); ``aus - neutral_aus`` is the
    expression relative to that neutral (a relaxed closed mouth: AU24 0, though ``aus`` may read 1).
    """

    params: FaceParams
    aus: np.ndarray
    residual: float  # RMS (model units) of what the AUs did not explain
    neutral_aus: np.ndarray
    landmarks: np.ndarray  # (468, 3) float64 the fitted mesh (crop px)


OPENING_AU = "AU26"  # the jaw drop: the deformation that sets the mouth aperture
MOUTH_TOLERANCE = 0.005  # |goal - gap| (/ IOD) below which the aperture is left as it is
MAX_APERTURE_STEP = 1.5  # at most this many AU26 units of aperture correction


class GeometryLink:
    """Fit, target and interpolation for 468-point meshes in crop px (see the module docstring)."""

    def __init__(self, fitter: AUFitter | None = None, calibration: AUCalibration | None = None) -> None:
        self.fitter = fitter or default_fitter()
        self.model = self.fitter.model
        data = self.model.data
        self.calibration = calibration or load_au_calibration()
        if tuple(self.calibration.au_names) != tuple(data.au_names):
            raise ValueError(f"AU calibration columns {self.calibration.au_names} differ from "
                             f"{data.au_names}")
        # (468, 3) per-vertex, per-axis gains in the model frame
        self.gains = gain_field(data.region_names, data.region_masks, self.calibration)
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
        aus = params.expression[0].double().numpy()
        mesh = np.array(landmarks, dtype=np.float64)
        neutral = single_photo_neutral(aus, self.calibration, mouth_gap(mesh))
        return ExpressionFit(params=params, aus=aus, residual=float(result.residual_rms[0]),
                             neutral_aus=neutral, landmarks=mesh)

    def target_aus(self, aus: np.ndarray, overrides: Mapping[str, float]) -> np.ndarray:
        """(20,) float64: ``aus`` with the named AUs replaced by ``overrides``."""
        expr = torch.as_tensor(np.array(aus, dtype=np.float64))
        return override_expression(self.model, expr, dict(overrides)).numpy()

    def preset_target(self, fit: ExpressionFit, preset_aus: np.ndarray) -> np.ndarray:
        """(20,) float64 in [0, 1]: a preset's AUs on top of the source's single-photo neutral,
        ``clip(fit.neutral_aus + preset_aus, 0, 1)`` (module docstring)."""
        p = np.asarray(preset_aus, dtype=np.float64)
        if p.shape != fit.aus.shape:
            raise ValueError(f"preset_aus: expected {fit.aus.shape}, got {p.shape}")
        return np.clip(fit.neutral_aus + p, 0.0, 1.0)

    def _posed(self, fit: ExpressionFit, delta: np.ndarray) -> np.ndarray:
        """(468, 3) crop px: ``s R (G ⊙ B delta)`` for an AU change ``delta`` (20,)."""
        pose = fit.params.pose
        return calibrated_change(self.model.data.basis, delta, self.gains, float(pose.scale[0]),
                                 pose.rotation[0].double().numpy())

    def mouth_goal(self, fit: ExpressionFit, aus_to: np.ndarray,
                   reference_landmarks: np.ndarray | None = None,
                   overrides: Mapping[str, float] | None = None) -> float:
        """The inner-lip gap (/ IOD) the target towards ``aus_to`` should have (module docstring).

        reference_landmarks: (468, 3) a photo reference's mesh (any similarity frame), or None
        (a preset). A reference's own gap is used unless ``overrides`` sets an opening AU.
        """
        opening = set(self.calibration.opening_aus) | {OPENING_AU}
        if reference_landmarks is not None and not opening & set(overrides or {}):
            return mouth_gap(reference_landmarks)
        to = mouth_gap(fit.landmarks + self._posed(fit, np.asarray(aus_to, dtype=np.float64) - fit.aus))
        neutral = mouth_gap(fit.landmarks + self._posed(fit, fit.neutral_aus - fit.aus))
        return self.calibration.closed_mouth + max(0.0, to - neutral)

    def expression_change(self, fit: ExpressionFit, aus_to: np.ndarray, mouth_goal: float | None = None
                          ) -> np.ndarray:
        """(468, 3) float64 crop px: the source's mesh change towards the target
        ``combine(source, reference with aus_to)``: ``s R (G ⊙ B (aus_to - aus))`` with the
        calibrated gains G (module docstring; G = 1 gives ``vertices(target) - vertices(source)``),
        plus, given ``mouth_goal`` (:meth:`mouth_goal`), the jaw-drop correction that sets the
        target's inner-lip gap to it."""
        change = self._posed(fit, np.asarray(aus_to, dtype=np.float64) - fit.aus)
        if mouth_goal is None:
            return change
        unit = np.zeros_like(fit.aus)
        unit[self.model.au_index(OPENING_AU)] = 1.0
        opening = self._posed(fit, unit)
        total = 0.0
        for _ in range(3):  # the gap is close to linear in the step: converges in 1-2 rounds
            gap = mouth_gap(fit.landmarks + change)
            slope = mouth_gap(fit.landmarks + change + opening) - gap
            if abs(mouth_goal - gap) < MOUTH_TOLERANCE or slope <= 1e-6:
                break
            step = float(np.clip((mouth_goal - gap) / slope, -MAX_APERTURE_STEP - total,
                                 MAX_APERTURE_STEP - total))
            change = change + step * opening
            total += step
        return change

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
