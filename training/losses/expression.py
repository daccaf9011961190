"""Expression losses (paper §3.5): L_exp^shape (Eq. 2) and L_exp^AU (Eq. 3).

Both compare the expression *measured* on the generated face X̂ with the one measured on the
reference Y, by the same measurement (:class:`training.face_fit.ExpressionFitter`: the face-mesh
network and the differentiable AU fit). The paper measures with EMOCA/FLAME (shape) and MLCR
(AUs); what stands in here:

* **Eq. 2, L_exp^shape** = ‖S(l_exp^X̂, l_others^Y) − S(l_exp^Y, l_others^Y)‖₁. l_exp is the fitted
  expression, l_others = Y's identity and pose. S is the face model's mesh
  (:meth:`core.geometry.face_model.FaceModel.canonical_vertices`) seen from Y's head rotation;
  the L1 is the mean over vertices and x, y, z, on the 3D vertices rather than a rasterised
  image (translation cancels in the difference; scale is the model's unit converted to metres by
  ``unit_scale``, so λ_exp^shape = 150 weighs a metre-scale L1 as with FLAME, whose unit is the
  metre). With the linear AU model the difference is ``R_Y · Σ_k (â_k − a_k) B_k``: every
  vertex an AU moves counts, weighted by how far it moves.
* **Eq. 3, L_exp^AU** = 1 − cos(AU(X̂), AU(Y)). MLCR (Niu et al. 2019, 12 BP4D AUs from pixels)
  ships nowhere; the AU embedding here is the 20 fitted AU intensities of the built-in model
  (geometry, not appearance: wrinkles and teeth do not count), plus one constant "neutral"
  component τ. Without τ the cosine of a neutral face (all AUs 0, common with the box-constrained
  fit) is undefined; with it two neutral faces agree (cos = 1) and a neutral reference pulls every
  AU of X̂ towards 0. MLCR's sigmoid outputs never reach exactly 0, which plays the same role.

**Units, and why λ_exp^AU = 50 gets a conversion.** §4.1 sets the weights "to equalize the
different loss items" -- for the paper's own measurements. L_exp^shape is converted to the paper's
unit (metres, ``unit_scale`` above). L_exp^AU needs the same kind of conversion: MLCR's 12 sigmoid
outputs are dense (never exactly 0), which keeps 1 − cos between two faces small (reasoned; MLCR
is not available to measure), while our 20 box-constrained intensities are sparse (many exactly 0)
and 1 − cos between two real expressions averages 0.35. Taken raw, 50·L_exp^AU was 20-80x every
other item (real pairs: 17.4 against 150·L_shape 0.22 and L1 0.20) and, on the overfit test's
pair, its gradient ~700x the L1 term's at the first step
(tests/training/test_overfit.py): Adam followed the AU measurement alone, and its second-moment
estimate (β₂ = 0.99) kept the other terms' steps small for ~100 steps after. The conversion
``unit_scale`` = s_AU applies the paper's rule to the stand-in: it is measured once on real
expression pairs so that λ_exp^AU·s_AU·E[L_AU] = λ_exp^shape·E[L_shape] (the two expression items
equal on average), by ``tools/measure_loss_scales.py``; the value and the measurement are in
``training.config.ExpressionConfig.au_unit_scale``. The λ's stay the paper's (150 / 50).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.checks import assert_float, assert_shape
from core.geometry.face_model import FaceModel, FaceParams


def expression_shape_loss(model: FaceModel, pred_expression: torch.Tensor, reference: FaceParams, *,
                          unit_scale: float) -> torch.Tensor:
    """L_exp^shape (Eq. 2): mean |S(l_exp^X̂, l_others^Y) − S(l_exp^Y, l_others^Y)| in metres.

    model: the face model (AU model or FLAME) whose parameters both fits produced.
    pred_expression: (B, E) float, the expression fitted on X̂ (carries the gradient).
    reference: Y's fitted :class:`FaceParams` (identity, expression (B, E), pose; no gradient
        needed). unit_scale: metres per model unit.
    Returns a 0-d float32 tensor >= 0; 0 when the expressions are equal.
    """
    b = assert_shape(pred_expression, ("B", model.expression_dim), "pred_expression")["B"]
    assert_float(pred_expression, "pred_expression")
    if reference.batch_size != b:
        raise ValueError(f"reference has batch {reference.batch_size}, pred_expression has {b}")
    identity = reference.identity.float()
    shape_pred = model.canonical_vertices(identity, pred_expression.float())
    shape_ref = model.canonical_vertices(identity, reference.expression.float())
    diff = (shape_pred - shape_ref) @ reference.pose.rotation.float().transpose(1, 2)
    return diff.abs().mean() * unit_scale


def au_embedding(aus: torch.Tensor, *, neutral: float) -> torch.Tensor:
    """AU(·) of Eq. 3: (B, K) AU intensities -> (B, K + 1) with the constant τ = ``neutral`` appended."""
    assert_shape(aus, ("B", None), "aus")
    return torch.cat([aus, aus.new_full((aus.shape[0], 1), neutral)], dim=1)


def expression_au_loss(pred_aus: torch.Tensor, reference_aus: torch.Tensor, *,
                       neutral: float, unit_scale: float = 1.0) -> torch.Tensor:
    """L_exp^AU (Eq. 3): unit_scale · (1 − cos(AU(X̂), AU(Y))), averaged over the batch.

    pred_aus: (B, K) float fitted on X̂ (carries the gradient); reference_aus: (B, K) fitted on Y.
    neutral: τ (see the module docstring; 0 gives the bare cosine, undefined for all-zero AUs).
    unit_scale: s_AU > 0, the stand-in embedding's unit conversion (module docstring); 1 = bare 1 − cos.
    Returns a 0-d float32 tensor in [0, 2·unit_scale]; 0 when the embeddings point the same way.
    """
    if not unit_scale > 0:
        raise ValueError(f"unit_scale must be > 0, got {unit_scale}")
    dims = assert_shape(pred_aus, ("B", "K"), "pred_aus")
    assert_shape(reference_aus, (dims["B"], dims["K"]), "reference_aus")
    assert_float(pred_aus, "pred_aus")
    cos = F.cosine_similarity(au_embedding(pred_aus.float(), neutral=neutral),
                              au_embedding(reference_aus.float(), neutral=neutral), dim=1, eps=1e-8)
    return (1.0 - cos).mean() * unit_scale
