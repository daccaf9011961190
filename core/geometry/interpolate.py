"""Progressive, per-region control of the edit (paper Fig. 9): interpolate vertices.

Choice: interpolate **vertices** (as the paper does), with a per-vertex factor::

    α_v = α · Σ_r m_r(v) g_r            (regions the caller does not list have g_r = 1)
    V(α) = V_source + α_v · (V_target − V_source)

* α ∈ [0, 1.5]: 0 = the source exactly (bit-for-bit the source's fitted vertices, which for the
  AU model are the input mesh itself, because identity is the exact residual); 1 = the target
  exactly; > 1 exaggerates. Each vertex moves on a straight line, so the motion is monotone in α.
* g_r ∈ [0, 1.5]: the weight of region r (``model.region_names``: brows, eyes, nose, mouth, jaw,
  cheeks); m_r: the model's soft masks. Where the masks cover a vertex (Σ_r m_r ≥ 1) the blend is
  normalised by Σ_r m_r (overlaps count once); where they sum to less, the uncovered remainder
  counts with weight 1. The AU model's masks are a
  partition of unity, so all g_r = 0 freezes the whole face and g_mouth = 0 freezes the mouth
  while the other regions move.

For the AU model this equals interpolating the AUs themselves, a(α) = a_s + α (a_t − a_s),
whenever the weights are uniform (the model is linear in a and source and target share identity
and pose) — so AU-space and vertex-space sliders agree. Vertex space is kept because per-region
weights are defined on vertices and work unchanged for FLAME. The editor caches V_source and
V_target and calls :func:`interpolate_vertices` per slider move (one fused multiply-add).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from core.checks import assert_shape
from core.geometry.face_model import FaceModel, FaceParams

__all__ = ["ALPHA_MAX", "REGION_WEIGHT_MAX", "interpolate", "interpolate_vertices", "vertex_alpha"]

ALPHA_MAX = 1.5
REGION_WEIGHT_MAX = 1.5


def vertex_alpha(model: FaceModel, *, alpha: float, region_weights: Mapping[str, float] | None = None
                 ) -> torch.Tensor:
    """(V,) per-vertex factor α_v (module docstring), on the model's device, in [0, α · 1.5].

    Raises ``ValueError`` for α outside [0, 1.5], a weight outside [0, 1.5], or an unknown region.
    """
    alpha = float(alpha)
    if not 0.0 <= alpha <= ALPHA_MAX:
        raise ValueError(f"alpha must be in [0, {ALPHA_MAX}], got {alpha}")
    weights = dict(region_weights or {})
    for name, g in weights.items():
        if name not in model.region_names:
            raise ValueError(f"unknown region {name!r}; regions: {', '.join(model.region_names)}")
        if not 0.0 <= float(g) <= REGION_WEIGHT_MAX:
            raise ValueError(f"region weight {name}={g} outside [0, {REGION_WEIGHT_MAX}]")
    masks = model.region_masks()  # (R, V)
    g = masks.new_tensor([float(weights.get(n, 1.0)) for n in model.region_names])  # (R,)
    total = masks.sum(0)
    weighted = (g[:, None] * masks).sum(0)
    covered = total >= 1.0 - 1e-5  # normalise (exactly 1 when every weight is 1; exactly 0 when all 0)
    per_vertex = torch.where(covered, weighted / total.clamp_min(1e-12), weighted + (1.0 - total))
    return alpha * per_vertex


def interpolate_vertices(source: torch.Tensor, target: torch.Tensor, alpha_v: torch.Tensor) -> torch.Tensor:
    """source, target: (B, V, 3); alpha_v: (V,) or (B, V) → (B, V, 3).

    Exactly ``source`` where α_v = 0 and exactly ``target`` where α_v = 1.
    """
    b = assert_shape(source, ("B", "V", 3), "source")
    assert_shape(target, (b["B"], b["V"], 3), "target")
    a = alpha_v.to(source)
    a = (a[None] if a.ndim == 1 else a)[..., None]  # (1 | B, V, 1)
    out = source + a * (target - source)
    return torch.where(a == 1.0, target, out)


def interpolate(*, model: FaceModel, source: FaceParams, target: FaceParams, alpha: float,
                region_weights: Mapping[str, float] | None = None) -> torch.Tensor:
    """Vertices (B, V, 3) in photo pixels between the source (α = 0) and the target (α = 1).

    source, target: FaceParams of the same B faces (target usually from
    :func:`core.geometry.combine.combine`); alpha in [0, 1.5]; region_weights: region → [0, 1.5].
    """
    a = vertex_alpha(model, alpha=alpha, region_weights=region_weights)
    return interpolate_vertices(model.vertices_of(source), model.vertices_of(target), a)
