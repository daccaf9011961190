"""Expression metrics on the project's own fitted action units: AED, AU-H and ED (mesh AUs).

The paper measures expression with a 3D reconstruction network's codes (AED, after PIRenderer),
OpenFace's AU presence (AU-H) and OpenFace's AU intensities (ED). Offline, all three use the 20
AU intensities the project fits to the 468-point mesh (:mod:`core.geometry.au.fit`, in [0, 1],
order of :data:`core.editing.params.AU_NAMES`), so each is named for what it measures: "(mesh AUs)".
They measure geometry, not appearance: a picture whose mesh moved scores well even where the
pixels look odd. (With FLAME imported, FLAME expression codes could serve the same role.)

AU vectors: (K,) or (N, K) float arrays in [0, 1]; a float for (K,), an (N,) array for (N, K).
"""

from __future__ import annotations

import numpy as np

from core.metrics.registry import register_metric

# AU presence = fitted intensity above this. OpenFace calls an AU present from intensity ~1 on
# its 0-5 scale ("trace"); 0.25 on the fit's [0, 1] scale is the same step, and leaves enough AUs
# present on real photos for the Hamming distance to mean something.
AU_PRESENCE_THRESHOLD = 0.25


def _pair(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(pred, dtype=np.float64)
    b = np.asarray(target, dtype=np.float64)
    if a.shape != b.shape or a.ndim not in (1, 2) or a.shape[-1] < 1:
        raise ValueError(f"AU vectors: expected two (K,) or (N, K) arrays of one shape, "
                         f"got {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("AU vectors contain NaN or infinite values")
    return a, b


def _out(values: np.ndarray) -> float | np.ndarray:
    return float(values) if values.ndim == 0 else values


@register_metric(key="aed", label="AED (mesh AUs)", group="expression", better="lower",
                 description="mean L1 distance of the fitted AU vectors of output and reference")
def aed(pred: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """Mean absolute difference of the AU intensities, in [0, 1]."""
    a, b = _pair(pred, target)
    return _out(np.mean(np.abs(a - b), axis=-1))


def au_presence(aus: np.ndarray, threshold: float = AU_PRESENCE_THRESHOLD) -> np.ndarray:
    """(…, K) AU intensities -> (…, K) bool: present where the intensity exceeds ``threshold``."""
    return np.asarray(aus, dtype=np.float64) > threshold


@register_metric(key="au_h", label="AU-H (mesh AUs)", group="expression", better="lower",
                 description=f"fraction of the 20 mesh AUs whose presence (intensity > "
                             f"{AU_PRESENCE_THRESHOLD}) differs between output and reference")
def au_hamming(pred: np.ndarray, target: np.ndarray,
               threshold: float = AU_PRESENCE_THRESHOLD) -> float | np.ndarray:
    """Hamming distance of the AU presence vectors divided by the number of AUs, in [0, 1]."""
    a, b = _pair(pred, target)
    return _out(np.mean(au_presence(a, threshold) != au_presence(b, threshold), axis=-1))


@register_metric(key="ed", label="ED (mesh AUs)", group="expression", better="lower",
                 description="L2 distance of the fitted AU intensities of output and reference")
def ed(pred: np.ndarray, target: np.ndarray) -> float | np.ndarray:
    """Euclidean distance of the AU intensity vectors, in [0, sqrt(K)]."""
    a, b = _pair(pred, target)
    return _out(np.linalg.norm(a - b, axis=-1))
