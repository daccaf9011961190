"""LPIPS (Zhang et al. 2018) with the AlexNet backbone, only when its ImageNet weights are imported.

The ``lpips`` package ships the learned linear layers (``weights/v0.1/alex.pth``, ``vgg.pth``) but
not the backbone; the app never downloads it. With ``alexnet-owt-7be5be79.pth`` imported
(``gafet assets import-weights lpips-alexnet FILE``, SHA-256 checked) :func:`load_lpips` builds
the package's model with a random backbone (``pnet_rand=True``, no download) and loads the
imported ImageNet convolutions into it. Without the file the metric is reported as unavailable,
with how to import it; a random backbone is never used for a reported number.

:func:`build_lpips` is the one place an LPIPS model is built: AlexNet for the metric, VGG-16 for
training's reconstruction loss (``vgg16-397923af.pth``, imported as ``vgg16``). It builds the
package's model on the meta device (the package would otherwise initialise a whole torchvision
classifier, seconds of work), then fills in the backbone (imported, or seeded random for
training's explicit ``--perceptual random``), the package's linear layers and its scaling layer.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from core.metrics.registry import register_metric

LpipsNet = Literal["alex", "vgg"]

# Which of torchvision's ``features`` layers each of lpips' five slices holds, per backbone.
_SLICES: dict[str, tuple[tuple[int, range], ...]] = {
    "alex": ((1, range(0, 2)), (2, range(2, 5)), (3, range(5, 8)), (4, range(8, 10)), (5, range(10, 12))),
    "vgg": ((1, range(0, 4)), (2, range(4, 9)), (3, range(9, 16)), (4, range(16, 23)), (5, range(23, 30))),
}


def _backbone_state(path: str | os.PathLike[str], net: LpipsNet) -> dict[str, torch.Tensor]:
    state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    out = {}
    for key, value in state.items():
        part, _, rest = key.partition(".")
        if part != "features":
            continue  # the classifier is not part of LPIPS
        index = int(rest.split(".")[0])
        slice_no = next(n for n, span in _SLICES[net] if index in span)
        out[f"slice{slice_no}.{rest}"] = value
    return out


def _random_backbone(backbone: nn.Module, seed: int) -> None:
    """torchvision's VGG/AlexNet initialisation (Kaiming normal, fan-out, zero bias) from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in backbone.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=gen)
                if module.bias is not None:
                    module.bias.zero_()


def build_lpips(net: LpipsNet, backbone_path: str | os.PathLike[str] | None, *, seed: int = 0,
                device: str | torch.device = "cpu") -> nn.Module:
    """LPIPS v0.1 (the ``lpips`` package's model and linear layers) on the ``net`` backbone.

    backbone_path: torchvision's ImageNet state dict (``alexnet-owt-7be5be79.pth`` for "alex",
    ``vgg16-397923af.pth`` for "vgg"; hash-checked by the caller through
    :func:`core.metrics.weights.weights_path`), or None for a random backbone from ``seed`` (only
    for training's explicit ``--perceptual random``; never for a reported metric). The global RNG
    is not touched. Returns the model in eval mode, frozen, on ``device``; call it as
    ``model(a, b)`` with (B, 3, H, W) images in [-1, 1] -> (B, 1, 1, 1) distances.
    """
    import lpips

    if net not in _SLICES:
        raise ValueError(f"build_lpips: net must be one of {', '.join(_SLICES)}, got {net!r}")
    with warnings.catch_warnings(), torch.device("meta"):  # lpips passes torchvision deprecated arguments
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, pretrained=False, pnet_rand=True, verbose=False)
    model = model.to_empty(device="cpu")
    model.scaling_layer = lpips.ScalingLayer()  # its constant buffers were left empty on the meta device
    if backbone_path is None:
        _random_backbone(model.net, seed)
    else:
        model.net.load_state_dict(_backbone_state(backbone_path, net), strict=True)
    linear = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    lin_state = torch.load(linear, map_location="cpu", weights_only=True)
    model.lins.load_state_dict({k.replace("lin", "", 1): v for k, v in lin_state.items()}, strict=True)
    return model.eval().requires_grad_(False).to(device)


def load_lpips(alexnet_path: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """The LPIPS-Alex model with the imported backbone at ``alexnet_path`` (from
    ``core.metrics.weights.weights_path("lpips-alexnet")``), in eval mode on ``device``."""
    return build_lpips("alex", alexnet_path, device=device)


def _tensor(image: np.ndarray, name: str, device: torch.device) -> torch.Tensor:
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"{name}: expected (H, W, 3) uint8 RGB, got {a.dtype} {a.shape}")
    t = torch.from_numpy(np.ascontiguousarray(a)).to(device).permute(2, 0, 1)[None].float()
    return t / 127.5 - 1.0


@register_metric(key="lpips", label="LPIPS", group="paired", better="lower", needs="lpips-alexnet",
                 description="learned perceptual distance (LPIPS v0.1, AlexNet) of output and target")
def lpips_distance(pred: np.ndarray, target: np.ndarray, model: nn.Module) -> float:
    """LPIPS of two (H, W, 3) uint8 RGB images of one size with a model from :func:`load_lpips`;
    >= 0, 0 for identical images."""
    if np.shape(pred) != np.shape(target):
        raise ValueError(f"pred and target differ in size: {np.shape(pred)} vs {np.shape(target)}")
    device = next(model.parameters()).device
    with torch.no_grad():
        d = model(_tensor(pred, "pred", device), _tensor(target, "target", device))
    return float(d.reshape(-1)[0])
