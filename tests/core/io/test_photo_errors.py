"""load_photo refuses bad inputs with specific, user-facing errors naming the file."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.errors import EXIT_UNREADABLE, GafetError
from core.io import load_photo
from core.io.errors import (
    CorruptImageError,
    EmptyFileError,
    ImageTooLargeError,
    NotAnImageError,
    PhotoNotFoundError,
    PhotoUnreadableError,
    TooSmallError,
    UnsupportedFormatError,
    UnsupportedModeError,
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG file whose IHDR claims width x height (8-bit RGB); its data is one short row."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x80" * 30)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _expect(error_type, path, **kwargs):
    with pytest.raises(error_type) as info:
        load_photo(path, **kwargs)
    assert isinstance(info.value, GafetError)
    assert path.name in str(info.value), f"message should name the file: {info.value}"
    assert info.value.path == path and info.value.exit_code == EXIT_UNREADABLE
    return info.value


def test_missing_file(tmp_path):
    _expect(PhotoNotFoundError, tmp_path / "nope.jpg")


def test_directory(tmp_path):
    folder = tmp_path / "looks_like.jpg"
    folder.mkdir()
    err = _expect(PhotoUnreadableError, folder)
    assert "folder" in str(err)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_no_read_permission(tmp_path, media):
    path = tmp_path / "locked.jpg"
    path.write_bytes(media.path("happy.jpg").read_bytes())
    path.chmod(0)
    try:
        _expect(PhotoUnreadableError, path)
    finally:
        path.chmod(0o600)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    _expect(EmptyFileError, path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("This is not a photo.\n" * 20)
    _expect(NotAnImageError, path)


def test_truncated_jpeg(tmp_path, media):
    data = media.path("happy.jpg").read_bytes()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) * 6 // 10])
    _expect(CorruptImageError, path)


def test_png_with_damaged_data(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    path = tmp_path / "damaged.png"
    Image.fromarray(pixels).save(path)
    data = bytearray(path.read_bytes())
    start = data.index(b"IDAT") + 40
    data[start : start + 200] = bytes(200)  # zero out compressed data (CRC no longer matches)
    path.write_bytes(bytes(data))
    _expect(CorruptImageError, path)


def test_one_pixel_image(tmp_path):
    path = tmp_path / "dot.png"
    Image.new("RGB", (1, 1)).save(path)
    err = _expect(TooSmallError, path)
    assert "too small for a face" in str(err) and (err.width, err.height) == (1, 1)


def test_thin_image_is_too_small(tmp_path):
    path = tmp_path / "strip.png"
    Image.new("RGB", (400, 15)).save(path)
    _expect(TooSmallError, path)
    assert load_photo(path, min_side=8).size == (400, 15)


def test_header_claiming_40000_squared_is_refused_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_claiming(40000, 40000))
    assert path.stat().st_size < 200
    err = _expect(ImageTooLargeError, path)
    assert err.pixels == 40000 * 40000


def test_header_above_own_limit_reports_its_size(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(png_claiming(12000, 10000))  # 120 MP: above 100 MP, below Pillow's hard cap
    err = _expect(ImageTooLargeError, path)
    assert err.size == (12000, 10000) and "12000x10000" in str(err)


def test_max_pixels_is_configurable(media):
    path = media.path("happy.jpg")
    with pytest.raises(ImageTooLargeError):
        load_photo(path, max_pixels=100_000)
    assert load_photo(path, max_pixels=512 * 512).size == (512, 512)


def test_unsupported_format(tmp_path):
    path = tmp_path / "anim.gif"
    Image.new("P", (32, 32)).save(path)
    err = _expect(UnsupportedFormatError, path)
    assert "GIF" in str(err)


def test_float_tiff_is_an_unsupported_mode(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.zeros((32, 32), np.float32)).save(path)
    err = _expect(UnsupportedModeError, path)
    assert err.mode == "F"
