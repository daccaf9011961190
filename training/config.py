"""Training configuration: frozen dataclasses with the paper's symbols, named configs, JSON form.

The objective (paper §3.5, Eq. 5)::

    L_total = λ_rec·L_rec^pseudo + λ_exp^shape·L_exp^shape + λ_exp^AU·L_exp^AU + λ_cx·L_cx
              + λ_adv^global·L_adv^global + λ_adv^comp·L_adv^comp
    L_rec^pseudo = ‖X − X̂_n^X‖₁ + λ·lpips(X, X̂_n^X)                                   (Eq. 1)

§3.5 gives λ_exp^shape = 150, λ_exp^AU = 50 and "the rest are 1.0": λ_rec = λ_cx = λ_adv^global =
λ_adv^comp = 1. The λ inside Eq. 1 (LPIPS against L1) is not given; 1.0 here. §4.1: Adam with
β₁ = 0, β₂ = 0.99, lr 0.002. The paper's λ's are kept; our stand-in measurements are converted to
the paper's units instead (L_exp^shape in metres, L_exp^AU by the measured ``au_unit_scale`` of
:class:`ExpressionConfig`). Everything else (R1 γ and its lazy interval, EMA, batch) is not in
the paper and follows StyleGAN2-ADA (notes/training.md §1).

A :class:`TrainingConfig` holds the network config (:class:`core.nets.config.GafetConfig`, whose
``switches`` are the network ablations of Table 3) and everything the objective and the loop
need. Named configs: ``cpu-smoke`` (tiny-64), ``video-128`` (small-128, sized for a CPU
experiment), ``ffhq-256`` (gafet-256), ``ffhq-512`` (gafet-512). Every Table 3 row is an
:data:`ABLATIONS` key (``with_ablation``). JSON round trip for checkpoint metadata:
:func:`training_config_to_json` / :func:`training_config_from_json`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from core.errors import GafetError
from core.nets.config import GafetConfig, GafetConfigError, config_from_dict, config_to_dict, preset

TRAINING_CONFIG_FORMAT_VERSION = 1

PerceptualMode = Literal["imagenet", "random"]
Precision = Literal["auto", "float32", "bfloat16"]

# VGG-19 ReLU outputs the contextual loss may read (φ_i of Eq. 4), by name -> index in ``features``.
VGG19_LAYERS: dict[str, int] = {
    "relu1_1": 1, "relu1_2": 3, "relu2_1": 6, "relu2_2": 8, "relu3_1": 11, "relu3_2": 13, "relu3_3": 15,
    "relu3_4": 17, "relu4_1": 20, "relu4_2": 22, "relu4_3": 24, "relu4_4": 26, "relu5_1": 29, "relu5_2": 31,
}


class TrainingConfigError(GafetError, ValueError):
    """A training configuration that cannot be used (bad value, unknown field, name or ablation)."""


# ---------------------------------------------------------------------------------------------
# Sections


@dataclass(frozen=True)
class LossWeights:
    """The λ of Eq. 5 (and the λ inside Eq. 1). Only :mod:`training.objective` applies them."""

    rec: float = 1.0  # λ_rec: L_rec^pseudo (Eq. 1), pseudo-paired batches only ("the rest are 1.0")
    lpips: float = 1.0  # λ in Eq. 1: L_rec^pseudo = L1 + λ·LPIPS (value not given by the paper)
    exp_shape: float = 150.0  # λ_exp^shape: L_exp^shape (Eq. 2), §3.5
    exp_au: float = 50.0  # λ_exp^AU: L_exp^AU (Eq. 3), §3.5; weighs s_AU·(1 − cos) (expression.au_unit_scale)
    cx: float = 1.0  # λ_cx: L_cx (Eq. 4)
    adv_global: float = 1.0  # λ_adv^global: non-saturating G loss against the global D
    adv_comp: float = 1.0  # λ_adv^comp: the same against the component D (eyes, mouth)


@dataclass(frozen=True)
class LossSwitches:
    """Each loss term on or off (ablations). An off term is not computed, not logged and costs nothing."""

    rec_l1: bool = True  # ‖X − X̂‖₁ of Eq. 1
    rec_lpips: bool = True  # lpips(X, X̂) of Eq. 1 (needs VGG-16)
    exp_shape: bool = True  # L_exp^shape (Eq. 2; needs the face-mesh network and the AU fit)
    exp_au: bool = True  # L_exp^AU (Eq. 3; same networks)
    cx: bool = True  # L_cx (Eq. 4; needs VGG-19)
    adv_global: bool = True  # L_adv^global (and the global D's own loss)
    adv_comp: bool = True  # L_adv^comp; also needs net.switches.use_component_discriminator
    r1: bool = True  # R1 on both discriminators (lazy, every r1.interval D steps)


@dataclass(frozen=True)
class ContextualConfig:
    """L_cx (Eq. 4, Mechrez et al. 2018): which VGG-19 layers, ω_i, h, ε, and the position budget.

    The paper says "low-level" layers and gives neither layers nor ω (notes/training.md §2).
    Features are average-pooled 2x2 until a layer has at most ``max_positions`` positions: the
    full-resolution affinity matrix needs tens of GB (relu1_2 at 256²: 17 GB per image).
    """

    layers: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_2")  # φ_i
    layer_weights: tuple[float, ...] = (1.0, 1.0, 1.0)  # ω_i
    band_width: float = 0.5  # h (official implementation: 0.5)
    eps: float = 1e-5  # ε in d̃_ij = d_ij / (min_k d_ik + ε)
    max_positions: int = 1024  # positions per layer after pooling (N; the affinity is N x N per image)


@dataclass(frozen=True)
class ExpressionConfig:
    """How the generated face's expression is measured (mesh network + differentiable AU fit)."""

    fit_rounds: int = 12  # unrolled rounds of the differentiable AU fit (core.geometry.au.fit_torch)
    au_neutral: float = 0.1  # τ: constant "neutral" component appended to the AU embedding (Eq. 3)
    # s_AU: unit conversion of the stand-in AU embedding (20 box-constrained AU intensities + τ, for
    # MLCR's 12 dense sigmoid outputs), so that λ_exp^AU = 50 keeps the paper's meaning: §4.1 sets the
    # weights "to equalize the different loss items"; L_exp^shape is in metres (λ 150, as with FLAME),
    # and s_AU makes the two expression items equal on real expression pairs:
    # λ_AU·s_AU·E[L_AU] = λ_shape·E[L_shape]. Measured by tools/measure_loss_scales.py (cpu-smoke,
    # 64², τ 0.1; 258 ordered pairs of the test media's photos and video frames): E[L_shape] =
    # 0.00144 m, E[1 − cos] = 0.347 -> s_AU = 0.0125 (video-128, 128²: 0.0130, so one value serves every
    # resolution). Check of the rule on the same pairs: 150·E[L_shape]
    # = 0.22 against E[L1] = 0.20 between the images, while the raw 50·E[1 − cos] = 17.4. Raw, the AU
    # term's gradient was ~700x the L1 term's and training followed it alone (tests/training/test_overfit.py).
    au_unit_scale: float = 0.0125
    # Which face model measures the expression of Eq. 2 (L_exp^shape): "au" = the built-in AU model
    # (the offline stand-in, training.face_fit), "flame" = the user's imported FLAME, as in the paper
    # (EMOCA/FLAME), through training.flame_fit (mesh -> iBUG 68 -> FLAME fit, implicit gradient).
    shape_model: str = "au"


