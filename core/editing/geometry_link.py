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
* **brows and eyes of a photo reference**: the AU readings carry only part of what a photo shows
  above the eyes (the fit's priors, and a misread AU04 in a raised-brow disgust), so the target's
  brow height (/ IOD, :func:`~core.geometry.au.calibration.brow_height`) is set to the
  reference's own by adding a multiple of the AU01 + AU02 deformation, and its eye opening
  (:func:`~core.geometry.au.calibration.eye_opening`) to the source's plus the source ->
  reference difference scaled by :data:`EYE_READING_GAIN` x :data:`EYE_WARP_COMPENSATION`
  (AU05's deformation; negative narrows). A user override of a brow or lid AU keeps the AUs';
  presets have no such goals. The brows and eyes are set first, the aperture last;
* **outline and cap**: the change can be faded to 0 on the face outline (:func:`outline_pin`,
  off by default, :data:`OUTLINE_PIN`: the flow is the identity outside the face, so a moving
  outline tears the skin against the background), and is scaled down as a whole where its RMS
  exceeds :data:`MAX_CHANGE_RMS` x IOD (:func:`cap_change`: more than the source face can take
  without losing its identity);
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
from collections.abc import Callable, Mapping
from typing import NamedTuple

import numpy as np
import torch

from core.editing.masks import EYE_RINGS
from core.editing.params import AU_NAMES, REGION_NAMES
from core.geometry.au.calibration import (
    AUCalibration,
    brow_height,
    calibrated_change,
    eye_opening,
    gain_field,
    load_au_calibration,
    mouth_gap,
    single_photo_neutral,
)
from core.geometry.au.fit import AUFitter, default_fitter
from core.geometry.au.topology import EYE_LEFT, EYE_RIGHT, FACE_OVAL
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
BROW_AUS = ("AU01", "AU02")  # their sum raises the whole brow; a negative step lowers it
BROW_AU_OVERRIDES = ("AU01", "AU02", "AU04")  # a user override of any of these keeps the AUs' brows
BROW_TOLERANCE = 0.005  # |goal - height| (/ IOD) below which the brows are left as they are
MAX_BROW_STEP = 0.25  # at most this many units of (AU01 + AU02) of brow correction (identity: anger)
# The warp shows less eye-opening change than the target mesh asks for: over the 42 photo / frame
# pairs of benchmarks/bench_quality.py (2026-12-02) dlib measured a median 0.75 of the target
# mesh's eye-opening change in the output (brows: 0.96). A photo reference's eye-opening goal is
# scaled by the inverse (presets are not: their surprise and fear already cost the most identity).
EYE_WARP_COMPENSATION = 1.33
# The mesh reads eye openings compressed: across the 16 faces of that grid, the dlib-68 eye opening
# varies 1.25x as much as the mesh's (least-squares slope; brows 0.93, taken as 1). A photo
# reference's eye-opening difference to the source is scaled by it (and by the warp's loss) to
# set the target's eye-opening goal.
EYE_READING_GAIN = 1.25
EYE_AUS = ("AU05",)  # the upper-lid raiser: opens the eye; a negative step narrows it
EYE_AU_OVERRIDES = ("AU05", "AU07", "AU43")  # a user override of any of these keeps the AUs' eyes
EYE_TOLERANCE = 0.002  # |goal - opening| (/ IOD) below which the eyes are left as they are
MAX_EYE_STEP = 0.25  # at most this many units of AU05 of eye correction
# The most a face can take: the RMS over the 468 vertices of the full-intensity change, / IOD. On
# that grid the dlib identity distance to the source follows this RMS (correlation 0.71), and the
# pairs above 0.45 sit at 0.13-0.18 (surprise and fear on small-featured faces); 0.11 is the
# grid's 85th percentile. A larger change is scaled down as a whole (its shape kept).
MAX_CHANGE_RMS = 0.11
# The face outline stays put: the flow is the identity outside the face, so an outline vertex that
# moves (the chin of a jaw drop, the temples of a brow raise) tears the skin against the
# background and draws a second contour (single_face + a laugh: detail ratio 3.6; + the surprise
# preset: 2.2, two thirds of it in a 7 px band along the outline). The change fades in smoothly
# from 0 on the outline (:data:`~core.geometry.au.topology.FACE_OVAL`) to full at this distance
# (/ IOD) inside it. OFF (0) by default: at 0.3 the full grid's detail max fell from 3.6 to 1.6,
# but the jaw drop it holds back cost the surprise preset its fer reading on the sad_to_laugh woman
# and raised identity distances (tests/core/editing/test_geometry_link_targets.py); pass
# ``reach`` to :func:`outline_pin` to use it.
OUTLINE_PIN = 0.0


class TargetGoals(NamedTuple):
    """Where the target's measured shape should end (:meth:`GeometryLink.mouth_goal`), each / IOD:
    the inner-lip gap, the brow height and the eye opening (None: as the AUs make them)."""

    mouth: float
    brow: float | None = None
    eye: float | None = None


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
                   overrides: Mapping[str, float] | None = None) -> TargetGoals:
        """The inner-lip gap and brow height (/ IOD) the target towards ``aus_to`` should have
        (module docstring).

        reference_landmarks: (468, 3) a photo reference's mesh (any similarity frame), or None
        (a preset). A reference's own gap is used unless ``overrides`` sets an opening AU; its own
        brow height unless ``overrides`` sets a brow AU (presets: the AUs' brows, no goal).
        """
        keys = set(overrides or {})
        brow = eye = None
        if reference_landmarks is not None and not keys & set(BROW_AU_OVERRIDES):
            brow = brow_height(reference_landmarks)
        if reference_landmarks is not None and not keys & set(EYE_AU_OVERRIDES):
            own = eye_opening(fit.landmarks)
            gain = EYE_READING_GAIN * EYE_WARP_COMPENSATION
            eye = max(0.0, own + gain * (eye_opening(reference_landmarks) - own))
        opening = set(self.calibration.opening_aus) | {OPENING_AU}
        if reference_landmarks is not None and not opening & keys:
            return TargetGoals(mouth_gap(reference_landmarks), brow, eye)
        to = mouth_gap(fit.landmarks + self._posed(fit, np.asarray(aus_to, dtype=np.float64) - fit.aus))
        neutral = mouth_gap(fit.landmarks + self._posed(fit, fit.neutral_aus - fit.aus))
        return TargetGoals(self.calibration.closed_mouth + max(0.0, to - neutral), brow, eye)

    def _towards(self, fit: ExpressionFit, change: np.ndarray, direction: np.ndarray, goal: float,
                 measure: Callable[[np.ndarray], float], tolerance: float, max_step: float) -> np.ndarray:
        """``change`` plus the multiple (within ±max_step) of ``direction`` (468, 3) crop px that
        brings ``measure(landmarks + change)`` to ``goal`` (Newton, 3 rounds)."""
        total = 0.0
        for _ in range(3):  # close to linear in the step: converges in 1-2 rounds
            value = measure(fit.landmarks + change)
            slope = measure(fit.landmarks + change + direction) - value
            if abs(goal - value) < tolerance or slope <= 1e-6:
                break
            step = float(np.clip((goal - value) / slope, -max_step - total, max_step - total))
            change = change + step * direction
            total += step
        return change

    def _unit(self, fit: ExpressionFit, names: tuple[str, ...], pin: np.ndarray) -> np.ndarray:
        """(468, 3) crop px: the posed deformation of one unit of each AU in ``names``, x ``pin``."""
        unit = np.zeros_like(fit.aus)
        unit[[self.model.au_index(n) for n in names]] = 1.0
        return self._posed(fit, unit) * pin[:, None]

    def expression_change(self, fit: ExpressionFit, aus_to: np.ndarray,
                          mouth_goal: TargetGoals | float | None = None) -> np.ndarray:
        """(468, 3) float64 crop px: the source's mesh change towards the target
        ``combine(source, reference with aus_to)``: ``s R (G ⊙ B (aus_to - aus))`` with the
        calibrated gains G (module docstring; G = 1 gives ``vertices(target) - vertices(source)``),
        plus, given goals (:meth:`mouth_goal`; a bare float is the mouth's), the jaw-drop
        correction that sets the target's inner-lip gap to its goal, the brow raise / lower
        (AU01 + AU02) that sets its brow height to its goal and the lid raise / lower (AU05) that
        sets its eye opening to its goal; every part times :func:`outline_pin` and the whole
        capped (:func:`cap_change`)."""
        pin = outline_pin(fit.landmarks)
        change = self._posed(fit, np.asarray(aus_to, dtype=np.float64) - fit.aus) * pin[:, None]
        if mouth_goal is None:
            return cap_change(change, fit.landmarks)
        goals = mouth_goal if isinstance(mouth_goal, TargetGoals) else TargetGoals(float(mouth_goal))
        if goals.brow is not None:
            change = self._towards(fit, change, self._unit(fit, BROW_AUS, pin), goals.brow, brow_height,
                                   BROW_TOLERANCE, MAX_BROW_STEP)
        if goals.eye is not None:
            change = self._towards(fit, change, self._unit(fit, EYE_AUS, pin), goals.eye, eye_opening,
                                   EYE_TOLERANCE, MAX_EYE_STEP)
        # the aperture last: the brow and lid deformations reach the lips a little
        change = self._towards(fit, change, self._unit(fit, (OPENING_AU,), pin), goals.mouth, mouth_gap,
                               MOUTH_TOLERANCE, MAX_APERTURE_STEP)
        return cap_change(change, fit.landmarks)

    def vertex_weights(self, alpha: float, region_weights: Mapping[str, float]) -> np.ndarray:
        """(468,) float64 per-vertex intensity alpha_v."""
        return vertex_alpha(self.model, alpha=alpha, region_weights=dict(region_weights)).double().numpy()

    def interpolate(self, vertices: np.ndarray, change: np.ndarray, alpha_v: np.ndarray) -> np.ndarray:
        """(468, 3) float32: ``vertices + alpha_v * change`` (exactly ``vertices`` where alpha_v = 0)."""
        src = torch.as_tensor(np.array(vertices, dtype=np.float64))[None]
        tgt = src + torch.as_tensor(np.array(change, dtype=np.float64))[None]
        out = interpolate_vertices(src, tgt, torch.as_tensor(np.array(alpha_v, dtype=np.float64)))
        return out[0].numpy().astype(np.float32)


def outline_pin(landmarks: np.ndarray, reach: float = OUTLINE_PIN) -> np.ndarray:
    """(468,) float64 in [0, 1]: 0 on the face outline of the (468, 3) mesh ``landmarks``, rising
    smoothly (smoothstep) to 1 at ``reach`` x IOD from it (:data:`OUTLINE_PIN`)."""
    p = np.asarray(landmarks, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != 468 or p.shape[1] < 2:
        raise ValueError(f"landmarks: expected (468, 3), got {p.shape}")
    p = p[:, :2]
    iod = float(np.linalg.norm(p[list(EYE_LEFT)].mean(axis=0) - p[list(EYE_RIGHT)].mean(axis=0)))
    if reach <= 0 or iod <= 0:
        return np.ones(len(p))
    d = np.min(np.linalg.norm(p[:, None] - p[list(FACE_OVAL)][None], axis=2), axis=1) / (reach * iod)
    t = np.clip(d, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def cap_change(change: np.ndarray, landmarks: np.ndarray, max_rms: float = MAX_CHANGE_RMS) -> np.ndarray:
    """(468, 3) crop px ``change`` scaled down as a whole so that its in-plane RMS over the vertices
    is at most ``max_rms`` x the IOD of ``landmarks`` (468, 3) (:data:`MAX_CHANGE_RMS`); unchanged
    (the same array) when it already is."""
    c = np.asarray(change, dtype=np.float64)
    p = np.asarray(landmarks, dtype=np.float64)
    if c.shape != p.shape or c.ndim != 2 or c.shape[1] < 2:
        raise ValueError(f"change {c.shape} and landmarks {p.shape} must both be (468, 3)")
    iod = float(np.linalg.norm(p[list(EYE_LEFT), :2].mean(axis=0) - p[list(EYE_RIGHT), :2].mean(axis=0)))
    rms = float(np.sqrt(np.mean(np.sum(c[:, :2] ** 2, axis=1))))
    if iod <= 0 or rms <= max_rms * iod:
        return change
    return c * (max_rms * iod / rms)


@functools.lru_cache(maxsize=1)
def geometry_link() -> GeometryLink:
    """The shared GeometryLink (loads the AU model once)."""
    return GeometryLink()
