"""training.objective on real aligned faces at tiny-64 (batch 2), with ``--perceptual random`` VGGs."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from core.nets.gafet import GafetNetworks, build_networks
from tests.helpers.loss_batches import real_batch
from training.batch import Batch
from training.config import TrainingConfig, training_config
from training.face_fit import ExpressionFitter
from training.objective import GafetObjective
from training.perceptual import PerceptualNets, PerceptualWeightsMissingError, build_perceptual

BASE = training_config("cpu-smoke").replace(perceptual="random")
G_TERMS = ("rec_l1", "rec_lpips", "exp_shape", "exp_au", "cx", "adv_global", "adv_comp")


@pytest.fixture(scope="module")
def perceptual() -> PerceptualNets:
    return build_perceptual(mode="random", need_lpips=True, need_vgg19=True,
                            vgg19_layers=BASE.contextual.layers, seed=BASE.perceptual_seed)


@pytest.fixture(scope="module")
def fitter(app_assets: None) -> ExpressionFitter:
    return ExpressionFitter.from_assets(rounds=BASE.expression.fit_rounds)


def _objective(cfg: TrainingConfig, perceptual: PerceptualNets, fitter: ExpressionFitter) -> GafetObjective:
    return GafetObjective(config=cfg, perceptual=perceptual, fitter=fitter)


def _nets(cfg: TrainingConfig, seed: int = 0) -> GafetNetworks:
    torch.manual_seed(seed)
    return build_networks(cfg.net)


def _grad_norm(module: torch.nn.Module) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


@pytest.mark.parametrize("paired", [True, False])
def test_full_objective_on_real_faces(media, perceptual, fitter, paired: bool) -> None:
    objective = _objective(BASE, perceptual, fitter)
    nets = _nets(BASE)
    batch = real_batch(media, BASE.net, paired=paired)
    g = objective.generator_loss(nets, batch)
    named = g.named()
    expected = set(G_TERMS) | {"rec", "total"}
    if not paired:
        expected -= {"rec", "rec_l1", "rec_lpips"}
    assert set(named) == expected
    assert all(math.isfinite(float(v)) for v in named.values())
    w = BASE.weights
    weighted = (w.exp_shape * named["exp_shape"] + w.exp_au * named["exp_au"] + w.cx * named["cx"]
                + w.adv_global * named["adv_global"] + w.adv_comp * named["adv_comp"])
    if paired:
        assert named["rec"] == pytest.approx(float(named["rec_l1"] + w.lpips * named["rec_lpips"]))
        weighted = weighted + w.rec * named["rec"]
    assert float(g.total.detach()) == pytest.approx(float(weighted), rel=1e-5)
    assert g.output.shape == batch.source.shape and not g.output.requires_grad
    g.total.backward()
    assert _grad_norm(nets.generator) > 0

    d = objective.discriminator_loss(nets, batch, g.output, r1=True)
    assert set(d.named()) == {"adv_global", "adv_comp", "real_logit", "fake_logit", "r1_global", "r1_comp",
                              "total"}
    assert all(math.isfinite(float(v)) for v in d.named().values())
    nets.generator.zero_grad()
    d.total.backward()
    assert _grad_norm(nets.discriminator) > 0 and _grad_norm(nets.component_discriminator) > 0
    assert _grad_norm(nets.generator) == 0  # the fakes are detached


@pytest.mark.parametrize("term", G_TERMS)
def test_one_switch_on_gives_only_that_term_and_its_gradient_reaches_g(media, perceptual, fitter,
                                                                       term: str) -> None:
    off = {f.name: False for f in dataclasses.fields(BASE.losses)}
    cfg = BASE.with_losses(**{**off, term: True})
    objective = _objective(cfg, perceptual, fitter)
    nets = _nets(cfg)
    batch = real_batch(media, cfg.net, paired=True)
    g = objective.generator_loss(nets, batch)
    named = g.named()
    expected = {term, "total"} | ({"rec"} if term.startswith("rec_") else set())
    assert set(named) == expected
    if term.startswith("rec_"):
        weight = cfg.weights.rec * (cfg.weights.lpips if term == "rec_lpips" else 1.0)
    else:
        weight = getattr(cfg.weights, term)
    assert float(g.total.detach()) == pytest.approx(weight * float(named[term]), rel=1e-5)
    assert float(named[term]) > 0
    g.total.backward()
    grads = [p.grad for p in nets.generator.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(t).all() for t in grads) and _grad_norm(nets.generator) > 0
    if not term.startswith("adv"):
        assert not objective.trains_discriminators


def test_au_term_is_in_the_papers_scale(media, perceptual, fitter) -> None:
    """exp_au = s_AU·(1 − cos) (the stand-in embedding's measured conversion, config.py), weighted by λ_AU."""
    off = {f.name: False for f in dataclasses.fields(BASE.losses)}
    cfg = BASE.with_losses(**{**off, "exp_au": True})
    raw_cfg = cfg.replace(expression=dataclasses.replace(cfg.expression, au_unit_scale=1.0))
    batch = real_batch(media, cfg.net, paired=False)
    with torch.no_grad():
        g = _objective(cfg, perceptual, fitter).generator_loss(_nets(cfg), batch)
        raw = _objective(raw_cfg, perceptual, fitter).generator_loss(_nets(cfg), batch)
    s = cfg.expression.au_unit_scale
    assert 0 < s < 1 and float(raw.named()["exp_au"]) > 0
    assert float(g.named()["exp_au"]) == pytest.approx(s * float(raw.named()["exp_au"]), rel=1e-5)
    assert float(g.total) == pytest.approx(cfg.weights.exp_au * s * float(raw.named()["exp_au"]), rel=1e-5)


def test_identical_pseudo_pair_has_no_reconstruction_or_expression_loss(media, perceptual, fitter) -> None:
    """G replaced by the identity on the reference: L1, LPIPS and both expression losses vanish."""

    class Echo(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, source: torch.Tensor, reference: torch.Tensor, geometry: torch.Tensor,
                    flow: torch.Tensor) -> object:
            return type("Out", (), {"image": reference * self.scale})()

    cfg = BASE.with_losses(cx=False, adv_global=False, adv_comp=False)
    objective = _objective(cfg, perceptual, fitter)
    batch = real_batch(media, cfg.net, paired=True)
    nets = GafetNetworks(generator=Echo(), discriminator=None, component_discriminator=None)
    named = objective.generator_loss(nets, batch).named()
    assert float(named["rec_l1"]) == 0.0 and float(named["rec_lpips"]) < 1e-6
    assert float(named["exp_shape"]) < 1e-7 and float(named["exp_au"]) < 1e-5


def test_a_batch_no_term_applies_to_still_backpropagates(media, perceptual, fitter) -> None:
    off = {f.name: False for f in dataclasses.fields(BASE.losses)}
    cfg = BASE.with_losses(**{**off, "rec_l1": True})  # L1 only: nothing applies to unpaired batches
    nets = _nets(cfg)
    g = _objective(cfg, perceptual, fitter).generator_loss(nets, real_batch(media, cfg.net, paired=False))
    assert set(g.named()) == {"total"} and float(g.total.detach()) == 0.0
    g.total.backward()
    assert _grad_norm(nets.generator) == 0.0


def test_bf16_autocast_keeps_every_term_finite(media, perceptual, fitter) -> None:
    cfg = BASE.replace(precision="bfloat16")
    objective = _objective(cfg, perceptual, fitter)
    assert objective.uses_bf16(torch.device("cpu"))
    nets = _nets(cfg)
    batch = real_batch(media, cfg.net, paired=True)
    g = objective.generator_loss(nets, batch)
    assert all(math.isfinite(float(v)) for v in g.named().values())
    assert g.named()["cx"].dtype == torch.float32 and float(g.named()["cx"]) > 0
    g.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in nets.generator.parameters() if p.grad is not None)
    d = objective.discriminator_loss(nets, batch, g.output, r1=True)
    assert float(d.terms.r1_global) > 0 and float(d.terms.r1_comp) > 0
    d.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in nets.discriminator.parameters())


