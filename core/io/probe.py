"""Check a photo file from its header alone, without decoding a pixel: cheap input validation.

    from core.io.probe import probe_photo
    header = probe_photo("me.jpg")      # PhotoHeader(width=640, height=360, format="JPEG", ...)

The command line validates every input this way *before* it imports torch or loads a network, so
a missing file, a text file named .jpg or a decompression bomb is refused in a fraction of a second
and a few tens of MB. It applies the same rules, limits and errors as :func:`core.io.load_photo`
(regular non-empty file, a supported format, ``core.io.photo.DEFAULT_MAX_PIXELS``, the
pixels-per-byte plausibility bound, the minimum side); damage in the pixel data itself is found
only by decoding, i.e. by ``load_photo``.

Cost: one ``stat``, one open and Pillow's lazy header parse (it reads a few KB): about 1 ms a file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.io.errors import PhotoNotFoundError

# Modes whose meaning includes transparency (Pillow's "transparency" info covers P / L / RGB keys).
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


@dataclass(frozen=True, kw_only=True)
class PhotoHeader:
    """What a photo's header says, before decoding.

    width, height: as stored, before any EXIF rotation (the pixel count is what limits apply to).
    format:        Pillow's format name ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "MPO").
    mode:          the pixel mode in the file, e.g. "RGB", "RGBA", "P", "I;16".
    has_alpha:     whether the file carries transparency (an alpha channel or a transparent colour).
    file_bytes:    the file's size.
    """

    path: Path
    width: int
    height: int
    format: str
    mode: str
    has_alpha: bool
    file_bytes: int


def probe_photo(
    path: str | os.PathLike[str],
    *,
    max_pixels: int | None = None,
    min_side: int | None = None,
) -> PhotoHeader:
    """Validate ``path`` as a photo :func:`core.io.load_photo` would accept, from its header only.

    max_pixels, min_side: as for ``load_photo``; None = its defaults. A missing path costs one
    ``stat`` (core.io.photo, and numpy and Pillow with it, is imported only once a file exists).

    Raises the same :class:`core.io.errors.PhotoIOError` subclasses, with the same messages, as
    ``load_photo``: the checks are :func:`core.io.photo.open_regular` and
    :func:`core.io.photo.open_header`, the loader's own first steps. Nothing else escapes.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise PhotoNotFoundError(path)
    from core.io import photo

    max_pixels = photo.DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    min_side = photo.DEFAULT_MIN_SIDE if min_side is None else min_side
    fh, file_bytes = photo.open_regular(path)
    with fh, photo.open_header(fh, path, file_bytes, max_pixels=max_pixels, min_side=min_side) as image:
        width, height = image.size
        has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
        return PhotoHeader(path=path, width=width, height=height, format=image.format or "unknown",
                           mode=image.mode, has_alpha=has_alpha, file_bytes=file_bytes)
