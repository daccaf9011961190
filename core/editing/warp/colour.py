"""Colour matching in CIE Lab between two photos' lighting (for content moved from one to the other).

Used when the mouth or eye interior comes from a different image than the source (the reference
photo): the statistics of a ring of skin and lips around the region in each image say how the
two lightings differ, and :func:`match_colour` maps the moved pixels accordingly.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np


class LabStats(NamedTuple):
    """Weighted statistics of an image region in CIE Lab (L in [0, 100])."""

    mean: np.ndarray  # (3,) float64 L, a, b
    std: np.ndarray  # (3,) float64


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 or float [0, 255] RGB -> float32 Lab (L in [0, 100])."""
    arr = np.ascontiguousarray(rgb, dtype=np.float32)
    lab = cv2.cvtColor(arr.reshape(-1, 1, 3) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)
    return lab.reshape(arr.shape)


def from_lab(lab: np.ndarray) -> np.ndarray:
    """float32 Lab -> float32 RGB in [0, 255]."""
    arr = np.ascontiguousarray(lab, dtype=np.float32)
    rgb = cv2.cvtColor(arr.reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(arr.shape)
    return np.clip(rgb * 255.0, 0.0, 255.0)


def lab_stats(image: np.ndarray, weight: np.ndarray) -> LabStats:
    """Weighted Lab mean and std of ``image`` (H, W, 3) uint8 under ``weight`` (H, W) >= 0."""
    ys, xs = np.nonzero(weight > 0)
    if len(ys) == 0:
        raise ValueError("lab_stats: the weight mask is empty")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    lab = to_lab(image[y0:y1, x0:x1]).reshape(-1, 3).astype(np.float64)
    w = weight[y0:y1, x0:x1].reshape(-1, 1).astype(np.float64)
    mean = (lab * w).sum(0) / w.sum()
    std = np.sqrt(((lab - mean) ** 2 * w).sum(0) / w.sum())
    return LabStats(mean, np.maximum(std, 1e-3))


def match_colour(lab: np.ndarray, *, from_stats: LabStats, to_stats: LabStats,
                 gain_limits: tuple[float, float] = (0.6, 1.6), chroma_fraction: float = 0.5,
                 chroma_limit: float = 6.0) -> np.ndarray:
    """Map Lab pixels (..., 3) from one photo's lighting to another's.

    L: gain (std ratio, limited to ``gain_limits``) and offset, matching mean and std.
    a, b: only ``chroma_fraction`` of the mean offset, at most ``chroma_limit`` units, scaled by
    the pixel's lightness relative to the ring's (the ring's a/b difference is partly the two
    people's skin, not the light, and a full offset turns a dark cavity grey-blue or teeth green).
    """
    out = np.array(lab, dtype=np.float32, copy=True)
    gain = float(np.clip(to_stats.std[0] / from_stats.std[0], *gain_limits))
    shift = np.clip(chroma_fraction * (to_stats.mean[1:] - from_stats.mean[1:]), -chroma_limit, chroma_limit)
    light = np.clip(out[..., :1] / max(from_stats.mean[0], 1.0), 0.0, 1.0)
    out[..., 0] = (out[..., 0] - from_stats.mean[0]) * gain + to_stats.mean[0]
    out[..., 1:] += light * shift.astype(np.float32)
    out[..., 0] = np.clip(out[..., 0], 0.0, 100.0)
    return out
