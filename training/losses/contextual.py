"""The contextual loss (paper Eq. 4; Mechrez, Talmi and Zelnik-Manor, ECCV 2018).

For one feature layer, with X = {x_i} the generated image's features and Y = {y_j} the target's
(C-dim vectors at the spatial positions), per sample:

1. μ_y = mean_j y_j (the target's mean; per sample, so samples never interact and a split
   batch gives the same loss);
2. d_ij = 1 − cos(x_i − μ_y, y_j − μ_y);
3. d̃_ij = d_ij / (min_k d_ik + ε);
4. CX_ij = softmax_j((1 − d̃_ij) / h)  (= w_ij / Σ_k w_ik with w = exp((1 − d̃)/h), max-subtracted);
5. CX(X, Y) = mean_j max_i CX_ij;   L = −log CX (CX clamped at 1e-5).

Eq. 4 sums ω_i·L over "low-level" VGG-19 layers (:mod:`training.objective` applies ω_i). The
affinity matrix is N x M per image, so each layer is average-pooled 2x2 until it has at most
``max_positions`` positions (relu1_2 of a 256² image: 65,536 positions, 17 GB per fp32 matrix).
Everything here runs in float32 with autocast off: exp((1 − d̃)/h) reaches e^(1/h) and d̃ is
large (d / ε), which half precision cannot hold. The target is a constant (detached).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from core.checks import assert_shape


def pool_to_positions(features: torch.Tensor, max_positions: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, h, w) by 2x2 average pooling (ceil mode) until h·w <= max_positions."""
    assert_shape(features, ("B", "C", None, None), "features")
    if max_positions < 1:
        raise ValueError(f"max_positions must be >= 1, got {max_positions}")
    x = features
    while x.shape[2] * x.shape[3] > max_positions and (x.shape[2] > 1 or x.shape[3] > 1):
        x = F.avg_pool2d(x, kernel_size=2, ceil_mode=True)
    return x


def contextual_similarity(x: torch.Tensor, y: torch.Tensor, *, band_width: float, eps: float) -> torch.Tensor:
    """CX(X, Y) per sample.

    x: (B, N, C) generated features; y: (B, M, C) target features (float; computed in float32).
    band_width: h > 0; eps: ε > 0 of d̃. Returns (B,) float32 in (0, 1]; 1 when every target
    feature has its own exact, distinct match in x.
    """
    dims = assert_shape(x, ("B", None, "C"), "x")
    assert_shape(y, (dims["B"], None, dims["C"]), "y")
    x, y = x.float(), y.float()
    mu = y.mean(dim=1, keepdim=True)  # (B, 1, C)
    xc = F.normalize(x - mu, dim=2, eps=1e-8)
    yc = F.normalize(y - mu, dim=2, eps=1e-8)
    d = (1.0 - xc @ yc.transpose(1, 2)).clamp_min(0.0)  # (B, N, M)
    d_rel = d / (d.amin(dim=2, keepdim=True) + eps)
    cx = torch.softmax((1.0 - d_rel) / band_width, dim=2)  # normalised over the target positions j
    return cx.amax(dim=1).mean(dim=1)


def contextual_loss(pred_features: Sequence[torch.Tensor], target_features: Sequence[torch.Tensor], *,
                    band_width: float, eps: float, max_positions: int) -> torch.Tensor:
    """−log CX per layer, averaged over the batch.

    pred_features / target_features: one (B, C_l, H_l, W_l) float tensor per layer, same shapes
    (e.g. :class:`training.perceptual.Vgg19Features` of X̂ and of X_n). Returns (L,) float32 >= 0
    (≈ 0 when pred and target hold the same, distinct features); gradients reach
    ``pred_features`` only.
    """
    if len(pred_features) != len(target_features) or not pred_features:
        raise ValueError(f"contextual_loss: {len(pred_features)} pred vs {len(target_features)} target "
                         "layers")
    device_type = pred_features[0].device.type
    losses = []
    with torch.autocast(device_type=device_type, enabled=False):
        for i, (p, t) in enumerate(zip(pred_features, target_features, strict=True)):
            dims = assert_shape(p, ("B", "C", "H", "W"), f"pred_features[{i}]")
            assert_shape(t, (dims["B"], dims["C"], dims["H"], dims["W"]), f"target_features[{i}]")
            p = pool_to_positions(p.float(), max_positions)
            t = pool_to_positions(t.detach().float(), max_positions)
            cx = contextual_similarity(p.flatten(2).transpose(1, 2), t.flatten(2).transpose(1, 2),
                                       band_width=band_width, eps=eps)
            losses.append(-torch.log(cx.clamp(1e-5, 1.0)).mean())
    return torch.stack(losses)
