"""Convert a decoded Pillow image of any common pixel mode to 8-bit RGB plus an optional alpha.

Handled modes: 1, L, P (with or without transparency), RGB, RGBA/RGBa/RGBX, LA/La/PA, YCbCr,
CMYK (through its embedded ICC profile when there is one), 16-bit and 32-bit integer greyscale
(``I;16*``, ``I``). 16-bit RGB(A) PNG/TIFF arrive from Pillow as RGB(A) already. Anything else
(``F`` float, LAB, HSV, ...) raises :class:`UnsupportedModeError`.

Colour management: an RGB ICC profile is kept as is (the pixels stay in the photo's colour space
and export re-embeds the profile). A CMYK image with a usable profile is converted to sRGB with
LittleCMS, and the result carries no profile (sRGB is implied). Profiles that do not describe RGB
(greyscale, CMYK after conversion) or that LittleCMS cannot parse are dropped: they cannot be
embedded in an RGB file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageCms

from core.io.errors import UnsupportedModeError

_GREY_16 = ("I;16", "I;16L", "I;16B", "I;16N")
_WITH_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")
_PLAIN = ("1", "L", "P", "RGB", "RGBX", "YCbCr")


class Converted(NamedTuple):
    """rgb: (H, W, 3) uint8; alpha: (H, W) uint8 or None; icc_profile: RGB ICC bytes or None."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    icc_profile: bytes | None


def icc_colour_space(icc: bytes | None) -> str | None:
    """The data colour space of an ICC profile: ``'RGB'``, ``'GRAY'``, ``'CMYK'``... or None."""
    if not icc or len(icc) < 20:
        return None
    return icc[16:20].decode("ascii", errors="replace").strip()


def to_rgb8(image: Image.Image, path: str | Path) -> Converted:
    """Convert a loaded Pillow ``image`` to RGB uint8 (+ alpha). ``path`` is only used in errors.

    Returns new writable arrays that own their memory; the caller should close ``image`` afterwards.
    """
    icc = image.info.get("icc_profile") or None
    mode = image.mode
    if mode == "CMYK":
        return Converted(_cmyk_to_rgb(image, icc), None, None)
    if icc_colour_space(icc) != "RGB":
        icc = None
    if mode in _GREY_16 or mode == "I":
        return Converted(_grey_wide_to_rgb(image, path), None, icc)
    if mode in _WITH_ALPHA or (mode in _PLAIN and "transparency" in image.info):
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        alpha = pixels(rgba.getchannel("A"))
        return Converted(pixels(rgba.convert("RGB")), alpha, icc)
    if mode == "RGB":
        return Converted(pixels(image), None, icc)
    if mode in _PLAIN:
        return Converted(pixels(image.convert("RGB")), None, icc)
    raise UnsupportedModeError(path, mode)


def pixels(image: Image.Image, rows_per_strip: int = 256) -> np.ndarray:
    """Copy a loaded Pillow image into a new writable numpy array, a strip of rows at a time.

    ``np.asarray(image)`` goes through ``tobytes()``, which holds the chunks *and* the joined bytes
    (2x the output) on top of Pillow's buffer; strips keep the extra memory to one strip.
    Returns (H, W) for one-band modes, (H, W, C) otherwise, in the mode's dtype.
    """
    width, height = image.size
    probe = np.asarray(image.crop((0, 0, width, min(1, height))))
    out = np.empty((height, *probe.shape[1:]), dtype=probe.dtype)
    for top in range(0, height, rows_per_strip):
        bottom = min(top + rows_per_strip, height)
        out[top:bottom] = np.asarray(image.crop((0, top, width, bottom)))
    return out


def _grey_wide_to_rgb(image: Image.Image, path: str | Path) -> np.ndarray:
    """16-bit (or 32-bit integer holding 16-bit values) greyscale -> RGB uint8, rounding v/257."""
    grey = pixels(image)
    if grey.dtype.kind not in "iu":
        raise UnsupportedModeError(path, image.mode)
    if int(grey.max(initial=0)) > 65535 or int(grey.min(initial=0)) < 0:
        raise UnsupportedModeError(path, f"{image.mode} (values outside 0..65535)")
    grey8 = ((grey.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return np.repeat(grey8[:, :, None], 3, axis=2)


def _cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> np.ndarray:
    """CMYK -> sRGB through the embedded profile (perceptual intent), else Pillow's naive formula."""
    if icc_colour_space(icc) == "CMYK":
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
            converted = ImageCms.profileToProfile(
                image, source, srgb, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # an unusable profile is treated as absent (documented above)
        if converted is not None:
            return pixels(converted)
    return pixels(image.convert("RGB"))
