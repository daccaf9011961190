"""Load a photo from disk as upright 8-bit RGB, with what export needs to write it back.

``load_photo(path)`` checks the path, reads only the header first (size limits are enforced
*before* any pixel is decoded, so a "decompression bomb" costs nothing), decodes, applies the EXIF
orientation and converts any common pixel mode to RGB uint8 (see :mod:`core.io.convert`).

Hostile input: only regular files are opened (a FIFO, a device or a link to one is refused from
its ``stat``, and the open is non-blocking); only the supported formats' parsers run; a header
claiming far more pixels than the file's bytes can hold is refused before decoding
(:data:`MAX_PIXELS_PER_BYTE`); every exception the decoder raises becomes a
:class:`core.io.errors.PhotoIOError` naming the file (``DecoderError`` for the unforeseen ones,
e.g. Pillow's ``TypeError`` on a TIFF tag of the wrong type); decoder warnings are logged, not
printed. ``open_regular`` + ``open_header`` are the same checks without decoding, for cheap
validation of inputs. ``tools/fuzz_loader.py`` and ``tools/make_bad_inputs.py`` exercise all this.

Memory: the result holds one (H, W, 3) uint8 array (a 24 MP photo is 72 MB); no float copy is
made. While converting, Pillow's decoded image (4 bytes per pixel for RGB) coexists with it and
is copied over a strip of rows at a time: the process peak is about 2.5x the array (see
benchmarks/bench_memory.py). Rotation for EXIF orientation costs one more array-sized copy.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import stat
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from core.io.convert import to_rgb8
from core.io.errors import (
    CorruptImageError,
    DecoderError,
    EmptyFileError,
    ImageTooLargeError,
    ImplausibleSizeError,
    NotAnImageError,
    PhotoIOError,
    PhotoNotFoundError,
    PhotoUnreadableError,
    SpecialFileError,
    TooSmallError,
    UnsupportedFormatError,
)
from core.io.orientation import ORIENTATION_TAG, upright

# Pillow format names accepted (MPO = the multi-picture JPEG many phone cameras write).
SUPPORTED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF")
SUPPORTED_TEXT = "JPEG, PNG, WebP, BMP or TIFF"
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP; Pillow itself refuses above 2x its MAX_IMAGE_PIXELS (179 MP)
DEFAULT_MIN_SIDE = 16
# "Decoding is bounded by the bytes actually present": a header claiming more than
# MAX_PIXELS_PER_BYTE pixels per byte of file is refused before decoding (ImplausibleSizeError),
# unless the claim is at most PLAUSIBLE_PIXELS_FLOOR pixels (decoding that costs at most ~16 MB).
# Real photos hold 2-20 pixels per byte; a flat-colour PNG about 300 (deflate's ~1000:1 over 3
# bytes per pixel); a 24 MP photo must therefore be at least 24 KB. The 5.5 KB JPEG claiming
# 10000x10000 (18,000 pixels per byte) is refused at once instead of decoded to 1.4 GB of grey.
MAX_PIXELS_PER_BYTE = 1000
PLAUSIBLE_PIXELS_FLOOR = 4_000_000

_log = logging.getLogger(__name__)
_OPENERS = tuple(f for f in SUPPORTED_FORMATS if f != "MPO")  # Pillow's JPEG opener returns MPO files
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)  # POSIX; Windows has no FIFOs to block on


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

    Raises a :class:`core.io.errors.PhotoIOError` subclass naming the file, and nothing else, for
    any input: a missing path (PhotoNotFoundError), a folder, an unreadable file or a loop of
    links (PhotoUnreadableError), a FIFO, device or socket, or a link to one (SpecialFileError,
    never opened for reading), a zero-byte file (EmptyFileError), a non-image (NotAnImageError),
    an unsupported format (UnsupportedFormatError), too many pixels (ImageTooLargeError), more
    pixels than the file's bytes can hold (ImplausibleSizeError, see :data:`MAX_PIXELS_PER_BYTE`),
    too few pixels (TooSmallError), damaged or truncated data (CorruptImageError; DecoderError
    when the decoder fails in an unforeseen way) and a pixel mode that has no RGB meaning
    (UnsupportedModeError). Warnings the decoder emits (e.g. Pillow's "Corrupt EXIF data") are
    logged, never printed; a damaged EXIF block is treated as absent.
    """
    if max_pixels < 1 or min_side < 1:
        raise ValueError(f"max_pixels and min_side must be >= 1, got {max_pixels}, {min_side}")
    path = Path(path)
    fh, file_bytes = open_regular(path)
    with fh, _quiet_decoder(path):
        return _decode(fh, path, file_bytes, max_pixels, min_side)


