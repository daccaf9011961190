"""Adversarial losses (paper §3.5): non-saturating GAN losses and the R1 penalty.

The same functions serve the global D (whole images) and the component D (eye and mouth patches).
With logits l = D(·) (B,):

* G: softplus(−D(X̂)) = −log σ(D(X̂)) (non-saturating; Goodfellow et al. 2014);
* D: softplus(D(X̂)) + softplus(−D(X)) (real images X);
* R1 (Mescheder et al. 2018): E‖∇_x D(x)‖² on real images, through
  ``autograd.grad(create_graph=True)`` so that its own gradient reaches D. The caller weights it
  by γ/2 (and by the lazy interval k when it runs every k-th step) and runs it in float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from core.checks import assert_shape


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """mean softplus(−D(X̂)). fake_logits: (B,) float. Returns a 0-d float32 tensor > 0."""
    assert_shape(fake_logits, ("B",), "fake_logits")
    return F.softplus(-fake_logits.float()).mean()


def discriminator_adversarial_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """mean softplus(D(X̂)) + mean softplus(−D(X)). Logits (B,) and (B',) float. 0-d float32 > 0."""
    assert_shape(real_logits, ("B",), "real_logits")
    assert_shape(fake_logits, ("B",), "fake_logits")
    return F.softplus(fake_logits.float()).mean() + F.softplus(-real_logits.float()).mean()


def r1_penalty(real_logits: torch.Tensor, real_inputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """E‖∇_x D(x)‖²: the squared gradient norm of the logits with respect to the real inputs.

    real_logits: (B,) float, computed from ``real_inputs`` (each (B, ...) float with
    ``requires_grad=True``; several inputs: their squared norms add up). The graph is kept
    (``create_graph=True``), so the result can be back-propagated into D. Returns a 0-d float32
    tensor >= 0 (the mean over the batch of the per-sample squared norms).
    """
    b = assert_shape(real_logits, ("B",), "real_logits")["B"]
    inputs = list(real_inputs)
    if not inputs or any(not t.requires_grad for t in inputs):
        raise ValueError("r1_penalty: every real input must require grad")
    grads = torch.autograd.grad(real_logits.sum(), inputs, create_graph=True)
    total = real_logits.new_zeros(b, dtype=torch.float32)
    for g in grads:
        total = total + g.float().square().flatten(1).sum(dim=1)
    return total.mean()
