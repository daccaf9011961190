"""Fuzz the photo loader: mutated JPEG / PNG / TIFF / WebP / BMP / GIF files through ``load_photo``.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/fuzz_loader.py [--cases 100000] [--seed 0]
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/fuzz_loader.py --atheris [--cases 100000]

Seeds are small valid files of every supported format and common pixel mode (plus a GIF, an EXIF
block, a 16-bit PNG, a CMYK TIFF...), generated here. Each case applies 1-4 random mutations to one
seed (bit flips, "interesting" bytes and integers, truncation, deleted / duplicated / inserted
spans, TIFF tags given another type, PNG chunks with recomputed CRCs) and loads the result from a
file. Every outcome is counted: ``ok``, each :class:`core.io.errors.PhotoIOError` subclass, and
``unexpected`` (any other exception, or a warning that escaped the loader). The run prints the
counts and exits 1 if anything was unexpected; the suite runs 2,000 seeded cases
(``tests/core/io/test_loader_fuzz.py``).

``--atheris`` runs the same harness under atheris' coverage-guided mutator instead (the seeds as
its corpus), when atheris is importable (``pip install atheris``; also looked for in
``$ATHERIS_PATH``).
"""

from __future__ import annotations

import argparse
import atexit
import io
import os
import struct
import sys
import tempfile
import time
import warnings
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.io.errors import PhotoIOError
from core.io.photo import load_photo

SIDE = 40  # seed images are SIDE x SIDE: above the loader's 16 px minimum, fast to decode