@dataclass(frozen=True)
class R1Config:
    """R1 regularisation of both discriminators (Mescheder et al. 2018), lazy as in StyleGAN2."""

    gamma: float = 1.0  # γ: loss γ/2 · E‖∇_x D(x)‖² on real images (and real patches for D_comp)
    interval: int = 16  # lazy regularisation: every k-th D step, with weight γ/2 · k


@dataclass(frozen=True)
class OptimiserConfig:
    """Adam (§4.1: β₁ = 0, β₂ = 0.99, lr 0.002)."""

    lr: float = 0.002
    beta1: float = 0.0
    beta2: float = 0.99
    eps: float = 1e-8

    def lazy(self, interval: int) -> OptimiserConfig:
        """Adam settings for a network that takes one extra regularisation step every ``interval``
        steps (StyleGAN2's correction: r = k / (k + 1), lr·r, β^r). Use it only when R1 is a
        separate optimiser step; when R1 is folded into the main D loss, use the plain settings."""
        if interval < 1:
            raise TrainingConfigError(f"lazy interval must be >= 1, got {interval}")
        r = interval / (interval + 1)
        return dataclasses.replace(self, lr=self.lr * r, beta1=self.beta1 ** r, beta2=self.beta2 ** r)


@dataclass(frozen=True)
class EmaConfig:
    """EMA of G's weights (the exported generator; not in the paper, standard for StyleGAN2)."""

    half_life_kimg: float | None = None  # thousands of images; None -> batch · 10 / 32 (StyleGAN2-ADA)
    rampup: float | None = 0.05  # half-life <= images seen · rampup early on; None: no ramp-up

    def beta(self, *, batch: int, images_seen: int) -> float:
        """The EMA decay β for one step of ``batch`` images after ``images_seen`` images:
        ``G_ema ← β·G_ema + (1 − β)·G`` with β = 0.5^(batch / half-life in images)."""
        kimg = self.half_life_kimg if self.half_life_kimg is not None else batch * 10 / 32
        nimg = kimg * 1000.0
        if self.rampup is not None:
            nimg = min(nimg, images_seen * self.rampup)
        return 0.5 ** (batch / max(nimg, 1e-8))


