"""Shard files of the face cache: one ``.safetensors`` file per shard, read back memory-mapped.

A shard holds the arrays of up to ``shard_size`` faces, stacked along the first axis, and a JSON
string in the safetensors metadata (``records``) describing each face and each input unit whose
work it completes (see :mod:`training.data.cache`). Why safetensors:

* one self-describing file per shard (names, dtypes, shapes, metadata), no pickle, and a format
  the project already reads and writes (checkpoints);
* written whole with :func:`core.io.atomic.atomic_write_bytes`, so a shard exists completely or not at
  all: the set of shard files *is* the resume manifest;
* its layout is a little-endian u64 header length, a JSON header and one flat buffer, so every
  array is a numpy view of one read-only memory map of the file at its offset: random access to
  one face reads only that face's bytes, DataLoader workers and DDP ranks share the OS page
  cache, and nothing is decoded (uint8 pixels are ready to use; CPU time goes to training, not to
  PNG decoding).

The price is disk space: raw uint8 pixels, 2 x R x R x 3 bytes per face with X_n (393 KB at 256²,
1.6 MB at 512²; 70k faces: 27 GB at 256², 110 GB at 512²).
"""

from __future__ import annotations

import json
import mmap
import os
import re
import struct
from pathlib import Path
from typing import NamedTuple

import numpy as np
from safetensors.numpy import save as serialize

from core.errors import GafetError
from core.io.atomic import atomic_write_bytes

SHARD_FORMAT = "gafet-face-cache-shard"
SHARD_VERSION = "1"
SHARD_RE = re.compile(r"^shard-(\d{6})\.safetensors$")

_DTYPES = {"U8": np.uint8, "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64,
           "F16": np.float16, "F32": np.float32, "F64": np.float64, "BOOL": np.bool_}
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit


class CacheFormatError(GafetError):
    """A cache file is missing, damaged, or not a face cache this code reads."""


class ShardHeader(NamedTuple):
    """What a shard's header says: arrays (name -> (dtype, shape, absolute byte offset)) and the
    decoded ``records`` metadata."""

    arrays: dict[str, tuple[np.dtype, tuple[int, ...], int]]
    records: dict


def shard_name(index: int) -> str:
    """File name of shard ``index`` (0-based): ``shard-000042.safetensors``."""
    return f"shard-{index:06d}.safetensors"


def list_shards(folder: Path) -> list[Path]:
    """The shard files in ``folder``, in index order. Raises CacheFormatError when the indices are
    not 0, 1, 2, ... (a shard was deleted by hand)."""
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := SHARD_RE.match(p.name)))
    for expected, (index, path) in enumerate(found):
        if index != expected:
            raise CacheFormatError(f"The face cache '{folder}' is missing {shard_name(expected)} (found "
                                   f"{path.name}); prepare it again into a new folder.")
    return [p for _, p in found]


def write_shard(path: Path, arrays: dict[str, np.ndarray], records: dict) -> None:
    """Write one shard atomically. arrays: name -> C-contiguous array (same first dimension N for
    all); records: JSON-serialisable dict stored in the metadata."""
    sizes = {a.shape[0] for a in arrays.values()}
    if len(sizes) > 1:
        raise ValueError(f"shard arrays disagree on the number of faces: {sorted(sizes)}")
    meta = {"format": SHARD_FORMAT, "version": SHARD_VERSION,
            "records": json.dumps(records, separators=(",", ":"), allow_nan=False)}
    data = serialize({k: np.ascontiguousarray(v) for k, v in arrays.items()}, metadata=meta)
    atomic_write_bytes(path, data)


def read_header(path: Path) -> ShardHeader:
    """Parse a shard's header (reads only the header bytes). Raises CacheFormatError."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise CacheFormatError(f"'{path}' is not a face-cache shard (too short).")
            (n,) = struct.unpack("<Q", head)
            if n > _MAX_HEADER:
                raise CacheFormatError(f"'{path}' is not a face-cache shard (header of {n} bytes).")
            raw = fh.read(n)
        size = os.path.getsize(path)
    except OSError as err:
        raise CacheFormatError(f"Cannot read the face-cache shard '{path}': {err.strerror or err}.") from err
    try:
        header = json.loads(raw)
        meta = header.pop("__metadata__", {}) or {}
        if meta.get("format") != SHARD_FORMAT or meta.get("version") != SHARD_VERSION:
            raise CacheFormatError(f"'{path}' is not a version-{SHARD_VERSION} face-cache shard.")
        records = json.loads(meta["records"])
        base = 8 + n
        arrays = {}
        for name, info in header.items():
            dtype = np.dtype(_DTYPES[info["dtype"]])
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
            if end - begin != int(np.prod(shape)) * dtype.itemsize or base + end > size:
                raise CacheFormatError(f"'{path}': array '{name}' does not fit the file (truncated?).")
            arrays[name] = (dtype, shape, base + begin)
    except (ValueError, KeyError, TypeError) as err:  # JSONDecodeError is a ValueError
        raise CacheFormatError(f"'{path}' has a damaged header ({err}).") from err
    return ShardHeader(arrays=arrays, records=records)


def open_arrays(path: Path, header: ShardHeader) -> dict[str, np.ndarray]:
    """Read-only arrays of every array of a shard, all views of one memory map of the file (one
    file descriptor per shard; the map lives as long as any of the arrays)."""
    with open(path, "rb") as fh:
        try:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as err:
            raise CacheFormatError(f"Cannot map the face-cache shard '{path}': {err}.") from err
    out: dict[str, np.ndarray] = {}
    for name, (dtype, shape, offset) in header.arrays.items():
        count = int(np.prod(shape))
        if count == 0:
            out[name] = np.zeros(shape, dtype)
        else:
            out[name] = np.frombuffer(mapped, dtype=dtype, count=count, offset=offset).reshape(shape)
    return out
