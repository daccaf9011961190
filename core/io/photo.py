"""Load a photo from disk as upright 8-bit RGB, with what export needs to write it back.

``load_photo(path)`` checks the path, reads only the header first (size limits are enforced
*before* any pixel is decoded, so a "decompression bomb" costs nothing), decodes, applies the EXIF
orientation and converts any common pixel mode to RGB uint8 (see :mod:`core.io.convert`).

Memory: the result holds one (H, W, 3) uint8 array (a 24 MP photo is 72 MB); no float copy is
made. While converting, Pillow's decoded image (4 bytes per pixel for RGB) coexists with it and
is copied over a strip of rows at a time: the process peak is about 2.5x the array (see
benchmarks/bench_memory.py). Rotation for EXIF orientation costs one more array-sized copy.
"""

from __future__ import annotations

import errno
import os
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from core.io.convert import to_rgb8
from core.io.errors import (
    CorruptImageError,
    EmptyFileError,
    ImageTooLargeError,
    NotAnImageError,
    PhotoNotFoundError,
    PhotoUnreadableError,
    TooSmallError,
    UnsupportedFormatError,
)
from core.io.orientation import ORIENTATION_TAG, upright

# Pillow format names accepted (MPO = the multi-picture JPEG many phone cameras write).
SUPPORTED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF")
SUPPORTED_TEXT = "JPEG, PNG, WebP, BMP or TIFF"
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP; Pillow itself refuses above 2x its MAX_IMAGE_PIXELS (179 MP)
DEFAULT_MIN_SIDE = 16


