"""FLAME codes from an encoder (DECA / EMOCA layout) → the app's :class:`FaceParams`.

DECA and EMOCA regress, per aligned crop: shape β (100), expression ψ (50), pose (6: global
axis-angle then jaw axis-angle) and an orthographic camera ``cam = (s, tx, ty)`` such that a
FLAME point X lands at ``s · (X_xy + t)`` in normalised crop coordinates ([-1, 1], y up);
DECA draws it at pixel ``(ndc + 1) · S / 2`` with y flipped. The paper (§3.1) takes β, global
pose and camera from the source and ψ + jaw from the reference; :class:`FaceParams` keeps that
split (identity = β, expression = [ψ, jaw], pose = similarity into pixels).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from core.checks import assert_shape
from core.geometry.face_model import FRONTAL, FaceParams, Pose
from core.geometry.flame.lbs import axis_angle_to_matrix
from core.geometry.flame.model import FlameModel

__all__ = ["FlameCodes", "codes_to_params"]


class FlameCodes(NamedTuple):
    """Encoder output (batch B). Shorter β / ψ than the model's are zero-padded."""

    shape: torch.Tensor  # (B, ≤ n_shape) β, std-dev units
    expression: torch.Tensor  # (B, ≤ n_expression) ψ, std-dev units
    pose: torch.Tensor  # (B, 6) [global axis-angle (3), jaw axis-angle (3)], radians
    cam: torch.Tensor  # (B, 3) [s, tx, ty], orthographic, normalised crop coordinates


def _pad(x: torch.Tensor, n: int, what: str) -> torch.Tensor:
    if x.shape[1] > n:
        raise ValueError(f"{what}: the codes have {x.shape[1]} components, the model uses {n}")
    return torch.nn.functional.pad(x, (0, n - x.shape[1]))


def codes_to_params(model: FlameModel, codes: FlameCodes, *, image_size: int) -> FaceParams:
    """Convert encoder codes into :class:`FaceParams` whose vertices land where DECA draws them
    in an ``image_size`` × ``image_size`` crop (pixels, y down).

    FLAME rotates the head about its root joint J₀ (which depends on β and ψ); the similarity
    rotates about the origin, so the difference goes into the translation:
    ``p = (S/2) s F (R X₀ + J₀ - R J₀ + [tx, ty, 0]) + [S/2, S/2, 0]`` with F = diag(1, -1, -1).
    Compose with the crop → photo transform of the alignment step for photo pixels.
    """
    B = assert_shape(codes.pose, ("B", 6), "codes.pose")["B"]
    assert_shape(codes.cam, (B, 3), "codes.cam")
    assert_shape(codes.shape, (B, None), "codes.shape")
    assert_shape(codes.expression, (B, None), "codes.expression")
    beta = _pad(codes.shape, model.identity_dim, "shape")
    psi = _pad(codes.expression, model.config.n_expression, "expression")
    rot = axis_angle_to_matrix(codes.pose[:, :3])  # (B, 3, 3) FLAME global rotation
    coeffs = torch.cat([beta, psi], dim=1).to(model.j_template.dtype)
    root = model.j_template[0] + torch.einsum("bk,ck->bc", coeffs, model.j_dirs[0])  # (B, 3) J₀
    flip = rot.new_tensor(FRONTAL)
    s, t = codes.cam[:, 0], codes.cam[:, 1:]
    half = image_size / 2.0
    offset = root - (rot @ root[..., None])[..., 0] + torch.cat([t, torch.zeros_like(t[:, :1])], dim=1)
    translation = half * s[:, None] * (offset @ flip.T) + rot.new_tensor([half, half, 0.0])
    pose = Pose(scale=half * s, rotation=flip @ rot, translation=translation)
    return FaceParams(identity=beta, expression=torch.cat([psi, codes.pose[:, 3:]], dim=1), pose=pose)
