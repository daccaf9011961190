"""The reconstruction loss of pseudo-pairs (paper Eq. 1): L_rec^pseudo = ‖X − X̂‖₁ + λ·lpips(X, X̂).

The two parts are separate functions; :mod:`training.objective` applies λ. Both compare a
generated image with its pseudo-pair target X; both are 0 for identical images.
"""

from __future__ import annotations

import torch
from torch import nn

from core.checks import assert_float, assert_shape


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    dims = assert_shape(pred, ("B", 3, "H", "W"), "pred")
    assert_shape(target, (dims["B"], 3, dims["H"], dims["W"]), "target")
    assert_float(pred, "pred")
    assert_float(target, "target")


def l1_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference ‖X − X̂‖₁ / (3·H·W), averaged over the batch.

    pred, target: (B, 3, H, W) float in [-1, 1]. Returns a 0-d float32 tensor >= 0, computed in
    float32 whatever the inputs' dtype.
    """
    _check_pair(pred, target)
    return (pred.float() - target.float()).abs().mean()


def lpips_distance(pred: torch.Tensor, target: torch.Tensor, lpips_net: nn.Module) -> torch.Tensor:
    """LPIPS(X, X̂) averaged over the batch (Zhang et al. 2018).

    pred, target: (B, 3, H, W) float in [-1, 1]; lpips_net: an LPIPS model
    (:func:`core.metrics.lpips_metric.build_lpips`) returning (B, 1, 1, 1). Returns a 0-d float32
    tensor >= 0 (0 for identical images). Runs in the ambient autocast precision.
    """
    _check_pair(pred, target)
    return lpips_net(pred, target).float().mean()
