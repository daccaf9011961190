"""Distribution metrics over a set of outputs: FID, KID, IS, and the offline FD-dlib.

* **FID** (Heusel et al. 2017): the Fréchet distance of Gaussians fitted to Inception-v3 pool3
  features (2,048-d) of real and generated images, ``‖μ₁−μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½)``.
  Features come from :mod:`core.metrics.inception` (the FID weights, which the user imports);
  the input mode is pytorch-fid's (bilinear resize to 299 without antialiasing, 2x−1). FID is
  biased upward for small sets: always read it with its sample count.
* **KID** (Bińkowski et al. 2018): unbiased MMD² with the cubic polynomial kernel on the same
  features, averaged over random subsets; usable with few samples.
* **IS** (Salimans et al. 2016): exp(E KL(p(y|x) ‖ p(y))) over the Inception classifier's
  1,008-way softmax, mean and spread over splits.
* **FD-dlib**: the Fréchet distance on the identity judge's 128-d descriptors. An offline
  stand-in that needs no imported weights; it is not FID and is never reported as FID.

Features: (N, D) float arrays, one row per image.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.linalg

from core.metrics.registry import register_metric

_EPS = 1e-6  # added to both covariances' diagonals when sqrtm is not finite (pytorch-fid)
_IMAG_TOL = 1e-3  # largest imaginary part of sqrtm's diagonal that is dropped as round-off


def _features(x: np.ndarray, name: str, *, min_rows: int = 2) -> np.ndarray:
    f = np.asarray(x, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < min_rows or f.shape[1] < 1:
        raise ValueError(f"{name}: expected (N >= {min_rows}, D) features, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"{name}: features contain NaN or infinite values")
    return f


def frechet_distance_of_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                              sigma2: np.ndarray) -> float:
    """Fréchet distance of N(mu1, sigma1) and N(mu2, sigma2): (D,) means, (D, D) covariances."""
    diff = mu1 - mu2
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * _EPS
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=_IMAG_TOL):
            raise ValueError(f"frechet distance: sqrtm has an imaginary part of "
                             f"{np.max(np.abs(covmean.imag)):.3g}")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def frechet_distance(pred: np.ndarray, target: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to two feature sets (N1, D) and (N2, D), >= 0 up to
    round-off. Each set needs at least 2 rows."""
    a, b = _features(pred, "pred"), _features(target, "target")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature widths differ: {a.shape[1]} vs {b.shape[1]}")
    return frechet_distance_of_stats(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


@register_metric(key="fid", label="FID", group="distribution", kind="set", better="lower",
                 needs="inception-fid",
                 description="Fréchet Inception distance of outputs and real photos (pytorch-fid mode)")
def fid(pred: np.ndarray, target: np.ndarray) -> float:
    """FID from (N, 2048) Inception pool3 features of outputs (pred) and real images (target)."""
    return frechet_distance(pred, target)


def _poly_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kernel_distance(pred: np.ndarray, target: np.ndarray, *, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> float:
    """Unbiased MMD² with k(x, y) = (x·y / D + 1)³, averaged over ``subsets`` random subsets of
    min(``subset_size``, N1, N2) rows of each set (without replacement; a fixed ``seed``). Can be
    slightly negative when the sets match."""
    a, b = _features(pred, "pred"), _features(target, "target")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature widths differ: {a.shape[1]} vs {b.shape[1]}")
    size = min(subset_size, len(a), len(b))
    if size == len(a) == len(b):
        return _poly_mmd2_unbiased(a, b)
    rng = np.random.default_rng(seed)
    return float(np.mean([_poly_mmd2_unbiased(a[rng.choice(len(a), size, replace=False)],
                                              b[rng.choice(len(b), size, replace=False)])
                          for _ in range(subsets)]))


@register_metric(key="kid", label="KID", group="distribution", kind="set", better="lower",
                 needs="inception-fid",
                 description="kernel Inception distance (unbiased, cubic kernel) of outputs and real photos")
def kid(pred: np.ndarray, target: np.ndarray) -> float:
    """KID from (N, 2048) Inception pool3 features of outputs (pred) and real images (target)."""
    return kernel_distance(pred, target)


class SplitScore(NamedTuple):
    """A score computed on several splits: their mean and standard deviation."""

    mean: float
    std: float


def inception_score_splits(probs: np.ndarray, *, splits: int = 10) -> SplitScore:
    """IS of (N, C) class probabilities (rows sum to 1) over min(``splits``, N) equal splits."""
    p = _features(probs, "probs", min_rows=1)
    if p.min() < 0 or np.abs(p.sum(1) - 1).max() > 1e-3:
        raise ValueError("probs: each row must be a probability distribution")
    k = max(1, min(splits, len(p)))
    scores = []
    for part in np.array_split(p, k):
        marginal = part.mean(0, keepdims=True)
        log_ratio = np.log(np.clip(part, 1e-12, None)) - np.log(np.clip(marginal, 1e-12, None))
        kl = np.sum(part * log_ratio, axis=1)
        scores.append(float(np.exp(kl.mean())))
    return SplitScore(float(np.mean(scores)), float(np.std(scores)))


@register_metric(key="is", label="IS", group="distribution", kind="set", better="higher",
                 needs="inception-fid",
                 description="Inception score of the outputs (1,008-way softmax, 10 splits)")
def inception_score(pred: np.ndarray, target: np.ndarray | None = None) -> float:
    """The mean IS of the outputs' (N, 1008) Inception class probabilities (``target`` unused:
    IS looks at the outputs alone)."""
    return inception_score_splits(pred).mean


@register_metric(key="fd_dlib", label="FD-dlib", group="distribution", kind="set", better="lower",
                 needs="identity-judge",
                 description="Fréchet distance on dlib 128-d face descriptors (an offline stand-in, not FID)")
def fd_dlib(pred: np.ndarray, target: np.ndarray) -> float:
    """Fréchet distance of (N, 128) identity descriptors of outputs (pred) and real faces (target)."""
    return frechet_distance(pred, target)
