"""LPIPS (Zhang et al. 2018) with the AlexNet backbone, only when its ImageNet weights are imported.

The ``lpips`` package ships the learned linear layers (``weights/v0.1/alex.pth``) but not the
backbone; the app never downloads it. With ``alexnet-owt-7be5be79.pth`` imported
(``gafet assets import-weights lpips-alexnet FILE``, SHA-256 checked) :func:`load_lpips` builds
the package's model with a random backbone (``pnet_rand=True``, no download) and loads the
imported ImageNet convolutions into it. Without the file the metric is reported as unavailable,
with how to import it; a random backbone is never used for a reported number.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
from torch import nn

from core.metrics.registry import register_metric

# Which of torchvision's alexnet.features layers each of lpips' five slices holds.
_SLICES = ((1, range(0, 2)), (2, range(2, 5)), (3, range(5, 8)), (4, range(8, 10)), (5, range(10, 12)))


def _backbone_state(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    out = {}
    for key, value in state.items():
        part, _, rest = key.partition(".")
        if part != "features":
            continue  # the classifier is not part of LPIPS
        index = int(rest.split(".")[0])
        slice_no = next(n for n, span in _SLICES if index in span)
        out[f"slice{slice_no}.{rest}"] = value
    return out


def load_lpips(alexnet_path: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """The LPIPS-Alex model with the imported backbone at ``alexnet_path`` (from
    ``core.metrics.weights.weights_path("lpips-alexnet")``), in eval mode on ``device``."""
    import lpips

    with warnings.catch_warnings():  # lpips builds its backbone with torchvision's deprecated arguments
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    model.net.load_state_dict(_backbone_state(alexnet_path), strict=True)
    return model.eval().to(device)


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
