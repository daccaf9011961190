"""Multi-band (Laplacian pyramid) blending of made content into a photo (Burt & Adelson 1983).

Pasting content with a feathered alpha either shows a hard seam (narrow feather) or a ghost of
both images (wide feather). A multi-band blend mixes each spatial frequency band separately, with
the mask blurred to that band's scale: fine detail (teeth edges, lip texture) switches over
within the mask's own 1-2 px edge, while the low frequencies (shading, colour) meet over a few
px, which reads as the soft contact shadow of a real edge instead of a cut-out.

Each image must be meaningful a little beyond its side of the mask, or its low bands bring in
whatever lies there (the stretched lip pixels under a mouth opening): :func:`extend` continues an
image smoothly into the part where it is unknown (pull-push fill, :mod:`core.render.fill`).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from core.render.fill import pull_push_fill


def _pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [image]
    for _ in range(levels):
        out.append(cv2.pyrDown(out[-1], borderType=cv2.BORDER_REFLECT101))
    return out


def _up(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return cv2.pyrUp(image, dstsize=(shape[1], shape[0]), borderType=cv2.BORDER_REFLECT101)


def laplacian_blend(base: np.ndarray, overlay: np.ndarray, mask: np.ndarray, *, levels: int) -> np.ndarray:
    """Blend ``overlay`` into ``base`` where ``mask`` says, band by band.

    base, overlay: (H, W, C) float32, any range. mask: (H, W) float in [0, 1], the weight of
    ``overlay`` at the finest band; band k uses the mask's Gaussian pyramid level k. levels: the
    number of band-pass levels (0 = plain alpha blend); the coarsest mixes over ~2^levels px.
    Returns (H, W, C) float32. Where the mask's pyramid is 0 at every level the result is ``base``
    (up to float rounding), so the change stays within ~2^(levels + 1) px of the mask.
    """
    if base.shape != overlay.shape or base.ndim != 3 or mask.shape != base.shape[:2]:
        raise ValueError(f"laplacian_blend: base {base.shape}, overlay {overlay.shape}, mask {mask.shape}")
    if levels < 0:
        raise ValueError(f"levels must be >= 0, got {levels}")
    a, b = base.astype(np.float32), overlay.astype(np.float32)
    m = mask.astype(np.float32)
    if levels == 0:
        return a + m[..., None] * (b - a)
    ga, gb, gm = _pyramid(a, levels), _pyramid(b, levels), _pyramid(m, levels)
    gm = [g[..., None] if g.ndim == 2 else g for g in gm]
    out = ga[-1] + gm[-1] * (gb[-1] - ga[-1])
    for k in range(levels - 1, -1, -1):
        la = ga[k] - _up(ga[k + 1], ga[k].shape)
        lb = gb[k] - _up(gb[k + 1], gb[k].shape)
        out = _up(out, ga[k].shape) + la + gm[k] * (lb - la)
    return out


def extend(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Continue ``image`` smoothly where it is unknown.

    image: (H, W, C) float32. known: (H, W) float in [0, 1] (1 = keep). Returns (H, W, C) float32,
    exactly ``image`` where known == 1, elsewhere a blend of nearby known values (pull-push);
    ``image`` itself when nothing is known.
    """
    if image.ndim != 3 or known.shape != image.shape[:2]:
        raise ValueError(f"extend: image {image.shape}, known {known.shape}")
    if not (known > 0).any():
        return image.astype(np.float32)
    values = torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1)[None]
    weights = torch.from_numpy(np.ascontiguousarray(known, np.float32))[None, None]
    filled = pull_push_fill(values, weights)[0].permute(1, 2, 0).numpy()
    k = known[..., None] >= 1.0
    return np.where(k, image, filled).astype(np.float32)
