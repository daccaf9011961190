"""Measured corrections of the built-in AU model's transfer: region gains and a single-photo neutral.

The data file ``resources/au_calibration.json`` is made by ``tools/calibrate_au_transfer.py``
from the test media (rerunnable; the numbers are never typed by hand). It holds two things:

* **Region gains** ``G_r = (g_x, g_y, g_z)`` (model frame: x across the face, y up, z out of
  it) for the model's soft regions (brows, eyes, nose, mouth, jaw, cheeks). The expression change
  of a transfer, ``B (a_to − a_from)`` in model units, is multiplied per vertex and axis by
  ``G_v = 1 + Σ_r m_r(v) (G_r − 1)`` (m_r: the soft region masks, a partition of unity) before it
  is posed into the photo. Why: on the same person (frames of one video, so identity cancels),
  the model's predicted change of dlib-68 brow height, mouth opening and mouth width is smaller
  than the change dlib measures between the two real frames: the ridge / L1 priors shrink the
  readings, and what they leave lives in the identity residual, which a transfer keeps. Each
  gain is the least-squares factor that makes the predicted change of its measure match the
  measured one over all same-person frame pairs (clipped to [1, 2]: never weaker than the model).
* **Neutral floor** ``t`` (20,): per AU, the largest reading the fit gives on faces known to be
  neutral. One photo cannot tell thin lips from pressed lips, or high-set brows from raised
  ones (docs/geometry.md §3), so a reading up to ``t_k`` is as likely the person's own neutral
  face as an expression. :func:`single_photo_neutral` estimates a person's neutral AUs from one
  photo as ``n = min(a, t)``: a relaxed closed mouth that reads AU24 = 1.0 has ``n_24 = 1.0``
  and reads AU24 = 0 *relative to its neutral*. Presets are applied relative to it
  (:mod:`core.editing.geometry_link`), so ``neutral`` leaves a neutral face as it is.
* **Open mouth.** Parted lips, unlike thin lips or high brows, are never a person's neutral. The
  neutral faces read AU25 / AU26 up to ~0.3 with their lips *closed* (the model's mean face has
  parted lips; the other AUs that close them pull these up). So for the mouth-opening AUs the
  floor holds only while the lips are closed: with the inner-lip gap ``o`` (/ IOD, :func:`mouth_gap`)
  the neutral reading is ``min(a, t) · (1 − w)``, ``w = clip((o − o₀) / (o₁ − o₀), 0, 1)``, where
  o₀ is a little above the gap of the neutral faces' closed mouths and o₁ = o₀ + 0.05. The same
  measure gives the gap of a relaxed closed mouth (``closed_mouth``), which the transfer uses to
  set the target's mouth aperture (:mod:`core.editing.geometry_link`).

:func:`neutral_calibration` is the identity (gains 1, floors 0): the model exactly as fitted.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from core.errors import GafetError
from core.io.json_file import parse_json, read_json_file

__all__ = ["CALIBRATION_FILE", "FORMAT", "AUCalibration", "AUCalibrationError", "brow_height",
           "calibrated_change", "eye_opening", "gain_field", "load_au_calibration", "mouth_gap",
           "neutral_calibration", "parse_au_calibration", "single_photo_neutral"]

FORMAT = "gafet-au-calibration"
VERSION = 1
CALIBRATION_FILE = "au_calibration.json"  # in the ``resources`` package
GAIN_RANGE = (0.5, 3.0)  # accepted when reading a file (the tool writes [1, 2])
_KEYS = {"format", "version", "au_names", "region_gains", "neutral_floor", "opening_aus", "closed_mouth_gap",
         "closed_mouth", "provenance"}
INNER_LIP_PAIRS = ((82, 87), (13, 14), (312, 317))  # MediaPipe (upper, lower) inner-lip points
BROW_POINTS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)  # MediaPipe points at dlib's brow points 17-26
LID_PAIRS = ((160, 144), (158, 153), (385, 380), (387, 373))  # MediaPipe (upper, lower) lid points (dlib's)


class AUCalibrationError(GafetError):
    """The AU calibration file is missing or invalid (a packaging problem: reinstall)."""


@dataclass(frozen=True)
class AUCalibration:
    """Region gains and neutral floors (module docstring).

    au_names: the model's 20 AU names (the order of ``neutral_floor``).
    region_gains: region name → (g_x, g_y, g_z), model frame; regions not listed have gain 1.
    neutral_floor: (20,) per-AU readings in [0, 1] that one photo cannot tell from a neutral face.
    opening_aus: the AUs that part the lips (their floor holds only while the lips are closed).
    closed_mouth_gap: (o₀, o₁) inner-lip gaps / IOD between which the lips count as parting.
    closed_mouth: the inner-lip gap / IOD of a relaxed closed mouth (the neutral faces' median).
    provenance: what the numbers were measured on (free text, for people).
    """

    au_names: tuple[str, ...]
    region_gains: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)
    neutral_floor: tuple[float, ...] = ()
    opening_aus: tuple[str, ...] = ()
    closed_mouth_gap: tuple[float, float] = (0.03, 0.08)
    closed_mouth: float = 0.01
    provenance: str = ""

    def __post_init__(self) -> None:
        gains = {str(k): tuple(float(x) for x in v) for k, v in self.region_gains.items()}
        for name, g in gains.items():
            if len(g) != 3 or not all(math.isfinite(x) and GAIN_RANGE[0] <= x <= GAIN_RANGE[1] for x in g):
                raise AUCalibrationError(f"AU calibration: region gain {name!r} must be three numbers in "
                                         f"[{GAIN_RANGE[0]}, {GAIN_RANGE[1]}], got {g}")
        floor = tuple(float(x) for x in self.neutral_floor) or (0.0,) * len(self.au_names)
        if len(floor) != len(self.au_names) or not all(math.isfinite(x) and 0.0 <= x <= 1.0 for x in floor):
            raise AUCalibrationError(f"AU calibration: neutral_floor must be {len(self.au_names)} numbers in "
                                     f"[0, 1], got {len(floor)}")
        unknown = sorted(set(self.opening_aus) - set(self.au_names))
        if unknown:
            raise AUCalibrationError(f"AU calibration: unknown opening AUs {unknown}")
        gap = tuple(float(x) for x in self.closed_mouth_gap)
        if len(gap) != 2 or not all(math.isfinite(x) for x in gap) or not 0.0 <= gap[0] < gap[1] <= 1.0:
            raise AUCalibrationError(f"AU calibration: closed_mouth_gap must be 0 <= o0 < o1 <= 1, got {gap}")
        closed = float(self.closed_mouth)
        if not (math.isfinite(closed) and -0.1 <= closed <= gap[0]):
            raise AUCalibrationError(f"AU calibration: closed_mouth must lie in [-0.1, o0], got {closed}")
        object.__setattr__(self, "closed_mouth", closed)
        object.__setattr__(self, "region_gains", MappingProxyType(gains))
        object.__setattr__(self, "neutral_floor", floor)
        object.__setattr__(self, "au_names", tuple(self.au_names))
        object.__setattr__(self, "opening_aus", tuple(self.opening_aus))
        object.__setattr__(self, "closed_mouth_gap", gap)

    @property
    def floor(self) -> np.ndarray:
        """(20,) float64 copy of the neutral floor."""
        return np.array(self.neutral_floor, dtype=np.float64)

    def to_json(self) -> dict:
        """The file content as a plain dict (see :func:`load_au_calibration`)."""
        return {"format": FORMAT, "version": VERSION, "au_names": list(self.au_names),
                "region_gains": {k: list(v) for k, v in self.region_gains.items()},
                "neutral_floor": dict(zip(self.au_names, self.neutral_floor, strict=True)),
                "opening_aus": list(self.opening_aus), "closed_mouth_gap": list(self.closed_mouth_gap),
                "closed_mouth": self.closed_mouth, "provenance": self.provenance}


def neutral_calibration(au_names: Sequence[str]) -> AUCalibration:
    """No correction: every gain 1, every floor 0 (the model exactly as fitted)."""
    return AUCalibration(au_names=tuple(au_names))


def parse_au_calibration(doc: object, *, source: str = CALIBRATION_FILE) -> AUCalibration:
    """Validate the JSON document of a calibration file → :class:`AUCalibration`."""
    if not isinstance(doc, dict):
        raise AUCalibrationError(f"{source}: the top level must be a JSON object")
    unknown, missing = sorted(set(doc) - _KEYS), sorted(_KEYS - {"provenance"} - set(doc))
    if unknown or missing:
        raise AUCalibrationError(f"{source}: unknown keys {unknown}, missing keys {missing}")
    if doc["format"] != FORMAT or doc["version"] != VERSION:
        raise AUCalibrationError(f"{source}: expected format {FORMAT!r} version {VERSION}, "
                                 f"got {doc['format']!r} {doc['version']!r}")
    names = doc["au_names"]
    floor = doc["neutral_floor"]
    gains = doc["region_gains"]
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise AUCalibrationError(f"{source}: 'au_names' must be a list of AU names")
    if not isinstance(floor, dict) or sorted(floor) != sorted(names):
        raise AUCalibrationError(f"{source}: 'neutral_floor' must map each of the {len(names)} AUs to a "
                                 "number")
    if not isinstance(gains, dict) or not all(isinstance(v, list) for v in gains.values()):
        raise AUCalibrationError(f"{source}: 'region_gains' must map region names to [g_x, g_y, g_z]")
    opening, gap = doc["opening_aus"], doc["closed_mouth_gap"]
    if not (isinstance(opening, list) and all(isinstance(n, str) for n in opening)):
        raise AUCalibrationError(f"{source}: 'opening_aus' must be a list of AU names")
    if not (isinstance(gap, list) and len(gap) == 2):
        raise AUCalibrationError(f"{source}: 'closed_mouth_gap' must be [o0, o1]")
    for value in [*floor.values(), *(x for v in gains.values() for x in v), *gap, doc["closed_mouth"]]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AUCalibrationError(f"{source}: {value!r} is not a number")
    return AUCalibration(au_names=tuple(names), region_gains=gains,
                         neutral_floor=tuple(floor[n] for n in names), opening_aus=tuple(opening),
                         closed_mouth_gap=(gap[0], gap[1]), closed_mouth=doc["closed_mouth"],
                         provenance=str(doc.get("provenance", "")))


@functools.lru_cache(maxsize=4)
def load_au_calibration(path: str | None = None) -> AUCalibration:
    """The calibration shipped in ``resources/au_calibration.json`` (or the file at ``path``),
    cached. Raises :class:`AUCalibrationError` when it is missing or invalid."""
    if path is None:
        source = f"resources/{CALIBRATION_FILE}"
        try:
            raw = resources.files("resources").joinpath(CALIBRATION_FILE).read_bytes()
        except OSError as err:
            raise AUCalibrationError(f"Cannot read the AU calibration {source} ({err}); reinstall GaFET "
                                     "Studio.") from None
        doc = parse_json(raw, source=f"The AU calibration {source}", error=AUCalibrationError,
                         noun="calibration")
    else:
        source = str(path)
        doc = read_json_file(path, label="the file", noun="calibration",
                             error=lambda msg: AUCalibrationError(f"Cannot read the AU calibration: {msg}"))
    return parse_au_calibration(doc, source=source)


def gain_field(region_names: Sequence[str], region_masks: np.ndarray, calibration: AUCalibration
               ) -> np.ndarray:
    """Per-vertex, per-axis gains ``G_v = 1 + Σ_r m_r(v) (G_r − 1)`` → (V, 3) float64, model frame.

    region_names: the model's R region names; region_masks: (R, V) soft masks (a partition of
    unity). Raises :class:`AUCalibrationError` for a calibrated region the model does not have.
    """
    masks = np.asarray(region_masks, dtype=np.float64)
    out = np.ones((masks.shape[1], 3))
    for name, g in calibration.region_gains.items():
        if name not in region_names:
            raise AUCalibrationError(f"AU calibration: unknown region {name!r}; the model has "
                                     f"{list(region_names)}")
        out += masks[list(region_names).index(name)][:, None] * (np.asarray(g) - 1.0)[None, :]
    return out


def calibrated_change(basis: np.ndarray, delta: np.ndarray, gains: np.ndarray, scale: float,
                      rotation: np.ndarray) -> np.ndarray:
    """The posed expression change ``s · (G ⊙ Σ_k δ_k B_k) Rᵀ`` → (V, 3) float64 photo px.

    basis: (E, V, 3) model units; delta: (E,) AU change (to − from); gains: (V, 3) from
    :func:`gain_field` (all ones: exactly ``vertices(to) − vertices(from)`` of the linear model);
    scale, rotation (3, 3): the face's pose (model frame → photo px).
    """
    b = np.asarray(basis, dtype=np.float64)
    d = np.asarray(delta, dtype=np.float64).reshape(-1)
    if b.ndim != 3 or b.shape[0] != d.shape[0] or np.shape(gains) != b.shape[1:]:
        raise ValueError(f"basis {b.shape}, delta {d.shape}, gains {np.shape(gains)} do not match")
    model = np.tensordot(d, b, axes=1) * np.asarray(gains, dtype=np.float64)
    return float(scale) * model @ np.asarray(rotation, dtype=np.float64).T


class _EyeFrame(NamedTuple):
    """A mesh's points in 2D with its eye line: mid = the eye centres' midpoint, down = the unit
    normal of the eye line pointing towards the mouth, iod = the distance between the eye centres."""

    p: np.ndarray
    mid: np.ndarray
    down: np.ndarray
    iod: float


def _eye_frame(landmarks: np.ndarray) -> _EyeFrame:
    """The :class:`_EyeFrame` of a (468, 2 or 3) mesh in any similarity frame."""
    from core.geometry.au.topology import EYE_LEFT, EYE_RIGHT

    p = np.asarray(landmarks, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 468 or p.shape[1] < 2:
        raise ValueError(f"landmarks: expected (468, 2 or 3), got {p.shape}")
    p = p[:, :2]
    left, right = p[list(EYE_LEFT)].mean(axis=0), p[list(EYE_RIGHT)].mean(axis=0)
    axis = left - right
    iod = float(np.linalg.norm(axis))
    if iod <= 0:
        raise ValueError("landmarks: the eye centres coincide")
    mid = (left + right) / 2
    down = np.array([-axis[1], axis[0]]) / iod
    if np.dot(p[13] - mid, down) < 0:  # vertex 13: the upper lip's inner midpoint
        down = -down
    return _EyeFrame(p, mid, down, iod)


def mouth_gap(landmarks: np.ndarray) -> float:
    """The signed inner-lip gap / IOD of a (468, 2 or 3) mesh in any similarity frame (photo px,
    crop px): the mean of (lower − upper inner-lip point) along the face's downward direction (at
    right angles to the line through the eye centres) over the distance of the eye centres.
    About 0.01 for closed lips, 0.2 for an open laugh, negative where the lips overlap."""
    f = _eye_frame(landmarks)
    upper, lower = (np.array([pair[i] for pair in INNER_LIP_PAIRS]) for i in (0, 1))
    return float(np.mean((f.p[lower] - f.p[upper]) @ f.down)) / f.iod


def brow_height(landmarks: np.ndarray) -> float:
    """The mean height / IOD of the ten brow points (:data:`BROW_POINTS`, dlib's 17-26) above the
    line through the eye centres ("up" points away from the mouth) of a (468, 2 or 3) mesh in any
    similarity frame: the mesh twin of :func:`core.metrics.face_geometry.face_geometry`'s measure."""
    f = _eye_frame(landmarks)
    return float(np.mean((f.p[list(BROW_POINTS)] - f.mid) @ -f.down)) / f.iod


def eye_opening(landmarks: np.ndarray) -> float:
    """The mean lid gap / IOD of both eyes (:data:`LID_PAIRS`, at dlib's 37-41, 38-40, 43-47, 44-46)
    of a (468, 2 or 3) mesh in any similarity frame: the mesh twin of the dlib measure."""
    f = _eye_frame(landmarks)
    return float(np.mean([np.linalg.norm(f.p[a] - f.p[b]) for a, b in LID_PAIRS])) / f.iod


def single_photo_neutral(aus: np.ndarray, calibration: AUCalibration, gap: float | None = None) -> np.ndarray:
    """A person's neutral AUs estimated from one photo's readings (module docstring).

    aus: (20,) readings in [0, 1]; gap: the photo's :func:`mouth_gap` (None: the lips count as
    closed). Returns (20,) float64: ``min(a, t)``, the opening AUs faded out as the lips part.
    """
    a = np.asarray(aus, dtype=np.float64)
    if a.shape != (len(calibration.neutral_floor),):
        raise ValueError(f"aus: expected ({len(calibration.neutral_floor)},), got {a.shape}")
    n = np.minimum(a, calibration.floor)
    if gap is not None and calibration.opening_aus:
        o0, o1 = calibration.closed_mouth_gap
        w = float(np.clip((gap - o0) / (o1 - o0), 0.0, 1.0))
        index = [calibration.au_names.index(k) for k in calibration.opening_aus]
        n[index] *= 1.0 - w
    return n
