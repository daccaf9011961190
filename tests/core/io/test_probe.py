"""probe_photo: the header-only check agrees with load_photo on what it refuses, without decoding."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.io import load_photo
from core.io.errors import (
    EmptyFileError,
    ImplausibleSizeError,
    NotAnImageError,
    PhotoNotFoundError,
    PhotoUnreadableError,
    SpecialFileError,
    TooSmallError,
)
from core.io.probe import probe_photo


def _jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A small real JPEG whose SOF0 header is rewritten to claim width x height."""
    Image.new("RGB", (32, 32), (90, 120, 150)).save(path, quality=90)
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def test_header_of_good_photos(tmp_path: Path) -> None:
    rgba = tmp_path / "a.png"
    Image.new("RGBA", (40, 30), (1, 2, 3, 128)).save(rgba)
    header = probe_photo(rgba)
    assert (header.width, header.height, header.format, header.has_alpha) == (40, 30, "PNG", True)
    jpg = tmp_path / "b.jpg"
    Image.fromarray(np.zeros((20, 50, 3), np.uint8)).save(jpg)
    assert probe_photo(jpg).has_alpha is False and probe_photo(jpg).width == 50


@pytest.mark.parametrize("case", ["missing", "folder", "empty", "text", "tiny", "bomb"])
def test_refuses_what_load_photo_refuses(tmp_path: Path, case: str) -> None:
    path = tmp_path / f"{case}.jpg"
    expected = {"missing": PhotoNotFoundError, "folder": PhotoUnreadableError, "empty": EmptyFileError,
                "text": NotAnImageError, "tiny": TooSmallError, "bomb": ImplausibleSizeError}[case]
    if case == "folder":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("not a photo")
    elif case == "tiny":
        Image.new("RGB", (8, 8)).save(path)
    elif case == "bomb":
        _jpeg_claiming(path, 10_000, 10_000)  # 100 MP claimed by a file of a few hundred bytes
    with pytest.raises(expected) as probed:
        probe_photo(path)
    assert path.name in str(probed.value)
    with pytest.raises(expected):
        load_photo(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(SpecialFileError, match="named pipe"):
        probe_photo(fifo)
