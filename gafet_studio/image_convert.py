"""numpy ⇄ QImage conversions. Safe in any thread (QImage, never QPixmap)."""

from __future__ import annotations

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
    almost free (no per-pixel conversion there), which matters for 12-24 MP photos.
    """
    import cv2

    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"to_display_qimage wants (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    bgra = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA)  # RGB32 is 0xffRRGGBB: B,G,R,A bytes
    h, w = bgra.shape[:2]
    return QImage(bgra.data, w, h, bgra.strides[0], QImage.Format.Format_RGB32).copy()
