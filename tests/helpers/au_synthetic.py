"""Synthetic meshes from the AU model: mean identity + known AUs + a known similarity + noise."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from core.geometry.face_model import FRONTAL
from core.geometry.rotations import matrix_from_euler


class SyntheticFace(NamedTuple):
    landmarks: np.ndarray  # (468, 3) photo px
    aus: np.ndarray  # (20,)
    scale: float
    rotation: np.ndarray  # (3, 3) Pose.rotation (frontal included)
    translation: np.ndarray  # (3,)


def synthetic_face(model, rng: np.random.Generator, *, n_active: int = 4, noise: float = 0.5,
                   max_angle_deg: float = 20.0, identity: np.ndarray | None = None) -> SyntheticFace:
    """``n_active`` random AUs in [0.2, 1]; rotation up to ``max_angle_deg`` per axis; Gaussian
    noise of ``noise`` model units per coordinate (face width ≈ 174 units)."""
    d = model.data
    a = np.zeros(len(d.au_names))
    a[rng.choice(len(a), n_active, replace=False)] = rng.uniform(0.2, 1.0, n_active)
    v = d.mean + np.tensordot(a, d.basis, 1) + rng.normal(0.0, noise, d.mean.shape)
    if identity is not None:
        v = v + identity
    ang = torch.tensor(np.radians(rng.uniform(-max_angle_deg, max_angle_deg, 3)))
    head = matrix_from_euler(ang[0:1], ang[1:2], ang[2:3])[0].numpy()
    rot = head @ np.array(FRONTAL)
    s = float(rng.uniform(0.8, 3.0))
    t = rng.uniform(100.0, 500.0, 3) * np.array([1.0, 1.0, 0.0])
    return SyntheticFace(landmarks=s * v @ rot.T + t, aus=a, scale=s, rotation=rot, translation=t)
