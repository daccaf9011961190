"""The evaluation cache: a rerun only computes what changed.

Each judged face (a source or reference view) and each (pair, editor) result is stored under a
key that hashes everything it depends on: the input files' contents (SHA-256), the face indices,
the editor (a checkpoint by its content hash), alpha, the crop size, the judges' names and
:data:`EVAL_VERSION` (bumped when a metric's definition changes). An entry is a JSON file of the
numbers plus a PNG of the face crop, both written atomically, the PNG first: an entry whose JSON
exists is complete. A damaged entry reads as missing and is recomputed.

Layout: ``<folder>/<kind>/<key[:2]>/<key>.json`` and ``.png`` (kind: "views" or "results").
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from core.assets import data_home
from core.io.atomic import atomic_path, atomic_write_text
from core.io.json_file import read_json_file

EVAL_VERSION = 2  # 2: dlib-68 landmarks in views; geometry, detail and clear-pair agreement in results
EntryKind = Literal["views", "results"]


def default_cache_dir() -> Path:
    """``<data home>/cache/evaluate``."""
    return data_home() / "cache" / "evaluate"


@functools.lru_cache(maxsize=4096)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's content (memoised per path, modification time and size)."""
    st = os.stat(path)
    return _digest(os.fspath(Path(path).resolve()), st.st_mtime_ns, st.st_size)


def cache_key(parts: dict[str, object]) -> str:
    """The key of an entry: SHA-256 of ``parts`` (JSON values) with :data:`EVAL_VERSION`."""
    text = json.dumps({"eval_version": EVAL_VERSION, **parts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EvalCache:
    """Entries under ``folder``; ``folder=None`` keeps nothing (every lookup misses)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def _paths(self, kind: EntryKind, key: str) -> tuple[Path, Path]:
        assert self.folder is not None
        base = self.folder / kind / key[:2] / key
        return base.with_suffix(".json"), base.with_suffix(".png")

    def load(self, kind: EntryKind, key: str) -> tuple[dict[str, object], np.ndarray] | None:
        """(numbers, crop (S, S, 3) uint8) of an entry, or None when absent or damaged."""
        if self.folder is None:
            return None
        meta, png = self._paths(kind, key)
        try:
            data = read_json_file(meta, error=ValueError, label="Evaluation cache entry")
            with Image.open(png) as im:
                crop = np.asarray(im.convert("RGB"))
        except (OSError, ValueError):
            return None
        return (data, crop) if isinstance(data, dict) else None

    def save(self, kind: EntryKind, key: str, data: dict[str, object], crop: np.ndarray) -> None:
        """Store an entry (atomically; the PNG first). ``data`` must be JSON values."""
        if self.folder is None:
            return
        meta, png = self._paths(kind, key)
        meta.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(png) as tmp:
            Image.fromarray(np.ascontiguousarray(crop)).save(tmp, format="PNG")
        atomic_write_text(meta, json.dumps(data, allow_nan=True))
