"""Soft face regions on a mesh: geodesic Voronoi cells of seed sets, blended by a Gaussian.

Method (pure numpy/scipy, run once per model):

1. Geodesic distances between all vertices: Dijkstra on the mesh edges, leaving out the
   triangles that span the mouth and eye openings, so distances go *around* the lips and lids
   rather than across them.
2. Hard labels: each vertex goes to the region whose seed set is geodesically nearest
   (a Voronoi partition of the whole surface, so the regions cover the face: the forehead falls
   to the brows, the lower face outline to the jaw, the temples and sides to the cheeks).
3. Soft masks: ``m_r(v) = Σ_u K(v, u) [label(u) = r] / Σ_u K(v, u)`` with a Gaussian kernel
   ``K = exp(−d_geo² / 2σ²)``. The masks lie in [0, 1] and sum to 1 at every vertex (a partition
   of unity), so per-region weights blend without seams and "all regions at 0" freezes every
   vertex.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra

__all__ = ["SoftRegions", "geodesic_distances", "soft_regions"]


class SoftRegions(NamedTuple):
    names: tuple[str, ...]
    labels: np.ndarray  # (V,) int64: index into names of each vertex's hard region
    masks: np.ndarray  # (R, V) float64 in [0, 1], columns sum to 1


def geodesic_distances(vertices: np.ndarray, faces: np.ndarray, *,
                       exclude_faces: np.ndarray | None = None) -> np.ndarray:
    """(V, V) float64 shortest-path lengths along mesh edges.

    vertices: (V, 3); faces: (F, 3) int; exclude_faces: optional (F,) bool of triangles whose
    edges are not walkable (unless another kept triangle shares the edge).
    """
    keep = faces if exclude_faces is None else faces[~exclude_faces]
    edges = np.concatenate([keep[:, [0, 1]], keep[:, [1, 2]], keep[:, [2, 0]]])
    length = np.linalg.norm(vertices[edges[:, 0]] - vertices[edges[:, 1]], axis=1)
    n = len(vertices)
    graph = coo_matrix((length, (edges[:, 0], edges[:, 1])), shape=(n, n)).tocsr()
    graph = graph.maximum(graph.T)
    return dijkstra(graph, directed=False)


def soft_regions(distances: np.ndarray, seeds: Mapping[str, Sequence[int]], *, sigma: float) -> SoftRegions:
    """Voronoi labels and Gaussian-blended soft masks (see the module docstring).

    distances: (V, V) geodesic distances; seeds: region name → seed vertex indices;
    sigma: width of the blend, in the units of ``distances``.
    """
    names = tuple(seeds)
    to_seed = np.stack([distances[:, list(seeds[n])].min(axis=1) for n in names])  # (R, V)
    if not np.isfinite(to_seed.min(axis=0)).all():
        raise ValueError("some vertices are not connected to any seed")
    labels = to_seed.argmin(axis=0)
    kernel = np.exp(-np.square(distances) / (2.0 * sigma * sigma))  # inf → 0
    hard = np.stack([(labels == r).astype(np.float64) for r in range(len(names))])
    masks = hard @ kernel.T
    masks /= masks.sum(axis=0, keepdims=True)
    return SoftRegions(names=names, labels=labels.astype(np.int64), masks=masks)
