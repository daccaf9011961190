"""Paired thin-plate-spline (TPS) and colour augmentation of image pairs (De-expression, paper §3.4).

The De-expression network learns X -> X_n from (face, neutral face) pairs; "geometric
augmentations (e.g. Thin Plate Spline) are used to improve the robustness". A pair must stay a
pair, so one draw is applied to both images: the same warp, the same flip, the same colour
jitter.

**TPS.** A K x K grid of control points c_i spans the image in normalised coordinates
([-1, 1], ``grid_sample``'s convention with ``align_corners=False``). Each point gets a random
displacement d_i ~ N(0, σ²) (σ = ``TpsConfig.jitter`` in those units, so 0.03 is 1.5 % of the
side). The backward map is p -> p + g(p), where g is the thin-plate spline interpolating the
displacements::

    g(p) = a_0 + A p + Σ_i w_i U(|p - c_i|),   U(r) = r² log r²,
    [K  P] [w]   [d]
    [Pᵀ 0] [a] = [0],    K_ij = U(|c_i - c_j|),  P = [1, c]

so with zero displacements g = 0 and the warp is exactly the identity (grid_sample then reads
every pixel at its own centre). Images are resampled bilinearly with reflection at the border.

**Colour.** :func:`training.data.augment.jitter_image` (brightness, contrast, saturation),
drawn once per pair.

Draws come from a ``torch.Generator`` the caller seeds, so a step's augmentation depends only on
its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from core.checks import assert_float, assert_shape
from training.data.augment import AugmentDraw, jitter_image

__all__ = ["NO_PAIR_AUGMENT", "PairAugmentConfig", "PairDraw", "augment_pair", "draw_pair", "tps_grid"]


@dataclass(frozen=True, kw_only=True)
class PairAugmentConfig:
    """Strengths of the paired augmentation (0 switches a part off)."""

    tps_points: int = 4  # K: control points per side (K >= 2)
    tps_jitter: float = 0.03  # σ of the control-point displacements, normalised units ([-1, 1] = the side)
    tps_probability: float = 0.8  # chance that a pair is warped at all
    flip: float = 0.5  # chance of a horizontal flip (both images)
    brightness: float = 0.05  # as training.data.augment.AugmentConfig
    contrast: float = 0.05
    saturation: float = 0.05

    def __post_init__(self) -> None:
        if self.tps_points < 2 or self.tps_jitter < 0 or not 0 <= self.tps_probability <= 1:
            raise ValueError(f"invalid TPS settings in {self}")
        if not 0 <= self.flip <= 1 or min(self.brightness, self.contrast, self.saturation) < 0 \
                or max(self.contrast, self.saturation) >= 1:
            raise ValueError(f"invalid flip or colour settings in {self}")


NO_PAIR_AUGMENT = PairAugmentConfig(tps_jitter=0.0, tps_probability=0.0, flip=0.0, brightness=0.0,
                                    contrast=0.0, saturation=0.0)


class PairDraw(NamedTuple):
    """One batch's draws: displacement (B, K, K, 2) normalised units (x, y); flip (B,) bool;
    colour: per-sample :class:`~training.data.augment.AugmentDraw` (flip field unused)."""

    displacement: torch.Tensor
    flip: torch.Tensor
    colour: tuple[AugmentDraw, ...]


def control_points(k: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(K*K, 2) the control grid (x, y) in normalised coordinates, spanning [-1, 1], row-major."""
    t = torch.linspace(-1.0, 1.0, k, dtype=dtype)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def _kernel(r2: torch.Tensor) -> torch.Tensor:
    """U(r) = r² log r² from squared distances (0 at r = 0)."""
    return torch.where(r2 > 0, r2 * torch.log(r2.clamp_min(1e-300)), torch.zeros_like(r2))


def tps_grid(displacement: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The backward sampling grid of the TPS warp (module docstring).

    displacement: (B, K, K, 2) float, control-point displacements (x, y) in normalised units.
    size: (H, W) of the images. Returns (B, H, W, 2) float32 for ``F.grid_sample(...,
    align_corners=False)``; zero displacements give exactly the pixel-centre identity grid.
    """
    assert_shape(displacement, ("B", "K", "K", 2), "displacement")
    b, k = displacement.shape[0], displacement.shape[1]
    h, w = size
    c = control_points(k).to(displacement.device)
    n = c.shape[0]
    d = displacement.reshape(b, n, 2).double()
    kmat = _kernel((c[:, None] - c[None]).square().sum(-1))
    p = torch.cat([torch.ones(n, 1, dtype=c.dtype, device=c.device), c], dim=1)  # (n, 3)
    system = torch.zeros(n + 3, n + 3, dtype=c.dtype, device=c.device)
    system[:n, :n] = kmat
    system[:n, n:] = p
    system[n:, :n] = p.t()
    rhs = torch.cat([d, torch.zeros(b, 3, 2, dtype=d.dtype, device=d.device)], dim=1)  # (B, n+3, 2)
    coef = torch.linalg.solve(system, rhs)  # (B, n+3, 2)
    xs = (torch.arange(w, dtype=c.dtype, device=c.device) + 0.5) * 2 / w - 1
    ys = (torch.arange(h, dtype=c.dtype, device=c.device) + 0.5) * 2 / h - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # (HW, 2)
    basis = torch.cat([_kernel((pts[:, None] - c[None]).square().sum(-1)),
                       torch.ones(pts.shape[0], 1, dtype=c.dtype, device=c.device), pts], dim=1)  # (HW, n+3)
    offset = torch.einsum("pm,bmc->bpc", basis, coef)
    return (pts[None] + offset).reshape(b, h, w, 2).float()


def draw_pair(config: PairAugmentConfig, batch: int, generator: torch.Generator) -> PairDraw:
    """Draw one batch's augmentation from ``generator`` (always the same number of draws)."""
    k = config.tps_points
    disp = torch.randn(batch, k, k, 2, generator=generator, dtype=torch.float64) * config.tps_jitter
    warp = torch.rand(batch, generator=generator, dtype=torch.float64) < config.tps_probability
    disp = disp * warp[:, None, None, None]
    u = torch.rand(batch, 4, generator=generator, dtype=torch.float64)
    colour = tuple(AugmentDraw(flip=False, brightness=float((2 * r[1] - 1) * config.brightness),
                               contrast=float(1 + (2 * r[2] - 1) * config.contrast),
                               saturation=float(1 + (2 * r[3] - 1) * config.saturation)) for r in u.tolist())
    return PairDraw(displacement=disp, flip=u[:, 0] < config.flip, colour=colour)


def apply_draw(images: torch.Tensor, d: PairDraw) -> torch.Tensor:
    """(B, 3, H, W) float in [-1, 1] -> the same images warped, flipped and colour-jittered by ``d``."""
    assert_shape(images, (d.displacement.shape[0], 3, "H", "W"), "images")
    assert_float(images, "images")
    out = images
    if bool((d.displacement != 0).any()):
        grid = tps_grid(d.displacement, (images.shape[-2], images.shape[-1])).to(images.device, images.dtype)
        out = F.grid_sample(out, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    flip = d.flip.to(images.device)
    if bool(flip.any()):
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return torch.stack([jitter_image(out[i], c) for i, c in enumerate(d.colour)])


def augment_pair(source: torch.Tensor, target: torch.Tensor, config: PairAugmentConfig,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random TPS warp, flip and colour jitter on both (B, 3, H, W) images of each pair."""
    assert_shape(target, tuple(source.shape), "target")
    d = draw_pair(config, source.shape[0], generator)
    return apply_draw(source, d), apply_draw(target, d)
