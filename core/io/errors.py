"""User-facing errors of photo and video input/output.

Every error names the file it is about (``err.path``) and reads as a sentence a UI can show.
They all derive from :class:`PhotoIOError`, a :class:`core.errors.GafetError`.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import EXIT_ERROR, EXIT_OUTPUT_EXISTS, EXIT_UNREADABLE, GafetError


class PhotoIOError(GafetError):
    """Base class: a photo or video could not be read or written. ``path`` is the file.

    Reading errors exit the CLI with EXIT_UNREADABLE; output errors set their own code.
    """

    exit_code = EXIT_UNREADABLE

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = Path(path)
        super().__init__(message)


# --- reading -----------------------------------------------------------------------------------


class PhotoNotFoundError(PhotoIOError):
    """The path does not exist."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, f"The file '{path}' does not exist.")


class PhotoUnreadableError(PhotoIOError):
    """The path exists but cannot be read (a folder, no permission, an I/O error)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(path, f"Cannot read '{path}': {reason}.")


class EmptyFileError(PhotoIOError):
    """The file has zero bytes."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, f"The file '{path}' is empty (0 bytes).")


class NotAnImageError(PhotoIOError):
    """The file is not in any image format the app can read (e.g. a text file named .jpg)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(
            path,
            f"'{path}' is not an image the app can read; use a JPEG, PNG, WebP, BMP or TIFF photo.",
        )


class UnsupportedFormatError(PhotoIOError):
    """An image format (or an output file extension) the app does not handle."""

    def __init__(self, path: str | Path, fmt: str, supported: str) -> None:
        super().__init__(path, f"'{path}' is a {fmt} file, which is not supported; use {supported}.")


class CorruptImageError(PhotoIOError):
    """The header is readable but the pixel data is damaged or truncated."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(path, f"The image '{path}' is damaged or incomplete ({reason}).")


class ImageTooLargeError(PhotoIOError):
    """The header claims more pixels than the limit (refused before decoding: decompression bomb).

    ``pixels`` is the claimed count (0 if unknown); ``size`` is (width, height) when known.
    """

    def __init__(
        self, path: str | Path, pixels: int, max_pixels: int, *, size: tuple[int, int] | None = None
    ) -> None:
        self.pixels, self.max_pixels, self.size = pixels, max_pixels, size
        claim = f"{size[0]}x{size[1]} pixels ({pixels / 1e6:.0f} MP)" if size else f"{pixels / 1e6:.0f} MP"
        super().__init__(
            path,
            f"The image '{path}' claims to be {claim}, more than the limit of {max_pixels / 1e6:.0f} MP; "
            "it was not opened. Downscale it first.",
        )


class TooSmallError(PhotoIOError):
    """The image is too small to hold a usable face."""

    def __init__(self, path: str | Path, width: int, height: int, min_side: int) -> None:
        self.width, self.height, self.min_side = width, height, min_side
        super().__init__(
            path,
            f"The image '{path}' is only {width}x{height} pixels, too small for a face "
            f"(each side needs at least {min_side} pixels).",
        )


class UnsupportedModeError(PhotoIOError):
    """A pixel layout the app cannot convert to 8-bit RGB (e.g. 32-bit float, LAB)."""

    def __init__(self, path: str | Path, mode: str) -> None:
        self.mode = mode
        super().__init__(
            path,
            f"The image '{path}' uses the pixel mode '{mode}', which cannot be converted to 8-bit RGB; "
            "save it as an ordinary 8- or 16-bit RGB or greyscale image.",
        )


class SpecialFileError(PhotoIOError):
    """The path is not a regular file: a named pipe (FIFO), a device, a socket, or a link to one.

    Refused from its file type alone (it is never read: a FIFO would block, ``/dev/zero`` never ends).
    ``kind`` names the type, e.g. "a named pipe (FIFO)"; ``target`` is the link's target, if any.
    """

    def __init__(self, path: str | Path, kind: str, target: str | None = None) -> None:
        self.kind, self.target = kind, target
        what = f"links to '{target}', which is {kind}" if target else f"is {kind}"
        super().__init__(
            path, f"'{path}' {what}, not a regular file; the app reads photos only from ordinary files."
        )


class ImplausibleSizeError(PhotoIOError):
    """The header claims far more pixels than the file's bytes can hold (a crafted or damaged file).

    Refused before decoding, so decoding work is bounded by the bytes actually present.
    ``size`` is the claimed (width, height), ``file_bytes`` the file's size and ``max_per_byte`` the
    ratio of pixels per byte above which a claim is refused.
    """

    def __init__(
        self, path: str | Path, size: tuple[int, int], file_bytes: int, max_per_byte: int
    ) -> None:
        self.size, self.file_bytes, self.max_per_byte = size, file_bytes, max_per_byte
        w, h = size
        super().__init__(
            path,
            f"The image '{path}' claims to be {w}x{h} pixels ({w * h / 1e6:.1f} MP), but the file holds "
            f"only {file_bytes:,} bytes, far too few for that many pixels (the limit is {max_per_byte:,} "
            "pixels per byte); it is damaged or crafted and was not decoded.",
        )


class DecoderError(CorruptImageError):
    """The image decoder failed in an unforeseen way (e.g. a TIFF tag of the wrong type).

    ``cause`` is the exception's type name, e.g. "TypeError"; ``fmt`` the format being decoded.
    """

    def __init__(self, path: str | Path, fmt: str, err: BaseException) -> None:
        self.fmt, self.cause = fmt, type(err).__name__
        detail = str(err).splitlines()[0][:200] if str(err) else ""
        super().__init__(path, f"the {fmt} decoder failed: {self.cause}" + (f": {detail}" if detail else ""))


# --- writing -----------------------------------------------------------------------------------


class OutputExistsError(PhotoIOError):
    """The output file exists and overwriting was not asked for."""

    exit_code = EXIT_OUTPUT_EXISTS

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, f"'{path}' already exists; choose another name or allow overwriting.")


class OutputIsInputError(PhotoIOError):
    """The output path is one of the protected input files; they are never overwritten."""

    exit_code = EXIT_OUTPUT_EXISTS

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, f"'{path}' is an input photo; the app never overwrites its inputs.")


class SaveError(PhotoIOError):
    """Writing failed (missing folder, no permission, disk full, options the format cannot hold)."""

    exit_code = EXIT_ERROR

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(path, f"Cannot save '{path}': {reason}.")


# --- video -------------------------------------------------------------------------------------


class VideoUnreadableError(PhotoIOError):
    """A video that cannot be opened or decoded."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(path, f"Cannot read the video '{path}': {reason}.")
