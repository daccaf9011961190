"""The pretrained feature networks of the training losses: VGG-16 for LPIPS, VGG-19 for L_cx.

* LPIPS (Eq. 1): LPIPS v0.1 on VGG-16, the ``lpips`` package's learned linear layers (shipped in
  its wheel) over torchvision's ImageNet VGG-16 (``vgg16-397923af.pth``), built by
  :func:`core.metrics.lpips_metric.build_lpips` (the one home of LPIPS).
* L_cx (Eq. 4): :class:`Vgg19Features`, torchvision's VGG-19 convolutions up to the deepest
  requested ReLU, on ImageNet weights (``vgg19-dcbb9e9d.pth``).

Neither ImageNet file ships in any registry package and the app never downloads: the user imports
them (``gafet assets import-weights vgg16|vgg19 FILE``, SHA-256 pinned in
:mod:`core.metrics.weights`). :func:`build_perceptual` with ``mode="imagenet"`` raises
:class:`PerceptualWeightsMissingError` naming each missing file, where to get it and the command,
before any training step. ``mode="random"`` builds both networks randomly initialised from a fixed
seed (torchvision's initialisation; the global RNG is not touched), fully offline; the result says
so (:attr:`PerceptualNets.mode`) for a loud log and the checkpoint metadata. It is never the
paper's setting.

Only the networks the enabled losses need are built (and only their files are required).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from core.checks import assert_float, assert_shape
from core.metrics import weights
from core.metrics.lpips_metric import build_lpips
from training.config import VGG19_LAYERS, PerceptualMode

# ImageNet normalisation of torchvision's VGGs (inputs in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

RANDOM_WARNING = ("PERCEPTUAL LOSSES USE RANDOMLY INITIALISED VGG NETWORKS (--perceptual random): LPIPS "
                  "and the contextual loss are not the paper's; results are not comparable with ImageNet-VGG "
                  "runs.")


class PerceptualWeightsMissingError(weights.MissingWeightsError):
    """ImageNet VGG weights that the enabled perceptual losses need are not imported (exit code 5)."""


class Vgg19Features(nn.Module):
    """VGG-19 ReLU outputs by name (``relu1_2``, ``relu2_2``, ...), truncated after the deepest one.

    forward: images (B, 3, H, W) float in [-1, 1] -> tuple of (B, C_i, H_i, W_i) features in the
    order of ``layers`` (ImageNet normalisation inside). Frozen, eval mode. Built with the random
    initialisation of seed 0 (:meth:`init_random`); :meth:`load_imagenet` replaces it.
    """

    def __init__(self, *, layers: tuple[str, ...]) -> None:
        super().__init__()
        unknown = [n for n in layers if n not in VGG19_LAYERS]
        if not layers or unknown:
            known = ", ".join(VGG19_LAYERS)
            raise ValueError(f"Vgg19Features: unknown or no layers {layers}; known: {known}")
        self.layers = tuple(layers)
        self.taps = tuple(VGG19_LAYERS[n] for n in layers)
        with torch.device("meta"):  # built without drawing from the global RNG, then initialised
            features = make_layers(cfgs["E"])[: max(self.taps) + 1]  # torchvision's VGG-19 layout
        self.features = features.to_empty(device="cpu")
        self.init_random(0)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)
        self.eval().requires_grad_(False)

    def load_imagenet(self, path: str | Path) -> None:
        """Load torchvision's ``vgg19-dcbb9e9d.pth`` state dict (the ``features.N.*`` entries kept here)."""
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        own = self.features.state_dict()
        picked = {k.removeprefix("features."): v for k, v in state.items()
                  if k.startswith("features.") and k.removeprefix("features.") in own}
        self.features.load_state_dict(picked, strict=True)

    def init_random(self, seed: int) -> None:
        """torchvision's VGG initialisation (Kaiming normal, fan-out; zero bias) from ``seed``."""
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in self.features.modules():
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=gen)
                    nn.init.zeros_(module.bias)

    def train(self, mode: bool = True) -> Vgg19Features:
        """Always eval mode (a frozen feature network; there are no dropout or norm layers anyway)."""
        return super().train(False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        assert_shape(images, ("B", 3, None, None), "images")
        assert_float(images, "images")
        x = ((images + 1.0) * 0.5 - self.mean.to(images.dtype)) / self.std.to(images.dtype)
        out: dict[int, torch.Tensor] = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.taps:
                out[i] = x
        return tuple(out[i] for i in self.taps)


class PerceptualNets(NamedTuple):
    """The feature networks of the enabled perceptual losses (None where a loss is off).

    lpips: LPIPS-VGG16, ``lpips(a, b)`` with (B, 3, H, W) in [-1, 1] -> (B, 1, 1, 1).
    vgg19: :class:`Vgg19Features` for the contextual loss.
    mode: "imagenet" (the paper's setting) or "random" (seeded random VGGs; never the paper's).
    seed: the seed of the random VGGs (None for "imagenet").
    """

    lpips: nn.Module | None
    vgg19: Vgg19Features | None
    mode: PerceptualMode
    seed: int | None

    @property
    def is_random(self) -> bool:
        return self.mode == "random"

    def to(self, device: torch.device | str) -> PerceptualNets:
        return self._replace(lpips=None if self.lpips is None else self.lpips.to(device),
                             vgg19=None if self.vgg19 is None else self.vgg19.to(device))


def missing_perceptual_weights(*, need_vgg16: bool, need_vgg19: bool, home: Path | None = None) -> list[str]:
    """Names ("vgg16", "vgg19") of the needed ImageNet files that are not imported."""
    needed = [n for n, on in (("vgg16", need_vgg16), ("vgg19", need_vgg19)) if on]
    return [n for n in needed if not weights.is_imported(n, home)]


def missing_message(names: list[str]) -> str:
    """The message of :class:`PerceptualWeightsMissingError` for the missing ``names``."""
    lines = []
    for name in names:
        w = weights.weights_file(name)
        assert w.size is not None
        lines.append(f"  - {w.filename} ({w.size / 1e6:.0f} MB) for {w.used_by}: download it from "
                     f"https://download.pytorch.org/models/{w.filename}, then run "
                     f"`gafet assets import-weights {w.name} {w.filename}`")
    return ("Training with the paper's perceptual losses needs torchvision's ImageNet VGG weights, and "
            f"{'this file is' if len(names) == 1 else 'these files are'} not imported:\n" + "\n".join(lines)
            + "\nThe SHA-256 of each file is checked on import. To train without them (randomly initialised "
              "VGGs, not the paper's setting, recorded in the checkpoint), pass --perceptual random.")


def build_perceptual(*, mode: PerceptualMode, need_lpips: bool, need_vgg19: bool,
                     vgg19_layers: tuple[str, ...], seed: int = 0, home: Path | None = None,
                     device: torch.device | str = "cpu") -> PerceptualNets:
    """Build the feature networks of the enabled perceptual losses.

    mode "imagenet": loads the imported, hash-checked torchvision files; raises
    :class:`PerceptualWeightsMissingError` (all missing files in one message) before building
    anything, or :class:`core.metrics.weights.WeightsIntegrityError` for a changed file.
    mode "random": seeded random VGGs (``seed``), offline. The global RNG is not touched.
    """
    if mode not in ("imagenet", "random"):
        raise ValueError(f"build_perceptual: mode must be 'imagenet' or 'random', got {mode!r}")
    if mode == "imagenet":
        missing = missing_perceptual_weights(need_vgg16=need_lpips, need_vgg19=need_vgg19, home=home)
        if missing:
            raise PerceptualWeightsMissingError(missing_message(missing))
    lpips_net = None
    if need_lpips:
        path = weights.weights_path("vgg16", home) if mode == "imagenet" else None
        lpips_net = build_lpips("vgg", path, seed=seed)
    vgg19 = None
    if need_vgg19:
        vgg19 = Vgg19Features(layers=vgg19_layers)
        if mode == "imagenet":
            vgg19.load_imagenet(weights.weights_path("vgg19", home))
        else:
            vgg19.init_random(seed + 1)  # a different stream from LPIPS' VGG-16
    nets = PerceptualNets(lpips=lpips_net, vgg19=vgg19, mode=mode, seed=seed if mode == "random" else None)
    return nets.to(device)
