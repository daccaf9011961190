"""Smooth extension of a field known on a mask: pull-push fill, chamfer distance, falloff.

Used by :mod:`core.render.flow` to continue the face's displacement outside the face without a
tear at the silhouette, then fade it to zero.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from core.checks import assert_float, assert_shape

__all__ = ["chamfer_distance", "pull_push_fill", "smooth_falloff"]


def _down2(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2)): binomial 4x4 filter (1, 3, 3, 1)^2 / 64,
    stride 2, zero padding (one single-channel convolution over B*C planes)."""
    B, C, H, W = x.shape
    taps = x.new_tensor((1.0, 3.0, 3.0, 1.0))
    kernel = (taps[:, None] * taps[None, :] / 64.0).reshape(1, 1, 4, 4)
    planes = F.pad(x.reshape(B * C, 1, H, W), (1, 1 + W % 2, 1, 1 + H % 2))
    return F.conv2d(planes, kernel, stride=2).reshape(B, C, (H + 1) // 2, (W + 1) // 2)


def pull_push_fill(
    values: torch.Tensor, weights: torch.Tensor, *, confidence_gain: float = 16.0, eps: float = 1e-8
) -> torch.Tensor:
    """Fill ``values`` where ``weights`` is 0 from weighted averages at coarser scales.

    values: (B, C, H, W) float. weights: (B, 1, H, W) float in [0, 1] (1 = known).
    confidence_gain: how readily a partly known coarse cell trusts its own mean (see below).
    Returns (B, C, H, W): exactly ``values`` where weights == 1; elsewhere a smooth blend of
    the known values (convex combinations of local means, so ``|out| <= max |known value|``
    per channel). 0 everywhere for a batch item with nothing known. Differentiable w.r.t.
    ``values``.

    Pull: a pyramid of (w * v, w) decimated by a binomial filter (normalised convolution, so the
    zero padding at borders cancels). Push: from coarse to fine,
    ``out_k = a_k * v_k + (1 - a_k) * upsample(out_{k+1})`` with ``v_k = (wv)_k / w_k`` and
    ``a_k = min(1, confidence_gain * w_k)``; bilinear upsampling keeps the result continuous.
    A gain well above 1 makes a cell holding even a little known data trust its own local mean,
    so the fill next to the known region continues the values found there; with gain 1 (the
    textbook pull-push) a field that varies near the border of the known region drifts towards
    the mean of a much larger area and jumps across the border by several times its slope.
    """
    assert_shape(values, ("B", "C", "H", "W"), "values")
    assert_shape(weights, (values.shape[0], 1, values.shape[2], values.shape[3]), "weights")
    assert_float(values, "values")
    if not confidence_gain > 0:
        raise ValueError(f"confidence_gain must be > 0, got {confidence_gain}")
    C = values.shape[1]
    w = weights.to(values.dtype)
    levels = [torch.cat((values * w, w), dim=1)]  # (B, C + 1, h, w): weighted values, weight
    while max(levels[-1].shape[-2:]) > 1:
        levels.append(_down2(levels[-1]))
    out = None
    for level in reversed(levels):
        wv, wk = level[:, :C], level[:, C:]
        # Where wk is tiny, wv <= max|v| * wk is too, so the clamp keeps `mean` bounded and
        # exactly 0 where nothing is known; such cells get a ~0 blend weight anyway.
        mean = wv / wk.clamp(min=eps)
        if out is None:
            out = mean
            continue
        up = F.interpolate(out, size=wv.shape[-2:], mode="bilinear", align_corners=False)
        a = (wk * confidence_gain).clamp(max=1.0)
        out = torch.lerp(up, mean, a)  # exactly `mean` where a == 1
    assert out is not None
    return out


def chamfer_distance(mask: torch.Tensor, *, max_distance: float) -> torch.Tensor:
    """Approximate Euclidean distance (px) from every pixel to the nearest mask pixel.

    mask: (B, 1, H, W) bool. max_distance: stop propagating beyond this (px); farther pixels
    get a value >= max_distance (inf where the mask is empty).
    Returns (B, 1, H, W) float32: 0 on the mask; 3x3 chamfer metric (steps 1 and sqrt 2, within
    about 8 % of Euclidean).
    """
    assert_shape(mask, ("B", 1, "H", "W"), "mask")
    inf = float("inf")
    dist = torch.where(mask, 0.0, inf).to(torch.float32)
    steps = [(dy, dx, math.hypot(dy, dx)) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    H, W = mask.shape[-2:]
    for _ in range(int(math.ceil(max_distance)) + 1):
        padded = F.pad(dist, (1, 1, 1, 1), value=inf)
        best = dist
        for dy, dx, cost in steps:
            best = torch.minimum(best, padded[..., 1 + dy : 1 + dy + H, 1 + dx : 1 + dx + W] + cost)
        dist = best
    return dist


def smooth_falloff(distance: torch.Tensor, *, radius: torch.Tensor, band: float) -> torch.Tensor:
    """Weight 1 within ``band`` px of the mask, falling smoothly (smoothstep) to 0 at
    ``band + radius``.

    distance: (B, 1, H, W) px. radius: (B,) px, > 0. band: px. Returns (B, 1, H, W) in [0, 1];
    its slope is at most 1.5 / radius per px.
    """
    t = 1.0 - (distance - band).clamp(min=0.0) / radius.to(distance)[:, None, None, None]
    t = t.clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


_TAPS = np.array([1.0, 3.0, 3.0, 1.0], np.float32) / 8.0


def _down2_numpy(x: np.ndarray) -> np.ndarray:
    """:func:`_down2` for one (H, W) or (H, W, C) float32 array: ``out[i] = (x[2i-1] + 3 x[2i] +
    3 x[2i+1] + x[2i+2]) / 8`` per axis, zero outside (the same filter, stride and padding)."""
    import cv2

    f = cv2.sepFilter2D(x, -1, _TAPS, _TAPS, anchor=(1, 1), borderType=cv2.BORDER_CONSTANT)
    h, w = x.shape[:2]
    return np.ascontiguousarray(f[0:h:2, 0:w:2])


def pull_push_fill_numpy(values: np.ndarray, weights: np.ndarray, *, confidence_gain: float = 16.0,
                         eps: float = 1e-8) -> np.ndarray:
    """:func:`pull_push_fill` for one image in numpy / OpenCV, without torch's per-call overhead
    (the live slider path calls it per move; results agree with the torch version to float
    rounding).

    values: (H, W, C) float32. weights: (H, W) float in [0, 1]. Returns (H, W, C) float32.
    """
    import cv2

    if values.ndim != 3 or weights.shape != values.shape[:2]:
        raise ValueError(f"pull_push_fill_numpy: values {values.shape}, weights {weights.shape}")
    w = np.ascontiguousarray(weights, np.float32)
    levels = [(np.ascontiguousarray(values * w[..., None], np.float32), w)]
    while max(levels[-1][1].shape) > 1:
        wv, wk = levels[-1]
        levels.append((_down2_numpy(wv), _down2_numpy(wk)))
    out: np.ndarray | None = None
    for wv, wk in reversed(levels):
        if wv.ndim == 2:  # cv2 drops a single channel
            wv = wv[..., None]
        mean = wv / np.maximum(wk, eps)[..., None]
        if out is None:
            out = mean
            continue
        h, w_ = wk.shape
        up = cv2.resize(out, (w_, h), interpolation=cv2.INTER_LINEAR).reshape(h, w_, -1)
        a = np.minimum(wk * confidence_gain, 1.0)[..., None]
        out = up + a * (mean - up)
    assert out is not None
    return out.astype(np.float32)
