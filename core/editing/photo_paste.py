"""Paste an edit back into the full-resolution photo, resampling the photo's own pixels once.

The aligned crop is itself a resampling of the photo (bicubic, up or down by the alignment's
scale); warping it and resampling it back into the photo would filter every face pixel three
times (the "faces lose detail" of issue 10 §4: half the Laplacian variance of a freckled face).
An expression edit is mostly a *warp*, and a warp does not need the crop's pixels: its flow is
resolution-independent. So, for every photo pixel P near the face:

1. the crop-space backward displacement d (the one the editor moved the source with, eye
   remapping included) is sampled at c = A P (bilinear; A the photo -> crop similarity, L its
   linear part) and the photo itself is sampled at P + L⁻¹ d(c) with ``cv2.remap``
   (bicubic, clamped to [0, 255] against the kernel's overshoot): **one** resampling of the
   original photo pixels, at the photo's resolution, whatever the face's size (bicubic keeps
   the Laplacian variance of a half-pixel shift within 1 %; what remains of the measure's change
   is the edit's own stretching and compression of the skin);
2. *made* content (the editor's ``replaced`` mask: a filled mouth, a drawn or borrowed eye)
   has no photo pixels behind it; it comes from the edited crop (area-shrunk first when the crop
   is more than twice as fine as the photo) and replaces the warped photo there;
3. an editor that does not say what it made (a generator: ``replaced`` None) contributes its
   *change*: the warped photo plus the crop residual ``edited - warped`` (the detail transfer of
   issue 10 §4: the output's own content at the crop's resolution, the photo's fine detail on
   top); where that residual is large (new content), the photo's warped detail is faded out in
   favour of the crop's;
4. the result is composited with the crop's ``mask`` (the edit's feathered region) warped to the
   photo: pixels where it is 0 are the photo's, bit for bit, and are reported outside
   :attr:`PhotoPaste.region`.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from core.face.align import AlignedFace, shrink_source
from core.face.paste import footprint

_BAND_ROWS = 256  # photo rows composited at a time
_REPLACED_LEVELS = 24.0  # residual (max over channels, levels) at which the crop fully replaces the photo


class PhotoPaste(NamedTuple):
    """image: (H, W, 3) uint8 the photo with the edit. region: (H, W) bool, the pixels the edit was
    composited into (the crop mask's footprint, > 0); everywhere else ``image`` equals the photo."""

    image: np.ndarray
    region: np.ndarray


def paste_with_detail(
    *,
    photo: np.ndarray,
    aligned: AlignedFace,
    edited: np.ndarray,
    displacement: np.ndarray,
    mask: np.ndarray,
    replaced: np.ndarray | None = None,
    warped: np.ndarray | None = None,
) -> PhotoPaste:
    """Composite an edit into a copy of the full-resolution photo, warping the photo itself.

    photo: (H, W, 3) uint8. aligned: the source's AlignedFace (crop size R).
    edited: (R, R, 3) uint8 the editor's crop. displacement: (R, R, 2) float crop px, the backward
    displacement the editor moved the source with. mask: (R, R) float [0, 1], where the photo may
    change (exactly 0 elsewhere). replaced: (R, R) float [0, 1], where the editor made new
    content (taken from ``edited``); None: unknown, then ``warped`` ((R, R, 3) float [0, 255], the
    source crop moved by the same displacement) is required and the crop's change is added.
    Returns :class:`PhotoPaste`.
    """
    size = aligned.size
    checks = [("edited", edited, (size, size, 3)), ("displacement", displacement, (size, size, 2)),
              ("mask", mask, (size, size))]
    if replaced is not None:
        checks.append(("replaced", replaced, (size, size)))
    elif warped is None:
        raise ValueError("paste_with_detail needs `replaced` or `warped`")
    else:
        checks.append(("warped", warped, (size, size, 3)))
    for name, arr, shape in checks:
        if arr.shape != shape:
            raise ValueError(f"{name}: expected {shape}, got {arr.shape}")
    result = np.array(photo, copy=True)
    region = np.zeros(photo.shape[:2], bool)
    box = footprint(mask, aligned.inverse, photo.shape[:2])
    if box is None:
        return PhotoPaste(result, region)
    x0, y0, x1, y1 = box

    if replaced is not None:
        weight = np.clip(replaced.astype(np.float32), 0.0, 1.0)
        colour = edited.astype(np.float32)
    else:
        warped = warped.astype(np.float32)
        colour = edited.astype(np.float32) - warped  # the editor's change
        changed = cv2.GaussianBlur(np.abs(colour).max(axis=2), (0, 0), 1.0)
        weight = np.clip(changed / _REPLACED_LEVELS, 0.0, 1.0)
    layers = [colour] if replaced is not None else [colour, warped]
    aux = np.dstack([displacement.astype(np.float32), mask.astype(np.float32), weight])
    shrunk = [shrink_source(layer, aligned.inverse) for layer in layers]  # no aliasing when shrinking
    lin_inv = aligned.inverse[:, :2].astype(np.float32)  # crop-px displacement -> photo px: L^-1 d
    xs = np.arange(x0, x1, dtype=np.float32)[None, :]
    # bands of rows bound the float32 temporaries (a 24 MP face would need ~1 GB at once)
    for b0 in range(y0, y1, _BAND_ROWS):
        b1 = min(y1, b0 + _BAND_ROWS)
        dsize = (x1 - x0, b1 - b0)
        to_band = aligned.inverse.copy()
        to_band[:, 2] -= (x0, b0)
        aux_b = cv2.warpAffine(aux, to_band, dsize, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        m = np.clip(aux_b[..., 2:3], 0.0, 1.0)
        inside = m[..., 0] > 0
        if not inside.any():
            continue
        region[b0:b1, x0:x1] = inside
        d = aux_b[..., :2] @ lin_inv.T
        ys = np.arange(b0, b1, dtype=np.float32)[:, None]
        sharp = cv2.remap(photo, xs + d[..., 0], ys + d[..., 1], interpolation=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT_101).astype(np.float32)
        layers_b = []
        for layer, to_photo in shrunk:
            to_band_c = to_photo.copy()
            to_band_c[:, 2] -= (x0, b0)
            layers_b.append(cv2.warpAffine(layer, to_band_c, dsize, flags=cv2.INTER_CUBIC,
                                           borderMode=cv2.BORDER_REPLICATE))
        k = np.clip(aux_b[..., 3:4], 0.0, 1.0)
        if replaced is not None:
            out = sharp + k * (np.clip(layers_b[0], 0.0, 255.0) - sharp)
        else:
            out = (1.0 - k) * sharp + k * layers_b[1] + layers_b[0]
        band = photo[b0:b1, x0:x1].astype(np.float32)
        band += m * (out - band)
        np.rint(band, out=band)
        np.clip(band, 0, 255, out=band)
        result[b0:b1, x0:x1] = band.astype(np.uint8)
    return PhotoPaste(result, region)