def _save(image: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def make_seeds(seed: int = 0) -> dict[str, bytes]:
    """Small valid files, one per format / mode / option worth exercising, by name."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    smooth = np.stack([xx * 6, yy * 6, (xx + yy) * 3], axis=2).astype(np.uint8)
    noisy = np.clip(smooth + rng.integers(0, 40, smooth.shape), 0, 255).astype(np.uint8)
    rgb = Image.fromarray(noisy)
    rgba = Image.fromarray(np.dstack([noisy, (xx * 6).astype(np.uint8)]))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "fuzz seed " * 4
    grey16 = Image.fromarray(smooth[:, :, 0].astype(np.uint16) * 257)
    return {
        "jpeg": _save(rgb, "JPEG", quality=85),
        "jpeg_progressive": _save(rgb, "JPEG", quality=85, progressive=True),
        "jpeg_exif": _save(rgb, "JPEG", quality=85, exif=exif.tobytes()),
        "jpeg_cmyk": _save(rgb.convert("CMYK"), "JPEG", quality=85),
        "jpeg_grey": _save(rgb.convert("L"), "JPEG", quality=85),
        "png": _save(rgb, "PNG"),
        "png_rgba": _save(rgba, "PNG"),
        "png_palette": _save(rgb.convert("P"), "PNG"),
        "png_grey16": _save(grey16, "PNG"),
        "png_la": _save(rgba.convert("LA"), "PNG"),
        "tiff": _save(rgb, "TIFF"),
        "tiff_lzw": _save(rgb, "TIFF", compression="tiff_lzw"),
        "tiff_cmyk": _save(rgb.convert("CMYK"), "TIFF"),
        "tiff_grey16": _save(grey16, "TIFF"),
        "webp": _save(rgb, "WEBP", quality=80),
        "webp_lossless_rgba": _save(rgba, "WEBP", lossless=True),
        "bmp": _save(rgb, "BMP"),
        "bmp_palette": _save(rgb.convert("P"), "BMP"),
        "gif": _save(rgb.convert("P"), "GIF"),
    }


# --- mutations ---------------------------------------------------------------------------------

_INTERESTING_BYTES = (0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF)
_INTERESTING_INTS = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 10000, 65000, 0x7FFFFFFF,
                     0x80000000, 0xFFFFFFFF)


def _flip_bits(data: bytearray, rng: np.random.Generator) -> None:
    for _ in range(int(rng.integers(1, 9))):
        at = int(rng.integers(len(data)))
        data[at] ^= 1 << int(rng.integers(8))


def _set_byte(data: bytearray, rng: np.random.Generator) -> None:
    data[int(rng.integers(len(data)))] = int(rng.choice(_INTERESTING_BYTES))


def _set_int(data: bytearray, rng: np.random.Generator) -> None:
    width = int(rng.choice((2, 4)))
    if len(data) <= width:
        return
    at = int(rng.integers(len(data) - width))
    order = "<" if rng.random() < 0.5 else ">"
    value = int(rng.choice(_INTERESTING_INTS)) & (0xFFFF if width == 2 else 0xFFFFFFFF)
    data[at : at + width] = struct.pack(order + ("H" if width == 2 else "I"), value)


def _truncate(data: bytearray, rng: np.random.Generator) -> None:
    if len(data) > 1:
        del data[int(rng.integers(1, len(data))) :]


def _delete_span(data: bytearray, rng: np.random.Generator) -> None:
    at = int(rng.integers(len(data)))
    del data[at : at + int(rng.integers(1, 64))]


def _duplicate_span(data: bytearray, rng: np.random.Generator) -> None:
    at = int(rng.integers(len(data)))
    span = data[at : at + int(rng.integers(1, 256))]
    to = int(rng.integers(len(data) + 1))
    data[to:to] = span


def _insert_random(data: bytearray, rng: np.random.Generator) -> None:
    to = int(rng.integers(len(data) + 1))
    data[to:to] = rng.bytes(int(rng.integers(1, 128)))


def _tiff_tag_type(data: bytearray, rng: np.random.Generator) -> None:
    """Give one IFD0 entry of a TIFF another field type (the StripOffsets-as-FLOAT family)."""
    if data[:4] not in (b"II*\0", b"MM\0*") or len(data) < 16:
        return _set_int(data, rng)
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack(order + "I", data[4:8])[0]
    if ifd + 2 > len(data):
        return None
    count = struct.unpack(order + "H", data[ifd : ifd + 2])[0]
    if count == 0 or ifd + 2 + 12 * count > len(data):
        return None
    entry = ifd + 2 + 12 * int(rng.integers(count))
    data[entry + 2 : entry + 4] = struct.pack(order + "H", int(rng.integers(0, 20)))
    return None


def _png_chunk_edit(data: bytearray, rng: np.random.Generator) -> None:
    """Mutate one PNG chunk's body and recompute its CRC (so the damage reaches the decoder)."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return _flip_bits(data, rng)
    chunks, at = [], 8
    while at + 12 <= len(data):
        length = struct.unpack(">I", data[at : at + 4])[0]
        if at + 12 + length > len(data):
            break
        chunks.append((at, length))
        at += 12 + length
    if not chunks:
        return None
    at, length = chunks[int(rng.integers(len(chunks)))]
    body = bytearray(data[at + 8 : at + 8 + length])
    if body:
        _set_int(body, rng) if rng.random() < 0.5 else _flip_bits(body, rng)
    kind = bytes(data[at + 4 : at + 8])
    data[at : at + 12 + length] = (struct.pack(">I", len(body)) + kind + bytes(body)
                                   + struct.pack(">I", zlib.crc32(kind + bytes(body))))
    return None


MUTATORS: tuple[Callable[[bytearray, np.random.Generator], None], ...] = (
    _flip_bits, _flip_bits, _set_byte, _set_int, _set_int, _truncate, _delete_span, _duplicate_span,
    _insert_random, _tiff_tag_type, _png_chunk_edit,
)


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """1-4 random mutations of ``data`` (never empty: an empty file has its own error)."""
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 5))):
        if not out:
            break
        MUTATORS[int(rng.integers(len(MUTATORS)))](out, rng)
    return bytes(out) or data[:1]


# --- the harness -------------------------------------------------------------------------------


