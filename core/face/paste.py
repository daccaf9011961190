"""Paste an (edited) aligned crop back into the full-resolution photo.

The crop and its feathered face mask are warped back through the alignment's inverse similarity
into the *bounding box of the warped mask only* and composited there in float32::

    out = photo + m * (warped_crop - photo)        m: the warped mask, in [0, 1]

in bands of rows, so time and memory scale with the face, not the photo (beyond the one copy
that is returned), and every pixel where m == 0 (the whole photo outside the face) is
bit-identical to the input. The input photo is never modified.

Colour-safe mode (``PasteConfig(changed_only=True)``): the mask is further limited to where the
edited crop differs from the unedited one (``AlignedFace.crop``), grown and feathered, so regions
the editor left alone keep the photo's own full-resolution pixels (no resampling softness, no
colour drift); pasting an unedited crop is then an exact no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from core.face.align import AlignedFace, shrink_source, warp_affine
from core.face.masks import face_mask, feather_mask

_BAND_ROWS = 256  # the composite runs in bands of photo rows: float32 memory ~ 3 x 12 B x width x 256


@dataclass(frozen=True, kw_only=True)
class PasteConfig:
    """How the crop is composited into the photo."""

    feather: float = 0.08  # mask ramp width as a fraction of the face size (sqrt hull area)
    changed_only: bool = False  # colour-safe: composite only where the edit changed the crop
    change_threshold: float = 2.0  # levels in 0..255: a larger channel difference counts as changed
    change_grow: float = 0.02  # changed areas are grown and feathered by this fraction of R
    interpolation: int = cv2.INTER_CUBIC  # cv2 flag for resampling the crop

    def __post_init__(self) -> None:
        if self.feather < 0 or self.change_threshold < 0 or self.change_grow < 0:
            raise ValueError(
                f"feather, change_threshold and change_grow must be >= 0, got {self.feather}, "
                f"{self.change_threshold}, {self.change_grow}"
            )


def paste_back(
    photo: np.ndarray,
    aligned: AlignedFace,
    edited: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    config: PasteConfig = PasteConfig(),
) -> np.ndarray:
    """Composite ``edited`` into a copy of ``photo`` where ``aligned`` came from.

    photo:   (H, W, 3) uint8 RGB, the full-resolution photo ``aligned`` was cut from.
    aligned: the AlignedFace (its ``inverse`` places the crop; its landmarks give the mask).
    edited:  (R, R, 3) uint8 RGB, the edited crop (R = aligned.size).
    mask:    (R, R) float32 in [0, 1] in crop space, or None for the feathered mesh hull
             (``masks.face_mask(aligned.landmarks, R, feather=config.feather)``).
    Returns a new (H, W, 3) uint8 array; pixels outside the mask's footprint equal ``photo``.
    """
    size = aligned.size
    _check_rgb(photo, "photo", None)
    _check_rgb(edited, "edited", size)
    if mask is None:
        mask = face_mask(aligned.landmarks, size, feather=config.feather)
    else:
        mask = _check_mask(mask, size)
    if config.changed_only:
        mask = mask * change_mask(aligned.crop, edited, config)

    result = photo.copy()
    box = footprint(mask, aligned.inverse, photo.shape[:2])
    if box is None:
        return result
    x0, y0, x1, y1 = box
    # Shrink once (not per band) when the face is much smaller in the photo than in the crop.
    source, to_photo = shrink_source(edited.astype(np.float32), aligned.inverse)
    mask, _ = shrink_source(mask, aligned.inverse)
    for top in range(y0, y1, _BAND_ROWS):
        bottom = min(top + _BAND_ROWS, y1)
        _composite_band(result, photo, source, mask, to_photo, (x0, top, x1, bottom), config)
    return result


def _composite_band(
    result: np.ndarray,
    photo: np.ndarray,
    source: np.ndarray,
    mask: np.ndarray,
    inverse: np.ndarray,
    box: tuple[int, int, int, int],
    config: PasteConfig,
) -> None:
    """Composite the band [x0, x1) x [y0, y1) of the photo into ``result`` (float32 arithmetic)."""
    x0, y0, x1, y1 = box
    to_band = inverse.copy()
    to_band[:, 2] -= (x0, y0)
    dsize = (x1 - x0, y1 - y0)
    weight = warp_affine(mask, to_band, dsize, interpolation=cv2.INTER_LINEAR, border=cv2.BORDER_CONSTANT)
    if not weight.any():
        return
    np.clip(weight, 0.0, 1.0, out=weight)
    warped = warp_affine(source, to_band, dsize, interpolation=config.interpolation)
    band = photo[y0:y1, x0:x1].astype(np.float32)
    warped -= band
    warped *= weight[:, :, None]
    band += warped  # photo + m * (crop - photo): exactly the photo where m == 0
    np.rint(band, out=band)
    np.clip(band, 0, 255, out=band)
    result[y0:y1, x0:x1] = band


def change_mask(original: np.ndarray, edited: np.ndarray, config: PasteConfig = PasteConfig()) -> np.ndarray:
    """Where ``edited`` differs from ``original`` (both (R, R, 3) uint8): (R, R) float32 in [0, 1],
    1 on changed pixels (max channel difference > change_threshold), grown by change_grow * R and
    feathered over the same width; exactly 0 far from any change."""
    diff = np.abs(edited.astype(np.int16) - original.astype(np.int16)).max(axis=2)
    changed = (diff > config.change_threshold).astype(np.uint8)
    if not changed.any():
        return np.zeros(changed.shape, np.float32)
    grow = max(1, int(round(config.change_grow * changed.shape[0])))
    grown = cv2.dilate(changed, np.ones((4 * grow + 1, 4 * grow + 1), np.uint8))  # by 2 * grow
    return feather_mask(grown, 2 * grow)  # ramps down over the outer half: still 1 on every change


def footprint(
    mask: np.ndarray, inverse: np.ndarray, shape: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """Photo box (x0, y0, x1, y1), end-exclusive, covering crop ``mask`` > 0 mapped by ``inverse``
    (crop -> photo), with a 2 px margin, clipped to ``shape`` (H, W); None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    cx0, cx1 = cols[0] - 1.0, cols[-1] + 1.0
    cy0, cy1 = rows[0] - 1.0, rows[-1] + 1.0
    corners = np.array([[cx0, cy0], [cx1, cy0], [cx0, cy1], [cx1, cy1]])
    pts = corners @ inverse[:, :2].T + inverse[:, 2]
    height, width = shape
    x0 = max(0, int(np.floor(pts[:, 0].min())) - 2)
    y0 = max(0, int(np.floor(pts[:, 1].min())) - 2)
    x1 = min(width, int(np.ceil(pts[:, 0].max())) + 3)
    y1 = min(height, int(np.ceil(pts[:, 1].max())) + 3)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _check_rgb(image: np.ndarray, name: str, size: int | None) -> None:
    ok = isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
    if ok and size is not None:
        ok = image.shape[:2] == (size, size)
    if not ok:
        want = f"({size}, {size}, 3)" if size is not None else "(H, W, 3)"
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{name}: expected {want} uint8 RGB, got {got}")


def _check_mask(mask: np.ndarray, size: int) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.shape != (size, size):
        got = mask.shape if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ValueError(f"mask: expected ({size}, {size}) float in [0, 1], got {got}")
    mask = mask.astype(np.float32, copy=False)
    if not np.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1:
        raise ValueError(f"mask: values must be in [0, 1], got range [{mask.min()}, {mask.max()}]")
    return mask
