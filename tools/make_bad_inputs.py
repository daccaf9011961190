"""Generate the bad-input corpus, and run it through the command line.

    OMP_NUM_THREADS=1 .venv/bin/python tools/make_bad_inputs.py OUT_DIR            # write the cases
    OMP_NUM_THREADS=1 .venv/bin/python tools/make_bad_inputs.py OUT_DIR --table    # + the table

Every case is one file (or link, FIFO, folder) named after what is wrong with it, built from the
test media (``happy.jpg``, ``no_face.jpg``, ``multi_face.jpg``: asset ``test-media``) or from
nothing: truncated and damaged JPEG / PNG / TIFF / WebP / BMP / GIF, TIFF tags of the wrong
type, headers claiming more pixels than the file holds, huge and tiny sizes, empty and special
files, loops of links, text and other documents named ``.jpg``, and the pixel modes that must
*work* (CMYK, 16-bit, palette, LA, RGBA, ...), a photo with no face and one with five.

Each :class:`Case` states the exit code (``core.errors``) that ``gafet analyze CASE``,
``gafet edit -s CASE -r happy.jpg``, ``gafet edit -s happy.jpg -r CASE`` and ``gafet batch`` (a
folder holding only the case, ``--preset surprise``) must return, and a fragment of the message
that names the problem. ``--table`` runs every case through the four commands in this process
(networks load once) and prints case -> exit codes -> message as a Markdown table;
``tests/cli/test_bad_input_corpus.py`` asserts the same.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import struct
import sys
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.errors import EXIT_ERROR, EXIT_NO_FACE, EXIT_UNREADABLE

OK = 0
COMMANDS = ("analyze", "edit -s", "edit -r", "batch")
FAST = ("--crop-size", "256")  # edits render a 256 px crop: the cases test inputs, not quality


@dataclass(frozen=True)
class Sources:
    """The real photos cases are made from: JPEG bytes and the decoded RGB (H, W, 3) uint8."""

    happy: bytes
    no_face: bytes
    multi_face: bytes
    rgb: np.ndarray  # happy.jpg at 256x256 (cases stay small: they test inputs, and run fast)

    @staticmethod
    def from_folder(folder: Path) -> Sources:
        happy = (folder / "happy.jpg").read_bytes()
        rgb = np.asarray(Image.open(io.BytesIO(happy)).convert("RGB").resize((256, 256), Image.LANCZOS))
        others = [(folder / name).read_bytes() for name in ("no_face.jpg", "multi_face.jpg")]
        return Sources(happy, *others, rgb)


@dataclass(frozen=True)
class Case:
    """One bad (or awkward but valid) input.

    name:    the file name in the corpus folder.
    build:   writes the case at the given path.
    code:    exit code of analyze / edit -s / edit -r (0 = it must work).
    message: a fragment (case-insensitive regex) the output must hold; "" when the case works.
    batch_code / batch_message: what ``gafet batch`` on a folder holding only this case returns,
             when it differs (a folder is not listed as a photo, so the folder is empty).
    skip:    a reason this case cannot be built here ("" = it can).
    """

    name: str
    build: Callable[[Path, Sources], None]
    code: int
    message: str
    batch_code: int | None = None
    batch_message: str | None = None
    skip: str = ""

    def expected(self, command: str) -> tuple[int, str]:
        """(exit code, message fragment) expected from ``command`` (one of COMMANDS)."""
        if command == "batch" and self.batch_code is not None:
            return self.batch_code, self.batch_message or ""
        if self.code == EXIT_NO_FACE:
            return self.code, "0 face" if command == "analyze" else "no face"
        return self.code, self.message


# --- builders ------------------------------------------------------------------------------------


def _write(data: bytes) -> Callable[[Path, Sources], None]:
    return lambda path, src: path.write_bytes(data)


def _encode(rgb: np.ndarray, fmt: str, mode: str | None = None, **kw: object) -> bytes:
    image = Image.fromarray(rgb)
    if mode is not None:
        image = image.convert(mode)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _from_happy(fmt: str, mode: str | None = None, **kw: object) -> Callable[[Path, Sources], None]:
    return lambda path, src: path.write_bytes(_encode(src.rgb, fmt, mode, **kw))


def _cut(data: Callable[[Sources], bytes], fraction: float) -> Callable[[Path, Sources], None]:
    def build(path: Path, src: Sources) -> None:
        full = data(src)
        path.write_bytes(full[: int(len(full) * fraction)])

    return build


def _noise(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def _png_chunk(kind: bytes, data: bytes, crc: int | None = None) -> bytes:
    crc = zlib.crc32(kind + data) if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _png(width: int, height: int, idat: bytes, *, depth: int = 8, colour: int = 2) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def _png_patch(data: bytes, kind: bytes, edit: Callable[[bytes], bytes], *, fix_crc: bool = True) -> bytes:
    """``data`` with the body of its first ``kind`` chunk replaced by ``edit(body)``."""
    at = data.index(kind) - 4
    length = struct.unpack(">I", data[at : at + 4])[0]
    body = edit(data[at + 8 : at + 8 + length])
    crc = None if fix_crc else zlib.crc32(kind + data[at + 8 : at + 8 + length]) ^ 0x5A5A
    return data[:at] + _png_chunk(kind, body, crc) + data[at + 12 + length :]


def _png_bad_crc(kind: bytes) -> Callable[[Path, Sources], None]:
    return lambda path, src: path.write_bytes(_png_patch(_encode(src.rgb, "PNG"), kind, bytes, fix_crc=False))


def _png_idat_zeroed(path: Path, src: Sources) -> None:
    """happy.jpg as PNG with 2 KB of its compressed data zeroed (the CRC recomputed to match)."""
    path.write_bytes(_png_patch(_encode(src.rgb, "PNG"), b"IDAT", lambda b: b[:400] + bytes(2048) + b[2448:]))


def _png_ztxt_bomb(path: Path, src: Sources) -> None:
    """happy.jpg as PNG with a 50 KB zTXt chunk that inflates to 50 MB of text."""
    data = _encode(src.rgb, "PNG")
    at = data.rindex(b"IEND") - 4
    text = _png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"A" * 50_000_000, 9))
    path.write_bytes(data[:at] + text + data[at:])


def _jpeg_sof_size(data: bytes, width: int, height: int) -> bytes:
    """``data`` (a JPEG) with its frame header (SOF0/1/2) claiming width x height."""
    out = bytearray(data)
    found = re.search(rb"\xff[\xc0\xc1\xc2]", data)
    assert found is not None, "no SOF marker"
    at = found.start() + 5  # marker (2) + length (2) + precision (1)
    out[at : at + 4] = struct.pack(">HH", height, width)
    return bytes(out)


def _jpeg_header_bomb(path: Path, src: Sources) -> None:
    """5.5 KB of JPEG whose header claims 10000x10000 (100 MP, 18,000 pixels per byte)."""
    small = _jpeg_sof_size(_encode(_noise(40), "JPEG", quality=90), 10000, 10000)
    comment = b"\xff\xfe" + struct.pack(">H", 5632 - len(small) - 2) + bytes(5632 - len(small) - 4)
    path.write_bytes(small[:2] + comment + small[2:])  # a COM segment brings it to 5.5 KB


def _jpeg_corrupt_exif(path: Path, src: Sources) -> None:
    """happy.jpg with an EXIF block whose ImageDescription claims 60000 bytes (past its end)."""
    exif = Image.Exif()
    exif[0x010E] = "a portrait " * 10  # ImageDescription, stored out of line
    exif[0x0112] = 1
    data = bytearray(_encode(src.rgb, "JPEG", quality=92, exif=exif.tobytes()))
    tiff = data.index(b"Exif\x00\x00") + 6
    order = "<" if data[tiff : tiff + 2] == b"II" else ">"
    entry = data.index(struct.pack(order + "HH", 0x010E, 2), tiff)
    data[entry + 4 : entry + 8] = struct.pack(order + "I", 60000)
    path.write_bytes(bytes(data))


def _jpeg_rotated(orientation: int) -> Callable[[Path, Sources], None]:
    """happy.jpg stored rotated, with the EXIF orientation that makes it upright again."""

    def build(path: Path, src: Sources) -> None:
        stored = np.rot90(src.rgb, 1) if orientation == 6 else src.rgb  # orientation 6: turn 90 cw
        exif = Image.Exif()
        exif[0x0112] = orientation
        path.write_bytes(_encode(np.ascontiguousarray(stored), "JPEG", quality=92, exif=exif.tobytes()))

    return build


def _jpeg_bad_huffman(path: Path, src: Sources) -> None:
    data = bytearray(src.happy)
    at = data.index(b"\xff\xc4") + 5  # first DHT: marker, length, table class/id
    data[at : at + 16] = b"\xff" * 16  # counts of codes per length: far more than 256 codes
    path.write_bytes(bytes(data))


def _tiff_tag_type(tag: int, new_type: int) -> Callable[[Path, Sources], None]:
    """happy.jpg as an uncompressed little-endian TIFF whose ``tag`` entry has type ``new_type``."""

    def build(path: Path, src: Sources) -> None:
        data = bytearray(_encode(src.rgb, "TIFF"))
        assert data[:2] == b"II"
        ifd = struct.unpack("<I", data[4:8])[0]
        for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
            entry = ifd + 2 + 12 * i
            if struct.unpack("<H", data[entry : entry + 2])[0] == tag:
                data[entry + 2 : entry + 4] = struct.pack("<H", new_type)
                break
        else:
            raise AssertionError(f"tag {tag} not in the TIFF")
        path.write_bytes(bytes(data))

    return build


def _tiff_tag_value(tag: int, value: int) -> Callable[[Path, Sources], None]:
    """happy.jpg as a TIFF whose (one-value, inline) ``tag`` holds ``value``."""
    return lambda path, src: path.write_bytes(_tiff_tag_patch(_encode(src.rgb, "TIFF"), {tag: value}))


def _tiff_header_bomb(path: Path, src: Sources) -> None:
    data = _encode(_noise(40), "TIFF")
    path.write_bytes(_tiff_tag_patch(data, {256: 10000, 257: 10000}))


def _tiff_tag_patch(data: bytes, values: dict[int, int]) -> bytes:
    out = bytearray(data)
    ifd = struct.unpack("<I", out[4:8])[0]
    for i in range(struct.unpack("<H", out[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        kind, typ = struct.unpack("<HH", out[entry : entry + 4])
        if kind in values:
            value = struct.pack("<H" if typ == 3 else "<I", values[kind])
            out[entry + 8 : entry + 12] = value.ljust(4, b"\0")
    return bytes(out)


def _cv2_png16(path: Path, src: Sources) -> None:
    """16-bit RGB PNG (cv2 writes 16 bits per channel; BGR order)."""
    bgr16 = src.rgb[:, :, ::-1].astype(np.uint16) * 257
    ok, buf = cv2.imencode(".png", bgr16)
    assert ok
    path.write_bytes(buf.tobytes())


def _grey16(fmt: str) -> Callable[[Path, Sources], None]:
    def build(path: Path, src: Sources) -> None:
        grey = (np.asarray(Image.fromarray(src.rgb).convert("L")).astype(np.uint16) * 257)
        buf = io.BytesIO()
        Image.fromarray(grey).save(buf, format=fmt)  # mode I;16
        path.write_bytes(buf.getvalue())

    return build


def _rgba(alpha_value: int) -> Callable[[Path, Sources], None]:
    def build(path: Path, src: Sources) -> None:
        alpha = np.full(src.rgb.shape[:2] + (1,), alpha_value, np.uint8)
        alpha[:40] = 0  # a transparent band at the top
        path.write_bytes(_encode(np.concatenate([src.rgb, alpha], axis=2), "PNG"))

    return build


def _float_tiff(path: Path, src: Sources) -> None:
    Image.fromarray(np.zeros((64, 64), np.float32)).save(path, "TIFF")


def _webp_garbage(path: Path, src: Sources) -> None:
    body = b"VP8 " + struct.pack("<I", 5000) + np.random.default_rng(3).bytes(5000)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body)


def _bmp_header_bomb(path: Path, src: Sources) -> None:
    data = bytearray(_encode(_noise(40), "BMP"))
    data[18:26] = struct.pack("<ii", 10000, 10000)
    path.write_bytes(bytes(data))


def _gif(path: Path, src: Sources) -> None:
    path.write_bytes(_encode(src.rgb, "GIF", mode="P"))


def _fifo(path: Path, src: Sources) -> None:
    os.mkfifo(path)


def _link(target: str) -> Callable[[Path, Sources], None]:
    return lambda path, src: path.symlink_to(target)


def _loop_pair(path: Path, src: Sources) -> None:
    other = path.with_name("." + path.name + ".other")  # hidden: batch does not list it
    path.symlink_to(other.name)
    other.symlink_to(path.name)


def _folder(path: Path, src: Sources) -> None:
    path.mkdir()


def _zip(path: Path, src: Sources) -> None:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("happy.jpg", src.happy)
    path.write_bytes(buf.getvalue())


def _half(data: Callable[[Sources], bytes]) -> Callable[[Path, Sources], None]:
    """A JPEG re-encoded at half its width and height."""

    def build(path: Path, src: Sources) -> None:
        image = Image.open(io.BytesIO(data(src)))
        image.resize((image.width // 2, image.height // 2), Image.LANCZOS).save(path, "JPEG", quality=90)

    return build


_HAPPY = lambda src: src.happy  # noqa: E731 - a short accessor used by several cases
_HAPPY_PNG = lambda src: _encode(src.rgb, "PNG")  # noqa: E731
_HAPPY_TIFF = lambda src: _encode(src.rgb, "TIFF")  # noqa: E731
_HAPPY_WEBP = lambda src: _encode(src.rgb, "WEBP", quality=90)  # noqa: E731
_HAPPY_PROG = lambda src: _encode(src.rgb, "JPEG", quality=92, progressive=True)  # noqa: E731
_HAPPY_BMP = lambda src: _encode(src.rgb, "BMP")  # noqa: E731

U = EXIT_UNREADABLE
DAMAGED = r"damaged or incomplete"
NOT_IMAGE = r"not an image"
BOMB = r"far too few for that many pixels"
SMALL = r"too small for a face"
NO_FILES = r"has no files"
_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
_POSIX = os.name == "posix"


def _chmod0(path: Path, src: Sources) -> None:
    path.write_bytes(src.happy)
    path.chmod(0)


CASES: tuple[Case, ...] = (
    # --- not a regular, non-empty file
    Case("empty.jpg", _write(b""), U, r"empty \(0 bytes\)"),
    Case("fifo.jpg", _fifo, U, r"named pipe \(FIFO\)", skip="" if _POSIX else "no FIFOs here"),
    Case("dev_zero.jpg", _link("/dev/zero"), U, r"links to '/dev/zero', which is a character device",
         skip="" if Path("/dev/zero").exists() else "no /dev/zero"),
    Case("dev_null.png", _link("/dev/null"), U, r"which is a character device",
         skip="" if Path("/dev/null").exists() else "no /dev/null"),
    Case("folder.jpg", _folder, U, r"it is a folder", batch_code=EXIT_ERROR, batch_message=NO_FILES),
    Case("self_loop.jpg", _link("self_loop.jpg"), U, r"loop of links"),
    Case("loop_pair.jpg", _loop_pair, U, r"loop of links"),
    Case("dangling_link.jpg", _link("no_such_target.jpg"), U,
         r"link to 'no_such_target.jpg', which does not exist"),
    Case("no_permission.jpg", _chmod0, U, r"permission denied",
         skip="root reads a chmod 000 file" if _ROOT else ""),
    # --- not an image at all
    Case("text.jpg", _write(b"This is not a photo.\n" * 40), U, NOT_IMAGE),
    Case("html.png", _write(b"<!doctype html><html><body><img src=x></body></html>\n" * 10), U, NOT_IMAGE),
    Case("random.jpg", _write(np.random.default_rng(1).bytes(20000)), U, NOT_IMAGE),
    Case("pdf.jpg", _write(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"), U, NOT_IMAGE),
    Case("zip.jpg", _zip, U, NOT_IMAGE),
    Case("one_byte.jpg", _write(b"\xff"), U, NOT_IMAGE),
    Case("nul_bytes.png", _write(bytes(4096)), U, NOT_IMAGE),
    Case("jpeg_soi_only.jpg", _write(b"\xff\xd8"), U, NOT_IMAGE),
    # --- JPEG
    Case("jpeg_truncated_60pc.jpg", _cut(_HAPPY, 0.6), U, DAMAGED),
    Case("jpeg_truncated_header.jpg", _cut(_HAPPY, 0.03), U, DAMAGED),
    Case("jpeg_garbage_after_soi.jpg", _write(b"\xff\xd8\xff" + np.random.default_rng(2).bytes(6000)), U,
         DAMAGED),
    Case("jpeg_bad_huffman.jpg", _jpeg_bad_huffman, U, DAMAGED),
    Case("jpeg_progressive_truncated.jpg", _cut(_HAPPY_PROG, 0.5), U, DAMAGED),
    Case("jpeg_header_bomb_10000.jpg", _jpeg_header_bomb, U, BOMB),
    Case("jpeg_claims_65000.jpg", lambda p, s: p.write_bytes(_jpeg_sof_size(s.happy, 65000, 65000)), U,
         r"more than the limit of 100 MP"),
    Case("jpeg_claims_12000x9000.jpg", lambda p, s: p.write_bytes(_jpeg_sof_size(s.happy, 12000, 9000)), U,
         r"more than the limit of 100 MP"),
    Case("jpeg_zero_height.jpg", lambda p, s: p.write_bytes(_jpeg_sof_size(s.happy, 512, 0)), U,
         r"JPEG header is damaged"),
    Case("jpeg_one_pixel.jpg", lambda p, s: p.write_bytes(_encode(s.rgb[:1, :1], "JPEG")), U, SMALL),
    Case("jpeg_4000x8.jpg", lambda p, s: p.write_bytes(_encode(np.zeros((8, 4000, 3), np.uint8), "JPEG")), U,
         SMALL),
    # --- PNG
    Case("png_truncated_60pc.png", _cut(_HAPPY_PNG, 0.6), U, DAMAGED),
    Case("png_signature_only.png", _write(b"\x89PNG\r\n\x1a\n"), U, r"PNG header is damaged"),
    Case("png_bad_ihdr_crc.png", _png_bad_crc(b"IHDR"), U, r"PNG header is damaged"),
    Case("png_idat_zeroed.png", _png_idat_zeroed, U, DAMAGED),
    Case("png_idat_garbage.png", _write(_png(512, 512, np.random.default_rng(4).bytes(30000))), U, DAMAGED),
    Case("png_header_bomb_10000.png",
         _write(_png(10000, 10000, zlib.compress(np.random.default_rng(5).bytes(5400)))), U, BOMB),
    Case("png_claims_40000.png", _write(_png(40000, 40000, zlib.compress(b"\0" * 100))), U,
         r"more than the limit of 100 MP"),
    Case("png_zero_width.png", _write(_png(0, 512, zlib.compress(b"\0" * 512))), U, r"PNG header is damaged"),
    Case("png_bit_depth_3.png", _write(_png(64, 64, zlib.compress(b"\0" * 64), depth=3)), U,
         r"PNG header is damaged"),
    Case("png_colour_type_9.png", _write(_png(64, 64, zlib.compress(b"\0" * 64), colour=9)), U,
         r"PNG header is damaged"),
    Case("png_idat_crc_wrong.png", _png_bad_crc(b"IDAT"), OK, ""),  # intact data, only the CRC is off
    Case("tiff_stripbytecounts_float.tif", _tiff_tag_type(279, 11), OK, ""),  # Pillow reads the value
    Case("png_one_pixel.png", lambda p, s: p.write_bytes(_encode(s.rgb[:1, :1], "PNG")), U, SMALL),
    Case("png_ztxt_bomb.png", _png_ztxt_bomb, U, r"Decompressed data too large"),
    # --- TIFF
    Case("tiff_stripoffsets_float.tif", _tiff_tag_type(273, 11), U, r"TIFF decoder failed"),
    Case("tiff_stripoffsets_rational.tif", _tiff_tag_type(273, 5), U, r"TIFF decoder failed"),
    Case("tiff_stripoffsets_ascii.tif", _tiff_tag_type(273, 2), U, r"TIFF decoder failed"),
    Case("tiff_stripoffsets_undefined.tif", _tiff_tag_type(273, 7), U, r"TIFF decoder failed"),
    Case("tiff_truncated_60pc.tif", _cut(_HAPPY_TIFF, 0.6), U, DAMAGED),
    Case("tiff_bad_compression.tif", _tiff_tag_value(259, 12345), U, r"TIFF header is damaged"),
    Case("tiff_header_bomb_10000.tif", _tiff_header_bomb, U, BOMB),
    Case("tiff_float_pixels.tif", _float_tiff,
         U, r"pixel mode 'F'"),
    # --- WebP, BMP, GIF
    Case("webp_truncated_50pc.webp", _cut(_HAPPY_WEBP, 0.5), U, DAMAGED),
    Case("webp_garbage.webp", _webp_garbage, U, DAMAGED),
    Case("bmp_truncated_50pc.bmp", _cut(_HAPPY_BMP, 0.5), U, DAMAGED),
    Case("bmp_header_bomb_10000.bmp", _bmp_header_bomb, U, BOMB),
    Case("gif_photo.gif", _gif, U, r"GIF file, which is not supported"),
    Case("gif_truncated.gif", _cut(lambda s: _encode(s.rgb, "GIF", mode="P"), 0.001), U, NOT_IMAGE),
    # --- valid files in awkward forms: they must work
    Case("jpeg_cmyk.jpg", _from_happy("JPEG", "CMYK", quality=92), OK, ""),
    Case("jpeg_grey.jpg", _from_happy("JPEG", "L", quality=92), OK, ""),
    Case("jpeg_progressive.jpg", lambda p, s: p.write_bytes(_HAPPY_PROG(s)), OK, ""),
    Case("jpeg_corrupt_exif.jpg", _jpeg_corrupt_exif, OK, ""),
    Case("jpeg_exif_orientation_6.jpg", _jpeg_rotated(6), OK, ""),
    Case("jpeg_exif_orientation_99.jpg", _jpeg_rotated(99), OK, ""),
    Case("jpeg_named_png.png", lambda p, s: p.write_bytes(s.happy), OK, ""),
    Case("png_palette.png", _from_happy("PNG", "P"), OK, ""),
    Case("png_la.png", _from_happy("PNG", "LA"), OK, ""),
    Case("png_rgba.png", _rgba(255), OK, ""),
    Case("png_16bit_rgb.png", _cv2_png16, OK, ""),
    Case("png_16bit_grey.png", _grey16("PNG"), OK, ""),
    Case("tiff_cmyk.tif", _from_happy("TIFF", "CMYK"), OK, ""),
    Case("tiff_lzw.tif", _from_happy("TIFF", compression="tiff_lzw"), OK, ""),
    Case("tiff_16bit_grey.tif", _grey16("TIFF"), OK, ""),
    Case("webp_lossless_rgba.webp", lambda p, s: p.write_bytes(_encode(
        np.dstack([s.rgb, np.full(s.rgb.shape[:2], 200, np.uint8)]), "WEBP", lossless=True)), OK, ""),
    Case("bmp_photo.bmp", lambda p, s: p.write_bytes(_HAPPY_BMP(s)), OK, ""),
    Case("unicode näme ☺.jpg", lambda p, s: p.write_bytes(s.happy), OK, ""),
    Case("multi_face.jpg", lambda p, s: p.write_bytes(s.multi_face), OK, ""),  # 1000x667, 5 faces
    # --- read, but no face
    Case("no_face_960.jpg", _half(lambda s: s.no_face), EXIT_NO_FACE, ""),
    Case("noise_512.png", lambda p, s: p.write_bytes(_encode(_noise(512, 7), "PNG")), EXIT_NO_FACE, ""),
    Case("grey_field.png", lambda p, s: p.write_bytes(_encode(np.full((256, 256, 3), 128, np.uint8), "PNG")),
         EXIT_NO_FACE, ""),
)


def build_corpus(folder: Path, sources: Sources, cases: tuple[Case, ...] = CASES) -> list[Case]:
    """Write every buildable case into ``folder`` (created); returns the cases written."""
    folder.mkdir(parents=True, exist_ok=True)
    built = []
    for case in cases:
        if case.skip:
            continue
        case.build(folder / case.name, sources)
        built.append(case)
    return built


def cleanup(folder: Path) -> None:
    """Remove a corpus folder (restoring permissions first)."""
    for path in folder.iterdir():
        if not path.is_symlink() and path.exists() and not os.access(path, os.R_OK):
            path.chmod(0o600)
    shutil.rmtree(folder, ignore_errors=True)


# --- running through the command line ---------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One command's result: exit code and everything it printed (stdout + stderr)."""

    code: int
    output: str


