"""De-expression training configuration (paper §3.4): frozen dataclasses, named configs, JSON form.

The objective on a pair (X, X_n) with U²-Net outputs (fused Ŷ_0, side outputs Ŷ_1..Ŷ_6)::

    L = Σ_k ω_k ‖Ŷ_k − X_n‖₁,w + λ_lpips · lpips(Ŷ_0, X_n),   ω_0 = 1, ω_{1..6} = ``side``

where ‖·‖₁,w is the L1 weighted per pixel by ``1 + change_weight · min(1, blur|X − X_n| / change_scale)``
(:func:`training.deexpress.objective.change_weights`). Why: on the warp-neutral pairs 8 % of the
pixels (the mouth) hold 83 % of ``|X − X_n|``, so under the plain L1 "change nothing" already scores
0.016 and is the median answer a young network settles on; the weight gives the changed region
about half the loss. Deep supervision: U²-Net sums its loss over all seven outputs with equal
weights; ``side`` < 1 lets the fused output lead (the deep side outputs are 2x2-8x8 at 64² and
cannot draw a mouth). LPIPS runs on the fused output only unless ``side_lpips`` (then also on
every side output, with the same ω): seven VGG-16 passes instead of one per step.
LPIPS follows the training module's weights rule
(:func:`training.perceptual.build_perceptual`): ImageNet VGG-16 imported, or an explicit
``perceptual="random"`` recorded in every checkpoint. Adam with U²-Net's published settings
(lr 1e-3, β (0.9, 0.999), eps 1e-8; notes/training.md §4).

Named configs:

* ``tiny-32`` - the ``tiny`` network at 32², batch 2 (tests, plumbing runs);
* ``cpu-small-64`` - ``small`` (U²-NetP size) at 64², batch 4: the CPU experiment. No LPIPS (λ 0):
  offline there is no ImageNet VGG-16, a random VGG is no perceptual measure, and its passes cost
  about 40 % of a CPU step; side weight 0.25, residual head scale 0.1 (:class:`U2NetConfig`);
* ``small-128`` - ``small`` at 128², batch 8;
* ``full-256`` - ``full`` (U²-Net, 44 M) at 256², batch 12 (U²-Net's published batch): GPU.

Every named config uses the change-weighted L1 and a residual head scale of 0.1 (the identity start
survives Adam's first steps; :class:`core.nets.u2net.U2NetConfig`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from core.errors import GafetError
from core.nets.u2net import U2NetConfig, U2NetConfigError, u2net_config
from training.config import PerceptualMode
from training.data.tps import PairAugmentConfig

CONFIG_FORMAT_VERSION = 1
PairSourceName = Literal["warp-neutral", "stylegan2", "bootstrap"]
PAIR_SOURCES: tuple[str, ...] = ("warp-neutral", "stylegan2", "bootstrap")


class DeexpressConfigError(GafetError, ValueError):
    """A De-expression config that cannot be used (unknown name, bad value)."""


@dataclass(frozen=True, kw_only=True)
class DeexpressLoss:
    """Weights of the objective (module docstring)."""

    l1: float = 1.0
    lpips: float = 1.0  # λ_lpips; 0 switches LPIPS off (and its VGG-16)
    side: float = 1.0  # ω of each of the six side outputs (deep supervision); 0: the fused output only
    side_lpips: bool = False  # LPIPS on the side outputs too (7x the VGG cost); off: L1 only on the sides
    # change-weighted L1 (training.deexpress.objective.change_weights): pixels where X and X_n differ
    # by >= change_scale (blurred, [-1, 1] units) weigh 1 + change_weight; 0 gives the plain L1
    change_weight: float = 10.0
    change_scale: float = 0.05


@dataclass(frozen=True, kw_only=True)
class DeexpressConfig:
    """One De-expression training setup."""

    name: str
    net: U2NetConfig
    resolution: int
    batch: int
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    loss: DeexpressLoss = field(default_factory=DeexpressLoss)
    augment: PairAugmentConfig = field(default_factory=PairAugmentConfig)
    perceptual: PerceptualMode = "imagenet"
    perceptual_seed: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.resolution < 16 or self.batch < 1 or not self.lr > 0 or not 0 <= self.betas[0] < 1 \
                or not 0 <= self.betas[1] < 1:
            raise DeexpressConfigError(f"Invalid De-expression config '{self.name}': resolution "
                                       f"{self.resolution} (>= 16), batch {self.batch}, lr {self.lr}, "
                                       f"betas {self.betas}.")
        if self.perceptual not in ("imagenet", "random"):
            raise DeexpressConfigError(f"perceptual must be 'imagenet' or 'random', got {self.perceptual!r}.")
        if min(self.loss.l1, self.loss.lpips, self.loss.side, self.loss.change_weight) < 0 \
                or not self.loss.change_scale > 0:
            raise DeexpressConfigError("Loss weights must be >= 0 and change_scale > 0.")

    @property
    def needs_lpips(self) -> bool:
        return self.loss.lpips > 0

    def replace(self, **changes: Any) -> DeexpressConfig:  # noqa: ANN401 - dataclasses.replace fields
        return dataclasses.replace(self, **changes)


HEAD_SCALE = 0.1  # residual heads' output factor (core.nets.u2net.U2NetConfig.head_scale)


def _named(name: str, net: str, resolution: int, batch: int, loss: DeexpressLoss | None = None
           ) -> DeexpressConfig:
    return DeexpressConfig(name=name, net=dataclasses.replace(u2net_config(net), head_scale=HEAD_SCALE),
                           resolution=resolution, batch=batch, loss=loss or DeexpressLoss())


DEEXPRESS_CONFIGS: dict[str, DeexpressConfig] = {
    "tiny-32": _named("tiny-32", "tiny", 32, 2),
    "cpu-small-64": _named("cpu-small-64", "small", 64, 4, DeexpressLoss(lpips=0.0, side=0.25)),
    "small-128": _named("small-128", "small", 128, 8),
    "full-256": _named("full-256", "full", 256, 12),
}


def deexpress_config(name: str) -> DeexpressConfig:
    try:
        return DEEXPRESS_CONFIGS[name]
    except KeyError:
        raise DeexpressConfigError(f"Unknown De-expression config '{name}'; use one of "
                                   f"{', '.join(DEEXPRESS_CONFIGS)}.") from None


def config_to_dict(cfg: DeexpressConfig) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    d["net"] = cfg.net.to_dict()
    d["betas"] = list(cfg.betas)
    d["format_version"] = CONFIG_FORMAT_VERSION
    return d


def config_from_dict(raw: object) -> DeexpressConfig:
    """Inverse of :func:`config_to_dict`; raises DeexpressConfigError for anything unreadable."""
    if not isinstance(raw, dict):
        raise DeexpressConfigError(f"A De-expression config must be a JSON object, got {raw!r}.")
    d = dict(raw)
    if d.pop("format_version", None) != CONFIG_FORMAT_VERSION:
        raise DeexpressConfigError(f"Unsupported De-expression config format {raw.get('format_version')!r}.")
    known = {f.name for f in dataclasses.fields(DeexpressConfig)}
    if set(d) - known:
        raise DeexpressConfigError(f"Unknown De-expression config fields: {sorted(set(d) - known)}.")
    try:
        d["net"] = U2NetConfig.from_dict(d["net"])
        d["betas"] = tuple(float(b) for b in d["betas"])
        d["loss"] = DeexpressLoss(**d["loss"])
        d["augment"] = PairAugmentConfig(**d["augment"])
        return DeexpressConfig(**d)
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, DeexpressConfigError | U2NetConfigError):
            raise
        raise DeexpressConfigError(f"Unreadable De-expression config: {err}.") from None


def config_from_spec(spec: str) -> DeexpressConfig:
    """A named config, or a JSON file of one (as :func:`config_to_dict` writes)."""
    if spec in DEEXPRESS_CONFIGS:
        return DEEXPRESS_CONFIGS[spec]
    from pathlib import Path

    path = Path(spec)
    if path.suffix.lower() == ".json" and path.is_file():
        from core.io.json_file import read_json_file

        doc = read_json_file(path, error=DeexpressConfigError, label="Config file")
        if not isinstance(doc, dict):
            raise DeexpressConfigError(f"Config file {path}: the top level must be a JSON object.")
        return config_from_dict(doc)
    return deexpress_config(spec)
