"""Measure the AU model's transfer calibration on the test media -> ``resources/au_calibration.json``.

What it measures (the format and its use: :mod:`core.geometry.au.calibration`):

* **Region gains.** Frames of one video show one person, so between two of its frames only the
  expression changes. For every ordered pair (i, j) of frames of the same video, the AU transfer
  i -> j (the person's own mesh i plus the model's change ``B (a_j - a_i)``, posed like i) should
  reproduce frame j. The judge is independent of the mesh: dlib's 68 landmarks
  (:mod:`core.judges.dlib_shape`) on the two real frames give the true change of brow height, eye
  opening, mouth opening and mouth width (:mod:`core.metrics.face_geometry`, each / IOD); the
  same measures on the mesh (MediaPipe points at dlib's places, :data:`MESH_POINTS`) give the
  transfer's change; a fifth measure, how far the mouth corners lie below the eye line
  (:func:`corner_drop`), sees the corners' lift. Four gains -- brows y, eyes y, mouth x and mouth y
  (the jaw takes the mouth's) -- are fitted by least squares so the transfer's change matches the
  true change over all pairs (each measure weighted by 1 / its variance), then clipped to [1, 2].
  Frames where a hand covers the mouth count for the brows and eyes only.
* **Neutral floor.** Per AU, the largest reading of the fit on faces that are neutral: the first
  16 frames of ``neutral_to_smile.mp4`` (a man holding still, every 3rd frame) and the boy at the
  back of ``multi_face.jpg`` (face 2; his slight closed-mouth smile, AU12, is not counted).
* **Closed mouth.** The lips-apart AUs (:data:`OPENING_AUS`) keep their floor only while the lips
  are closed: o₀ = 1.5 x the largest inner-lip gap (/ IOD) of those neutral faces, o₁ = o₀ + 0.05;
  a relaxed closed mouth's gap is their median.

    OMP_NUM_THREADS=1 .venv/bin/python tools/calibrate_au_transfer.py [--out resources/au_calibration.json]
        [--dry-run]

Prints the fitted numbers and how well the transfer matches the true change before and after.
Needs the assets test-media, face-detector, face-mesh, au-face-model and identity-dlib.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import least_squares

from core import assets
from core.evaluation.judges import load_judges
from core.face.analyzer import FaceAnalyzer
from core.geometry.au.calibration import (
    BROW_POINTS,
    INNER_LIP_PAIRS,
    LID_PAIRS,
    AUCalibration,
    calibrated_change,
    gain_field,
    mouth_gap,
)
from core.geometry.au.fit import default_fitter
from core.io import load_photo
from core.io.atomic import atomic_write_text
from core.io.video import iter_frames
from core.metrics.face_geometry import face_geometry

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "resources" / "au_calibration.json"
MEASURES = ("brow_height", "eye_opening", "mouth_opening", "mouth_width", "corner_drop")
# (video, step, frames whose mouth a hand covers: upper-face measures only)
VIDEOS = (("sad_to_laugh.mp4", 20, range(40, 240)), ("neutral_to_smile.mp4", 3, range(0)))
NEUTRAL_VIDEO = ("neutral_to_smile.mp4", 3, 16)  # frames 0, 3, ..., 15
NEUTRAL_PHOTO = ("multi_face.jpg", 2, ("AU12",))  # photo, face, AUs the face shows (not counted)
# dlib's points as MediaPipe vertices: brows 17-26, the six points of each eye, inner lip
# pairs, mouth corners. Image-left eye / brow first, as in dlib's order for a frontal face.
MESH_POINTS = {
    "brows": BROW_POINTS,
    "eyes": ((33, 160, 158, 133, 153, 144), (362, 385, 387, 263, 373, 380)),
    "lids": LID_PAIRS,
    "inner_lips": INNER_LIP_PAIRS,
    "corners": (61, 291),
}
GAIN_PARAMS = (("brows", 1), ("eyes", 1), ("mouth", 0), ("mouth", 1))  # (region, axis); the jaw = the mouth
GAIN_CLIP = (1.0, 2.0)
OPENING_AUS = ("AU25", "AU26")  # lips part, jaw drops: never a neutral face's own shape


def corner_drop(points: np.ndarray) -> float:
    """How far the mouth corners lie below the eye line / IOD, from dlib's 68 points (the fifth
    measure: it falls when the corners are pulled up, as in a smile)."""
    p = np.asarray(points, dtype=np.float64)
    left, right = p[36:42].mean(axis=0), p[42:48].mean(axis=0)
    axis = right - left
    iod = float(np.linalg.norm(axis))
    normal = np.array([axis[1], -axis[0]]) / iod
    if np.dot(p[48:68].mean(axis=0) - (left + right) / 2, normal) < 0:
        normal = -normal
    return float(np.mean((p[[48, 54]] - (left + right) / 2) @ normal)) / iod


def mesh_measures(v: np.ndarray) -> np.ndarray:
    """(5,) brow height, eye opening, mouth opening, mouth width, corner drop / IOD of a (468, 3)
    mesh in photo px, at the places of :func:`core.metrics.face_geometry.face_geometry`'s dlib points."""
    p = np.asarray(v, dtype=np.float64)[:, :2]
    left, right = (p[list(e)].mean(axis=0) for e in MESH_POINTS["eyes"])
    axis = right - left
    iod = float(np.linalg.norm(axis))
    normal = np.array([axis[1], -axis[0]]) / iod
    mid = (left + right) / 2
    if np.dot(p[13] - mid, normal) > 0:
        normal = -normal
    gap = lambda pairs: float(np.mean([np.linalg.norm(p[a] - p[b]) for a, b in pairs]))  # noqa: E731
    return np.array([float(np.mean((p[list(MESH_POINTS["brows"])] - mid) @ normal)) / iod,
                     gap(MESH_POINTS["lids"]) / iod, gap(MESH_POINTS["inner_lips"]) / iod,
                     float(np.linalg.norm(p[61] - p[291])) / iod,
                     -float(np.mean((p[list(MESH_POINTS["corners"])] - mid) @ normal)) / iod])


