"""Validation of photos handed to the face pipeline."""

from __future__ import annotations

import numpy as np


def check_rgb_uint8(image: np.ndarray, name: str = "image") -> None:
    """Raise ValueError unless ``image`` is an (H, W, 3) uint8 numpy array with H, W >= 1."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name}: expected an (H, W, 3) uint8 numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name}: expected shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name}: expected dtype uint8, got {image.dtype}")