@dataclass
class Counts:
    """Outcome counts, and the first few unexpected exceptions (seed name, repr)."""

    outcomes: Counter = field(default_factory=Counter)
    unexpected: list[tuple[str, str]] = field(default_factory=list)

    def add(self, outcome: str, seed_name: str = "", detail: str = "") -> None:
        self.outcomes[outcome] += 1
        if outcome == "unexpected" and len(self.unexpected) < 20:
            self.unexpected.append((seed_name, detail))


def load_once(data: bytes, path: Path) -> tuple[str, str]:
    """Write ``data`` to ``path`` and load it: (outcome, detail). The outcome is "ok", the name of
    the PhotoIOError subclass raised, or "unexpected" (another exception, or an escaped warning)."""
    path.write_bytes(data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            load_photo(path)
            outcome, detail = "ok", ""
        except PhotoIOError as err:
            outcome, detail = type(err).__name__, str(err)
        except Exception as err:  # the point of the fuzzer: anything else is a bug
            return "unexpected", f"{type(err).__name__}: {err}"
    if caught:
        return "unexpected", f"warning escaped: {caught[0].category.__name__}: {caught[0].message}"
    return outcome, detail


def run(cases: int, seed: int, folder: Path) -> Counts:
    """``cases`` seeded mutations, round-robin over the seeds."""
    seeds = make_seeds(seed)
    names = sorted(seeds)
    rng = np.random.default_rng(seed)
    counts = Counts()
    path = folder / "case.img"
    for i in range(cases):
        name = names[i % len(names)]
        outcome, detail = load_once(mutate(seeds[name], rng), path)
        counts.add(outcome, name, detail)
    return counts


def _atheris(cases: int, seed: int, folder: Path) -> Counts | None:
    extra = os.environ.get("ATHERIS_PATH")
    if extra:
        sys.path.insert(0, extra)
    try:
        import atheris
    except ImportError:
        return None
    counts = Counts()
    path = folder / "case.img"
    corpus = folder / "seeds"
    corpus.mkdir(exist_ok=True)
    for name, data in make_seeds(seed).items():
        (corpus / name).write_bytes(data)

    def one(data: bytes) -> None:
        if not data:
            return
        outcome, detail = load_once(data, path)
        counts.add(outcome, "atheris", detail)
        if counts.outcomes.total() >= cases:
            atexit.unregister(report)
            report(counts, "atheris")
            sys.stdout.flush()
            os._exit(1 if counts.outcomes["unexpected"] else 0)

    atheris.instrument_all()
    atexit.register(report, counts, "atheris")  # libFuzzer may end the process itself
    atheris.Setup([sys.argv[0], f"-seed={seed + 1}", f"-runs={2 * cases}", str(corpus)], one)
    atheris.Fuzz()
    return counts


def report(counts: Counts, label: str, seconds: float | None = None) -> None:
    total = counts.outcomes.total()
    took = f" in {seconds:.0f} s" if seconds is not None else ""
    print(f"{label}: {total} cases{took}")
    for outcome, n in sorted(counts.outcomes.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {outcome:24s} {n:7d}  ({100 * n / max(total, 1):.1f}%)")
    if not counts.outcomes["unexpected"]:
        print("  unexpected                     0")
    for name, detail in counts.unexpected:
        print(f"  UNEXPECTED [{name}] {detail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--atheris", action="store_true", help="coverage-guided, with atheris")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gafet-fuzz-") as tmp:
        t0 = time.perf_counter()
        if args.atheris:
            counts = _atheris(args.cases, args.seed, Path(tmp))
            if counts is None:
                print("atheris is not importable here (pip install atheris); nothing was run.")
                return 2
            label = "atheris"
        else:
            counts = run(args.cases, args.seed, Path(tmp))
            label = f"mutation fuzz, seed {args.seed}"
        report(counts, label, time.perf_counter() - t0)
    return 1 if counts.outcomes["unexpected"] else 0


if __name__ == "__main__":
    sys.exit(main())
