"""Fit the built-in AU model to a 468-point face mesh: exact, deterministic, a few ms per face.

Problem (model frame, per face; x = the mesh in photo pixels, r₀ = a known person-neutral
identity or 0)::

    min_{s,R,t,a}  ‖ (Rᵀ(x − t)/s) − (μ + r₀ + B a) ‖²_{stable-weighted for the pose}
                   + λ‖a‖² + ρ·Σ_k a_k          subject to 0 ≤ a ≤ 1

solved by alternating (until the AUs move less than ``tol``):

1. **Pose** — weighted similarity Procrustes of the current model shape onto x. The weights
   favour vertices that expressions barely move (``w_v = 1 / (1 + m_v / τ²)``, m_v = Σ_k |B_k,v|²:
   forehead, nose bridge, eye corners), so the pose follows the skull and a jaw drop or a smile
   is not mistaken for a head motion. (With uniform weights the AU rows' large rigid-looking
   components make pose and AUs trade off and the alternation needs ~4× more rounds.)
2. **AUs** — the box-constrained QP ``½aᵀ(BᵀB + λI)a − (Bᵀd − ρ/2)ᵀa`` over [0, 1]²⁰ with
   d = aligned mesh − μ − r₀, solved exactly (:func:`core.geometry.box_qp.solve_box_qp_np`,
   warm-started from the previous round).

Then **identity = aligned mesh − μ − B a** (the exact residual, model frame), so
``model.vertices(params)`` reproduces the input mesh exactly: α = 0 of an edit is the photo.

Priors (why): without one, identity leaks into expression (AU04 and AU12 saturate on almost
every face, notes/au-fit-check.md). The ridge λ shrinks every AU; the L1 term ρ (a Laplace prior
on the non-negative AUs, i.e. "an expression uses few AUs") removes the small spurious readings
that the ridge leaves on every face (AU01 ≈ 0.35, AU43 ≈ 0.25 on neutral faces). Neither can tell
a thin-lipped face from pressed lips in one photo — the geometry is the same. When frames of
the same person are known to be neutral (a neutral photo, the first frames of a video),
:meth:`AUFitter.estimate_neutral` estimates that person's neutral identity r₀ and fits relative
to it: on the neutral→smile video AU24 of the neutral frames drops from 1.00 to 0.00 while the
smile still reads AU12 ≈ 0.9 (tests/core/geometry/test_fit_real.py, docs/geometry.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch

from core.geometry.au.model import AUFaceModel
from core.geometry.box_qp import solve_box_qp_np
from core.geometry.face_model import FaceParams, Pose

__all__ = ["AUFitter", "FitConfig", "FitResult", "default_fitter", "fit_face"]

NUM_VERTICES = 468


@dataclass(frozen=True)
class FitConfig:
    """Priors and solver settings of the AU fit (model units: face width ≈ 174)."""

    ridge: float = 1000.0  # λ: Gaussian prior on the AU intensities a
    sparsity: float = 200.0  # ρ: Laplace (L1) prior on a ≥ 0
    stable_tau2: float = 10.0  # τ²: pose weights w_v = 1 / (1 + m_v / τ²)
    max_rounds: int = 50  # pose / AU alternations at most
    tol: float = 1e-4  # stop when no AU moves more than this between rounds

    def __post_init__(self) -> None:
        if self.ridge <= 0 or self.sparsity < 0 or self.stable_tau2 <= 0 or self.max_rounds < 1:
            raise ValueError(f"invalid FitConfig {self}")


class FitResult(NamedTuple):
    """Fitted parameters of B faces plus diagnostics."""

    params: FaceParams  # identity (B, 468, 3), expression (B, 20), pose — float32
    residual_rms: np.ndarray  # (B,) RMS per vertex of identity − r₀ (model units): what the AUs left
    rounds: np.ndarray  # (B,) alternations used
    converged: np.ndarray  # (B,) bool


class _SingleFit(NamedTuple):
    aus: np.ndarray  # (20,)
    scale: float
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)
    identity: np.ndarray  # (468, 3)
    residual_rms: float
    rounds: int
    converged: bool


def procrustes_np(src: np.ndarray, dst: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted similarity ``dst ≈ s · src @ Rᵀ + t`` (numpy twin of
    :func:`core.geometry.rotations.similarity_procrustes`). src, dst: (N, 3); w: (N,) ≥ 0."""
    w = w / w.sum()
    ms, md = w @ src, w @ dst
    a, d = src - ms, dst - md
    u, sig, vt = np.linalg.svd((d * w[:, None]).T @ a)
    sign = 1.0 if np.linalg.det(u @ vt) >= 0 else -1.0
    diag = np.array([1.0, 1.0, sign])
    rot = (u * diag) @ vt
    scale = float((sig * diag).sum() / (w @ (a * a).sum(1)))
    return scale, rot, md - scale * rot @ ms