@dataclass
class Frame:
    """One analysed face: its mesh, fitted AUs and pose, dlib measures, which measures count."""

    name: str
    group: str  # the person (video) it belongs to
    mesh: np.ndarray  # (468, 3) photo px
    aus: np.ndarray  # (20,)
    scale: float
    rotation: np.ndarray  # (3, 3)
    truth: np.ndarray  # (5,) dlib-68 measures
    usable: np.ndarray  # (5,) bool


def analyse(analyzer: FaceAnalyzer, judges, rgb: np.ndarray, face_index: int = 0):
    face = analyzer.analyze_one(np.ascontiguousarray(rgb), face_index)
    points = judges.landmarks.landmarks(rgb, judges.landmarks.box(face))
    geometry = face_geometry(points)
    return face, np.array([*(geometry.measure(m) for m in MEASURES[:4]), corner_drop(points)])


def collect_video_frames(analyzer: FaceAnalyzer, judges) -> list[Frame]:
    fitter = default_fitter()
    frames = []
    for video, step, covered in VIDEOS:
        for k, rgb in enumerate(iter_frames(assets.asset_path("test-media", video), step=step)):
            index = k * step
            face, truth = analyse(analyzer, judges, rgb)
            fit = fitter.fit(face.landmarks).params
            usable = np.array([True, True, *(3 * [index not in covered])])
            frames.append(Frame(name=f"{video}@{index}", group=video,
                                mesh=np.array(face.landmarks, np.float64),
                                aus=fit.expression[0].double().numpy(), scale=float(fit.pose.scale[0]),
                                rotation=fit.pose.rotation[0].double().numpy(), truth=truth, usable=usable))
    return frames


def pairs_of(frames: list[Frame]) -> list[tuple[Frame, Frame]]:
    return [(a, b) for a in frames for b in frames if a is not b and a.group == b.group]


def predicted_changes(pairs: list[tuple[Frame, Frame]], gains: np.ndarray) -> np.ndarray:
    """(P, 5) mesh-measure change of each transfer i -> j with the per-vertex gains (468, 3)."""
    data = default_fitter().model.data
    out = []
    for a, b in pairs:
        change = calibrated_change(data.basis, b.aus - a.aus, gains, a.scale, a.rotation)
        out.append(mesh_measures(a.mesh + change) - mesh_measures(a.mesh))
    return np.array(out)


def calibration_from(params: np.ndarray, floor: np.ndarray, provenance: str,
                     closed_gap: tuple[float, float] = (0.03, 0.08), closed: float = 0.01) -> AUCalibration:
    data = default_fitter().model.data
    gains: dict[str, list[float]] = {}
    for (region, axis), g in zip(GAIN_PARAMS, params, strict=True):
        gains.setdefault(region, [1.0, 1.0, 1.0])[axis] = float(round(g, 3))
    gains["jaw"] = list(gains["mouth"])
    return AUCalibration(au_names=data.au_names, region_gains={k: tuple(v) for k, v in gains.items()},
                         neutral_floor=tuple(float(round(x, 3)) for x in floor), opening_aus=OPENING_AUS,
                         closed_mouth_gap=closed_gap, closed_mouth=closed, provenance=provenance)