def run_cli(argv: list[str]) -> Outcome:
    """``gafet ARGV`` in this process (networks stay loaded between calls); SystemExit is an exit code.

    Warnings raised meanwhile are recorded and added to the output as Python would print them
    (``Category: message``), whatever filters the caller (e.g. pytest) has set.
    """
    from gafet_studio.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # then Python's default filters: what a user would see
        for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
            warnings.filterwarnings("ignore", category=quiet)
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else EXIT_ERROR
    shown = "".join(f"{w.category.__name__}: {w.message}\n" for w in caught)
    return Outcome(int(code), out.getvalue() + err.getvalue() + shown)


def run_case(case: Case, corpus: Path, happy: Path, work: Path) -> dict[str, Outcome]:
    """Run one built case through the four commands; outputs go under ``work`` (fresh per case)."""
    target = corpus / case.name
    stem = re.sub(r"\W+", "_", case.name)
    t, h = str(target), str(happy)
    results: dict[str, Outcome] = {
        "analyze": run_cli(["analyze", "--no-fit", t]),
        "edit -s": run_cli(["edit", "-s", t, "-r", h, *FAST, "-o", f"{work / stem}.s.png"]),
        "edit -r": run_cli(["edit", "-s", h, "-r", t, *FAST, "-o", f"{work / stem}.r.png"]),
    }
    folder = work / f"{stem}_batch"
    folder.mkdir()
    if target.is_symlink() or target.exists():
        os.rename(target, folder / case.name)  # move it (links and FIFOs too), then put it back
        hidden = corpus / ("." + case.name + ".other")
        if hidden.is_symlink():
            os.rename(hidden, folder / hidden.name)
    try:
        out = work / f"{stem}_out"
        results["batch"] = run_cli(["batch", str(folder), "--preset", "surprise", *FAST, "-o", str(out)])
    finally:
        for path in folder.iterdir():
            os.rename(path, corpus / path.name)
    return results


