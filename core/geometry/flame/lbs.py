"""Linear blend skinning for FLAME: Rodrigues, blend shapes, kinematic chain, skinning.

Pure functions on batched tensors; differentiable; device-agnostic. The maths is FLAME's
(Li et al. 2017, Eq. 1-4), which it shares with SMPL:

    T_P(β, θ, ψ) = T̄ + B_S(β; S) + B_E(ψ; E) + B_P(θ; P)        shaped + posed template
    J(β, ψ)      = J · (T̄ + B_S + B_E)                            joint locations (regressed)
    M(β, θ, ψ)   = W(T_P, J, θ, 𝒲)                                 linear blend skinning

where B_P adds ``posedirs`` times the entries of (R_k(θ) - I) for the non-root joints k.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from core.checks import assert_shape

__all__ = ["LbsResult", "axis_angle_to_matrix", "blend_shapes", "lbs", "regress_joints", "rigid_transforms"]

_SMALL_ANGLE2 = 1e-8  # below this squared angle, use the Taylor series of sin/cos


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula. aa: (..., 3) axis * angle (radians) -> (..., 3, 3) rotation matrices.

    Safe and differentiable at zero (Taylor series below 1e-4 rad).
    """
    if aa.shape[-1] != 3:
        raise ValueError(f"axis-angle: last dim must be 3, got shape {tuple(aa.shape)}")
    theta2 = (aa * aa).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    small = theta2 < _SMALL_ANGLE2
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = safe2.sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)  # sin(θ)/θ
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / safe2)  # (1-cos θ)/θ²
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*aa.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def blend_shapes(coeffs: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Linear blend shapes. coeffs: (B, K), dirs: (V, 3, K) -> offsets (B, V, 3)."""
    K = assert_shape(coeffs, ("B", "K"), "coeffs")["K"]
    assert_shape(dirs, (None, 3, K), "dirs")
    return torch.einsum("bk,vck->bvc", coeffs, dirs)


def rigid_transforms(rotations: torch.Tensor, joints: torch.Tensor,
                     parents: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Walk the kinematic chain.

    rotations: (B, J, 3, 3) local joint rotations; joints: (B, J, 3) rest joint locations;
    parents: J ints, parents[0] = -1 and parents[j] < j.
    Returns posed joint locations (B, J, 3) and the skinning transforms (B, J, 4, 4) that map a
    rest-pose point to its posed location when the point follows joint j alone.
    """
    B, J = assert_shape(rotations, ("B", "J", 3, 3), "rotations")["B"], len(parents)
    assert_shape(joints, (B, J, 3), "joints")
    rel = torch.cat([joints[:, :1], joints[:, 1:] - joints[:, list(parents[1:])]], dim=1)
    bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=joints.dtype, device=joints.device).expand(B, J, 1, 4)
    local = torch.cat([torch.cat([rotations, rel[..., None]], dim=-1), bottom], dim=-2)  # (B, J, 4, 4)
    chain = [local[:, 0]]
    for j in range(1, J):
        chain.append(chain[parents[j]] @ local[:, j])
    world = torch.stack(chain, dim=1)  # (B, J, 4, 4)
    posed_joints = world[..., :3, 3]
    # Remove the rest location so the transform applies to rest-pose vertices: A_j = G_j · [I | -j]
    moved = posed_joints - (world[..., :3, :3] @ joints[..., None])[..., 0]
    skin = torch.cat([torch.cat([world[..., :3, :3], moved[..., None]], dim=-1), bottom], dim=-2)
    return posed_joints, skin


class LbsResult(NamedTuple):
    vertices: torch.Tensor  # (B, V, 3) posed vertices, model frame
    joints: torch.Tensor  # (B, J, 3) posed joint locations, model frame


def regress_joints(j_regressor: torch.Tensor, v_shaped: torch.Tensor) -> torch.Tensor:
    """J(β, ψ) = J · v_shaped. j_regressor: (J, V); v_shaped: (B, V, 3) -> (B, J, 3)."""
    return torch.einsum("jv,bvc->bjc", j_regressor, v_shaped)


def lbs(*, v_shaped: torch.Tensor, joints: torch.Tensor, rotations: torch.Tensor, posedirs: torch.Tensor,
        weights: torch.Tensor, parents: Sequence[int]) -> LbsResult:
    """Pose correctives + linear blend skinning of N vertices (all of the mesh, or a subset).

    v_shaped:  (B, N, 3) T̄ + B_S + B_E at those vertices
    joints:    (B, J, 3) rest joint locations J(β, ψ) (from the *whole* shaped mesh)
    rotations: (B, J, 3, 3) per-joint rotation matrices (θ through Rodrigues)
    posedirs:  (P, N, 3) pose correctives at those vertices, P = 9 (J - 1), ordered joint-major
               then the 3x3 entries of (R_j - I) row-major (FLAME's ``posedirs`` (V, 3, P)
               permuted to (P, V, 3))
    weights:   (N, J) skinning weights; parents: J ints
    """
    d = assert_shape(v_shaped, ("B", "N", 3), "v_shaped")
    B, N = d["B"], d["N"]
    J = len(parents)
    assert_shape(joints, (B, J, 3), "joints")
    assert_shape(rotations, (B, J, 3, 3), "rotations")
    assert_shape(posedirs, (9 * (J - 1), N, 3), "posedirs")
    assert_shape(weights, (N, J), "weights")

    eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
    pose_feature = (rotations[:, 1:] - eye).reshape(B, -1)  # (B, 9 (J-1))
    v_posed = v_shaped + torch.einsum("bp,pnc->bnc", pose_feature, posedirs)

    posed_joints, skin = rigid_transforms(rotations, joints, parents)
    per_vertex = torch.einsum("nj,bjrc->bnrc", weights, skin[..., :3, :])  # (B, N, 3, 4)
    verts = (per_vertex[..., :3] @ v_posed[..., None])[..., 0] + per_vertex[..., 3]
    return LbsResult(vertices=verts, joints=posed_joints)
