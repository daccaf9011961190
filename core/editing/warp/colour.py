"""Colour matching in CIE Lab between two photos' lighting (for content moved from one to the other).

Used when the mouth or eye interior comes from a different image than the source (the reference
photo): the statistics of a ring of skin and lips around the region in each image say how the
two lightings differ, and the moved pixels are mapped accordingly: :func:`match_colour` (mean and
std in Lab), or :func:`light_transfer` / :func:`apply_light` for content much brighter or darker
than the ring (teeth and a dark mouth cavity, lit by the ring's light):

* lightness is matched in log L (a change of light multiplies luminance, so it scales L rather
  than shifting it): ``log L' = mu_to + g (log L - mu_from)``, mean and std of log L on each ring,
  the gain g limited; a dark cavity stays dark (never clipped to black) and teeth keep their
  brightness *relative to the skin*;
* a and b move by the difference of the rings' means (white balance: the warm cast of one photo's
  light leaves, the other's arrives), limited, and scaled by the pixel's lightness relative to the
  ring (a light's colour cast is proportional to the light reflected, so dark pixels move less).

The transform is estimated on the rings only, never on the interior, so bright teeth or a large
dark cavity cannot bias it.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np


class LabStats(NamedTuple):
    """Weighted statistics of an image region in CIE Lab (L in [0, 100])."""

    mean: np.ndarray  # (3,) float64 L, a, b
    std: np.ndarray  # (3,) float64


def _image(arr: np.ndarray) -> np.ndarray:
    """(..., 3) -> a 3-D array cvtColor takes: (H, W, 3) images as they are (several times faster
    than a one-pixel-wide column), anything else as a column."""
    return arr if arr.ndim == 3 else arr.reshape(-1, 1, 3)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 or float [0, 255] RGB -> float32 Lab (L in [0, 100])."""
    arr = np.ascontiguousarray(rgb, dtype=np.float32)
    lab = cv2.cvtColor(_image(arr) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)
    return lab.reshape(arr.shape)


def from_lab(lab: np.ndarray) -> np.ndarray:
    """float32 Lab -> float32 RGB in [0, 255]."""
    arr = np.ascontiguousarray(lab, dtype=np.float32)
    rgb = cv2.cvtColor(_image(arr), cv2.COLOR_Lab2RGB).reshape(arr.shape)
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


class LightTransfer(NamedTuple):
    """A map of Lab pixels from one photo's lighting into another's (:func:`light_transfer`)."""

    from_log_l: float  # mean log L of the ring in the photo the pixels come from
    to_log_l: float  # the same in the photo they go to
    gain: float  # contrast gain on log L
    chroma_shift: np.ndarray  # (2,) float64 a, b offset at the ring's lightness
    to_l: float  # mean L of the destination ring (the lightness at which the full offset applies)


def _log_l_stats(image: np.ndarray, weight: np.ndarray) -> tuple[float, float, np.ndarray, float]:
    ys, xs = np.nonzero(weight > 0)
    if len(ys) == 0:
        raise ValueError("light_transfer: a ring weight mask is empty")
    lab = to_lab(image[ys, xs]).astype(np.float64)
    w = weight[ys, xs].astype(np.float64)
    w = w / w.sum()
    log_l = np.log(np.maximum(lab[:, 0], 1.0))
    mean = float(w @ log_l)
    std = float(np.sqrt(w @ (log_l - mean) ** 2))
    return mean, max(std, 1e-3), w @ lab[:, 1:], float(w @ lab[:, 0])


def light_transfer(from_image: np.ndarray, from_weight: np.ndarray, to_image: np.ndarray,
                   to_weight: np.ndarray, *, gain_limits: tuple[float, float] = (0.8, 1.25),
                   chroma_fraction: float = 0.5, chroma_limit: float = 8.0) -> LightTransfer:
    """Estimate the lighting change between two matching rings (see the module docstring).

    from_image / to_image: (H, W, 3) uint8 RGB (sizes may differ). from_weight / to_weight: (H, W)
    float >= 0, the ring in each image. chroma_fraction: the part of the rings' a/b difference
    taken as the light's (the rest is the two people's skin and lips: a full offset turns teeth
    from a rosy face green on a sallow one), at most ``chroma_limit``. Raises ValueError for an
    empty ring.
    """
    m0, s0, ab0, _ = _log_l_stats(from_image, from_weight)
    m1, s1, ab1, l1 = _log_l_stats(to_image, to_weight)
    gain = float(np.clip(s1 / s0, *gain_limits))
    shift = np.clip(chroma_fraction * (ab1 - ab0), -chroma_limit, chroma_limit)
    return LightTransfer(m0, m1, gain, shift, l1)


def apply_light(lab: np.ndarray, transfer: LightTransfer) -> np.ndarray:
    """Lab (..., 3) float in the source photo's lighting -> float32 Lab in the destination's."""
    out = np.array(lab, dtype=np.float32, copy=True)
    log_l = np.log(np.maximum(out[..., 0], 0.5))
    light = np.exp(transfer.to_log_l + transfer.gain * (log_l - transfer.from_log_l))
    out[..., 0] = np.clip(light, 0.0, 100.0)
    weight = np.clip(out[..., :1] / max(transfer.to_l, 1.0), 0.0, 1.25)
    out[..., 1:] += weight * transfer.chroma_shift.astype(np.float32)
    return out
