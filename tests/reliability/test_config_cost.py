"""The config's cost model (what the bounds check uses) matches the networks actually built.

One meta-device build per switch set (allocates nothing); the parameters are counted on it and
the generator's FLOPs measured with one counted forward pass of that same generator (what
:func:`core.nets.stats.count_flops` reports as ``generator``, without its extra decode and
discriminator passes, which the cost model does not estimate).
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from core.nets.config import estimate_cost, preset
from core.nets.gafet import build_networks
from core.nets.stats import parameter_count
from core.render.flow import identity_grid


# tiny-64: the smallest preset. The three sets turn every switch off at least once, with MFAT both
# on and off (multi-scale attention only exists inside it).
@pytest.mark.parametrize("switches", [{}, {"use_mfat": False, "use_global_modulation": False},
                                      {"use_feature_deformation": False, "use_component_discriminator": False,
                                       "multiscale_attention": False}])
def test_estimate_matches_the_built_networks(switches: dict[str, bool]) -> None:
    torch.set_num_threads(1)
    cfg = preset("tiny-64").with_switches(**switches)
    meta = torch.device("meta")
    with meta:
        nets = build_networks(cfg)
    cost = estimate_cost(cfg)
    assert cost.parameters == sum(parameter_count(m) for m in nets.modules_by_name().values())
    r = cfg.resolution
    source = torch.zeros(1, 3, r, r, device=meta)
    geometry = torch.zeros(1, cfg.geometry_channels, r, r, device=meta)
    with FlopCounterMode(display=False) as counter:
        nets.generator(source, source, geometry, identity_grid(r, r, device=meta))
    flops = counter.get_total_flops()
    assert flops > 0
    assert abs(cost.generator_flops - flops) <= 0.01 * flops