def open_header(
    fh: BinaryIO,
    path: Path,
    file_bytes: int,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    min_side: int = DEFAULT_MIN_SIDE,
) -> Image.Image:
    """Parse a photo's header only (Pillow's lazy open) and apply :func:`load_photo`'s header rules.

    ``fh``/``file_bytes`` come from :func:`open_regular`; ``path`` is used in errors. Returns the
    lazily opened Pillow image (no pixel decoded; the caller closes it). Raises the same
    PhotoIOError subclasses as ``load_photo`` for everything a header can show (not an image,
    unsupported format, damaged header, too many / implausibly many / too few pixels), and never
    anything else. For cheap input validation before anything heavy loads.
    """
    with _quiet_decoder(path):
        try:
            image = _open_image(fh, path)
        except PhotoIOError:
            raise
        except Exception as err:
            raise _photo_error(path, "image", err, max_pixels) from err
        try:
            _check_size(path, image, file_bytes, max_pixels, min_side)
        except BaseException:
            image.close()
            raise
        return image


@contextlib.contextmanager
def _quiet_decoder(path: Path) -> Iterator[None]:
    """Record every warning raised inside (instead of printing it) and log it.

    Our own limits replace Pillow's bomb warning; its hard error remains. (catch_warnings is
    process-global: a warning another thread raises meanwhile is logged here too, not shown.)
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            yield
        finally:
            for w in caught:
                _log.info("%s: %s: %s", path, w.category.__name__, w.message)


def open_regular(path: str | os.PathLike[str]) -> tuple[BinaryIO, int]:
    """Open ``path`` for binary reading if it is a non-empty regular file (links followed).

    Returns (file, its size in bytes); the caller closes the file. Refuses, without reading a
    byte: a missing path or a link to nothing, a folder, a loop of links, no permission, a FIFO /
    device / socket or a link to one (SpecialFileError), an empty file. The type is checked from
    ``stat`` before opening and again with ``fstat`` on the open descriptor (opened non-blocking,
    so a FIFO swapped in between cannot make ``open`` wait for a writer).
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError) as err:
        if os.path.islink(path):
            raise PhotoUnreadableError(
                path, f"it is a symbolic link to '{_link_target(path)}', which does not exist"
            ) from err
        raise PhotoNotFoundError(path) from err
    except OSError as err:
        raise _open_error(path, err) from err
    _check_type(path, st)
    flags = os.O_RDONLY | _NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as err:
        raise _open_error(path, err) from err
    try:
        st = os.fstat(fd)
        _check_type(path, st)
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), int(st.st_size)
    except BaseException:
        os.close(fd)
        raise


