"""One generator + discriminator step reaches every trainable parameter of G, D and D_comp."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.nets.component_crops import crop_components
from core.nets.config import GafetConfig
from core.nets.gafet import build_networks
from tests.helpers.nets import fake_landmarks, make_inputs

R1_GAMMA = 10.0


def _r1(logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)).mean()


def _unreached(module: nn.Module) -> list[str]:
    return [n for n, p in module.named_parameters()
            if p.requires_grad and (p.grad is None or not bool(p.grad.abs().sum() > 0))]


def test_one_training_step_reaches_every_parameter(tiny: GafetConfig) -> None:
    torch.manual_seed(0)
    nets = build_networks(tiny)
    G, D, Dc = nets.generator, nets.discriminator, nets.component_discriminator
    p = tiny.discriminator.component_patch
    inp = make_inputs(tiny, 2)
    real = torch.rand(2, 3, 64, 64) * 2 - 1
    landmarks = fake_landmarks(2, 64)

    # Generator step: non-saturating logistic losses of both discriminators + L1 reconstruction.
    fake = G(*inp).image
    g_loss = F.softplus(-D(fake)).mean() + (fake - real).abs().mean()
    for patch in crop_components(fake, landmarks, size=p).patches:
        g_loss = g_loss + F.softplus(-Dc(patch)).mean()
    g_loss.backward()
    assert _unreached(G) == []

    # Discriminator step: logistic losses + R1 on real images / real patches.
    D.zero_grad(set_to_none=True)
    Dc.zero_grad(set_to_none=True)
    real = real.requires_grad_(True)
    real_logits = D(real)
    d_loss = (F.softplus(-real_logits).mean() + F.softplus(D(fake.detach())).mean()
              + R1_GAMMA / 2 * _r1(real_logits, real))
    fake_patches = crop_components(fake.detach(), landmarks, size=p).patches
    for real_patch, fake_patch in zip(crop_components(real.detach(), landmarks, size=p).patches, fake_patches,
                                      strict=True):
        real_patch = real_patch.requires_grad_(True)
        logits = Dc(real_patch)
        d_loss = d_loss + (F.softplus(-logits).mean() + F.softplus(Dc(fake_patch)).mean()
                           + R1_GAMMA / 2 * _r1(logits, real_patch))
    d_loss.backward()
    assert _unreached(D) == []
    assert _unreached(Dc) == []
