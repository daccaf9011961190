"""U²-Net: sizes of the named configs, output shapes and ranges, gradients to every parameter."""

from __future__ import annotations

import pytest
import torch

from core.nets.u2net import U2Net, U2NetConfig, U2NetConfigError, u2net_config


def _unreached(net: U2Net) -> list[str]:
    return [n for n, p in net.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]


def test_parameter_counts_match_u2net_and_u2netp() -> None:
    # U²-Net 44.0 M, U²-NetP 1.13 M with 1-channel heads (notes/training.md §4); 3-channel heads add a little.
    with torch.device("meta"):
        full = U2Net(u2net_config("full")).num_parameters()
        small = U2Net(u2net_config("small")).num_parameters()
    assert 43.5e6 < full < 44.6e6
    assert 1.10e6 < small < 1.16e6


@pytest.mark.parametrize(("name", "size"), [("small", 48), ("full", 24)])
def test_shapes_ranges_and_gradients(name: str, size: int) -> None:
    torch.manual_seed(0)
    net = U2Net(u2net_config(name))
    x = torch.rand(2, 3, size, size + 8) * 2 - 1
    target = torch.rand(2, 3, size, size + 8) * 2 - 1
    # residual heads start at zero: an untrained network is the identity
    with torch.no_grad():
        out0 = net(x)
    assert torch.allclose(out0.image, x)
    for head in (*net.sides, net.fuse):  # leave the identity start so every layer gets a gradient
        torch.nn.init.normal_(head.weight, std=0.01)
    out = net(x)
    assert out.image.shape == x.shape
    assert len(out.sides) == 6 and all(s.shape == x.shape for s in out.sides)
    assert all(float(t.detach().min()) >= -1 and float(t.detach().max()) <= 1 for t in out.all())
    loss = sum((t - target).abs().mean() for t in out.all())
    loss.backward()
    assert _unreached(net) == []


def test_tanh_heads_and_odd_sizes() -> None:
    cfg = U2NetConfig(name="t", encoder=((4, 8),) * 6, decoder=((4, 8),) * 5, residual=False, out_channels=3)
    net = U2Net(cfg)
    out = net(torch.zeros(1, 3, 37, 21))
    assert out.image.shape == (1, 3, 37, 21)
    assert float(out.image.abs().max()) < 1.0
    assert U2NetConfig.from_dict(cfg.to_dict()) == cfg


def test_bad_configs_raise() -> None:
    with pytest.raises(U2NetConfigError, match="Unknown U²-Net config"):
        u2net_config("huge")
    with pytest.raises(U2NetConfigError, match="residual"):
        U2NetConfig(name="x", encoder=((4, 8),) * 6, decoder=((4, 8),) * 5, out_channels=1)
    with pytest.raises(ValueError, match="U2Net input"):
        U2Net(u2net_config("tiny"))(torch.zeros(1, 1, 8, 8))


@pytest.mark.parametrize("change", [{"encoder": ((16, 64),) * 5 + ((16, 100_000),)},
                                    {"in_channels": 9, "out_channels": 9},
                                    {"head_scale": float("nan")}, {"head_scale": 1e9}])
def test_configs_past_the_bounds_are_refused_before_building(change: dict) -> None:
    """A crafted De-expression checkpoint cannot make the app build a huge network (issue 15)."""
    import dataclasses

    with pytest.raises(U2NetConfigError):
        dataclasses.replace(u2net_config("small"), **change)
