"""Face geometry from dlib's 68 landmarks, and how much of a source -> reference change an output makes.

Issue 10 grades the editor's geometry with an independent judge: dlib's 68-point landmarks
(:mod:`core.judges.dlib_shape`, iBUG 300-W order). From one face's 68 points
(:func:`face_geometry`), each measure a length divided by the inter-ocular distance (IOD: the
distance between the two eye centres, each the mean of its six points):

* ``brow_height``: the mean height of the ten brow points (17-26) above the eye line (the line
  through the eye centres; "up" is away from the mouth), positive above;
* ``eye_opening``: the mean lid gap of both eyes: |37-41|, |38-40|, |43-47|, |44-46|;
* ``mouth_opening``: the mean inner-lip gap: |61-67|, |62-66|, |63-65|;
* ``mouth_width``: the distance between the mouth corners, |48-54|.

:func:`gap_closure` gives, per measure, the fraction of the source -> reference gap the output
closes, (O - S) / (R - S): 0 is no change, 1 is the reference's value, above 1 overshoots,
below 0 moves the wrong way. It is None where |R - S| is below :data:`MIN_GAPS` (a gap that
small is within the judge's noise; the fraction would be noise over noise). Presets have no
reference picture, so no reference geometry: their gaps are left out (None), rather than
measured on the editor's own target geometry, which would grade the editor by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from core.metrics.registry import register_metric

BROWS = tuple(range(17, 27))
EYES = (tuple(range(36, 42)), tuple(range(42, 48)))  # image left, image right
LID_PAIRS = ((37, 41), (38, 40), (43, 47), (44, 46))  # (upper, lower) lid points
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
MOUTH_CORNERS = (48, 54)
MEASURES = ("brow_height", "eye_opening", "mouth_opening", "mouth_width")
_Fn = Callable[..., float | None]


class FaceGeometry(NamedTuple):
    """One face's measures, each in inter-ocular distances (module docstring); iod in photo px."""

    brow_height: float
    eye_opening: float
    mouth_opening: float
    mouth_width: float
    iod: float

    def measure(self, name: str) -> float:
        if name not in MEASURES:
            raise ValueError(f"unknown face measure {name!r}; known: {', '.join(MEASURES)}")
        return float(getattr(self, name))

    def to_json(self) -> dict[str, float]:
        return {k: float(v) for k, v in self._asdict().items()}

    @classmethod
    def from_json(cls, data: dict[str, float]) -> FaceGeometry:
        return cls(**{k: float(data[k]) for k in cls._fields})


class GapClosure(NamedTuple):
    """(O - S) / (R - S) per measure, None where the gap |R - S| is too small (module docstring)."""

    brow_height: float | None
    eye_opening: float | None
    mouth_opening: float | None
    mouth_width: float | None


# Smallest |R - S| (in IOD) for which a gap closure is reported: at least 5x the judge's noise on
# one still face (the standard deviation of each measure over the first 17 frames of
# neutral_to_smile.mp4, a man holding still and neutral: 0.003, 0.003, 0.003, 0.010;
# tests/core/metrics/test_face_geometry.py checks 4x). Typical gaps between the test photos are
# 0.05-0.2 (brows), 0.03-0.07 (eyes), 0.2 (a closed against an open mouth).
MIN_GAPS = GapClosure(brow_height=0.03, eye_opening=0.02, mouth_opening=0.03, mouth_width=0.05)


def _check_points(points: np.ndarray) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.shape != (68, 2) or not np.isfinite(p).all():
        raise ValueError(f"points: expected finite (68, 2) dlib landmarks, got {p.shape}")
    return p