def fit_gains(pairs: list[tuple[Frame, Frame]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Least-squares gains (module docstring) and the per-measure match before / after."""
    data = default_fitter().model.data
    truth = np.array([b.truth - a.truth for a, b in pairs])
    usable = np.array([a.usable & b.usable for a, b in pairs])
    m = len(MEASURES)
    sigma = np.array([truth[usable[:, k], k].std() for k in range(m)])

    def gains_of(params: np.ndarray) -> np.ndarray:
        cal = calibration_from(params, np.zeros(len(data.au_names)), "")
        return gain_field(data.region_names, data.region_masks, cal)

    def residuals(params: np.ndarray) -> np.ndarray:
        pred = predicted_changes(pairs, gains_of(params))
        return ((pred - truth) / sigma)[usable]

    result = least_squares(residuals, x0=np.ones(len(GAIN_PARAMS)), bounds=(0.5, 3.0), diff_step=1e-3)
    params = np.clip(result.x, *GAIN_CLIP)
    report = {}
    for label, p in (("model as fitted", np.ones(len(GAIN_PARAMS))), ("least squares", result.x),
                     ("clipped (written)", params)):
        pred = predicted_changes(pairs, gains_of(p))
        slope = [float((pred[usable[:, k], k] * truth[usable[:, k], k]).sum()
                       / (pred[usable[:, k], k] ** 2).sum()) for k in range(m)]
        rms = [float(np.sqrt(np.mean((pred[usable[:, k], k] - truth[usable[:, k], k]) ** 2)))
               for k in range(m)]
        report[label] = np.array([slope, rms])
    return params, {"raw": result.x, **report}


def neutral_floor(analyzer: FaceAnalyzer) -> tuple[np.ndarray, tuple[float, float], float, list[str]]:
    """The per-AU floor, the closed-mouth gaps (o₀, o₁), a closed mouth's gap and the faces used."""
    fitter = default_fitter()
    names = list(fitter.model.au_names)
    readings, gaps, used = [], [], []
    video, step, count = NEUTRAL_VIDEO
    for k, rgb in enumerate(iter_frames(assets.asset_path("test-media", video), step=step)):
        if k * step >= count:
            break
        mesh = analyzer.analyze_one(rgb).landmarks
        readings.append(fitter.fit(mesh).params.expression[0].double().numpy())
        gaps.append(mouth_gap(mesh))
        used.append(f"{video}@{k * step}")
    photo, face_index, shown = NEUTRAL_PHOTO
    rgb = np.asarray(load_photo(assets.asset_path("test-media", photo)).rgb)
    mesh = analyzer.analyze_one(rgb, face_index).landmarks
    a = fitter.fit(mesh).params.expression[0].double().numpy()
    a[[names.index(n) for n in shown]] = 0.0
    readings.append(a)
    gaps.append(mouth_gap(mesh))
    used.append(f"{photo} face {face_index} (without {', '.join(shown)})")
    o0 = round(1.5 * max(gaps), 3)
    return np.max(readings, axis=0), (o0, round(o0 + 0.05, 3)), round(float(np.median(gaps)), 4), used


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where to write (default {DEFAULT_OUT})")
    parser.add_argument("--dry-run", action="store_true", help="print the numbers, write nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    assets.ensure(["test-media"])
    analyzer, judges = FaceAnalyzer(), load_judges("dlib")
    if judges.landmarks is None:
        print(f"the landmark judge is missing: {judges.landmarks_problem}", file=sys.stderr)
        return 5
    frames = collect_video_frames(analyzer, judges)
    pairs = pairs_of(frames)
    params, report = fit_gains(pairs)
    floor, closed_gap, closed, neutral_faces = neutral_floor(analyzer)
    names = default_fitter().model.au_names
    print(f"{len(frames)} frames of {len({f.group for f in frames})} people, {len(pairs)} same-person pairs")
    print("gains (brows y, eyes y, mouth x, mouth y): least squares "
          + ", ".join(f"{g:.3f}" for g in report["raw"]) + "; written "
          + ", ".join(f"{g:.3f}" for g in params))
    for label in ("model as fitted", "least squares", "clipped (written)"):
        slope, rms = report[label]
        slopes = " ".join(f"{m}={s:.2f}" for m, s in zip(MEASURES, slope, strict=True))
        print(f"  {label:18s} true/predicted slope {slopes} | rms " + " ".join(f"{r:.4f}" for r in rms))
    print(f"closed-mouth gaps o0, o1 = {closed_gap}; a closed mouth's gap {closed}")
    print("neutral floor:", ", ".join(f"{n} {v:.2f}" for n, v in zip(names, floor, strict=True) if v > 0))
    provenance = (f"tools/calibrate_au_transfer.py: region gains from {len(pairs)} same-person frame pairs "
                  f"of {', '.join(v for v, _, _ in VIDEOS)} against dlib-68 measures (clipped to "
                  f"{list(GAIN_CLIP)}); neutral floor = the largest reading on {'; '.join(neutral_faces)}.")
    calibration = calibration_from(params, floor, provenance, closed_gap, closed)
    if args.dry_run:
        print(json.dumps(calibration.to_json(), indent=2))
        return 0
    atomic_write_text(args.out, json.dumps(calibration.to_json(), indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