@dataclass(frozen=True)
class PairsConfig:
    """Pseudo-pairs (X_n, X) and unpaired (X_n, Y) batches (§3.5: "alternately feed")."""

    use_de_expression: bool = True  # off = Table 3 "w/o De-exp": no X_n; the source is X itself
    paired_every: int = 2  # batch k is a pseudo-pair batch when k % paired_every == 0 (1 = always)


def auto_r1_gamma(resolution: int, batch: int) -> float:
    """StyleGAN2-ADA's ``auto`` heuristic γ = 0.0002 · R² / batch, rounded to 2 significant digits."""
    g = 0.0002 * resolution * resolution / batch
    return float(f"{g:.2g}")


# ---------------------------------------------------------------------------------------------
# The whole configuration


@dataclass(frozen=True)
class TrainingConfig:
    """Everything a training run needs besides the data and the run directory.

    ``batch`` is the global batch of one optimiser step (all ranks, all accumulation rounds);
    each rank runs ``batch / (world size · accumulation)`` samples per micro-batch.
    ``precision``: "auto" = bf16 autocast on CUDA and float32 on the CPU; R1, the contextual loss
    and the expression fit always run in float32.
    ``perceptual``: "imagenet" (the paper's setting; needs the imported torchvision VGG-16 and
    VGG-19 files) or "random" (randomly initialised VGGs from ``perceptual_seed``; runs offline,
    logged loudly and recorded in the checkpoint, never the paper's setting).
    """

    name: str = "custom"
    net: GafetConfig = field(default_factory=lambda: preset("tiny-64"))  # networks + Table 3 switches
    batch: int = 4
    accumulation: int = 1
    seed: int = 0
    precision: Precision = "auto"
    perceptual: PerceptualMode = "imagenet"
    perceptual_seed: int = 0
    weights: LossWeights = field(default_factory=LossWeights)
    losses: LossSwitches = field(default_factory=LossSwitches)
    contextual: ContextualConfig = field(default_factory=ContextualConfig)
    expression: ExpressionConfig = field(default_factory=ExpressionConfig)
    r1: R1Config = field(default_factory=R1Config)
    g_optimiser: OptimiserConfig = field(default_factory=OptimiserConfig)  # G (§4.1)
    d_optimiser: OptimiserConfig = field(default_factory=OptimiserConfig)  # D and D_comp (same as G)
    ema: EmaConfig = field(default_factory=EmaConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)

    def __post_init__(self) -> None:
        validate(self)

    # -- derived -------------------------------------------------------------------------------

    @property
    def resolution(self) -> int:
        return self.net.resolution

    @property
    def uses_component_discriminator(self) -> bool:
        """L_adv^comp is on and the network config has a component D."""
        return self.losses.adv_comp and self.net.switches.use_component_discriminator

    @property
    def uses_discriminators(self) -> bool:
        return self.losses.adv_global or self.uses_component_discriminator

    @property
    def needs_vgg16(self) -> bool:
        """LPIPS is computed (Eq. 1's second part, pseudo-paired batches)."""
        return self.losses.rec_lpips

    @property
    def needs_vgg19(self) -> bool:
        """The contextual loss is computed."""
        return self.losses.cx

    @property
    def needs_expression_fit(self) -> bool:
        return self.losses.exp_shape or self.losses.exp_au

    def micro_batch(self, world_size: int = 1) -> int:
        """Samples per rank per micro-batch; raises if ``batch`` does not split evenly."""
        parts = world_size * self.accumulation
        if world_size < 1 or self.batch % parts:
            raise TrainingConfigError(f"Training config '{self.name}': batch {self.batch} does not split "
                                      f"into {world_size} rank(s) x {self.accumulation} accumulation rounds.")
        return self.batch // parts

    def is_paired_step(self, step: int) -> bool:
        """Whether batch number ``step`` (0-based) is a pseudo-pair batch (X_n, X)."""
        return step % self.pairs.paired_every == 0

    def r1_due(self, d_step: int) -> bool:
        """Whether D step number ``d_step`` (0-based) runs R1 (lazy regularisation)."""
        return self.losses.r1 and self.uses_discriminators and d_step % self.r1.interval == 0

    # -- changes -------------------------------------------------------------------------------

    def replace(self, **changes: Any) -> TrainingConfig:  # noqa: ANN401 - dataclasses.replace fields
        return dataclasses.replace(self, **changes)

    def with_losses(self, **changes: bool) -> TrainingConfig:
        """A copy with some loss switches changed, e.g. ``cfg.with_losses(cx=False)``."""
        return dataclasses.replace(self, losses=dataclasses.replace(self.losses, **changes))

    def with_ablation(self, key: str) -> TrainingConfig:
        """A copy with one :data:`ABLATIONS` entry applied (e.g. ``"no-mfat"``)."""
        try:
            ablation = ABLATIONS[key]
        except KeyError:
            raise TrainingConfigError(f"Unknown ablation '{key}'. Known: {', '.join(ABLATIONS)}.") from None
        cfg = ablation.apply(self)
        return dataclasses.replace(cfg, name=f"{self.name}+{key}")