def _gap(p: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> float:
    a, b = zip(*pairs, strict=True)
    return float(np.mean(np.linalg.norm(p[list(a)] - p[list(b)], axis=1)))


def face_geometry(points: np.ndarray) -> FaceGeometry:
    """The measures of one face. points: (68, 2) photo px in dlib's order. Raises ValueError for
    another shape or when the eye centres coincide."""
    p = _check_points(points)
    left_eye, right_eye = p[list(EYES[0])].mean(axis=0), p[list(EYES[1])].mean(axis=0)
    axis = right_eye - left_eye
    iod = float(np.linalg.norm(axis))
    if iod < 1e-6:
        raise ValueError("points: the two eye centres coincide")
    normal = np.array([axis[1], -axis[0]]) / iod  # perpendicular to the eye line
    mid = (left_eye + right_eye) / 2
    mouth = p[48:68].mean(axis=0)
    if np.dot(mouth - mid, normal) > 0:  # make "up" point away from the mouth
        normal = -normal
    brow = float(np.mean((p[list(BROWS)] - mid) @ normal))
    return FaceGeometry(
        brow_height=brow / iod,
        eye_opening=_gap(p, LID_PAIRS) / iod,
        mouth_opening=_gap(p, INNER_LIP_PAIRS) / iod,
        mouth_width=float(np.linalg.norm(p[MOUTH_CORNERS[0]] - p[MOUTH_CORNERS[1]])) / iod,
        iod=iod,
    )


def closure(output: float, source: float, reference: float, min_gap: float) -> float | None:
    """(output - source) / (reference - source), or None when |reference - source| < min_gap."""
    gap = reference - source
    if not np.isfinite(gap) or abs(gap) < min_gap:
        return None
    return float((output - source) / gap)


def gap_closure(source: FaceGeometry, reference: FaceGeometry, output: FaceGeometry,
                min_gaps: GapClosure = MIN_GAPS) -> GapClosure:
    """Per measure, the fraction of the source -> reference gap the output closes (module docstring)."""
    return GapClosure(*(closure(output.measure(m), source.measure(m), reference.measure(m),
                                float(getattr(min_gaps, m))) for m in MEASURES))


def _measure_closure(measure: str, pred: FaceGeometry,
                     target: tuple[FaceGeometry, FaceGeometry]) -> float | None:
    source, reference = target
    return closure(pred.measure(measure), source.measure(measure), reference.measure(measure),
                   float(getattr(MIN_GAPS, measure)))


def _gap_metric(key: str, label: str, measure: str) -> Callable[[_Fn], _Fn]:
    return register_metric(key=key, label=f"{label} closed", group="geometry", better="higher",
                           needs="landmark-judge",
                           description=f"fraction of the source->reference {measure.replace('_', ' ')} gap "
                                       "the output closes, in dlib-68 geometry (1 = the reference's; "
                                       "photo references only)")


# Registered per-pair metrics: pred = the output's FaceGeometry, target = (source's, reference's).
@_gap_metric("brow_gap_closure", "Brow gap", "brow_height")
def brow_gap_closure(pred: FaceGeometry, target: tuple[FaceGeometry, FaceGeometry]) -> float | None:
    return _measure_closure("brow_height", pred, target)


@_gap_metric("eye_gap_closure", "Eye gap", "eye_opening")
def eye_gap_closure(pred: FaceGeometry, target: tuple[FaceGeometry, FaceGeometry]) -> float | None:
    return _measure_closure("eye_opening", pred, target)


@_gap_metric("mouth_gap_closure", "Mouth gap", "mouth_opening")
def mouth_gap_closure(pred: FaceGeometry, target: tuple[FaceGeometry, FaceGeometry]) -> float | None:
    return _measure_closure("mouth_opening", pred, target)


@_gap_metric("mouth_width_gap_closure", "Mouth-width gap", "mouth_width")
def mouth_width_gap_closure(pred: FaceGeometry, target: tuple[FaceGeometry, FaceGeometry]) -> float | None:
    return _measure_closure("mouth_width", pred, target)


# the per-pair JSON keys, in MEASURES order
GAP_KEYS = ("brow_gap_closure", "eye_gap_closure", "mouth_gap_closure", "mouth_width_gap_closure")