def problems(case: Case, results: dict[str, Outcome]) -> list[str]:
    """What differs from the case's expectations (empty when it all holds)."""
    bad = []
    for command, got in results.items():
        code, message = case.expected(command)
        if got.code != code:
            bad.append(f"{command}: exit {got.code}, expected {code}: {got.output.strip()[-300:]}")
        if "Traceback" in got.output:
            bad.append(f"{command}: printed a traceback")
        if re.search(r"\w+Warning\b", got.output):
            bad.append(f"{command}: printed a warning: {got.output.strip()[-300:]}")
        if message and not re.search(message, got.output, re.IGNORECASE):
            bad.append(f"{command}: no /{message}/ in: {got.output.strip()[-300:]}")
        if code not in (OK, EXIT_NO_FACE) and case.batch_code is None and case.name not in got.output:
            bad.append(f"{command}: the message does not name the file")
    return bad


def first_message(output: str) -> str:
    """The line of ``output`` that says what went wrong (for the table)."""
    for line in output.splitlines():
        if "error" in line.lower() or "face" in line.lower() or "failed" in line.lower():
            return line.strip()
    return output.strip().splitlines()[-1] if output.strip() else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder for the cases (created; must not hold them yet)")
    parser.add_argument("--table", action="store_true", help="run the cases and print the table")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from core import assets

    assets.ensure(["test-media", "face-detector", "face-mesh", "au-face-model"])
    media = assets.asset_path("test-media", "happy.jpg").parent
    cases = build_corpus(args.out_dir, Sources.from_folder(media))
    skipped = [c for c in CASES if c.skip]
    print(f"{len(cases)} cases written to '{args.out_dir}'" + (
        f"; skipped here: {', '.join(f'{c.name} ({c.skip})' for c in skipped)}" if skipped else ""))
    if not args.table:
        return 0
    work = args.out_dir.parent / (args.out_dir.name + "_runs")
    work.mkdir(exist_ok=True)
    failures = 0
    print("\n| case | analyze | edit -s | edit -r | batch | message |\n|---|---|---|---|---|---|")
    for case in cases:
        results = run_case(case, args.out_dir, media / "happy.jpg", work)
        bad = problems(case, results)
        failures += bool(bad)
        codes = " | ".join(str(results[c].code) for c in COMMANDS)
        message = first_message(results["analyze"].output).replace("|", "\\|")
        flag = " **UNEXPECTED: " + "; ".join(bad) if bad else ""
        print(f"| {case.name} | {codes} | {message[:160]}{flag} |")
    print(f"\n{len(cases)} cases x {len(COMMANDS)} commands; {failures} case(s) not as expected.")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
