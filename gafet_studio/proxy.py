"""Preview proxies: a large source photo stood in for by a smaller copy while sliders move.

Pasting the edited crop back into a 12-24 MP photo dominates a slider move's cost. While the
user drags, the Studio renders against a *proxy*: the same prepared source (same aligned crop,
same fitted mesh) whose photo is downscaled to at most :data:`PROXY_PIXELS`, with the crop ⇄
photo matrices scaled to match. The editor's work is identical; only the paste is cheaper.
Once the sliders rest, the full-resolution render replaces the preview. Export never uses a
proxy. No Qt here: called in workers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from core.editing.pipeline import PreparedSource

PROXY_PIXELS = 3_000_000  # photos above this get a proxy for interactive renders


def proxy_scale(width: int, height: int, max_pixels: int = PROXY_PIXELS) -> float:
    """The factor (< 1) that brings width x height under ``max_pixels``; 1.0 when already under."""
    pixels = width * height
    return 1.0 if pixels <= max_pixels else math.sqrt(max_pixels / pixels)


def make_proxy(prepared: PreparedSource, max_pixels: int = PROXY_PIXELS) -> PreparedSource | None:
    """A copy of the pipeline's PreparedSource on a downscaled photo, or None if it is small.

    The aligned crop, mesh and fit are shared; ``aligned.matrix`` (photo -> crop) and
    ``aligned.inverse`` (crop -> photo) are rescaled to the proxy's pixel grid.
    """
    photo = prepared.photo
    h, w = photo.rgb.shape[:2]
    f = proxy_scale(w, h, max_pixels)
    if f >= 1.0:
        return None
    size = (max(1, round(w * f)), max(1, round(h * f)))
    fx, fy = size[0] / w, size[1] / h
    small = cv2.resize(np.asarray(photo.rgb), size, interpolation=cv2.INTER_AREA)
    small.setflags(write=False)
    alpha = None
    if photo.alpha is not None:
        alpha = cv2.resize(np.asarray(photo.alpha), size, interpolation=cv2.INTER_AREA)
    proxy_photo = dataclasses.replace(photo, rgb=small, alpha=alpha)
    aligned = prepared.aligned
    to_full = np.diag([1.0 / fx, 1.0 / fy, 1.0])  # proxy px -> full px (homogeneous)
    matrix = np.asarray(aligned.matrix, np.float64) @ to_full  # proxy px -> crop px
    inverse = np.diag([fx, fy]) @ np.asarray(aligned.inverse, np.float64)  # crop px -> proxy px
    proxy_aligned = dataclasses.replace(aligned, matrix=matrix, inverse=inverse)
    return dataclasses.replace(
        prepared, photo=proxy_photo, aligned=proxy_aligned, key=(*tuple(prepared.key), "proxy", size)
    )
