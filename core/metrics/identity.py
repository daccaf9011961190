"""Identity metrics on face-recognition descriptors: CSIM, ACD and the judge's identity distance.

The paper's CSIM uses CurricularFace (512-d) and its ACD an unnamed face-recognition network.
Offline, the descriptors come from the identity judge (dlib's 128-d ResNet,
:mod:`core.judges`); the judge's name is reported beside the numbers, so a dlib CSIM is never
mistaken for a CurricularFace one (different scales: dlib's same-person threshold is a Euclidean
distance of 0.6). When the user has imported CurricularFace or ArcFace weights, CSIM is the
cosine of that network's 512-d embeddings instead and is labelled with it ("CSIM
(CurricularFace)"); ACD and the identity distance stay on dlib's descriptors.

Descriptors: (D,) or (N, D) float arrays, one per face (dlib's are not normalised: norms about
1.4); pairs are compared along the last axis. Each function returns a float for (D,) inputs
and an (N,) float64 array for (N, D) inputs.
"""

from __future__ import annotations

import numpy as np

from core.metrics.registry import register_metric


def _pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(pred, dtype=np.float64)
    b = np.asarray(target, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (1, 2) or a.shape[-1] < 1:
        raise ValueError(f"descriptors: expected two (D,) or (N, D) arrays of one shape, "
                         f"got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("descriptors contain NaN or infinite values")
    return a, b


def _out(values: np.ndarray) -> float | np.ndarray:
    return float(values) if values.ndim == 0 else values


@register_metric(key="csim", label="CSIM", group="identity", better="higher", needs="identity-judge",
                 description="cosine similarity of the identity descriptors of output and source")
def csim(pred: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """Cosine of the angle between descriptors, in [-1, 1]; 1 for the same direction.
    A zero descriptor raises ValueError (it has no direction)."""
    a, b = _pair(pred, target)
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    if np.any(na == 0) or np.any(nb == 0):
        raise ValueError("csim: a descriptor is all zeros")
    cos = np.sum(a * b, axis=-1) / (na * nb)
    return _out(np.clip(cos, -1.0, 1.0))


@register_metric(key="acd", label="ACD", group="identity", better="lower", needs="identity-judge",
                 description="L2 distance of the identity descriptors of output and source (mean = ACD)")
def acd(pred: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """Euclidean distance of the raw descriptors (the per-pair term of MoCoGAN's Average Content
    Distance), >= 0; 0 for identical descriptors."""
    a, b = _pair(pred, target)
    return _out(np.linalg.norm(a - b, axis=-1))


@register_metric(key="identity_distance", label="ID dist.", group="identity", better="lower",
                 needs="identity-judge",
                 description="the identity judge's same-person distance of output and source "
                             "(dlib: Euclidean, same person below 0.6)")
def identity_distance(pred: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """The distance the identity judge decides "same person" on, >= 0. For dlib's ResNet that is
    the Euclidean distance of the raw descriptors (same person below 0.6), so for dlib it equals
    ACD by definition; the key exists apart because other judges decide on another distance
    (CurricularFace / ArcFace: 1 - cosine) while ACD stays the L2 distance."""
    a, b = _pair(pred, target)
    return _out(np.linalg.norm(a - b, axis=-1))