@dataclass(frozen=True, eq=False, kw_only=True)
class Photo:
    """A decoded photo, upright (EXIF orientation applied).

    rgb:          (H, W, 3) uint8, read-only. The pixels, in the colour space of ``icc_profile``
                  (sRGB when None).
    alpha:        (H, W) uint8 read-only, or None when the file has no transparency.
    icc_profile:  RGB ICC profile bytes to embed on export, or None.
    exif:         EXIF block (bytes, orientation tag removed) to carry on export, or None.
    source_path:  the file it came from.
    format:       Pillow's format name: "JPEG", "PNG", "WEBP", "BMP", "TIFF" or "MPO".
    source_mode:  the pixel mode in the file, e.g. "RGB", "CMYK", "I;16", "P".
    orientation:  the EXIF orientation (1..8) that was applied; 1 = none.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    icc_profile: bytes | None
    exif: bytes | None
    source_path: Path
    format: str
    source_mode: str
    orientation: int = 1

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the upright photo in pixels (the original resolution)."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    @property
    def original_size(self) -> tuple[int, int]:
        """Alias of :attr:`size`: the full resolution export writes back."""
        return self.size


def load_photo(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> Photo:
    """Read a JPEG/PNG/WebP/BMP/TIFF photo as upright RGB uint8.

    max_pixels: refuse (``ImageTooLargeError``) a header claiming more pixels, before decoding.
                Pillow's own cap (2x ``PIL.Image.MAX_IMAGE_PIXELS``, 179 MP) applies above it.
    min_side:   refuse (``TooSmallError``) an image whose width or height is smaller.

    Raises a :class:`core.io.errors.PhotoIOError` subclass naming the file for: a missing path
    (PhotoNotFoundError), a folder or unreadable file (PhotoUnreadableError), a zero-byte file
    (EmptyFileError), a non-image (NotAnImageError), an unsupported format (UnsupportedFormatError),
    too many or too few pixels, damaged or truncated data (CorruptImageError) and a pixel mode
    that has no RGB meaning (UnsupportedModeError).
    """
    if max_pixels < 1 or min_side < 1:
        raise ValueError(f"max_pixels and min_side must be >= 1, got {max_pixels}, {min_side}")
    path = Path(path)
    _check_path(path)
    try:
        with open(path, "rb") as fh:
            return _decode(fh, path, max_pixels, min_side)
    except PermissionError as err:
        raise PhotoUnreadableError(path, "permission denied") from err
    except IsADirectoryError as err:
        raise PhotoUnreadableError(path, "it is a folder, not a file") from err
    except OSError as err:  # opening failed (I/O error, too many open files, ...)
        raise PhotoUnreadableError(path, err.strerror or str(err)) from err


def _check_path(path: Path) -> None:
    try:
        st = path.stat()
    except FileNotFoundError as err:
        raise PhotoNotFoundError(path) from err
    except NotADirectoryError as err:
        raise PhotoNotFoundError(path) from err
    except PermissionError as err:
        raise PhotoUnreadableError(path, "permission denied") from err
    except OSError as err:
        raise PhotoUnreadableError(path, err.strerror or str(err)) from err
    if path.is_dir():
        raise PhotoUnreadableError(path, "it is a folder, not a file")
    if st.st_size == 0:
        raise EmptyFileError(path)


def _decode(fh: BinaryIO, path: Path, max_pixels: int, min_side: int) -> Photo:
    try:
        with warnings.catch_warnings():
            # Our own limit (checked below) replaces Pillow's warning band; its hard error remains.
            # (catch_warnings is process-global; a race between threads can at worst leave this
            # one warning ignored.)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fh)
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(path, _claimed_pixels(err), max_pixels) from err
    except Image.UnidentifiedImageError as err:
        raise NotAnImageError(path) from err
    except (SyntaxError, ValueError, EOFError) as err:  # a recognised header that is malformed
        raise CorruptImageError(path, str(err) or type(err).__name__) from err
    except OSError as err:
        raise _os_error(path, err) from err

    with image:
        if image.format not in SUPPORTED_FORMATS:
            raise UnsupportedFormatError(path, image.format or "unknown", SUPPORTED_TEXT)
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLargeError(path, width * height, max_pixels, size=(width, height))
        if min(width, height) < min_side:
            raise TooSmallError(path, width, height, min_side)

        source_mode = image.mode
        fmt = image.format
        try:
            image.load()  # first: PNG's getexif() would otherwise decode, and hide a failure
            orientation, exif = _read_exif(image)
            converted = to_rgb8(image, path)
            image.close()  # free Pillow's pixels before rotating (memory peak)
        except (SyntaxError, ValueError, EOFError) as err:
            raise CorruptImageError(path, str(err) or type(err).__name__) from err
        except OSError as err:
            raise _os_error(path, err) from err

    rgb = upright(converted.rgb, orientation)
    alpha = None if converted.alpha is None else upright(converted.alpha, orientation)
    rgb.flags.writeable = False
    if alpha is not None:
        alpha.flags.writeable = False
    return Photo(
        rgb=rgb,
        alpha=alpha,
        icc_profile=converted.icc_profile,
        exif=exif,
        source_path=path,
        format=fmt,
        source_mode=source_mode,
        orientation=orientation,
    )


def _read_exif(image: Image.Image) -> tuple[int, bytes | None]:
    """(EXIF orientation 1..8, EXIF bytes without the orientation tag or None).

    A malformed EXIF block is treated as absent: it does not make the pixels unusable.
    """
    try:
        exif_data = image.getexif()
        orientation = exif_data.get(ORIENTATION_TAG, 1)
        if ORIENTATION_TAG in exif_data:
            del exif_data[ORIENTATION_TAG]
        exif = exif_data.tobytes() if len(exif_data) else None
    except (ValueError, OSError, SyntaxError, KeyError, struct.error):
        return 1, None
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    return orientation, exif


def _os_error(path: Path, err: OSError) -> Exception:
    """Map an OSError raised while reading to a user-facing error."""
    if isinstance(err, PermissionError):
        return PhotoUnreadableError(path, "permission denied")
    if err.errno in (errno.EIO, errno.ENXIO, errno.ESTALE):
        return PhotoUnreadableError(path, err.strerror or str(err))
    return CorruptImageError(path, str(err) or type(err).__name__)


def _claimed_pixels(err: Image.DecompressionBombError) -> int:
    """The pixel count in Pillow's bomb message ("Image size (N pixels) exceeds ..."); 0 if absent."""
    found = re.search(r"\((\d+) pixels\)", str(err))
    return int(found.group(1)) if found else 0
