"""Model statistics: parameter counts per module and FLOPs per forward.

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` on a *meta* forward (no
memory, no compute) at the config's resolution, batch 1. It counts matrix multiplies, convolutions
and attention (2 FLOPs per multiply-add); element-wise work (activations, normalisation, grid
sampling) is not included. Meta tensors are also what make attention count at all: on a real CPU
tensor, PyTorch's CPU flash-attention kernel has no FLOP formula.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from core.nets.component_crops import COMPONENTS
from core.nets.config import GafetConfig
from core.nets.gafet import GaFET, build_networks
from core.render.flow import identity_grid


def parameter_count(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def parameter_counts(module: nn.Module) -> dict[str, int]:
    """Parameters per direct child module (children without parameters are left out)."""
    return {name: n for name, child in module.named_children() if (n := parameter_count(child))}


class FlopReport(NamedTuple):
    """FLOPs (batch 1) of the generator's full forward, per generator child, and of other passes."""

    generator: int  # GaFET.forward
    generator_by_module: dict[str, int]  # appearance_encoder, geometry_encoder, ...
    decode: int  # GaFET.decode with cached source/reference work: the cost of a slider move
    discriminator: int  # global D on one image
    component_discriminator: int  # component D on the three patches of one image (0 when off)


def _by_child(counter: FlopCounterMode, root: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, ops in counter.get_flop_counts().items():
        parts = name.split(".")
        if len(parts) == 2 and parts[0] == root:
            out[parts[1]] = int(sum(ops.values()))
    return out


def count_flops(config: GafetConfig) -> FlopReport:
    """Count FLOPs of every network of ``config`` on the meta device (fast, allocates nothing)."""
    r = config.resolution
    meta = torch.device("meta")
    with meta:  # construction only: running under the context would route every op through Python
        nets = build_networks(config)
    g: GaFET = nets.generator
    source = torch.zeros(1, 3, r, r, device=meta)
    geometry = torch.zeros(1, config.geometry_channels, r, r, device=meta)
    flow = identity_grid(r, r, device=meta)
    with FlopCounterMode(display=False, depth=2) as full:
        g(source, source, geometry, flow)
    src, ref = g.encode_source(source), g.encode_reference(source)
    with FlopCounterMode(display=False) as dec:
        g.decode(src, ref, geometry, flow)
    with FlopCounterMode(display=False) as disc:
        nets.discriminator(source)
    comp = 0
    if nets.component_discriminator is not None:
        p = config.discriminator.component_patch
        with FlopCounterMode(display=False) as cd:
            for _ in COMPONENTS:
                nets.component_discriminator(torch.zeros(1, 3, p, p, device=meta))
        comp = int(cd.get_total_flops())
    total = int(full.get_total_flops())
    by_module = _by_child(full, "GaFET")
    # MFAT's reference half runs through Mfat.encode_reference (a method, not a module call), so
    # the tracker books it under GaFET itself: give it back to MFAT.
    remainder = total - sum(by_module.values())
    if remainder:
        key = "mfat" if "mfat" in by_module else "other"
        by_module[key] = by_module.get(key, 0) + remainder
    return FlopReport(generator=total, generator_by_module=by_module,
                      decode=int(dec.get_total_flops()), discriminator=int(disc.get_total_flops()),
                      component_discriminator=comp)
