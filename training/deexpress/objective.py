"""The De-expression objective: change-weighted L1 on the fused output and, weighted, on the six side
outputs (deep supervision), plus λ·LPIPS on the fused output (on the sides too with ``side_lpips``),
against X_n. Formula in :mod:`training.deexpress.config`.

LPIPS is the training module's (:func:`training.perceptual.build_perceptual`): LPIPS v0.1 over
the imported ImageNet VGG-16, or with ``perceptual="random"`` seeded random VGGs, which the
checkpoint records (``perceptual_random``) and the CLI announces loudly.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from core.checks import assert_shape
from core.nets.u2net import U2Net, U2NetOutput
from training.deexpress.config import DeexpressConfig, DeexpressLoss

__all__ = ["DeexpressObjective", "DeexpressResult", "change_weights", "deep_supervision_loss"]


class DeexpressResult(NamedTuple):
    """total: 0-d float32 with the graph. terms: every term by name (detached 0-d), ``total``
    included. output: the fused output (B, 3, R, R), detached."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]
    output: torch.Tensor

    def named(self) -> dict[str, torch.Tensor]:
        return self.terms


def change_weights(face: torch.Tensor, target: torch.Tensor, weights: DeexpressLoss) -> torch.Tensor:
    """Per-pixel L1 weights (B, 1, R, R) that emphasise where the pair differs.

    ``1 + change_weight · min(1, blur(|X − X_n|) / change_scale)``: ``|X − X_n|`` is the channel
    mean of the absolute difference (in [-1, 1] units), ``blur`` a 5x5 box filter (so the weight
    covers the neighbourhood of a moved edge, not only the pixels that changed). All ones when
    ``change_weight`` is 0. face, target: (B, 3, R, R) float in [-1, 1]. Pure; no gradient.
    """
    assert_shape(target, tuple(face.shape), "target")
    if weights.change_weight <= 0:
        return face.new_ones(face.shape[0], 1, *face.shape[-2:])
    diff = (face - target).detach().abs().mean(1, keepdim=True)
    diff = F.avg_pool2d(diff, 5, stride=1, padding=2, count_include_pad=False)
    return 1.0 + weights.change_weight * (diff / weights.change_scale).clamp(max=1.0)


def _weighted_l1(pred: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Σ w·|pred − target| / Σ w (channel-averaged): a weighted mean on the L1 scale."""
    return ((pred - target).abs().mean(1, keepdim=True) * w).sum() / w.sum()


def deep_supervision_loss(out: U2NetOutput, target: torch.Tensor, weights: DeexpressLoss,
                          lpips: nn.Module | None, face: torch.Tensor | None = None
                          ) -> dict[str, torch.Tensor]:
    """Pure loss terms (module docstring): ``l1`` (plain, for comparison with the identity's
    ``|X − X_n|``) and ``l1_w`` (change-weighted, :func:`change_weights`) of the fused output,
    ``side_l1`` (change-weighted) summed over the side outputs, ``lpips`` and ``side_lpips``, and the
    weighted ``total`` (which uses the change-weighted L1; with ``change_weight`` 0 or no ``face``
    it is the plain L1).

    out: the U²-Net outputs; target: (B, 3, R, R) X_n in [-1, 1]; lpips: LPIPS or None (term off);
    face: the input X (B, 3, R, R) in [-1, 1] the weights are computed from.
    """
    assert_shape(target, tuple(out.image.shape), "target")
    w = change_weights(face, target, weights) if face is not None else \
        target.new_ones(target.shape[0], 1, *target.shape[-2:])
    terms: dict[str, torch.Tensor] = {}
    terms["l1"] = (out.image - target).abs().mean()
    terms["l1_w"] = _weighted_l1(out.image, target, w)
    terms["side_l1"] = sum((_weighted_l1(s, target, w) for s in out.sides), target.new_zeros(()))
    total = weights.l1 * (terms["l1_w"] + weights.side * terms["side_l1"])
    if lpips is not None and weights.lpips > 0:
        terms["lpips"] = lpips(out.image.float(), target.float()).mean()
        side = target.new_zeros(())
        if weights.side > 0 and weights.side_lpips:
            side = sum((lpips(s.float(), target.float()).mean() for s in out.sides), side)
        if weights.side_lpips:
            terms["side_lpips"] = side
        total = total + weights.lpips * (terms["lpips"] + weights.side * side)
    terms["total"] = total
    return terms


class DeexpressObjective:
    """The losses of one config with their feature network (build with :meth:`build`)."""

    def __init__(self, config: DeexpressConfig, lpips: nn.Module | None, *, perceptual_random: bool) -> None:
        self.config = config
        self.lpips = lpips
        self.perceptual_random = perceptual_random

    @classmethod
    def build(cls, config: DeexpressConfig, *, device: torch.device | str = "cpu") -> DeexpressObjective:
        """Raises :class:`training.perceptual.PerceptualWeightsMissingError` (with the import command)
        when the config wants ImageNet LPIPS and VGG-16 is not imported."""
        lpips = None
        if config.needs_lpips:
            from training.perceptual import build_perceptual

            nets = build_perceptual(mode=config.perceptual, need_lpips=True, need_vgg19=False,
                                    vgg19_layers=(), seed=config.perceptual_seed, device=device)
            lpips = nets.lpips
        return cls(config, lpips, perceptual_random=config.needs_lpips and config.perceptual == "random")

    def loss(self, net: U2Net, face: torch.Tensor, neutral: torch.Tensor) -> DeexpressResult:
        """face: X (B, 3, R, R) in [-1, 1] -> U²-Net -> losses against neutral X_n."""
        out = net(face)
        terms = deep_supervision_loss(out, neutral, self.config.loss, self.lpips, face=face)
        return DeexpressResult(total=terms["total"], terms={k: v.detach() for k, v in terms.items()},
                               output=out.image.detach())

    def metadata(self) -> dict[str, Any]:
        """Run facts for the checkpoint: the perceptual mode and whether it is random."""
        return {"perceptual": self.config.perceptual if self.config.needs_lpips else "off",
                "perceptual_random": self.perceptual_random}
