"""Shapes for every preset and every ablation switch; each switch really changes its part."""

from __future__ import annotations

import pytest
import torch

from core.nets.config import GafetConfig, preset
from core.nets.gafet import GaFET, build_networks
from core.nets.modulated_conv import ModulatedConv2d
from core.render.flow import identity_grid
from tests.helpers.nets import make_inputs

SWITCHES = ("use_mfat", "use_global_modulation", "multiscale_attention", "use_feature_deformation",
            "use_component_discriminator")


def _param_shapes(cfg: GafetConfig) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        nets = build_networks(cfg)
    return {f"{part}.{k}": tuple(v.shape) for part, m in nets.modules_by_name().items()
            for k, v in m.state_dict().items()}


@pytest.mark.parametrize("name", ["gafet-256", "gafet-512", "tiny-64"])
def test_every_preset_builds_and_has_consistent_shapes_on_meta(name: str) -> None:
    cfg = preset(name)
    r = cfg.resolution
    with torch.device("meta"):
        nets = build_networks(cfg)
    meta = torch.device("meta")
    x = torch.zeros(1, 3, r, r, device=meta)
    geometry = torch.zeros(1, cfg.geometry_channels, r, r, device=meta)
    out = nets.generator(x, x, geometry, identity_grid(r, r, device=meta), return_intermediates=True)
    assert out.image.shape == (1, 3, r, r)
    inter = out.intermediates
    for i, (a, e) in enumerate(zip(inter.warped_appearance, inter.expression_features, strict=True)):
        assert a.shape == (1, cfg.appearance_channels[i], r >> i, r >> i)
        assert e.shape == (1, cfg.geometry_feature_channels[i], r >> i, r >> i)
    assert inter.global_vector.shape == (1, cfg.global_dim)
    assert nets.discriminator(x).shape == (1,)
    p = cfg.discriminator.component_patch
    assert nets.component_discriminator(torch.zeros(1, 3, p, p, device=meta)).shape == (1,)


def test_gafet_256_real_forward_batch_1() -> None:
    cfg = preset("gafet-256")
    torch.manual_seed(0)
    model = GaFET(config=cfg).eval()
    inp = make_inputs(cfg, 1)
    with torch.no_grad():
        image = model(*inp).image
    assert image.shape == (1, 3, 256, 256)
    assert torch.isfinite(image).all()


def test_tiny_forward_shapes_dtype_and_intermediates(tiny: GafetConfig) -> None:
    torch.manual_seed(0)
    model = GaFET(config=tiny)
    inp = make_inputs(tiny, 2)
    out = model(*inp, return_intermediates=True)
    assert out.image.shape == (2, 3, 64, 64) and out.image.dtype == torch.float32
    assert torch.isfinite(out.image).all()
    assert model(*inp).intermediates is None
    inter = out.intermediates
    # MFAT adds a residual exactly on its scales; elsewhere E_e's features pass unchanged.
    for i, (before, after) in enumerate(zip(inter.geometry_features, inter.expression_features, strict=True)):
        assert torch.equal(before, after) == (i not in tiny.mfat_scales)


def test_inputs_are_checked(tiny: GafetConfig) -> None:
    model = GaFET(config=tiny)
    s, r, g, f = make_inputs(tiny, 2)
    with pytest.raises(ValueError, match="geometry"):
        model(s, r, g[:, :3], f)
    with pytest.raises(ValueError, match="flow"):
        model(s, r, g, f[:1])
    with pytest.raises(ValueError, match="source"):
        model(s[..., :32, :32], r, g, f)
    with pytest.raises(TypeError, match="source"):
        model(s.to(torch.uint8), r, g, f)


@pytest.mark.parametrize("switch", SWITCHES)
def test_each_switch_changes_the_parameters_and_still_runs(tiny: GafetConfig, switch: str) -> None:
    ablated = tiny.with_switches(**{switch: False})
    full_shapes, ablated_shapes = _param_shapes(tiny), _param_shapes(ablated)
    assert full_shapes != ablated_shapes
    if switch != "use_component_discriminator":
        torch.manual_seed(0)
        image = GaFET(config=ablated)(*make_inputs(ablated, 2)).image
        assert image.shape == (2, 3, 64, 64) and torch.isfinite(image).all()


def test_switches_remove_exactly_their_part(tiny: GafetConfig) -> None:
    def parts(cfg: GafetConfig) -> set[str]:
        return {k.split(".")[1] for k in _param_shapes(cfg) if k.startswith("generator.")}

    assert parts(tiny) == {"appearance_encoder", "geometry_encoder", "reference_encoder", "mfat", "decoder"}
    assert parts(tiny.with_switches(use_mfat=False)) == {"appearance_encoder", "geometry_encoder", "decoder"}
    no_global = GaFET(config=tiny.with_switches(use_global_modulation=False))
    assert no_global.geometry_encoder.global_head is None
    assert not any(isinstance(m, ModulatedConv2d) for m in no_global.modules())
    assert any(isinstance(m, ModulatedConv2d) for m in GaFET(config=tiny).modules())
    single = GaFET(config=tiny.with_switches(multiscale_attention=False))
    assert len(single.mfat.levels) == 1 and len(GaFET(config=tiny).mfat.levels) == 3
    no_comp = build_networks(tiny.with_switches(use_component_discriminator=False))
    assert no_comp.component_discriminator is None


@torch.no_grad()
def test_switched_off_inputs_no_longer_matter(tiny: GafetConfig) -> None:
    a, b = make_inputs(tiny, 1, seed=1), make_inputs(tiny, 1, seed=2)
    torch.manual_seed(0)
    no_mfat = GaFET(config=tiny.with_switches(use_mfat=False))
    assert torch.equal(no_mfat(a.source, a.reference, a.geometry, a.flow).image,
                       no_mfat(a.source, b.reference, a.geometry, a.flow).image)
    no_fd = GaFET(config=tiny.with_switches(use_feature_deformation=False))
    assert torch.equal(no_fd(a.source, a.reference, a.geometry, a.flow).image,
                       no_fd(a.source, a.reference, a.geometry, b.flow).image)
    full = GaFET(config=tiny)
    assert not torch.allclose(full(a.source, a.reference, a.geometry, a.flow).image,
                              full(a.source, b.reference, a.geometry, a.flow).image)
    assert not torch.allclose(full(a.source, a.reference, a.geometry, a.flow).image,
                              full(a.source, a.reference, a.geometry, b.flow).image)
