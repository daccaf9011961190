"""The face cache that ``gafet prepare`` writes and the training datasets read.

Layout of a cache folder::

    index.json               format, version, the settings it was prepared with, the shard list
                             and whether every input is done ("complete")
    shards/shard-000000.safetensors, ...    (training.data.shards: memory-mapped arrays + records)
    report.json, report.txt  what was skipped and why (unreadable, no face, too small, duplicate...)

Arrays of a shard of N faces (R = ``settings.size``; ``xn.*`` absent with the ``none`` neutraliser):

=====================  ====================  ============================================
name                   shape, dtype          meaning
=====================  ====================  ============================================
x.image / xn.image     (N, R, R, 3) uint8    X, X_n: aligned RGB crops
x.landmarks / xn.…     (N, 468, 3) float32   the mesh in crop px (pixel centres at integers)
x.expression / xn.…    (N, 20) float32       fitted AUs (X_n with ``warp``: exactly 0)
x.identity / xn.…      (N, 468, 3) float32   fitted identity (model units)
x.scale / xn.…         (N,) float32          pose: crop px per model unit
x.rotation / xn.…      (N, 3, 3) float32     pose rotation (model frame -> crop frame)
x.translation / xn.…   (N, 3) float32        pose translation, crop px
matrix                 (N, 2, 3) float32     photo px -> crop px of X
=====================  ====================  ============================================

The shard's ``records`` metadata lists, per face, ``source`` (input file), ``frame`` (video frame
index, -1 for photos), ``face`` (index in its image, left to right), ``presence``, ``upscale`` and
``residual``; and per completed work unit its id, content keys, counts and skip entries (the
resume manifest and the source of the report).
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from core.io.atomic import atomic_write_text
from core.io.json_file import read_json_file
from training.data.records import FaceArrays, FaceSample, UnitResult
from training.data.shards import CacheFormatError, list_shards, open_arrays, read_header

CACHE_FORMAT = "gafet-face-cache"
CACHE_VERSION = 1
INDEX_NAME = "index.json"
SHARDS_DIR = "shards"
REPORT_JSON = "report.json"
REPORT_TXT = "report.txt"
SIZES = (64, 128, 256, 512)
MAX_OPEN_SHARDS = 64  # memory-mapped shards kept open per process


@dataclass(frozen=True, kw_only=True)
class CacheSettings:
    """How a cache was prepared; a resumed run must use the same settings."""

    size: int = 256  # R: aligned crop side (px)
    fps: float = 5.0  # video frames sampled per second (0: every frame)
    neutraliser: str = "warp"  # X -> X_n (a name in training.data.neutraliser.NEUTRALISERS)
    max_upscale: float = 2.0  # faces the crop enlarges more than this are skipped
    holdout: tuple[str, ...] = ()  # FILE:START:END frame ranges kept out of the cache
    shard_size: int = 256  # faces per shard (the unit of resume: at most one shard is redone)
    chunk_frames: int = 32  # sampled video frames per work unit
    detect_side: int = 1920  # detection runs on a copy with at most this long side (the mesh on the photo)

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise CacheFormatError(f"The crop size must be one of {', '.join(map(str, SIZES))}, "
                                   f"got {self.size}.")
        if (self.fps < 0 or self.max_upscale <= 0 or self.shard_size < 1 or self.chunk_frames < 1
                or self.detect_side < 128):
            raise CacheFormatError(f"Invalid prepare settings: fps {self.fps:g} (>= 0), max upscale "
                                   f"{self.max_upscale:g} (> 0), shard size {self.shard_size} and chunk "
                                   f"{self.chunk_frames} (>= 1), detection side {self.detect_side} (>= 128).")

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["holdout"] = list(self.holdout)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CacheSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(d, dict):
            raise CacheFormatError(f"The prepare settings must be a JSON object, got {d!r}.")
        if set(d) - known:
            raise CacheFormatError(f"Unknown prepare settings: {sorted(set(d) - known)}.")
        d = dict(d)
        d["holdout"] = tuple(d.get("holdout", ()))
        return cls(**d)


class SampleInfo(NamedTuple):
    """Where a cached face came from (see the module docstring), and where it is stored."""

    source: str
    frame: int
    face: int
    presence: float
    upscale: float
    residual: float
    shard: int
    row: int


# -- writing ---------------------------------------------------------------------------------------


def write_index(root: Path, settings: CacheSettings, shards: Sequence[tuple[str, int]], *,
                complete: bool) -> None:
    """(Re)write ``index.json`` atomically. shards: (file name, number of faces) in order."""
    doc = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "settings": settings.to_json(),
           "shards": [{"file": f, "samples": n} for f, n in shards],
           "samples": int(sum(n for _, n in shards)), "complete": bool(complete)}
    atomic_write_text(root / INDEX_NAME, json.dumps(doc, indent=1) + "\n")


def read_index(root: Path) -> dict[str, Any]:
    """The parsed ``index.json`` of a cache folder. Raises CacheFormatError."""
    path = root / INDEX_NAME
    if not path.is_file():
        raise CacheFormatError(f"'{root}' is not a face cache (no {INDEX_NAME}); make one with "
                               "`gafet prepare`.")
    doc = read_json_file(path, error=CacheFormatError, label="Face-cache index")
    if not isinstance(doc, dict) or doc.get("format") != CACHE_FORMAT:
        raise CacheFormatError(f"'{path}' is not a face-cache index.")
    if doc.get("version") != CACHE_VERSION:
        raise CacheFormatError(f"'{root}' is a version-{doc.get('version')} face cache; this version reads "
                               f"version {CACHE_VERSION}. Prepare it again.")
    return doc


def pack_shard(samples: Sequence[FaceSample], units: Sequence[UnitResult], size: int,
               with_neutral: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and records of one shard holding ``samples``, completing ``units``."""
    def stack(which: str, field: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        if not samples:
            return np.zeros((0, *shape), dtype)
        return np.stack([np.asarray(getattr(getattr(s, which), field), dtype) for s in samples])

    shapes = {"image": ((size, size, 3), np.uint8), "landmarks": ((468, 3), np.float32),
              "expression": ((20,), np.float32), "identity": ((468, 3), np.float32),
              "scale": ((), np.float32), "rotation": ((3, 3), np.float32), "translation": ((3,), np.float32)}
    arrays: dict[str, np.ndarray] = {}
    for which in ("x", "xn") if with_neutral else ("x",):
        for field in FaceArrays._fields:
            shape, dtype = shapes[field]
            arrays[f"{which}.{field}"] = stack(which, field, shape, dtype)
    arrays["matrix"] = (np.stack([s.matrix for s in samples]).astype(np.float32) if samples
                        else np.zeros((0, 2, 3), np.float32))
    records = {
        "samples": [{"source": s.source, "frame": s.frame, "face": s.face, "presence": round(s.presence, 6),
                     "upscale": round(s.upscale, 6), "residual": round(s.residual, 6)} for s in samples],
        "units": [{"uid": u.uid, "keys": list(u.keys), "images": u.images, "held_out": u.held_out,
                   "seconds": round(u.seconds, 4), "cpu_seconds": round(u.cpu_seconds, 4),
                   "samples": len(u.samples),
                   "skipped": [list(k) for k in u.skipped]} for u in units],
    }
    return arrays, records


# -- reading ---------------------------------------------------------------------------------------


class FaceCache:
    """Read-only, memory-mapped access to a prepared cache (see the module docstring).

    Opening reads ``index.json`` and every shard header (no pixels). Shards are memory-mapped
    lazily per process (at most :data:`MAX_OPEN_SHARDS` at a time), so a FaceCache can be pickled
    into DataLoader workers cheaply.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        doc = read_index(self.root)
        self.settings = CacheSettings.from_json(doc["settings"])
        self.complete = bool(doc.get("complete"))
        paths = list_shards(self.root / SHARDS_DIR) if (self.root / SHARDS_DIR).is_dir() else []
        self._paths = paths
        self._headers = [read_header(p) for p in paths]
        infos: list[SampleInfo] = []
        for k, h in enumerate(self._headers):
            infos.extend(SampleInfo(str(r["source"]), int(r["frame"]), int(r["face"]), float(r["presence"]),
                                    float(r["upscale"]), float(r["residual"]), k, row)
                         for row, r in enumerate(h.records["samples"]))
        self.infos: tuple[SampleInfo, ...] = tuple(infos)
        self.has_neutral = self.settings.neutraliser != "none"
        self._maps: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.infos)

    @property
    def size(self) -> int:
        """R, the crop side in px."""
        return self.settings.size

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_maps"] = OrderedDict()  # memory maps are re-opened in the new process
        return state

    def _arrays(self, shard: int) -> dict[str, np.ndarray]:
        """The shard's arrays; at most MAX_OPEN_SHARDS maps stay open per process (file descriptors)."""
        maps = self._maps.get(shard)
        if maps is None:
            maps = self._maps[shard] = open_arrays(self._paths[shard], self._headers[shard])
            while len(self._maps) > MAX_OPEN_SHARDS:
                self._maps.popitem(last=False)
        else:
            self._maps.move_to_end(shard)
        return maps

    def face(self, index: int, which: str = "x") -> FaceArrays:
        """Face ``index`` as stored: ``which`` = "x" (X) or "xn" (X_n; X itself when the cache has no
        X_n). Arrays are read-only views of the memory-mapped shard (copy before changing them)."""
        info = self.infos[index]
        if which not in ("x", "xn"):
            raise ValueError(f"which must be 'x' or 'xn', got {which!r}")
        if which == "xn" and not self.has_neutral:
            which = "x"
        maps = self._arrays(info.shard)
        return FaceArrays(*(maps[f"{which}.{f}"][info.row] for f in FaceArrays._fields))

    def matrix(self, index: int) -> np.ndarray:
        """(2, 3) float32 photo px -> crop px of face ``index``."""
        info = self.infos[index]
        return self._arrays(info.shard)["matrix"][info.row]

    def expressions(self) -> np.ndarray:
        """(N, 20) float32: X's AUs of every face (for choosing references by expression)."""
        parts = [np.asarray(self._arrays(k)["x.expression"]) for k in range(len(self._paths))]
        return np.concatenate(parts) if parts else np.zeros((0, 20), np.float32)

    def units(self) -> list[dict[str, Any]]:
        """Every completed work unit's record, in order (the resume manifest)."""
        return [u for h in self._headers for u in h.records["units"]]
