"""The GaFET training objective (paper §3.5, Eq. 5): the only place where loss weights apply.

Interface for the loop::

    objective = GafetObjective.build(cfg, device=device)   # TrainingConfig; raises
        # PerceptualWeightsMissingError (a GafetError naming the files, URLs and commands) before step 1
    if objective.perceptual_is_random:                      # --perceptual random
        warn loudly (training.perceptual.RANDOM_WARNING); put objective.metadata() in checkpoints
    nets = GafetNetworks(G, D, D_comp)   # or anything with .generator, .discriminator,
                                         # .component_discriminator (training.state.TrainingState)
    # G step (D frozen by the caller: D.requires_grad_(False), D_comp too)
    g = objective.generator_loss(nets, batch)               # batch: training.batch.Batch
    g.total.backward()                                      # Σ λ·term (Eq. 5)
    log g.named()                                           # {"rec_l1": ..., "total": ...}
    # D step (G not involved: g.output is detached)
    if objective.trains_discriminators:
        d = objective.discriminator_loss(nets, batch, g.output, r1=cfg.r1_due(step))
        d.total.backward()                                  # + γ/2·k·(R1_global + R1_comp) when r1

R1 folded into that step's D loss needs no Adam correction (the number of D optimiser steps does
not change). To step it separately as StyleGAN2 does, call :meth:`GafetObjective.r1_step` on its
own and use ``cfg.d_optimiser.lazy(cfg.r1.interval)``.

Terms (every term unweighted, detached, 0-d float32; None when switched off or not applicable):

* G: ``rec_l1``, ``rec_lpips``, ``rec`` (= L1 + λ·LPIPS, pseudo-paired batches only), ``exp_shape``,
  ``exp_au``, ``cx``, ``adv_global``, ``adv_comp``, ``total`` (= Σ λ·term). The two expression
  terms are in the paper's units, so its λ's apply: ``exp_shape`` in metres, ``exp_au`` = s_AU·(1 − cos)
  with the stand-in AU embedding's measured conversion (:mod:`training.losses.expression`).
* D: ``adv_global``, ``adv_comp`` (non-saturating D losses), ``real_logit``/``fake_logit`` (global
  D means), ``r1_global``, ``r1_comp`` (penalties, before γ/2·k), ``total``.

Precision: ``cfg.precision`` "auto" runs G, D, LPIPS and the VGG-19 under bf16 autocast on CUDA and
everything in float32 on the CPU ("bfloat16" forces autocast on any device). R1, the contextual
loss's affinity maths and the expression fit always run in float32 with autocast off.

Which image each loss compares (§3.5): L_rec with X (pseudo-pairs), L_exp^shape and L_exp^AU with
the reference (X or Y), L_cx with the source X_n ("consistent with the source face"), the
adversarial terms through D (real images: the references).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Protocol

import torch
from torch import nn

from core.nets.component_crops import crop_components
from training.batch import Batch, continuous_px
from training.config import TrainingConfig
from training.face_fit import ExpressionFitter
from training.losses.adversarial import discriminator_adversarial_loss, generator_adversarial_loss, r1_penalty
from training.losses.contextual import contextual_loss
from training.losses.expression import expression_au_loss, expression_shape_loss
from training.losses.reconstruction import l1_distance, lpips_distance
from training.perceptual import PerceptualNets, build_perceptual

if TYPE_CHECKING:  # imports FLAME (user-imported); only when the config asks for it
    from training.flame_fit import FlameExpressionFitter


class Networks(Protocol):
    """The trained networks (:class:`core.nets.gafet.GafetNetworks`, ``training.state.TrainingState``)."""

    @property
    def generator(self) -> nn.Module: ...

    @property
    def discriminator(self) -> nn.Module: ...

    @property
    def component_discriminator(self) -> nn.Module | None: ...


def _present(terms: NamedTuple) -> dict[str, torch.Tensor]:
    return {k: v for k, v in terms._asdict().items() if v is not None}


class GeneratorTerms(NamedTuple):
    """The generator's loss terms (unweighted, detached 0-d float32; None = off / not applicable)."""

    rec_l1: torch.Tensor | None  # ‖X − X̂‖₁ (Eq. 1)
    rec_lpips: torch.Tensor | None  # lpips(X, X̂) (Eq. 1)
    rec: torch.Tensor | None  # L_rec^pseudo = rec_l1 + λ·rec_lpips
    exp_shape: torch.Tensor | None  # L_exp^shape (Eq. 2), metres
    exp_au: torch.Tensor | None  # L_exp^AU (Eq. 3): s_AU·(1 − cos), s_AU = cfg.expression.au_unit_scale
    cx: torch.Tensor | None  # L_cx = Σ ω_i·L_i (Eq. 4)
    adv_global: torch.Tensor | None  # L_adv^global (non-saturating)
    adv_comp: torch.Tensor | None  # L_adv^comp (mean over left eye, right eye, mouth)
    total: torch.Tensor  # Σ λ·term (Eq. 5)

    def named(self) -> dict[str, torch.Tensor]:
        """The present terms by name (detached 0-d tensors), ``total`` included."""
        return _present(self)


