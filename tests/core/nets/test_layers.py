"""Modulated convolution, SGMM and the discriminator's building blocks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.nets.discriminator import minibatch_stddev
from core.nets.modulated_conv import ModulatedConv2d
from core.nets.sgmm import SgmmBlock, instance_norm


def test_modulated_conv_equals_per_sample_demodulated_weights() -> None:
    torch.manual_seed(0)
    conv = ModulatedConv2d(in_channels=5, out_channels=7, kernel=3, style_dim=6)
    x, w = torch.randn(3, 5, 9, 9), torch.randn(3, 6)
    out = conv(x, w)
    s = conv.affine(w)
    for b in range(3):
        weight = conv.weight * conv.scale * s[b][None, :, None, None]  # (O, I, k, k)
        weight = weight / weight.square().sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
        expected = F.conv2d(x[b:b + 1], weight, padding=1)
        torch.testing.assert_close(out[b:b + 1], expected, atol=1e-5, rtol=1e-4)


def test_demodulation_keeps_unit_variance_and_ignores_style_scale() -> None:
    torch.manual_seed(0)
    conv = ModulatedConv2d(in_channels=64, out_channels=64, kernel=3, style_dim=8)
    x, w = torch.randn(4, 64, 16, 16), torch.randn(4, 8)
    out = conv(x, w)
    assert 0.7 < out[..., 1:-1, 1:-1].std().item() < 1.3


def test_modulated_conv_under_autocast_runs_in_low_precision_with_finite_output() -> None:
    torch.manual_seed(0)
    conv = ModulatedConv2d(in_channels=8, out_channels=8, kernel=3, style_dim=4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = conv(torch.randn(2, 8, 8, 8) * 100, torch.randn(2, 4))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()


def test_sgmm_block_spatial_condition_and_style_both_matter() -> None:
    torch.manual_seed(0)
    block = SgmmBlock(channels=8, cond_channels=4, style_dim=6)
    x, cond, style = torch.randn(2, 8, 8, 8), torch.randn(2, 4, 8, 8), torch.randn(2, 6)
    out = block(x, cond, style)
    assert out.shape == x.shape
    assert not torch.allclose(out, block(x, torch.randn_like(cond), style))
    assert not torch.allclose(out, block(x, cond, torch.randn_like(style)))
    plain = SgmmBlock(channels=8, cond_channels=4, style_dim=None)
    assert plain(x, cond, None).shape == x.shape


def test_instance_norm_statistics() -> None:
    y = instance_norm(torch.randn(2, 3, 8, 8) * 5 + 2)
    torch.testing.assert_close(y.mean(dim=(2, 3)), torch.zeros(2, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(dim=(2, 3), unbiased=False), torch.ones(2, 3), atol=1e-3, rtol=0)


def test_minibatch_stddev_appends_one_channel_for_any_batch() -> None:
    for batch in (1, 2, 3, 6):
        out = minibatch_stddev(torch.randn(batch, 4, 4, 4), group=4)
        assert out.shape == (batch, 5, 4, 4)
    out = minibatch_stddev(torch.ones(4, 2, 4, 4), group=4)
    assert out[:, -1].abs().max() < 1e-3  # identical samples: no spread
