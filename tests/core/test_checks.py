"""core.checks: the shared boundary checks."""

from __future__ import annotations

import numpy as np
import pytest

from core.checks import check_crop


def test_check_crop_accepts_square_uint8_rgb() -> None:
    check_crop(np.zeros((64, 64, 3), np.uint8), 64, "source_crop")
    check_crop(np.zeros((40, 40, 3), np.uint8), None, "reference_crop")  # any square side


@pytest.mark.parametrize(("image", "size", "message"), [
    (np.zeros((64, 64, 3), np.float32), 64, r"source_crop: expected \(64, 64, 3\) uint8 RGB, got float32"),
    (np.zeros((64, 32, 3), np.uint8), None, r"expected \(R, R, 3\) uint8 RGB, got uint8 \(64, 32, 3\)"),
    (np.zeros((32, 32, 3), np.uint8), 64, r"got uint8 \(32, 32, 3\)"),
    (np.zeros((64, 64), np.uint8), 64, r"got uint8 \(64, 64\)"),
    ([[0]], 64, "got list"),
])
def test_check_crop_names_what_came_and_what_was_expected(image: object, size: int | None,
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_crop(image, size, "source_crop")  # type: ignore[arg-type]
