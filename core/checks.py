"""Shape, dtype and range checks for tensors and images crossing module boundaries."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

Dim = int | str | None


def assert_shape(t: torch.Tensor, shape: Sequence[Dim], name: str = "tensor") -> dict[str, int]:
    """Check ``t.shape`` against ``shape`` and return the sizes bound to named dimensions.

    ``shape`` holds ints (must match), ``None`` (anything) or strings (named sizes: every
    occurrence of a name must have the same size). Raises ``ValueError`` naming got and expected.

    >>> assert_shape(torch.zeros(2, 3, 8, 8), ("B", 3, "H", "W"))
    {'B': 2, 'H': 8, 'W': 8}
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.ndim != len(shape):
        raise ValueError(f"{name}: expected {len(shape)} dims {tuple(shape)}, got shape {tuple(t.shape)}")
    bound: dict[str, int] = {}
    for i, (size, want) in enumerate(zip(t.shape, shape, strict=True)):
        if want is None:
            continue
        if isinstance(want, str):
            if want in bound and bound[want] != size:
                raise ValueError(
                    f"{name}: dim {i} ('{want}') is {size}, but '{want}' was {bound[want]} earlier; "
                    f"shape {tuple(t.shape)} vs expected {tuple(shape)}"
                )
            bound[want] = size
        elif size != want:
            raise ValueError(
                f"{name}: dim {i} is {size}, expected {want}; shape {tuple(t.shape)} vs {tuple(shape)}"
            )
    return bound


def assert_float(t: torch.Tensor, name: str = "tensor") -> None:
    """Raise ``TypeError`` unless ``t`` has a floating-point dtype."""
    if not t.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got {t.dtype}")


def check_crop(image: np.ndarray, size: int | None, name: str = "crop") -> None:
    """Raise ``ValueError`` unless ``image`` is a square (R, R, 3) uint8 RGB crop.

    size: the required side R, or None for any square crop. The message names ``name``, what was
    expected and what came, e.g. ``source_crop: expected (512, 512, 3) uint8 RGB, got float32 (64, 64, 3)``.
    """
    ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    ok = ok and image.shape[0] == image.shape[1] and (size is None or image.shape[0] == size)
    if not ok:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        want = f"({size}, {size}, 3)" if size else "(R, R, 3)"
        raise ValueError(f"{name}: expected {want} uint8 RGB, got {got}")
