"""Landmarks on the FLAME mesh and soft vertex regions derived from them.

A landmark is a point inside a triangle: its position is the barycentric mix of the triangle's
three vertices, so it moves with the mesh and carries gradients to it. The 68 landmarks follow
the iBUG 300-W order (jaw contour 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67).
DECA's dynamic contour swaps the jaw contour (0-16) for one chosen by head yaw, which is what a
2D detector sees on a turned face.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from core.checks import assert_shape
from core.geometry import face_model

__all__ = ["IBUG68_GROUPS", "REGION_NAMES", "barycentric_landmarks", "contour_bin", "region_masks",
           "yaw_degrees"]

# iBUG 300-W landmark groups (0-based).
IBUG68_GROUPS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "mouth": tuple(range(48, 68)),
}
REGION_NAMES = (*face_model.REGION_NAMES, "rest")  # rest: 1 - the largest of the others


def barycentric_landmarks(vertices: torch.Tensor, faces: torch.Tensor, face_idx: torch.Tensor,
                          bary: torch.Tensor) -> torch.Tensor:
    """Landmark positions by barycentric interpolation.

    vertices: (B, V, 3); faces: (F, 3) long; face_idx: (L,) or (B, L) long triangle indices;
    bary: (L, 3) or (B, L, 3) barycentric weights. Returns (B, L, 3), same frame as ``vertices``.
    """
    B = assert_shape(vertices, ("B", None, 3), "vertices")["B"]
    if face_idx.ndim == 1:
        face_idx, bary = face_idx.expand(B, -1), bary.expand(B, -1, -1)
    L = assert_shape(face_idx, (B, "L"), "face_idx")["L"]
    assert_shape(bary, (B, L, 3), "bary")
    corner_idx = faces[face_idx]  # (B, L, 3) vertex indices
    corners = torch.gather(vertices, 1, corner_idx.reshape(B, L * 3, 1).expand(-1, -1, 3)).reshape(B, L, 3, 3)
    return (corners * bary[..., None].to(vertices.dtype)).sum(dim=2)


def yaw_degrees(rotation: torch.Tensor) -> torch.Tensor:
    """Yaw (rotation about FLAME's y axis) of rotation matrices (B, 3, 3), in degrees (B,)."""
    return torch.rad2deg(torch.atan2(-rotation[:, 2, 0], torch.hypot(rotation[:, 0, 0], rotation[:, 1, 0])))


def contour_bin(yaw_deg: torch.Tensor) -> torch.Tensor:
    """DECA's contour bin for a yaw in degrees: 0..39 for 0..39 deg (clamped), 40..78 for
    -1..-39 deg, 78 beyond -39. (B,) float -> (B,) long."""
    y = torch.round(yaw_deg.detach()).long()
    return torch.where(y >= 0, y.clamp(max=39), (39 - y).clamp(max=78))


def _anchors(lmk68: np.ndarray) -> dict[str, np.ndarray]:
    """Points (N, 3) that define each region, from the 68 template landmarks."""
    g = {k: lmk68[list(v)] for k, v in IBUG68_GROUPS.items()}
    # Cheeks: between the contour and the nose wings / mouth corners, on each side.
    left = [(lmk68[i] + lmk68[j]) / 2 for i, j in ((2, 31), (3, 48), (4, 48), (1, 36))]
    right = [(lmk68[i] + lmk68[j]) / 2 for i, j in ((14, 35), (13, 54), (12, 54), (15, 45))]
    return {"brows": g["brows"], "eyes": g["eyes"], "nose": g["nose"], "mouth": g["mouth"],
            "jaw": g["jaw"][3:14], "cheeks": np.stack(left + right)}


REST_LEVEL = math.exp(-0.5 * 1.6**2)  # 'rest' wins 1.6 sigma away from every named region


def region_masks(*, template: np.ndarray, lmk68: np.ndarray | None, jaw_skinning: np.ndarray,
                 sigma_iod: float = 0.35) -> dict[str, np.ndarray]:
    """Soft vertex masks for :data:`REGION_NAMES`, a partition of unity (they sum to 1 at every
    vertex), so that per-region weights all at 1 give weight 1 everywhere.

    template: (V, 3) rest vertices; lmk68: (68, 3) the 68 landmarks on the template, or None
    (then only 'jaw' and 'rest' are non-zero); jaw_skinning: (V,) FLAME's skinning weights of
    the jaw joint; sigma_iod: Gaussian fall-off around each region's landmarks as a fraction of
    the inter-ocular distance. Raw memberships: 'jaw' = the jaw's skinning weight, the others a
    Gaussian of the distance to the region's landmarks, 'rest' a constant; then normalised.
    Returns name -> (V,) float32 in [0, 1].
    """
    jaw = np.asarray(jaw_skinning, np.float64)
    raw = {"jaw": np.clip(jaw / max(float(jaw.max()), 1e-12), 0, 1)}
    if lmk68 is not None:
        iod = float(np.linalg.norm(lmk68[36:42].mean(0) - lmk68[42:48].mean(0)))
        sigma = max(sigma_iod * iod, 1e-9)
        for name, pts in _anchors(lmk68).items():
            if name != "jaw":
                d2 = ((template[:, None, :] - pts[None, :, :]) ** 2).sum(-1).min(1)
                raw[name] = np.exp(-d2 / (2 * sigma * sigma))
    raw["rest"] = np.full(template.shape[0], REST_LEVEL)
    total = sum(raw.values())
    zero = np.zeros(template.shape[0])
    return {name: (raw.get(name, zero) / total).astype(np.float32) for name in REGION_NAMES}
