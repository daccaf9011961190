"""Relative driving: the driving face's expression measured against its own neutral.

LivePortrait's "relative motion", done on action units: the target AUs of frame t are

    target_t = clip(source_aus + (driving_aus_t - driving_neutral_aus), 0, 1)

so a driving person whose resting face reads as slightly sad (their neutral has some AU15) does
not make the source sad, and a source that is already smiling keeps its own smile as the base.
The mouth aperture goes the same way (:func:`relative_gap`): the source's own inner-lip gap plus
the driving gap's change from the neutral, set on the driving mesh the pipeline reads it from
(:func:`with_mouth_gap`), so an open-mouthed source is not closed by a closed-mouthed driver.

The driving neutral is one frame's AUs: the frame given by ``--neutral-frame K``, or the one the
video estimates (:func:`pick_neutral`): the frame whose AUs stand least above the AU model's
neutral floor (the largest readings of still, neutral faces; ``AUCalibration.floor``) with the
lips closest to closed, among the frames where the face was found.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.geometry.au.calibration import INNER_LIP_PAIRS, AUCalibration, mouth_gap
from core.geometry.au.topology import EYE_LEFT, EYE_RIGHT

MOUTH_WEIGHT = 4.0  # neutral score per unit of inner-lip gap (/ IOD) above the closed mouth


def neutral_score(aus: np.ndarray, gap: float, calibration: AUCalibration) -> float:
    """How far one frame is from a neutral face (0 = neutral). aus: (20,) in [0, 1]; gap: its
    inner-lip gap / IOD (``core.geometry.au.calibration.mouth_gap``)."""
    a = np.asarray(aus, dtype=np.float64)
    if a.shape != np.shape(calibration.floor):
        raise ValueError(f"aus: expected {np.shape(calibration.floor)}, got {a.shape}")
    above = np.clip(a - np.asarray(calibration.floor, dtype=np.float64), 0.0, None).sum()
    return float(above + MOUTH_WEIGHT * max(0.0, gap - calibration.closed_mouth))


def pick_neutral(scores: Sequence[float | None]) -> int:
    """The index of the lowest score; None entries (frames without the face) are skipped.
    Raises ValueError when every entry is None."""
    best, best_score = -1, np.inf
    for i, s in enumerate(scores):
        if s is not None and s < best_score:
            best, best_score = i, s
    if best < 0:
        raise ValueError("no frame with a face to take the neutral from")
    return best


def relative_aus(source_aus: np.ndarray, driving_aus: np.ndarray, neutral_aus: np.ndarray) -> np.ndarray:
    """(20,) float64 in [0, 1]: ``clip(source + (driving - neutral), 0, 1)`` (module docstring)."""
    s, d, n = (np.asarray(x, dtype=np.float64) for x in (source_aus, driving_aus, neutral_aus))
    if not s.shape == d.shape == n.shape or s.ndim != 1:
        raise ValueError(f"expected three equal (N,) AU vectors, got {s.shape}, {d.shape}, {n.shape}")
    return np.clip(s + (d - n), 0.0, 1.0)


def relative_gap(source_gap: float, driving_gap: float, neutral_gap: float, closed: float) -> float:
    """The inner-lip gap (/ IOD) a relative target gets: the source's own plus the driving change
    from its neutral, ``source + (driving - neutral)``, no less than ``closed`` (a relaxed closed
    mouth, ``AUCalibration.closed_mouth``) where the driving mouth closes further than at rest."""
    return max(float(source_gap) + (float(driving_gap) - float(neutral_gap)), min(float(source_gap), closed))


def with_mouth_gap(vertices: np.ndarray, goal: float) -> np.ndarray:
    """(468, 3) float32: ``vertices`` (a mesh in any similarity frame) with everything below the
    mouth's midline (the lower lip, the chin, the lower cheeks) moved along the face's downward
    direction so that :func:`~core.geometry.au.calibration.mouth_gap` equals ``goal``, like a jaw
    drop (negative moves close the mouth). The upper face is left exactly as it is."""
    p = np.array(vertices, dtype=np.float64)
    left, right = p[list(EYE_LEFT), :2].mean(axis=0), p[list(EYE_RIGHT), :2].mean(axis=0)
    axis = left - right
    iod = float(np.linalg.norm(axis))
    down = np.array([-axis[1], axis[0]]) / iod
    if np.dot(p[13, :2] - (left + right) / 2, down) < 0:
        down = -down
    lips = np.array(INNER_LIP_PAIRS).ravel()
    mid = float(np.mean(p[lips, :2] @ down))
    below = (p[:, :2] @ down) > mid
    shift = (float(goal) - mouth_gap(p)) * iod
    p[below, :2] += shift * down
    return p.astype(np.float32)
