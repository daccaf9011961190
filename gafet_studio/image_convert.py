"""numpy ⇄ QImage conversions. Safe in any thread (QImage, never QPixmap)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtGui import QImage


def to_qimage(rgb: np.ndarray) -> QImage:
    """rgb: (H, W, 3) or (H, W) uint8 -> a QImage that owns a copy of the pixels.

    Works off the GUI thread: a QImage is a plain pixel buffer (a QPixmap is not).
    """
    if rgb.dtype != np.uint8:
        raise ValueError(f"to_qimage wants uint8 pixels, got {rgb.dtype}")
    if rgb.ndim == 2:
        arr = np.ascontiguousarray(rgb)
        h, w = arr.shape
        img = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8)
        return img.copy()
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError(f"to_qimage wants (H, W, 3|4) pixels, got shape {rgb.shape}")
    arr = np.ascontiguousarray(rgb)
    h, w, c = arr.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    img = QImage(arr.data, w, h, arr.strides[0], fmt)
    return img.copy()  # detach from the numpy buffer


def from_qimage(img: QImage) -> np.ndarray:
    """A QImage -> (H, W, 3) uint8 RGB (a copy)."""
    conv = img.convertToFormat(QImage.Format.Format_RGB888)
    h, w = conv.height(), conv.width()
    buf = np.frombuffer(conv.constBits(), dtype=np.uint8, count=conv.sizeInBytes())
    return buf.reshape(h, conv.bytesPerLine())[:, : w * 3].reshape(h, w, 3).copy()


def thumbnail(
    rgb: np.ndarray, box: tuple[float, float, float, float], size: int = 96, margin: float = 0.25
) -> np.ndarray:
    """A square crop around ``box`` = (x0, y0, x1, y1) in pixels, resized to ``size``² (uint8 RGB)."""
    import cv2

    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * (0.5 + margin)
    a0, b0 = int(max(0, cx - half)), int(max(0, cy - half))
    a1, b1 = int(min(w, cx + half)), int(min(h, cy + half))
    if a1 <= a0 or b1 <= b0:
        return np.zeros((size, size, 3), np.uint8)
    crop = rgb[b0:b1, a0:a1]
    ch, cw = crop.shape[:2]
    side = max(ch, cw)
    canvas = np.zeros((side, side, 3), np.uint8)
    canvas[(side - ch) // 2 : (side - ch) // 2 + ch, (side - cw) // 2 : (side - cw) // 2 + cw] = crop[..., :3]
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)


def to_display_qimage(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 RGB -> a QImage in ``Format_RGB32``, the raster paint engine's native format.

    Converting costs a little in the worker but makes ``QPixmap.fromImage`` on the GUI thread
    almost free (no per-pixel conversion there), which matters for 12-24 MP photos. The image
    wraps the converted array (no second copy).
    """
    import cv2

    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"to_display_qimage wants (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    return wrap_bgra(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA))  # B, G, R, A bytes


def display_pixels(image: QImage) -> np.ndarray:
    """A ``Format_RGB32`` QImage's pixels as a read-only (H, W, 4) uint8 B, G, R, A view (no copy;
    valid while ``image`` lives)."""
    if image.format() != QImage.Format.Format_RGB32:
        raise ValueError(f"display_pixels wants a Format_RGB32 image, got {image.format()}")
    h, w, bpl = image.height(), image.width(), image.bytesPerLine()
    buf = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    return buf.reshape(h, bpl)[:, : w * 4].reshape(h, w, 4)


@dataclass(frozen=True)
class DisplayPatch:
    """Where a display image differs from the photo it was made from (see
    :func:`patched_display_qimage`): image, the ``Format_RGB32`` pixels of that box; (x, y) its
    top-left in the photo (px); base_key: the ``cacheKey()`` of the photo's display QImage. A view
    that already shows that photo draws just the patch over it."""

    image: QImage
    x: int
    y: int
    base_key: int


def patched_display_qimage(base: QImage, rgb: np.ndarray, box: tuple[int, int, int, int] | None) -> QImage:
    """:func:`to_display_qimage` of ``rgb`` when it differs from ``base`` (the same photo, already
    converted) only inside ``box`` = (x0, y0, x1, y1), end-exclusive: a copy of ``base`` with just
    the box converted (a 24 MP edit converts its face, not the photo). box None: nothing differs.
    The box's pixels ride along as a :class:`DisplayPatch` (:func:`display_patch`)."""
    import cv2

    out = np.array(display_pixels(base), copy=True)
    if out.shape[:2] != rgb.shape[:2]:
        raise ValueError(f"base {out.shape[:2]} and rgb {rgb.shape[:2]} differ in size")
    if box is None:
        x0 = y0 = 0
        patch = np.zeros((0, 0, 4), np.uint8)
    else:
        x0, y0, x1, y1 = box
        patch = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2BGRA)
        out[y0:y1, x0:x1] = patch
    image = wrap_bgra(out)
    patch_image = wrap_bgra(patch) if patch.size else QImage()
    image._patch = DisplayPatch(image=patch_image, x=int(x0), y=int(y0), base_key=int(base.cacheKey()))
    return image


def display_patch(image: QImage) -> DisplayPatch | None:
    """The :class:`DisplayPatch` a :func:`patched_display_qimage` carries (None for other images)."""
    patch = getattr(image, "_patch", None)
    return patch if isinstance(patch, DisplayPatch) else None


def wrap_bgra(bgra: np.ndarray) -> QImage:
    """(H, W, 4) uint8 in B, G, R, 255 byte order -> a ``Format_RGB32`` QImage over the same memory
    (no copy: the image keeps the array alive). Any thread; never write to the array afterwards."""
    if bgra.dtype != np.uint8 or bgra.ndim != 3 or bgra.shape[2] != 4 or not bgra.flags.c_contiguous:
        raise ValueError(f"wrap_bgra wants contiguous (H, W, 4) uint8, got {bgra.shape} {bgra.dtype}")
    h, w = bgra.shape[:2]
    image = QImage(bgra.data, w, h, bgra.strides[0], QImage.Format.Format_RGB32)
    image._pixels = bgra  # the QImage does not own the buffer: keep it alive with the image
    return image
