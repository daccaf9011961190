"""training.config: the paper's weights, named configs, ablations, validation and the JSON round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest

from core.nets.config import preset
from training.config import (
    ABLATIONS,
    TRAINING_CONFIGS,
    EmaConfig,
    LossWeights,
    OptimiserConfig,
    TrainingConfig,
    TrainingConfigError,
    auto_r1_gamma,
    training_config,
    training_config_from_dict,
    training_config_from_json,
    training_config_to_dict,
    training_config_to_json,
)


def test_paper_weights_and_optimiser() -> None:
    w = LossWeights()
    assert (w.exp_shape, w.exp_au) == (150.0, 50.0)  # §3.5
    assert w.rec == w.cx == w.adv_global == w.adv_comp == 1.0  # "the rest are 1.0"
    o = OptimiserConfig()
    assert (o.lr, o.beta1, o.beta2) == (0.002, 0.0, 0.99)  # §4.1


def test_named_configs_use_their_networks() -> None:
    assert set(TRAINING_CONFIGS) == {"cpu-smoke", "video-128", "ffhq-256", "ffhq-512"}
    nets = {name: cfg.net.name for name, cfg in TRAINING_CONFIGS.items()}
    assert nets == {"cpu-smoke": "tiny-64", "video-128": "small-128", "ffhq-256": "gafet-256",
                    "ffhq-512": "gafet-512"}
    assert training_config("video-128").resolution == 128
    for cfg in TRAINING_CONFIGS.values():
        assert cfg.r1.gamma == auto_r1_gamma(cfg.resolution, cfg.batch) > 0
    with pytest.raises(TrainingConfigError, match="Unknown training config 'nope'.*cpu-smoke"):
        training_config("nope")


@pytest.mark.parametrize("name", sorted(TRAINING_CONFIGS))
def test_json_round_trip(name: str) -> None:
    cfg = TRAINING_CONFIGS[name]
    assert training_config_from_json(training_config_to_json(cfg)) == cfg
    odd = cfg.with_ablation("no-fd").replace(perceptual="random", perceptual_seed=7,
                                             ema=EmaConfig(half_life_kimg=None, rampup=None))
    assert training_config_from_json(training_config_to_json(odd, indent=2)) == odd


def test_every_table3_ablation_is_a_switch() -> None:
    base = training_config("cpu-smoke")
    labels = {a.label for a in ABLATIONS.values()}
    assert {"w/o De-exp", "w/o MFAT", "w/o SGMM", "w/o Multi-scale", "w/o FD", "w/o Comp. D"} <= labels
    assert not base.with_ablation("no-de-exp").pairs.use_de_expression
    assert not base.with_ablation("no-mfat").net.switches.use_mfat
    assert not base.with_ablation("no-sgmm").net.switches.use_global_modulation
    assert not base.with_ablation("no-multiscale").net.switches.multiscale_attention
    assert not base.with_ablation("no-fd").net.switches.use_feature_deformation
    no_comp = base.with_ablation("no-comp-d")
    assert not no_comp.net.switches.use_component_discriminator and not no_comp.uses_component_discriminator
    assert not base.with_ablation("no-cx").needs_vgg19 and not base.with_ablation("no-lpips").needs_vgg16
    assert base.with_ablation("no-mfat").name == "cpu-smoke+no-mfat"
    with pytest.raises(TrainingConfigError, match="Unknown ablation"):
        base.with_ablation("no-everything")


@pytest.mark.parametrize(("changes", "message"), [
    ({"batch": 3, "accumulation": 2}, "multiple of accumulation"),
    ({"perceptual": "pretrained"}, "perceptual must be one of"),
    ({"precision": "float16"}, "precision must be one of"),
    ({"weights": LossWeights(cx=-1.0)}, "loss weight 'cx'"),
])
def test_invalid_values_are_named(changes: dict, message: str) -> None:
    with pytest.raises(TrainingConfigError, match=message):
        TrainingConfig(**changes)


def test_everything_off_is_refused() -> None:
    off = {f.name: False for f in dataclasses.fields(training_config("cpu-smoke").losses)}
    with pytest.raises(TrainingConfigError, match="every generator loss is switched off"):
        training_config("cpu-smoke").with_losses(**off)
    only_l1 = training_config("cpu-smoke").with_losses(**{**off, "rec_l1": True})
    assert not only_l1.uses_discriminators and not only_l1.r1_due(0)


def test_json_rejects_unknown_and_mistyped_fields() -> None:
    raw = training_config_to_dict(training_config("cpu-smoke"))
    with pytest.raises(TrainingConfigError, match="unknown field"):
        training_config_from_dict({**raw, "lambda_everything": 1})
    with pytest.raises(TrainingConfigError, match=r"weights\.exp_au' must be a number"):
        training_config_from_dict({**raw, "weights": {**raw["weights"], "exp_au": "50"}})
    with pytest.raises(TrainingConfigError, match="format_version"):
        training_config_from_dict({**raw, "format_version": 99})
    with pytest.raises(TrainingConfigError, match="'net'"):
        training_config_from_dict({**raw, "net": {**raw["net"], "resolution": 65}})
    with pytest.raises(TrainingConfigError, match="not valid JSON"):
        training_config_from_json("{")
    assert json.loads(training_config_to_json(training_config("ffhq-256")))["weights"]["exp_shape"] == 150.0


def test_schedule_helpers() -> None:
    cfg = training_config("cpu-smoke")
    assert [cfg.is_paired_step(k) for k in range(4)] == [True, False, True, False]
    assert [cfg.r1_due(k) for k in (0, 1, 15, 16)] == [True, False, False, True]
    assert cfg.micro_batch(1) == 2 and cfg.replace(batch=8, accumulation=2).micro_batch(2) == 2
    with pytest.raises(TrainingConfigError, match="does not split"):
        cfg.micro_batch(3)


def test_lazy_adam_and_ema() -> None:
    lazy = OptimiserConfig().lazy(16)
    r = 16 / 17
    assert lazy.lr == pytest.approx(0.002 * r) and lazy.beta2 == pytest.approx(0.99**r)
    assert lazy.beta1 == 0.0
    ema = EmaConfig()  # half-life batch·10/32 kimg, ramp-up 0.05
    beta = ema.beta(batch=32, images_seen=10**9)
    assert beta == pytest.approx(0.5 ** (32 / 10_000))
    early = ema.beta(batch=32, images_seen=1000)  # ramp-up: half-life <= 50 images
    assert early == pytest.approx(0.5 ** (32 / 50))
    fixed = EmaConfig(half_life_kimg=1.0, rampup=None)
    assert fixed.beta(batch=10, images_seen=0) == pytest.approx(0.5**0.01)


def test_small_128_preset_is_registered() -> None:
    net = preset("small-128")
    assert net.resolution == 128 and net.levels == 5