def validate(cfg: TrainingConfig) -> None:
    """Raise :class:`TrainingConfigError` naming the first inconsistent value of ``cfg``."""

    def fail(msg: str) -> None:
        raise TrainingConfigError(f"Invalid training configuration '{cfg.name}': {msg}.")

    if not isinstance(cfg.net, GafetConfig):
        fail("net must be a GafetConfig")
    if cfg.batch < 1 or cfg.accumulation < 1 or cfg.batch % cfg.accumulation:
        fail(f"batch ({cfg.batch}) must be a positive multiple of accumulation ({cfg.accumulation})")
    if cfg.precision not in get_args(Precision):
        fail(f"precision must be one of {', '.join(get_args(Precision))}, got {cfg.precision!r}")
    if cfg.perceptual not in get_args(PerceptualMode):
        fail(f"perceptual must be one of {', '.join(get_args(PerceptualMode))}, got {cfg.perceptual!r}")
    for name, value in dataclasses.asdict(cfg.weights).items():
        if not math.isfinite(value) or value < 0:
            fail(f"loss weight '{name}' must be finite and >= 0, got {value}")
    s = cfg.losses
    if not (s.rec_l1 or s.rec_lpips or s.exp_shape or s.exp_au or s.cx or s.adv_global
            or cfg.uses_component_discriminator):
        fail("every generator loss is switched off")
    c = cfg.contextual
    if not c.layers or len(c.layers) != len(c.layer_weights):
        fail(f"contextual.layers {c.layers} and contextual.layer_weights {c.layer_weights} must be non-empty "
             f"and of equal length")
    unknown = [n for n in c.layers if n not in VGG19_LAYERS]
    if unknown:
        fail(f"unknown VGG-19 layer(s) {', '.join(unknown)}; known: {', '.join(VGG19_LAYERS)}")
    if any(not math.isfinite(w) or w < 0 for w in c.layer_weights):
        fail(f"contextual.layer_weights must be finite and >= 0, got {c.layer_weights}")
    if c.band_width <= 0 or c.eps <= 0 or c.max_positions < 1:
        fail("contextual.band_width and eps must be > 0 and max_positions >= 1")
    ex = cfg.expression
    if ex.shape_model not in ("au", "flame"):
        fail(f"expression.shape_model must be 'au' or 'flame', got {ex.shape_model!r}")
    if ex.fit_rounds < 1 or ex.au_neutral < 0 or not (math.isfinite(ex.au_unit_scale)
                                                       and ex.au_unit_scale > 0):
        fail("expression.fit_rounds must be >= 1, expression.au_neutral >= 0 and expression.au_unit_scale "
             "finite and > 0")
    if cfg.r1.gamma < 0 or cfg.r1.interval < 1:
        fail(f"r1.gamma must be >= 0 and r1.interval >= 1, got {cfg.r1}")
    for which in ("g_optimiser", "d_optimiser"):
        o = getattr(cfg, which)
        if o.lr <= 0 or not 0 <= o.beta1 < 1 or not 0 <= o.beta2 < 1 or o.eps <= 0:
            fail(f"{which} out of range: {o}")
    e = cfg.ema
    if (e.half_life_kimg is not None and e.half_life_kimg <= 0) or (e.rampup is not None and e.rampup <= 0):
        fail(f"ema.half_life_kimg and ema.rampup must be > 0 when given, got {e}")
    if cfg.pairs.paired_every < 1:
        fail(f"pairs.paired_every must be >= 1, got {cfg.pairs.paired_every}")


