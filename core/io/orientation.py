"""EXIF orientation: make a decoded array upright.

The EXIF tag 0x0112 says how the stored pixels must be transformed for display (1 = as stored,
6 = rotate 90° clockwise, ...). Applied on numpy arrays as views plus one contiguous copy, so a
large photo never needs two decoded Pillow images at once.
"""

from __future__ import annotations

import numpy as np

ORIENTATION_TAG = 0x0112


def upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF ``orientation`` (1..8) to ``array`` (H, W[, C]) and return a contiguous array.

    Orientation 1 (and any unknown value) returns ``array`` unchanged. 5..8 swap width and height.
    """
    if orientation == 2:
        view = array[:, ::-1]
    elif orientation == 3:
        view = array[::-1, ::-1]
    elif orientation == 4:
        view = array[::-1]
    elif orientation == 5:
        view = array.swapaxes(0, 1)
    elif orientation == 6:
        view = np.rot90(array, -1)
    elif orientation == 7:
        view = np.rot90(array, 2).swapaxes(0, 1)
    elif orientation == 8:
        view = np.rot90(array, 1)
    else:
        return array
    return np.ascontiguousarray(view)
