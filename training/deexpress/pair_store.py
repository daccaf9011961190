"""A folder of generated (face, neutral face) pairs: what ``gafet deexpress pairs`` writes and the
``stylegan2`` pair source reads.

Layout: ``pairs-000000.safetensors``, ``pairs-000001.safetensors``, ... Shard k holds the pairs
with global indices k·S ... k·S + n − 1 (S = the shard size of the run that wrote it), as
``face`` and ``neutral`` (n, R, R, 3) uint8 RGB and ``index`` (n,) int64; metadata ``pairs``: JSON
with the generator, seed, shard size and resolution. Shards are written atomically and only when
complete, so a killed run leaves whole shards, and a resumed run starts at the first missing
index: no pair is generated twice or skipped (pair k depends only on (seed, k)).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as serialize

from core.errors import GafetError
from core.io.atomic import atomic_write_bytes

SHARD_RE = re.compile(r"^pairs-(\d{6,})\.safetensors$")


class PairStoreError(GafetError):
    """A pairs folder that cannot be read or continued (damaged shard, other settings)."""


def shard_path(root: Path, k: int) -> Path:
    return root / f"pairs-{k:06d}.safetensors"


def write_shard(root: Path, k: int, face: np.ndarray, neutral: np.ndarray, index: np.ndarray,
                meta: dict[str, Any]) -> Path:
    """Write shard ``k`` atomically. face / neutral: (n, R, R, 3) uint8; index: (n,) int64."""
    if face.shape != neutral.shape or face.dtype != np.uint8 or face.ndim != 4 \
            or index.shape != face.shape[:1]:
        raise ValueError(f"write_shard: face {face.shape} {face.dtype}, neutral {neutral.shape}, index "
                         f"{index.shape}")
    tensors = {"face": torch.from_numpy(np.ascontiguousarray(face)),
               "neutral": torch.from_numpy(np.ascontiguousarray(neutral)),
               "index": torch.from_numpy(np.asarray(index, np.int64))}
    root.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(shard_path(root, k), serialize(tensors, metadata={"pairs": json.dumps(meta)}))


class PairStore:
    """Read access to a pairs folder (module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.shards: list[tuple[int, Path]] = []
        self.meta: dict[str, Any] = {}
        if self.root.is_dir():
            self.shards = sorted((int(m.group(1)), p) for p in self.root.iterdir()
                                 if (m := SHARD_RE.match(p.name)) and p.is_file())
        self._counts: list[int] = []
        for _, path in self.shards:
            try:
                with safe_open(str(path), framework="pt") as f:
                    self._counts.append(int(f.get_slice("index").get_shape()[0]))
                    self.meta = json.loads((f.metadata() or {}).get("pairs", "{}"))
            except (SafetensorError, OSError, ValueError) as err:
                raise PairStoreError(f"{path} is damaged ({err}); delete it and rerun the same command.") \
                    from None
        self._starts = np.cumsum([0, *self._counts])
        self._cache: tuple[int, dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return int(self._starts[-1])

    def indices(self) -> np.ndarray:
        """(N,) int64 the global pair index of every stored pair, in storage order."""
        parts = []
        for _, path in self.shards:
            with safe_open(str(path), framework="pt") as f:
                parts.append(f.get_tensor("index").numpy())
        return np.concatenate(parts) if parts else np.zeros((0,), np.int64)

    def pair(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(face, neutral) (R, R, 3) uint8 of stored pair ``i`` (0 <= i < len)."""
        if not 0 <= i < len(self):
            raise IndexError(f"pair {i} of {len(self)}")
        k = int(np.searchsorted(self._starts, i, side="right") - 1)
        if self._cache is None or self._cache[0] != k:
            with safe_open(str(self.shards[k][1]), framework="pt") as f:
                self._cache = (k, {n: f.get_tensor(n).numpy() for n in ("face", "neutral")})
        row = i - int(self._starts[k])
        return self._cache[1]["face"][row], self._cache[1]["neutral"][row]