# ---------------------------------------------------------------------------------------------
# Ablations (Table 3) and loss ablations


@dataclass(frozen=True)
class Ablation:
    """One ablation: ``label`` as in Table 3 (or a loss name), and what it switches off."""

    label: str
    apply: Callable[[TrainingConfig], TrainingConfig]


def _net(**switches: bool) -> Callable[[TrainingConfig], TrainingConfig]:
    return lambda cfg: dataclasses.replace(cfg, net=cfg.net.with_switches(**switches))


def _loss(**switches: bool) -> Callable[[TrainingConfig], TrainingConfig]:
    return lambda cfg: cfg.with_losses(**switches)


def _no_de_expression(cfg: TrainingConfig) -> TrainingConfig:
    return dataclasses.replace(cfg, pairs=dataclasses.replace(cfg.pairs, use_de_expression=False))


def _no_component_d(cfg: TrainingConfig) -> TrainingConfig:
    return dataclasses.replace(cfg, net=cfg.net.with_switches(use_component_discriminator=False),
                               losses=dataclasses.replace(cfg.losses, adv_comp=False))


ABLATIONS: dict[str, Ablation] = {
    "no-de-exp": Ablation("w/o De-exp", _no_de_expression),
    "no-mfat": Ablation("w/o MFAT", _net(use_mfat=False)),
    "no-sgmm": Ablation("w/o SGMM", _net(use_global_modulation=False)),
    "no-multiscale": Ablation("w/o Multi-scale", _net(multiscale_attention=False)),
    "no-fd": Ablation("w/o FD", _net(use_feature_deformation=False)),
    "no-comp-d": Ablation("w/o Comp. D", _no_component_d),
    # Loss ablations (not rows of Table 3).
    "no-lpips": Ablation("w/o LPIPS", _loss(rec_lpips=False)),
    "no-exp-shape": Ablation("w/o L_exp^shape", _loss(exp_shape=False)),
    "no-exp-au": Ablation("w/o L_exp^AU", _loss(exp_au=False)),
    "no-cx": Ablation("w/o L_cx", _loss(cx=False)),
    "no-r1": Ablation("w/o R1", _loss(r1=False)),
}


# ---------------------------------------------------------------------------------------------
# Named configs


def _named(name: str, net: str, *, batch: int, **kw: Any) -> TrainingConfig:  # noqa: ANN401
    cfg = preset(net)
    gamma = auto_r1_gamma(cfg.resolution, batch)
    return TrainingConfig(name=name, net=cfg, batch=batch, r1=R1Config(gamma=gamma), **kw)


TRAINING_CONFIGS: dict[str, TrainingConfig] = {
    # Tests and smoke runs on one CPU core: tiny-64, batch 2 (≈ 2.5 samples/s, notes/training.md §7).
    "cpu-smoke": _named("cpu-smoke", "tiny-64", batch=2),
    # The CPU video experiment at 128² (small-128 G: 15.7 M params). benchmarks/bench_losses.py, 1 core:
    # 0.70 samples/s at batch 2 (1,250 iterations/h) vs 0.72 at batch 4 (650/h): batch 2 gives twice the
    # updates for the same CPU time; LPIPS and L_cx each cost about one G forward + backward.
    "video-128": _named("video-128", "small-128", batch=2),
    # Paper resolutions, for GPUs. Batch and γ follow StyleGAN2-ADA's auto heuristic.
    "ffhq-256": _named("ffhq-256", "gafet-256", batch=16),
    "ffhq-512": _named("ffhq-512", "gafet-512", batch=8),
}