class DiscriminatorTerms(NamedTuple):
    """The discriminators' loss terms (unweighted, detached 0-d float32; None = off / not this step)."""

    adv_global: torch.Tensor | None  # softplus(D(X̂)) + softplus(−D(X))
    adv_comp: torch.Tensor | None  # the same for D_comp, mean over the three patches
    real_logit: torch.Tensor | None  # mean D(real) (global)
    fake_logit: torch.Tensor | None  # mean D(fake) (global)
    r1_global: torch.Tensor | None  # E‖∇D(X)‖² before γ/2·k
    r1_comp: torch.Tensor | None  # the same for D_comp, mean over the three patches
    total: torch.Tensor  # what the loss is made of (adv_global + adv_comp, or γ/2·k·(r1_global + r1_comp))

    def named(self) -> dict[str, torch.Tensor]:
        """The present terms by name (detached 0-d tensors), ``total`` included."""
        return _present(self)


class GeneratorResult(NamedTuple):
    """total: 0-d float32 with the graph (backward into G); terms: for logging;
    output: X̂ (B, 3, R, R) float32, detached (the D step's fakes, image grids)."""

    total: torch.Tensor
    terms: GeneratorTerms
    output: torch.Tensor

    def named(self) -> dict[str, torch.Tensor]:
        return self.terms.named()


class DiscriminatorResult(NamedTuple):
    """total: 0-d float32 with the graph (backward into D and D_comp); terms: for logging."""

    total: torch.Tensor
    terms: DiscriminatorTerms

    def named(self) -> dict[str, torch.Tensor]:
        return self.terms.named()


