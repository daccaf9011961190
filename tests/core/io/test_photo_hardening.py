"""load_photo on hostile inputs: special files, links, header bombs, decoder failures and warnings.

Every case raises a specific PhotoIOError naming the file (exit code 2), never blocks, decodes
nothing it does not have to, and prints nothing.
"""

from __future__ import annotations

import io
import os
import signal
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.errors import EXIT_UNREADABLE
from core.io.errors import (
    CorruptImageError,
    DecoderError,
    EmptyFileError,
    ImplausibleSizeError,
    PhotoNotFoundError,
    PhotoUnreadableError,
    SpecialFileError,
)
from core.io.photo import MAX_PIXELS_PER_BYTE, PLAUSIBLE_PIXELS_FLOOR, load_photo, open_header, open_regular

posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, /dev and symlinks are POSIX")


def _refused(error_type: type, path: Path) -> Exception:
    with pytest.raises(error_type) as info:
        load_photo(path)
    assert path.name in str(info.value) and info.value.exit_code == EXIT_UNREADABLE
    return info.value


def _tiff_with_type(tag: int, new_type: int, path: Path) -> None:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buf, "TIFF")
    data = bytearray(buf.getvalue())
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", data[entry : entry + 2])[0] == tag:
            data[entry + 2 : entry + 4] = struct.pack("<H", new_type)
    path.write_bytes(bytes(data))


@posix_only
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("load_photo blocked on a FIFO"))
    signal.alarm(10)
    try:
        err = _refused(SpecialFileError, fifo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert "named pipe (FIFO)" in str(err) and "0 bytes" not in str(err)


@posix_only
@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_link_to_dev_zero_is_a_character_device(tmp_path: Path) -> None:
    link = tmp_path / "zero.png"
    link.symlink_to("/dev/zero")
    err = _refused(SpecialFileError, link)
    assert "links to '/dev/zero', which is a character device" in str(err) and "empty" not in str(err)
    assert _refused(SpecialFileError, Path("/dev/zero")).target is None


@posix_only
def test_links_that_loop_or_dangle(tmp_path: Path) -> None:
    loop = tmp_path / "loop.jpg"
    loop.symlink_to("loop.jpg")
    assert "loop of links" in str(_refused(PhotoUnreadableError, loop))
    dangling = tmp_path / "gone.jpg"
    dangling.symlink_to("nowhere.jpg")
    assert "link to 'nowhere.jpg', which does not exist" in str(_refused(PhotoUnreadableError, dangling))
    _refused(PhotoNotFoundError, tmp_path / "never_there.jpg")


def test_empty_regular_file_still_says_empty(tmp_path: Path) -> None:
    path = tmp_path / "zero.jpg"
    path.write_bytes(b"")
    assert "empty (0 bytes)" in str(_refused(EmptyFileError, path))


def _jpeg_claiming(width: int, height: int, pad_to: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 40, 3), np.uint8)).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    at = data.index(b"\xff\xc0") + 5
    data[at : at + 4] = struct.pack(">HH", height, width)
    filler = pad_to - len(data) - 4
    return bytes(data[:2] + b"\xff\xfe" + struct.pack(">H", filler + 2) + bytes(filler) + data[2:])


def test_5kb_jpeg_claiming_10000_squared_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "claims.jpg"
    path.write_bytes(_jpeg_claiming(10000, 10000, 5632))
    assert path.stat().st_size == 5632
    err = _refused(ImplausibleSizeError, path)
    assert err.size == (10000, 10000) and err.file_bytes == 5632
    assert "10000x10000" in str(err) and "5,632 bytes" in str(err)


def test_plausibility_bound_spares_real_and_flat_images(tmp_path: Path) -> None:
    # below the floor a claim is not judged (decoding it costs at most ~16 MB): libjpeg pads the
    # missing rows of a crafted 1,900 x 1,900 claim in 5.5 KB with grey, as it does for 10000^2
    small_claim = tmp_path / "small_claim.jpg"
    small_claim.write_bytes(_jpeg_claiming(1900, 1900, 5632))
    assert 1900 * 1900 < PLAUSIBLE_PIXELS_FLOOR
    assert load_photo(small_claim).size == (1900, 1900)
    # a flat 3000 x 2000 PNG (6 MP) compresses to ~300 pixels per byte: it is not refused
    flat = tmp_path / "flat.png"
    Image.new("RGB", (3000, 2000), (200, 180, 160)).save(flat)
    assert 3000 * 2000 / flat.stat().st_size < MAX_PIXELS_PER_BYTE
    assert load_photo(flat).size == (3000, 2000)


@pytest.mark.parametrize("field_type", [11, 5, 2, 7], ids=["FLOAT", "RATIONAL", "ASCII", "UNDEFINED"])
def test_tiff_strip_offsets_of_the_wrong_type(tmp_path: Path, field_type: int) -> None:
    path = tmp_path / "strips.tif"
    _tiff_with_type(273, field_type, path)
    err = _refused(DecoderError, path)
    assert isinstance(err, CorruptImageError) and err.cause == "TypeError" and err.fmt == "TIFF"
    assert "TIFF decoder failed" in str(err)


def test_corrupt_exif_prints_no_warning_and_is_dropped(tmp_path: Path, capfd) -> None:
    exif = Image.Exif()
    exif[0x010E] = "a description " * 8
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buf, "JPEG", exif=exif.tobytes())
    data = bytearray(buf.getvalue())
    tiff = data.index(b"Exif\x00\x00") + 6
    order = "<" if data[tiff : tiff + 2] == b"II" else ">"
    entry = data.index(struct.pack(order + "HH", 0x010E, 2), tiff)
    data[entry + 4 : entry + 8] = struct.pack(order + "I", 60000)  # the text runs past the block
    path = tmp_path / "exif.jpg"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        photo = load_photo(path)
    assert not caught, [str(w.message) for w in caught]
    assert photo.size == (64, 64) and photo.orientation == 1
    assert "Warning" not in capfd.readouterr().err


def test_damaged_png_header_is_damaged_not_a_non_image(tmp_path: Path) -> None:
    path = tmp_path / "header.png"
    Image.new("RGB", (32, 32)).save(path)
    data = bytearray(path.read_bytes())
    data[29] ^= 0xFF  # IHDR's CRC
    path.write_bytes(bytes(data))
    assert "PNG header is damaged" in str(_refused(CorruptImageError, path))


def test_open_header_applies_the_same_rules_without_decoding(tmp_path: Path) -> None:
    path = tmp_path / "claims.jpg"
    path.write_bytes(_jpeg_claiming(10000, 10000, 5632))
    fh, size = open_regular(path)
    with fh, pytest.raises(ImplausibleSizeError):
        open_header(fh, path, size)
    good = tmp_path / "good.png"
    Image.new("RGB", (40, 30)).save(good)
    fh, size = open_regular(good)
    with fh, open_header(fh, good, size) as image:
        assert image.size == (40, 30) and image.format == "PNG"