def test_r1_step_scales_by_gamma_and_interval(media, perceptual, fitter) -> None:
    objective = _objective(BASE, perceptual, fitter)
    nets = _nets(BASE)
    batch = real_batch(media, BASE.net, paired=False)
    r = objective.r1_step(nets, batch)
    penalty = float(r.terms.r1_global) + float(r.terms.r1_comp)
    assert penalty > 0
    assert float(r.total.detach()) == pytest.approx(BASE.r1.gamma / 2 * BASE.r1.interval * penalty, rel=1e-5)
    r.total.backward()
    assert _grad_norm(nets.discriminator) > 0 and _grad_norm(nets.component_discriminator) > 0
    plain = objective.discriminator_loss(nets, batch, batch.source, r1=False)
    assert plain.terms.r1_global is None and plain.terms.r1_comp is None


def test_ablations_without_component_d(media, perceptual, fitter) -> None:
    cfg = BASE.with_ablation("no-comp-d")
    objective = _objective(cfg, perceptual, fitter)
    nets = _nets(cfg)
    assert nets.component_discriminator is None
    batch = real_batch(media, cfg.net, paired=False)
    g = objective.generator_loss(nets, batch)
    assert "adv_comp" not in g.named()
    d = objective.discriminator_loss(nets, batch, g.output, r1=True)
    assert "adv_comp" not in d.named() and "r1_comp" not in d.named()


def test_missing_vgg_weights_stop_before_anything(tmp_path: Path) -> None:
    cfg = training_config("cpu-smoke")  # perceptual="imagenet", the paper's setting
    with pytest.raises(PerceptualWeightsMissingError, match="import-weights vgg16"):
        GafetObjective.build(cfg, home=tmp_path)


def test_random_perceptual_is_exposed(perceptual, fitter) -> None:
    objective = _objective(BASE, perceptual, fitter)
    assert objective.perceptual_is_random
    meta = objective.metadata()
    assert meta["perceptual"] == "random" and meta["perceptual_random"] is True
    assert meta["perceptual_seed"] == 0
    no_vgg = BASE.with_losses(rec_lpips=False, cx=False)
    bare = GafetObjective(config=no_vgg, perceptual=PerceptualNets(None, None, "random", 0), fitter=fitter)
    assert not bare.perceptual_is_random  # no perceptual loss is computed at all
    with pytest.raises(ValueError, match="perceptual networks are 'random'"):
        _objective(training_config("cpu-smoke"), perceptual, fitter)


def test_batch_checks_and_split(media) -> None:
    batch = real_batch(media, BASE.net, paired=True)
    batch.check(resolution=64, geometry_channels=4)
    halves = batch.split(2)
    assert [h.size for h in halves] == [1, 1] and torch.equal(halves[1].source, batch.source[1:])
    bad = dataclasses.replace(batch, flow=batch.flow[:, :32])
    with pytest.raises(ValueError, match="batch.flow"):
        bad.check(resolution=64, geometry_channels=4)
    with pytest.raises(ValueError, match="into 3"):
        batch.split(3)
    assert isinstance(batch, Batch)
