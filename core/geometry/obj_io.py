"""Write a triangle mesh as Wavefront OBJ (text; written atomically)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.io.atomic import atomic_write_text

__all__ = ["photo_to_viewer", "write_obj"]


def photo_to_viewer(vertices: np.ndarray) -> np.ndarray:
    """(V, 3) photo-frame points (x right, y down, z away) → (V, 3) y-up, z-towards-viewer points,
    the frame mesh viewers expect (a 180° rotation about x: winding and handedness are kept)."""
    return np.asarray(vertices, dtype=np.float64) * np.array([1.0, -1.0, -1.0])


def write_obj(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, *, comment: str = "") -> Path:
    """Write ``vertices`` (V, 3) float and ``faces`` (F, 3) int (0-based) to ``path``.

    Returns the path. The file is written atomically (:mod:`core.io.atomic`).
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or not np.isfinite(v).all():
        raise ValueError(f"vertices: expected finite (V, 3), got {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or (f.size and (f.min() < 0 or f.max() >= len(v))):
        raise ValueError(f"faces: expected (F, 3) indices into {len(v)} vertices, got {f.shape}")
    lines = [f"# {line}" for line in comment.splitlines()]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in f]
    return atomic_write_text(path, "\n".join(lines) + "\n", encoding="ascii")
