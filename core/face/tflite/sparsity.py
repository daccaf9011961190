"""Expand TFLite sparse constant tensors (the storage behind the DENSIFY op) to dense arrays.

A sparse tensor of rank n with k blocked dimensions is stored as n + k levels in
``traversal_order`` (values >= n name block dims; ``block_map[j]`` is the original dim that block
dim n + j subdivides). Each level is DENSE (every index 0..dense_size-1) or SPARSE_CSR (for the
parent position p, the indices ``indices[segments[p]:segments[p+1]]``). The stored values are the
leaves in traversal order. The original index of a blocked dim d is
``outer_index * block_size + inner_index``.
"""

from __future__ import annotations

import numpy as np

from core.face.tflite.model import Sparsity
from core.face.tflite.schema import DimensionType


def densify(values: np.ndarray, shape: tuple[int, ...], sparsity: Sparsity) -> np.ndarray:
    """values: (nnz,) stored values -> dense array of ``shape`` and the same dtype (zeros elsewhere)."""
    n = len(shape)
    levels = len(sparsity.dims)
    order = sparsity.traversal_order
    if len(order) != levels or sorted(order) != list(range(levels)) or levels != n + len(sparsity.block_map):
        raise ValueError(f"inconsistent sparsity: traversal_order {order}, block_map {sparsity.block_map}, "
                         f"{levels} levels for a rank-{n} tensor")
    positions = np.zeros(1, np.int64)  # position of each partial path at the previous level
    coords = np.zeros((1, 0), np.int64)  # index at each level along each path
    for dm in sparsity.dims:
        if dm.format == DimensionType.DENSE:
            size = dm.dense_size
            positions = (positions[:, None] * size + np.arange(size)[None, :]).reshape(-1)
            level_idx = np.tile(np.arange(size), len(coords))
            coords = np.repeat(coords, size, axis=0)
        else:
            seg, idx = dm.segments, dm.indices
            if positions.size and positions.max() + 1 >= seg.size:
                raise ValueError(f"sparse level has {seg.size} segments for parent position "
                                 f"{positions.max()}")
            starts, ends = seg[positions], seg[positions + 1]
            counts = ends - starts
            parent = np.repeat(np.arange(len(positions)), counts)
            # positions within the index array: starts[parent] + running offset inside each segment
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            positions = starts[parent] + offsets
            level_idx = idx[positions]
            coords = coords[parent]
        coords = np.concatenate([coords, level_idx[:, None]], axis=1)
    if len(coords) != values.size:
        raise ValueError(f"sparse structure has {len(coords)} entries but {values.size} values are stored")
    # Map traversal-level indices back to the original dims.
    orig = np.zeros((len(coords), n), np.int64)
    level_of = {dim: lvl for lvl, dim in enumerate(order)}
    for d in range(n):
        orig[:, d] = coords[:, level_of[d]]
    for j, d in enumerate(sparsity.block_map):
        lvl = level_of[n + j]
        block = sparsity.dims[lvl].dense_size
        orig[:, d] = orig[:, d] * block + coords[:, lvl]
    if n and (orig >= np.asarray(shape)).any():
        raise ValueError(f"sparse indices exceed the dense shape {shape}")
    dense = np.zeros(shape, values.dtype)
    dense[tuple(orig.T)] = values.reshape(-1)
    return dense