def _detached(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().float()


class GafetObjective:
    """Eq. 5 over a :class:`Batch`, honouring every loss switch of a :class:`TrainingConfig`.

    Holds the frozen loss networks (VGGs, face mesh + AU fit), never the trained ones: those come
    with each call, so the caller owns them (and their optimisers, EMA, DDP).
    """

    def __init__(self, *, config: TrainingConfig, perceptual: PerceptualNets,
                 fitter: ExpressionFitter | None, shape_fitter: FlameExpressionFitter | None = None) -> None:
        sw = config.losses
        if sw.rec_lpips and perceptual.lpips is None:
            raise ValueError("GafetObjective: LPIPS is on but no LPIPS network was given")
        if sw.cx and perceptual.vgg19 is None:
            raise ValueError("GafetObjective: the contextual loss is on but no VGG-19 was given")
        if config.needs_expression_fit and fitter is None:
            raise ValueError("GafetObjective: an expression loss is on but no ExpressionFitter was given")
        if perceptual.mode != config.perceptual:
            raise ValueError(f"GafetObjective: perceptual networks are '{perceptual.mode}', the config says "
                             f"'{config.perceptual}'")
        self.config = config
        self.perceptual = perceptual
        if sw.exp_shape and config.expression.shape_model == "flame" and shape_fitter is None:
            raise ValueError("GafetObjective: L_exp^shape through FLAME needs a FlameExpressionFitter")
        self.fitter = fitter
        self.shape_fitter = shape_fitter if config.expression.shape_model == "flame" else None
        self._layer_weights = torch.tensor(config.contextual.layer_weights, dtype=torch.float32)

    @classmethod
    def build(cls, config: TrainingConfig, *, device: torch.device | str = "cpu",
              home: Path | None = None) -> GafetObjective:
        """Build the loss networks the enabled losses need, on ``device``.

        Raises :class:`training.perceptual.PerceptualWeightsMissingError` (imagenet mode without the
        imported VGG files) and ``core.assets.AssetMissingError`` (face assets) before any step.
        ``home``: the data folder (default ``core.assets.data_home()``; tests pass a temporary one).
        """
        perceptual = build_perceptual(mode=config.perceptual, need_lpips=config.needs_vgg16,
                                      need_vgg19=config.needs_vgg19, vgg19_layers=config.contextual.layers,
                                      seed=config.perceptual_seed, home=home, device=device)
        fitter = None
        if config.needs_expression_fit:
            fitter = ExpressionFitter.from_assets(rounds=config.expression.fit_rounds).to(device)
        shape_fitter = None
        if config.losses.exp_shape and config.expression.shape_model == "flame":
            from training.flame_fit import FlameExpressionFitter

            shape_fitter = FlameExpressionFitter.from_assets().to(device)  # or FlameNotImportedError
        return cls(config=config, perceptual=perceptual, fitter=fitter, shape_fitter=shape_fitter)

    # -- what it is ------------------------------------------------------------------------------

    @property
    def perceptual_is_random(self) -> bool:
        """True when LPIPS / L_cx run on randomly initialised VGGs (``--perceptual random``)."""
        uses = self.perceptual.lpips is not None or self.perceptual.vgg19 is not None
        return uses and self.perceptual.is_random

    @property
    def trains_discriminators(self) -> bool:
        return self.config.uses_discriminators

    def metadata(self) -> dict[str, object]:
        """JSON-ready facts for checkpoints and logs (whether this is the paper's perceptual setting)."""
        return {"perceptual": self.config.perceptual, "perceptual_seed": self.perceptual.seed,
                "perceptual_random": self.perceptual_is_random,
                "lpips_backbone": None if self.perceptual.lpips is None else "vgg16",
                "contextual_backbone": None if self.perceptual.vgg19 is None else "vgg19",
                "contextual_layers": list(self.config.contextual.layers),
                "exp_shape_model": "flame" if self.shape_fitter is not None else "au"}

    def to(self, device: torch.device | str) -> GafetObjective:
        self.perceptual = self.perceptual.to(device)
        if self.fitter is not None:
            self.fitter = self.fitter.to(device)
        if self.shape_fitter is not None:
            self.shape_fitter = self.shape_fitter.to(device)
        return self

    # -- precision -------------------------------------------------------------------------------

    def uses_bf16(self, device: torch.device) -> bool:
        p = self.config.precision
        return p == "bfloat16" or (p == "auto" and device.type == "cuda")

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.uses_bf16(device):
            return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        return torch.autocast(device_type=device.type, enabled=False)

    def _check(self, batch: Batch) -> None:
        net = self.config.net
        batch.check(resolution=net.resolution, geometry_channels=net.geometry_channels)

    # -- the generator ---------------------------------------------------------------------------

    def generator_loss(self, nets: Networks, batch: Batch) -> GeneratorResult:
        """G's forward on ``batch`` and Eq. 5. D and D_comp only score X̂ here (freeze them)."""
        self._check(batch)
        cfg, sw, w = self.config, self.config.losses, self.config.weights
        device = batch.device
        with self._autocast(device):
            fake = nets.generator(batch.source, batch.reference, batch.geometry, batch.flow).image
        fake32 = fake.float()
        zero = fake32.new_zeros(())
        total = fake32.sum() * 0.0  # in G's graph even when no term applies (e.g. only L_rec, unpaired batch)

        rec_l1 = rec_lpips = rec = None
        if batch.paired and (sw.rec_l1 or sw.rec_lpips):
            rec = zero
            if sw.rec_l1:
                rec_l1 = l1_distance(fake32, batch.reference)
                rec = rec + rec_l1
            if sw.rec_lpips:
                assert self.perceptual.lpips is not None
                with self._autocast(device):
                    rec_lpips = lpips_distance(fake, batch.reference, self.perceptual.lpips)
                rec = rec + w.lpips * rec_lpips
            total = total + w.rec * rec

        exp_shape = exp_au = None
        if sw.exp_shape or sw.exp_au:
            assert self.fitter is not None
            pred = self.fitter(fake32, batch.target_landmarks)
            with torch.no_grad():
                ref = self.fitter(batch.reference, batch.reference_landmarks).params.detach()
            if sw.exp_shape and self.shape_fitter is not None:  # FLAME, as the paper (EMOCA/FLAME)
                pred_f = self.shape_fitter(fake32, batch.target_landmarks)
                with torch.no_grad():
                    ref_f = self.shape_fitter(batch.reference, batch.reference_landmarks).params.detach()
                exp_shape = expression_shape_loss(self.shape_fitter.model, pred_f.params.expression, ref_f,
                                                  unit_scale=self.shape_fitter.unit_scale)
            elif sw.exp_shape:
                exp_shape = expression_shape_loss(self.fitter.model, pred.params.expression, ref,
                                                  unit_scale=self.fitter.unit_scale)
            if exp_shape is not None:
                total = total + w.exp_shape * exp_shape
            if sw.exp_au:
                exp_au = expression_au_loss(pred.params.expression, ref.expression,
                                            neutral=cfg.expression.au_neutral,
                                            unit_scale=cfg.expression.au_unit_scale)
                total = total + w.exp_au * exp_au

        cx = None
        if sw.cx:
            vgg = self.perceptual.vgg19
            assert vgg is not None
            with self._autocast(device):
                pred_features = vgg(fake)
                with torch.no_grad():
                    source_features = vgg(batch.source)
            c = cfg.contextual
            per_layer = contextual_loss(pred_features, source_features, band_width=c.band_width, eps=c.eps,
                                        max_positions=c.max_positions)
            cx = (per_layer * self._layer_weights.to(per_layer.device)).sum()
            total = total + w.cx * cx

        adv_global = None
        if sw.adv_global:
            with self._autocast(device):
                logits = nets.discriminator(fake)
            adv_global = generator_adversarial_loss(logits)
            total = total + w.adv_global * adv_global

        adv_comp = None
        if cfg.uses_component_discriminator:
            if nets.component_discriminator is None:
                raise ValueError("generator_loss: L_adv^comp is on but the networks have no component D")
            patches = crop_components(fake, continuous_px(batch.target_landmarks),
                                      size=cfg.net.discriminator.component_patch)
            with self._autocast(device):
                comp = [generator_adversarial_loss(nets.component_discriminator(p)) for p in patches.patches]
            adv_comp = torch.stack(comp).mean()
            total = total + w.adv_comp * adv_comp

        terms = GeneratorTerms(rec_l1=_detached(rec_l1), rec_lpips=_detached(rec_lpips), rec=_detached(rec),
                               exp_shape=_detached(exp_shape), exp_au=_detached(exp_au), cx=_detached(cx),
                               adv_global=_detached(adv_global), adv_comp=_detached(adv_comp),
                               total=total.detach())
        return GeneratorResult(total=total, terms=terms, output=fake32.detach())

    # -- the discriminators ----------------------------------------------------------------------

    def discriminator_loss(self, nets: Networks, batch: Batch, fake: torch.Tensor, *,
                           r1: bool = False) -> DiscriminatorResult:
        """:meth:`discriminator_step`, plus :meth:`r1_step` folded in when ``r1`` (and R1 is on)."""
        d = self.discriminator_step(nets, batch, fake)
        if not (r1 and self.config.losses.r1):
            return d
        r = self.r1_step(nets, batch)
        total = d.total + r.total
        terms = d.terms._replace(r1_global=r.terms.r1_global, r1_comp=r.terms.r1_comp, total=total.detach())
        return DiscriminatorResult(total=total, terms=terms)

    def discriminator_step(self, nets: Networks, batch: Batch, fake: torch.Tensor) -> DiscriminatorResult:
        """Non-saturating D losses: real = ``batch.reference``, fake = X̂ (from :meth:`generator_loss`).

        fake: (B, 3, R, R) float, detached here. Patches: real ones from the reference's landmarks,
        fake ones from the target landmarks. Raises ``ValueError`` when no discriminator trains.
        """
        if not self.trains_discriminators:
            raise ValueError("discriminator_step: every adversarial loss is switched off")
        self._check(batch)
        cfg = self.config
        device = batch.device
        fake = fake.detach()
        real = batch.reference.detach()
        total = fake.new_zeros((), dtype=torch.float32)
        adv_global = real_logit = fake_logit = adv_comp = None
        if cfg.losses.adv_global:
            with self._autocast(device):
                real_logits = nets.discriminator(real)
                fake_logits = nets.discriminator(fake)
            adv_global = discriminator_adversarial_loss(real_logits, fake_logits)
            real_logit, fake_logit = real_logits.detach().float().mean(), fake_logits.detach().float().mean()
            total = total + adv_global
        if cfg.uses_component_discriminator:
            d_comp = nets.component_discriminator
            if d_comp is None:
                raise ValueError("discriminator_step: L_adv^comp is on but the networks have no component D")
            size = cfg.net.discriminator.component_patch
            real_patches = crop_components(real, continuous_px(batch.reference_landmarks), size=size).patches
            fake_patches = crop_components(fake, continuous_px(batch.target_landmarks), size=size).patches
            with self._autocast(device):
                comp = [discriminator_adversarial_loss(d_comp(r), d_comp(f))
                        for r, f in zip(real_patches, fake_patches, strict=True)]
            adv_comp = torch.stack(comp).mean()
            total = total + adv_comp
        terms = DiscriminatorTerms(adv_global=_detached(adv_global), adv_comp=_detached(adv_comp),
                                   real_logit=real_logit, fake_logit=fake_logit, r1_global=None, r1_comp=None,
                                   total=total.detach())
        return DiscriminatorResult(total=total, terms=terms)

    def r1_step(self, nets: Networks, batch: Batch) -> DiscriminatorResult:
        """Lazy R1 on the real images (global D) and the real patches (D_comp), in float32.

        loss = γ/2 · k · (R1_global + R1_comp), k = ``cfg.r1.interval`` (run it every k-th D step).
        Raises ``ValueError`` when R1 or every adversarial loss is off.
        """
        cfg = self.config
        if not (cfg.losses.r1 and self.trains_discriminators):
            raise ValueError("r1_step: R1 is switched off (or no discriminator trains)")
        self._check(batch)
        device = batch.device
        real = batch.reference.detach().float()
        penalty = real.new_zeros(())
        r1_global = r1_comp = None
        with torch.autocast(device_type=device.type, enabled=False):
            if cfg.losses.adv_global:
                x = real.clone().requires_grad_(True)
                r1_global = r1_penalty(nets.discriminator(x), [x])
                penalty = penalty + r1_global
            if cfg.uses_component_discriminator:
                d_comp = nets.component_discriminator
                if d_comp is None:
                    raise ValueError("r1_step: L_adv^comp is on but the networks have no component D")
                size = cfg.net.discriminator.component_patch
                patches = [p.detach().requires_grad_(True)
                           for p in crop_components(real, continuous_px(batch.reference_landmarks),
                                                    size=size).patches]
                r1_comp = torch.stack([r1_penalty(d_comp(p), [p]) for p in patches]).mean()
                penalty = penalty + r1_comp
        loss = (cfg.r1.gamma / 2.0) * cfg.r1.interval * penalty
        terms = DiscriminatorTerms(adv_global=None, adv_comp=None, real_logit=None, fake_logit=None,
                                   r1_global=_detached(r1_global), r1_comp=_detached(r1_comp),
                                   total=loss.detach())
        return DiscriminatorResult(total=loss, terms=terms)