def _check_type(path: Path, st: os.stat_result) -> None:
    """Refuse anything but a non-empty regular file, from its ``stat`` alone."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        if st.st_size == 0:
            raise EmptyFileError(path)
        return
    if stat.S_ISDIR(mode):
        raise PhotoUnreadableError(path, "it is a folder, not a file")
    kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "a special file")
    target = _link_target(path) if os.path.islink(path) else None
    raise SpecialFileError(path, kind, target)


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _link_target(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _open_error(path: Path, err: OSError) -> PhotoIOError:
    """Map an OSError from stat/open to a user-facing error."""
    if isinstance(err, PermissionError):
        return PhotoUnreadableError(path, "permission denied")
    if isinstance(err, IsADirectoryError):
        return PhotoUnreadableError(path, "it is a folder, not a file")
    if err.errno == errno.ELOOP:
        return PhotoUnreadableError(path, "it is a symbolic link that leads back to itself (a loop of links)")
    if err.errno == errno.ENAMETOOLONG:
        return PhotoUnreadableError(path, "the path is too long")
    return PhotoUnreadableError(path, err.strerror or str(err))


def _decode(fh: BinaryIO, path: Path, file_bytes: int, max_pixels: int, min_side: int) -> Photo:
    """Decode an open file; every exception becomes a PhotoIOError naming ``path``."""
    image = open_header(fh, path, file_bytes, max_pixels=max_pixels, min_side=min_side)
    fmt = image.format or "image"
    try:
        with image:
            source_mode = image.mode
            image.load()  # first: PNG's getexif() would otherwise decode, and hide a failure
            orientation, exif = _read_exif(image)
            converted = to_rgb8(image, path)
    except PhotoIOError:
        raise
    except Exception as err:
        raise _photo_error(path, fmt, err, max_pixels) from err

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


def _open_image(fh: BinaryIO, path: Path) -> Image.Image:
    """Pillow's lazy open (header only), trying only the supported formats' parsers.

    A file none of them recognises is named by a second, identification-only pass over every
    format Pillow knows (UnsupportedFormatError, e.g. for a GIF), else NotAnImageError.
    """
    Image.init()  # register every plugin so that ``formats=`` can name them
    try:
        return Image.open(fh, formats=_OPENERS)
    except Image.UnidentifiedImageError:
        pass
    damaged = _damaged_header(fh)
    if damaged is not None:
        raise CorruptImageError(path, f"its {damaged[0]} header is damaged: {damaged[1]}")
    fh.seek(0)
    try:
        with Image.open(fh) as other:
            found = other.format
    except Exception:  # identification only: any failure means "not an image"
        found = None
    if found:
        raise UnsupportedFormatError(path, found, SUPPORTED_TEXT)
    raise NotAnImageError(path)


def _damaged_header(fh: BinaryIO) -> tuple[str, str] | None:
    """(format, reason) when the file starts with a supported format's signature but its header
    does not parse (Pillow's open only says "cannot identify"); None otherwise."""
    fh.seek(0)
    prefix = fh.read(16)
    for fmt in _OPENERS:
        factory, accept = Image.OPEN[fmt]
        if accept is None or not accept(prefix):
            continue
        fh.seek(0)
        try:
            factory(fh, "").close()
        except Exception as err:  # the reason the header did not parse, whatever its type
            return fmt, _reason(err)
        return None
    return None


def _check_size(path: Path, image: Image.Image, file_bytes: int, max_pixels: int, min_side: int) -> None:
    """The header's size limits, before any pixel is decoded."""
    if image.format not in SUPPORTED_FORMATS:
        raise UnsupportedFormatError(path, image.format or "unknown", SUPPORTED_TEXT)
    width, height = image.size
    pixels = width * height
    if pixels > max_pixels:
        raise ImageTooLargeError(path, pixels, max_pixels, size=(width, height))
    if pixels > max(PLAUSIBLE_PIXELS_FLOOR, MAX_PIXELS_PER_BYTE * file_bytes):
        raise ImplausibleSizeError(path, (width, height), file_bytes, MAX_PIXELS_PER_BYTE)
    if min(width, height) < min_side:
        raise TooSmallError(path, width, height, min_side)


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
    except Exception:  # optional metadata: any failure to parse it means "no EXIF"
        return 1, None
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    return orientation, exif


def _photo_error(path: Path, fmt: str, err: Exception, max_pixels: int) -> PhotoIOError:
    """The user-facing error for any other exception raised while opening or decoding ``path``."""
    if isinstance(err, Image.DecompressionBombError):
        return ImageTooLargeError(path, _claimed_pixels(err), max_pixels)
    if isinstance(err, (SyntaxError, ValueError, EOFError, struct.error)):  # malformed or truncated
        return CorruptImageError(path, _reason(err))
    if isinstance(err, MemoryError):
        return PhotoUnreadableError(path, "there is not enough memory to decode it")
    if isinstance(err, OSError):
        return _os_error(path, err)
    return DecoderError(path, fmt, err)  # any other decoder failure is still a damaged file


def _os_error(path: Path, err: OSError) -> PhotoIOError:
    """Map an OSError raised while decoding to a user-facing error."""
    if isinstance(err, PermissionError):
        return PhotoUnreadableError(path, "permission denied")
    if err.errno in (errno.EIO, errno.ENXIO, errno.ESTALE):
        return PhotoUnreadableError(path, err.strerror or str(err))
    return CorruptImageError(path, _reason(err))


def _reason(err: BaseException) -> str:
    """The first line of an exception's message (at most 200 characters), or its type's name."""
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def _claimed_pixels(err: Image.DecompressionBombError) -> int:
    """The pixel count in Pillow's bomb message ("Image size (N pixels) exceeds ..."); 0 if absent."""
    found = re.search(r"\((\d+) pixels\)", str(err))
    return int(found.group(1)) if found else 0
