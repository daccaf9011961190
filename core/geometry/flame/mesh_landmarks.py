"""The iBUG 68 landmarks from the project's 468-point face mesh, for FLAME's landmark fit.

FLAME's fit (:mod:`core.geometry.flame.fit`) takes the iBUG 68 points; the face-mesh network gives
MediaPipe's 468. ``resources/mesh_ibug68.json`` holds, for each of the 68 points, three mesh
vertices and affine weights (summing to 1) fitted by least squares against dlib's 68-point shape
predictor on the real faces of the test media (``tools/fit_mesh_to_ibug68.py``, which prints the
residuals: median 3.4 % of the inter-ocular distance, 5.5 % on the jaw contour, 2.9 % inside).
The map is linear, so it is differentiable and keeps the mesh's z (depth) for 3D fits.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import torch

from core.checks import assert_shape
from core.errors import GafetError
from core.io.json_file import read_json_file

__all__ = ["MeshMapError", "ibug68_from_mesh", "mesh_ibug68_table"]

TABLE = "mesh_ibug68.json"
REINSTALL = "reinstall GaFET Studio."


class MeshMapError(GafetError):
    """The built-in mesh → iBUG-68 table is missing or damaged (a broken installation)."""


@functools.cache
def mesh_ibug68_table() -> tuple[np.ndarray, np.ndarray]:
    """(indices (68, K) int64 into the 468 mesh vertices, weights (68, K) float32 summing to 1)."""
    path = resources.files("resources").joinpath(TABLE)
    doc = read_json_file(str(path), error=MeshMapError, label="Mesh landmark table")
    try:
        idx = np.asarray(doc["indices"], np.int64)  # type: ignore[index]
        w = np.asarray(doc["weights"], np.float32)  # type: ignore[index]
    except (KeyError, TypeError, ValueError) as err:
        raise MeshMapError(f"Mesh landmark table {path} is damaged ({err}); {REINSTALL}") from None
    if idx.ndim != 2 or idx.shape[0] != 68 or w.shape != idx.shape or idx.min() < 0 or idx.max() >= 468 \
            or not np.allclose(w.sum(1), 1.0, atol=1e-4):
        raise MeshMapError(f"Mesh landmark table {path} is damaged (shape {idx.shape}); {REINSTALL}")
    return idx, w


def ibug68_from_mesh(landmarks: torch.Tensor) -> torch.Tensor:
    """landmarks: (B, 468, D) float mesh points (any units, D = 2 or 3) -> (B, 68, D), same dtype and
    device; differentiable (a fixed affine combination of mesh vertices)."""
    assert_shape(landmarks, ("B", 468, None), "landmarks")
    idx, w = mesh_ibug68_table()
    index = torch.as_tensor(idx, device=landmarks.device)
    weights = torch.as_tensor(w, device=landmarks.device, dtype=landmarks.dtype)
    return (landmarks[:, index] * weights[None, :, :, None]).sum(dim=2)
