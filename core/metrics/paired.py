"""Paired metrics, where the output has a ground truth (self-reenactment on video frames).

L1, PSNR and SSIM compare an output with its target pixel by pixel; both are (H, W, 3) uint8 RGB
of one size, cut with the same alignment (the target's). LPIPS lives in
:mod:`core.metrics.lpips_metric`: it needs ImageNet AlexNet weights the user imports.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.metrics.registry import register_metric

# SSIM constants of Wang et al. 2004: an 11-tap Gaussian window with sigma 1.5, K1 = 0.01,
# K2 = 0.03, on the 0..255 range; computed per channel and averaged over the valid region.
_SSIM_SIGMA = 1.5
_SSIM_TAPS = 11
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


def _images(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(pred), np.asarray(target)
    for name, x in (("pred", a), ("target", b)):
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[2] != 3:
            raise ValueError(f"{name}: expected (H, W, 3) uint8 RGB, got {x.dtype} {x.shape}")
    if a.shape != b.shape:
        raise ValueError(f"pred and target differ in size: {a.shape} vs {b.shape}")
    if min(a.shape[:2]) < _SSIM_TAPS:
        raise ValueError(f"images must be at least {_SSIM_TAPS} px on a side, got {a.shape[:2]}")
    return a.astype(np.float64), b.astype(np.float64)


@register_metric(key="l1", label="L1", group="paired", better="lower",
                 description="mean absolute pixel difference of output and target, on 0..1")
def l1(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute difference over pixels and channels, scaled to [0, 1]."""
    a, b = _images(pred, target)
    return float(np.mean(np.abs(a - b)) / 255.0)


@register_metric(key="psnr", label="PSNR", group="paired", better="higher",
                 description="peak signal-to-noise ratio of output and target, dB")
def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """10 log10(255² / MSE) in dB; ``inf`` for identical images."""
    a, b = _images(pred, target)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def _blur(x: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(x, (_SSIM_TAPS, _SSIM_TAPS), _SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)


@register_metric(key="ssim", label="SSIM", group="paired", better="higher",
                 description="structural similarity (Gaussian 11x11, sigma 1.5) of output and target")
def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean SSIM over the three channels and the pixels at least 5 px from the border, in [-1, 1]."""
    a, b = _images(pred, target)
    mu_a, mu_b = _blur(a), _blur(b)
    var_a = _blur(a * a) - mu_a**2
    var_b = _blur(b * b) - mu_b**2
    cov = _blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + _C1) * (2 * cov + _C2)) / ((mu_a**2 + mu_b**2 + _C1) * (var_a + var_b + _C2))
    pad = (_SSIM_TAPS - 1) // 2
    return float(np.mean(s[pad:-pad, pad:-pad]))
