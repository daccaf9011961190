from __future__ import annotations

from core.nets.config import GafetConfig
from core.nets.gafet import GaFET
from core.nets.stats import count_flops, parameter_count, parameter_counts


def test_parameter_counts_per_module_add_up(tiny: GafetConfig) -> None:
    model = GaFET(config=tiny)
    counts = parameter_counts(model)
    assert set(counts) == {"appearance_encoder", "geometry_encoder", "reference_encoder", "mfat", "decoder"}
    assert sum(counts.values()) == parameter_count(model) > 0


def test_flop_counts(tiny: GafetConfig) -> None:
    report = count_flops(tiny.with_switches(use_component_discriminator=False))
    assert report.generator == sum(report.generator_by_module.values())
    assert set(report.generator_by_module) == {"appearance_encoder", "reference_encoder", "geometry_encoder",
                                               "mfat", "decoder"}
    # A slider move skips E_a, E_d and MFAT's reference half: cheaper than a full forward.
    expected_decode = report.generator - sum(report.generator_by_module[k] for k in
                                             ("appearance_encoder", "reference_encoder"))
    assert 0 < report.decode < expected_decode
    assert report.discriminator > 0 and report.component_discriminator == 0
