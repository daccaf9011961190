"""Fitted parameters → a plain, JSON-able summary (for ``gafet analyze --json`` and the UI).

Angles follow :mod:`core.geometry.rotations` (degrees, photo frame; yaw > 0: the person turns to
their right, pitch > 0: looks down, roll > 0: clockwise in the photo). ``scale`` is photo pixels
per model unit; for the AU model the face is ≈ 174 units wide, so ``face_width_px ≈ 174 · scale``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.geometry.face_model import FaceModel, FaceParams, head_rotation
from core.geometry.rotations import euler_from_matrix

__all__ = ["FaceSummary", "fit_summary", "summarize"]


@dataclass(frozen=True)
class FaceSummary:
    """One face: expression components by name, head angles in degrees, pose scale."""

    expression: dict[str, float]  # e.g. {"AU01": 0.12, ...}, rounded to 3 decimals
    yaw: float
    pitch: float
    roll: float
    scale: float

    def to_json(self) -> dict:
        """Plain dict of str / float, ready for ``json.dumps``."""
        return {"aus": dict(self.expression), "pose": {"yaw_deg": self.yaw, "pitch_deg": self.pitch,
                                                       "roll_deg": self.roll, "scale": self.scale}}


def summarize(params: FaceParams, *, model: FaceModel) -> list[FaceSummary]:
    """One :class:`FaceSummary` per face of ``params`` (any batch size, any device)."""
    p = params.detach().to("cpu")
    angles = euler_from_matrix(head_rotation(p.pose.rotation.double()))
    names = model.expression_names
    out = []
    for i in range(p.batch_size):
        expr = {n: round(float(v), 3) for n, v in zip(names, p.expression[i].tolist(), strict=True)}
        out.append(FaceSummary(expression=expr,
                               yaw=round(math.degrees(float(angles.yaw[i])), 2),
                               pitch=round(math.degrees(float(angles.pitch[i])), 2),
                               roll=round(math.degrees(float(angles.roll[i])), 2),
                               scale=round(float(p.pose.scale[i]), 5)))
    return out


def fit_summary(landmarks: np.ndarray) -> dict:
    """Fit the built-in AU model to one mesh and summarise it (what ``gafet analyze --json`` shows).

    landmarks: (468, 3) float photo pixels (``Face.landmarks``). Returns
    ``{"aus": {"AU01": …, …}, "pose": {"yaw_deg", "pitch_deg", "roll_deg", "scale"}}``.
    """
    from core.geometry.au.fit import default_fitter

    fitter = default_fitter()
    return summarize(fitter.fit(landmarks).params, model=fitter.model)[0].to_json()