def training_config(name: str) -> TrainingConfig:
    """The named training config (``cpu-smoke``, ``video-128``, ``ffhq-256``, ``ffhq-512``)."""
    try:
        return TRAINING_CONFIGS[name]
    except KeyError:
        known = ", ".join(TRAINING_CONFIGS)
        raise TrainingConfigError(f"Unknown training config '{name}'. Known: {known}.") from None


# ---------------------------------------------------------------------------------------------
# JSON form: {"format_version": 1, "name": ..., "net": {GaFET config}, "weights": {...}, ...}

_SECTIONS: dict[str, type] = {
    "weights": LossWeights, "losses": LossSwitches, "contextual": ContextualConfig,
    "expression": ExpressionConfig, "r1": R1Config, "g_optimiser": OptimiserConfig,
    "d_optimiser": OptimiserConfig, "ema": EmaConfig, "pairs": PairsConfig,
}


def training_config_to_dict(cfg: TrainingConfig) -> dict[str, Any]:
    """A JSON-ready dict of ``cfg`` with ``format_version``; ``net`` is :func:`config_to_dict`'s form."""
    out: dict[str, Any] = {"format_version": TRAINING_CONFIG_FORMAT_VERSION}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name == "net":
            out["net"] = config_to_dict(value)
        elif f.name in _SECTIONS:
            section = dataclasses.asdict(value)
            out[f.name] = {k: list(v) if isinstance(v, tuple) else v for k, v in section.items()}
        else:
            out[f.name] = value
    return out


def _value(where: str, value: object, default: object, *, nullable: bool = False) -> object:
    def bad(kind: str) -> TrainingConfigError:
        return TrainingConfigError(f"Training configuration: '{where}' must be {kind}, got {value!r}.")

    if value is None and nullable:
        return None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad("an integer")
        return value
    if isinstance(default, float) or default is None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise bad("a number" + (" or null" if nullable else ""))
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list) or not value:
            raise bad("a non-empty list")
        kind = type(default[0]) if default else str
        if kind is float:
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
                raise bad("a list of numbers")
            return tuple(float(v) for v in value)
        if not all(isinstance(v, kind) for v in value):
            raise bad(f"a list of {kind.__name__}")
        return tuple(value)
    raise bad("a known type")  # pragma: no cover - every field has one of the types above


def _build_section(cls: type, raw: object, where: str) -> Any:  # noqa: ANN401
    if not isinstance(raw, dict):
        raise TrainingConfigError(f"Training configuration: '{where}' must be a JSON object.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise TrainingConfigError(f"Training configuration: unknown field(s) {', '.join(unknown)} "
                                  f"in '{where}'.")
    defaults = cls()
    return cls(**{k: _value(f"{where}.{k}", v, getattr(defaults, k), nullable="None" in str(fields[k].type))
                  for k, v in raw.items()})


def training_config_from_dict(raw: object) -> TrainingConfig:
    """Parse :func:`training_config_to_dict` output; raises :class:`TrainingConfigError` on anything off."""
    if not isinstance(raw, dict):
        raise TrainingConfigError("Training configuration must be a JSON object.")
    raw = dict(raw)
    version = raw.pop("format_version", None)
    if version != TRAINING_CONFIG_FORMAT_VERSION:
        raise TrainingConfigError(f"Training configuration format_version is {version!r}; this version reads "
                                  f"{TRAINING_CONFIG_FORMAT_VERSION}.")
    fields = {f.name: f for f in dataclasses.fields(TrainingConfig)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise TrainingConfigError(f"Training configuration: unknown field(s) {', '.join(unknown)}.")
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "net":
            try:
                kwargs["net"] = config_from_dict(value)
            except GafetConfigError as err:
                raise TrainingConfigError(f"Training configuration: 'net': {err}") from None
        elif key in _SECTIONS:
            kwargs[key] = _build_section(_SECTIONS[key], value, key)
        else:
            kwargs[key] = _value(key, value, fields[key].default)
    return TrainingConfig(**kwargs)


def training_config_to_json(cfg: TrainingConfig, *, indent: int | None = None) -> str:
    return json.dumps(training_config_to_dict(cfg), indent=indent)


def training_config_from_json(text: str) -> TrainingConfig:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise TrainingConfigError(f"Training configuration is not valid JSON ({err.msg} at line "
                                  f"{err.lineno}).") from None
    except RecursionError:
        raise TrainingConfigError("Training configuration: its JSON is nested too deeply.") from None
    return training_config_from_dict(raw)