class AUFitter:
    """Fits :class:`AUFaceModel` parameters to meshes. Precomputes the normal matrix once."""

    def __init__(self, *, model: AUFaceModel, config: FitConfig = FitConfig()) -> None:
        self.model = model
        self.config = config
        d = model.data
        self._mean = d.mean  # (468, 3) float64
        self._basis = d.basis.reshape(d.basis.shape[0], -1).T  # (1404, 20) B
        e = self._basis.shape[1]
        self._gram = self._basis.T @ self._basis + config.ridge * np.eye(e)  # BᵀB + λI
        motion = np.square(d.basis).sum(axis=(0, 2))  # (468,) m_v
        self.pose_weights = 1.0 / (1.0 + motion / config.stable_tau2)  # (468,) w_v

    # -- public -----------------------------------------------------------------------------
    def fit(self, landmarks: np.ndarray | torch.Tensor, *, neutral: np.ndarray | None = None) -> FitResult:
        """Fit each mesh.

        landmarks: (468, 3) or (B, 468, 3) float, photo pixels (x right, y down, z smaller =
        nearer, same scale as x/y) — ``Face.landmarks`` of :class:`core.face.analyzer.FaceAnalyzer`.
        neutral: optional (468, 3) person-neutral identity r₀ (:meth:`estimate_neutral`); the AUs
        then measure the change from that person's neutral face.
        Returns :class:`FitResult` with ``params`` on the CPU in float32.
        """
        x = self._as_batch(landmarks)
        r0 = np.zeros_like(self._mean) if neutral is None else self._check_neutral(neutral)
        fits = [self._fit_one(xi, r0) for xi in x]
        params = FaceParams(
            identity=torch.as_tensor(np.stack([f.identity for f in fits]), dtype=torch.float32),
            expression=torch.as_tensor(np.stack([f.aus for f in fits]), dtype=torch.float32),
            pose=Pose(scale=torch.tensor([f.scale for f in fits], dtype=torch.float32),
                      rotation=torch.as_tensor(np.stack([f.rotation for f in fits]), dtype=torch.float32),
                      translation=torch.as_tensor(np.stack([f.translation for f in fits]),
                                                  dtype=torch.float32)))
        return FitResult(params=params, residual_rms=np.array([f.residual_rms for f in fits]),
                         rounds=np.array([f.rounds for f in fits]),
                         converged=np.array([f.converged for f in fits]))

    def estimate_neutral(self, landmarks: np.ndarray | torch.Tensor) -> np.ndarray:
        """A person's neutral identity r₀ (468, 3) from K ≥ 1 meshes known to be neutral.

        landmarks: (468, 3) or (K, 468, 3) photo pixels of the *same person* with a neutral
        face. Each is aligned to μ (pose only, AUs = 0) and r₀ is the per-coordinate median of
        ``aligned − μ``. Pass it as ``neutral=`` to :meth:`fit` for that person's other frames.
        """
        x = self._as_batch(landmarks)
        aligned = []
        for xi in x:
            s, rot, t = procrustes_np(self._mean, xi, self.pose_weights)
            aligned.append(((xi - t) @ rot) / s)
        return np.median(np.stack(aligned), axis=0) - self._mean

    # -- internals --------------------------------------------------------------------------
    def _fit_one(self, x: np.ndarray, r0: np.ndarray) -> _SingleFit:
        cfg = self.config
        base = self._mean + r0
        a = np.zeros(self._basis.shape[1])
        converged = False
        rounds = 0
        for rounds in range(1, cfg.max_rounds + 1):  # noqa: B007 (reported)
            shape = base + (self._basis @ a).reshape(-1, 3)
            s, rot, t = procrustes_np(shape, x, self.pose_weights)
            y = ((x - t) @ rot) / s  # photo → model frame (rot is orthonormal)
            h = self._basis.T @ (y - base).reshape(-1) - 0.5 * cfg.sparsity
            a_new, _, ok = solve_box_qp_np(self._gram, h, x0=a)
            step = float(np.abs(a_new - a).max())
            a = a_new
            if step < cfg.tol:
                converged = ok
                break
        shape = base + (self._basis @ a).reshape(-1, 3)
        s, rot, t = procrustes_np(shape, x, self.pose_weights)
        y = ((x - t) @ rot) / s
        identity = y - self._mean - (self._basis @ a).reshape(-1, 3)
        rms = float(np.sqrt(np.square(identity - r0).sum(1).mean()))
        return _SingleFit(aus=a, scale=s, rotation=rot, translation=t, identity=identity,
                          residual_rms=rms, rounds=rounds, converged=converged)

    @staticmethod
    def _as_batch(landmarks: np.ndarray | torch.Tensor) -> np.ndarray:
        if isinstance(landmarks, torch.Tensor):
            landmarks = landmarks.detach().cpu().numpy()
        x = np.asarray(landmarks, dtype=np.float64)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[1:] != (NUM_VERTICES, 3):
            raise ValueError(f"landmarks: expected (468, 3) or (B, 468, 3), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("landmarks: contains non-finite values")
        return x

    @staticmethod
    def _check_neutral(neutral: np.ndarray) -> np.ndarray:
        r0 = np.asarray(neutral, dtype=np.float64)
        if r0.shape != (NUM_VERTICES, 3) or not np.isfinite(r0).all():
            raise ValueError(f"neutral: expected a finite (468, 3) identity, got {r0.shape}")
        return r0


@lru_cache(maxsize=1)
def default_fitter() -> AUFitter:
    """A shared :class:`AUFitter` with the default model and config (built on first use)."""
    return AUFitter(model=AUFaceModel())


def fit_face(landmarks: np.ndarray | torch.Tensor, *, neutral: np.ndarray | None = None) -> FaceParams:
    """Fit the built-in AU model to one mesh (468, 3) in photo pixels → :class:`FaceParams` (B = 1).

    Uses :func:`default_fitter`; for summaries see :func:`core.geometry.summary.summarize`.
    """
    return default_fitter().fit(landmarks, neutral=neutral).params
