"""Detail-preserving paste-back for faces larger in the photo than the crop.

When a face spans more photo pixels than the crop has (``aligned.scale < 1``: a 24 MP portrait
edited through a 512 px crop), pasting the crop back upsamples it and the face comes out
softer than the hair and background around it. An expression edit is mostly a *warp*, and a
warp does not need the crop's pixels: its flow is resolution-independent. So:

1. the crop-space backward flow is mapped to photo space (for a photo pixel P, with c = A P the
   crop point and d(c) the displacement, the source photo point is P + L⁻¹ d(c), L the linear
   part of A) and the photo itself is warped with it (``cv2.remap``, bicubic): full-resolution
   detail;
2. what the editor changed beyond the plain warp (the mouth and eye fills, or everything a
   learned generator does) is added as the upsampled crop residual ``edited - warped``;
3. where that residual is large (content *replaced*, e.g. teeth in a mouth that was closed), the
   photo's warped detail there would be a stretched slit, so it is faded out in favour of the
   upsampled crop (weight ``k`` from the residual's magnitude);
4. the result is composited with the feathered change mask: outside it the photo is bit-identical.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.face.align import AlignedFace
from core.face.paste import footprint

_BAND_ROWS = 256  # photo rows composited at a time
_REPLACED_LEVELS = 24.0  # residual (max over channels, levels) at which the crop fully replaces the photo


def paste_with_detail(
    *,
    photo: np.ndarray,
    aligned: AlignedFace,
    edited: np.ndarray,
    warped: np.ndarray,
    displacement: np.ndarray,
    mask: np.ndarray,
    replaced: np.ndarray | None = None,
) -> np.ndarray:
    """Composite an edit into a copy of the full-resolution photo, warping the photo itself.

    photo: (H, W, 3) uint8. aligned: the source's AlignedFace (crop size R).
    edited: (R, R, 3) uint8 the editor's crop. warped: (R, R, 3) float [0, 255] the source crop
    warped by the same flow (what the edit would be without the editor's own changes).
    displacement: (R, R, 2) float crop px, the backward flow's displacement.
    mask: (R, R) float [0, 1], where the photo may change (exactly 0 elsewhere).
    replaced: (R, R) float [0, 1] or None: where the editor says it made new content (the photo's
    warped detail is not used there); without it this is guessed from the residual's size.
    Returns a new (H, W, 3) uint8 array; pixels outside the mask's footprint equal ``photo``.
    """
    size = aligned.size
    for name, arr, shape in (("edited", edited, (size, size, 3)), ("warped", warped, (size, size, 3)),
                             ("displacement", displacement, (size, size, 2)), ("mask", mask, (size, size))):
        if arr.shape != shape:
            raise ValueError(f"{name}: expected {shape}, got {arr.shape}")
    result = np.array(photo, copy=True)
    box = footprint(mask, aligned.inverse, photo.shape[:2])
    if box is None:
        return result
    x0, y0, x1, y1 = box

    warped = warped.astype(np.float32)
    residual = edited.astype(np.float32) - warped
    changed = cv2.GaussianBlur(np.abs(residual).max(axis=2), (0, 0), 1.0)
    guess = np.clip(changed / _REPLACED_LEVELS, 0.0, 1.0)
    if replaced is not None:
        soft = cv2.GaussianBlur(replaced.astype(np.float32), (0, 0), 1.0)
        guess = np.maximum(guess, np.clip(soft * 1.5, 0.0, 1.0))
    aux = np.dstack([displacement.astype(np.float32), mask.astype(np.float32), 1.0 - guess])
    lin_inv = aligned.inverse[:, :2].astype(np.float32)  # crop-px displacement -> photo px: L^-1 d
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    # bands of rows bound the float32 temporaries (a 24 MP face would need ~1 GB at once)
    for b0 in range(y0, y1, _BAND_ROWS):
        b1 = min(y1, b0 + _BAND_ROWS)
        to_band = aligned.inverse.copy()
        to_band[:, 2] -= (x0, b0)
        dsize = (x1 - x0, b1 - b0)
        aux_b = cv2.warpAffine(aux, to_band, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        m = np.clip(aux_b[..., 2:3], 0.0, 1.0)
        if not m.any():
            continue
        res_b = cv2.warpAffine(residual, to_band, dsize, flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_CONSTANT)
        warp_b = cv2.warpAffine(warped, to_band, dsize, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        d = aux_b[..., :2] @ lin_inv.T
        ys = np.arange(b0, b1, dtype=np.float32)[:, None]
        sharp = cv2.remap(photo, xs + d[..., 0], ys + d[..., 1], interpolation=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)
        k = aux_b[..., 3:4]
        out = k * sharp + (1.0 - k) * warp_b + res_b
        band = photo[b0:b1, x0:x1].astype(np.float32)
        band += m * (out - band)
        np.rint(band, out=band)
        np.clip(band, 0, 255, out=band)
        result[b0:b1, x0:x1] = band.astype(np.uint8)
    return result
