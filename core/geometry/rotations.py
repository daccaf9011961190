"""Rotations and similarity alignment: pure, batched, differentiable functions.

Euler convention (photo frame: x right, y down, z away from the camera), applied to the *head*
rotation (:func:`core.geometry.face_model.head_rotation`, identity for a frontal face)::

    R_head = Rz(roll) · Ry(yaw) · Rx(pitch)          (right-handed, radians)

so, for the nose direction (0, 0, -1) of a frontal face:

* yaw > 0 turns the nose towards the photo's left (−x): the person turns to *their* right;
* pitch > 0 tilts the nose down (+y): the person looks down;
* roll > 0 rotates the face clockwise as seen in the photo.

Mirroring the photo left ↔ right negates yaw and roll and keeps pitch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from core.checks import assert_shape

__all__ = ["EulerAngles", "euler_from_matrix", "matrix_from_euler", "similarity_procrustes",
           "SimilarityFit"]


class EulerAngles(NamedTuple):
    """Head angles in radians, each (B,)."""

    pitch: torch.Tensor
    yaw: torch.Tensor
    roll: torch.Tensor


def matrix_from_euler(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(B,) radians each → (B, 3, 3) ``Rz(roll) · Ry(yaw) · Rx(pitch)``."""
    cp, sp, cy, sy, cr, sr = pitch.cos(), pitch.sin(), yaw.cos(), yaw.sin(), roll.cos(), roll.sin()
    one, zero = torch.ones_like(pitch), torch.zeros_like(pitch)
    rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(-1, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(-1, 3, 3)
    rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return rz @ ry @ rx


def euler_from_matrix(rotation: torch.Tensor) -> EulerAngles:
    """(B, 3, 3) rotation → :class:`EulerAngles` (radians; yaw in [-π/2, π/2]).

    Inverse of :func:`matrix_from_euler` away from gimbal lock (|yaw| = 90°).
    """
    assert_shape(rotation, ("B", 3, 3), "rotation")
    r = rotation
    yaw = torch.asin((-r[:, 2, 0]).clamp(-1.0, 1.0))
    pitch = torch.atan2(r[:, 2, 1], r[:, 2, 2])
    roll = torch.atan2(r[:, 1, 0], r[:, 0, 0])
    return EulerAngles(pitch=pitch, yaw=yaw, roll=roll)


class SimilarityFit(NamedTuple):
    """``dst ≈ scale · src @ rotation.T + translation``."""

    scale: torch.Tensor  # (B,) > 0
    rotation: torch.Tensor  # (B, 3, 3) proper rotation (det +1)
    translation: torch.Tensor  # (B, 3)


def similarity_procrustes(src: torch.Tensor, dst: torch.Tensor,
                          weights: torch.Tensor | None = None) -> SimilarityFit:
    """Weighted least-squares similarity (Umeyama 1991): argmin Σ_i w_i |s R src_i + t − dst_i|².

    src, dst: (B, N, 3) float; weights: (N,) or (B, N) float ≥ 0 (default uniform).
    Reflections are excluded (det R = +1). Differentiable (SVD) when the three singular values
    of the cross-covariance are distinct, as they are for a face.
    """
    b = assert_shape(src, ("B", "N", 3), "src")
    assert_shape(dst, (b["B"], b["N"], 3), "dst")
    if weights is None:
        weights = src.new_ones(b["N"])
    w = weights.to(src.dtype).expand(b["B"], b["N"])
    w = w / w.sum(1, keepdim=True)
    mu_s = (w[..., None] * src).sum(1)
    mu_d = (w[..., None] * dst).sum(1)
    a = src - mu_s[:, None]
    d = dst - mu_d[:, None]
    cov = (d * w[..., None]).transpose(1, 2) @ a  # (B, 3, 3) Σ w d aᵀ
    u, sig, vt = torch.linalg.svd(cov)
    sign = torch.sign(torch.linalg.det(u @ vt))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    diag = torch.stack([torch.ones_like(sign), torch.ones_like(sign), sign], -1)
    rot = u @ torch.diag_embed(diag) @ vt
    var_s = (w * (a * a).sum(-1)).sum(1)
    scale = (sig * diag).sum(-1) / var_s
    trans = mu_d - scale[:, None] * (mu_s[:, None] @ rot.transpose(1, 2))[:, 0]
    return SimilarityFit(scale=scale, rotation=rot, translation=trans)
