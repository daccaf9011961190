"""Synthetic inputs for the GaFET network tests (no photos needed)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from core.nets.config import GafetConfig
from core.render.flow import identity_grid


class Inputs(NamedTuple):
    source: torch.Tensor  # (B, 3, R, R) in [-1, 1]
    reference: torch.Tensor  # (B, 3, R, R) in [-1, 1]
    geometry: torch.Tensor  # (B, C_g, R, R)
    flow: torch.Tensor  # (B, R, R, 2) grid


def make_inputs(cfg: GafetConfig, batch: int = 1, *, seed: int = 0, motion: float = 0.03,
                device: torch.device | str = "cpu") -> Inputs:
    """Random images in [-1, 1], a random geometry image and a smooth random flow."""
    g = torch.Generator().manual_seed(seed)
    r = cfg.resolution
    source = torch.rand(batch, 3, r, r, generator=g) * 2 - 1
    reference = torch.rand(batch, 3, r, r, generator=g) * 2 - 1
    geometry = torch.rand(batch, cfg.geometry_channels, r, r, generator=g) * 2 - 1
    coarse = torch.randn(batch, 2, 4, 4, generator=g) * motion
    disp = torch.nn.functional.interpolate(coarse, size=(r, r), mode="bicubic", align_corners=False)
    flow = identity_grid(r, r, batch=batch) + disp.permute(0, 2, 3, 1)
    return Inputs(*(t.to(device) for t in (source, reference, geometry, flow)))


# MediaPipe indices used by the component crops, placed where they sit on an aligned face
# (fractions of the image side): right eye, left eye, mouth.
_FACE_POINTS = {
    33: (0.30, 0.40), 133: (0.42, 0.40), 159: (0.36, 0.37), 145: (0.36, 0.43),
    362: (0.58, 0.40), 263: (0.70, 0.40), 386: (0.64, 0.37), 374: (0.64, 0.43),
    61: (0.38, 0.70), 291: (0.62, 0.70), 0: (0.50, 0.65), 17: (0.50, 0.76),
    13: (0.50, 0.69), 14: (0.50, 0.71),
}


def fake_landmarks(batch: int, size: int, *, seed: int = 0, jitter: float = 0.01,
                   dims: int = 2) -> torch.Tensor:
    """(batch, 468, dims) landmarks in px of a ``size`` image: the eye/mouth points plausibly placed."""
    g = torch.Generator().manual_seed(seed)
    lm = torch.rand(batch, 468, dims, generator=g) * size
    for idx, (x, y) in _FACE_POINTS.items():
        lm[:, idx, 0] = x * size
        lm[:, idx, 1] = y * size
    lm[..., :2] += torch.randn(batch, 468, 2, generator=g) * jitter * size
    return lm
