"""A mouth cavity made from the source's own colours, for an opening no photo shows.

Used when a preset (no reference photo) opens a mouth that is closed in the source: no real
pixels of that mouth's inside exist, and drawn teeth look like a sticker, so the opening shows
what a slightly open mouth shows in a photo when the teeth are hidden by the lips: a dark, red
cavity. Every colour comes from the source (:class:`LipColours`):

* the back of the mouth: the lip colour darkened towards the darkest pixels of the source's own
  lip seam (the shadow between its closed lips), with the lip's hue;
* vertical shading: darkest right under the upper lip (it shades the opening), lighter downwards;
  darker towards the corners (the cheeks occlude them);
* the tongue: a rounded shape at the bottom in the middle, in the lip's hue, lit in front and
  darker where it recedes towards its crest, fading into the cavity (soft edge, no outline);
* the photo's own grain (the high-frequency noise level measured on the skin around the mouth),
  so the region is not smoother than the photo around it.

Results are CIE Lab, meant to be blended in with :func:`core.editing.warp.blend.laplacian_blend`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from core.editing.masks import INNER_LIP_RING, OUTER_LIP_RING, ring
from core.editing.warp.mouth_geometry import lip_ring, lips_mask

MIN_LIP_PX = 10  # fewer lip pixels than this: measure the colours on a wider region

@dataclass(frozen=True, kw_only=True)
class CavityConfig:
    back_l: float = 0.22  # L of the back of the mouth / L of the lips (before shading)
    seam_weight: float = 0.5  # how far the back's colour moves towards the source's lip seam colour
    tongue: float = 1.0  # how much of the tongue shows (0: none, a plain shaded cavity)
    tongue_l: float = 0.62  # L of the tongue's crest / L of the lips
    tongue_height: float = 0.42  # the tongue's crest height, fraction of the opening height (middle)
    tongue_width: float = 0.7  # the tongue's half-width, fraction of the mouth half-width
    top_shade: float = 0.45  # darkening right under the upper lip (fraction of L)
    corner_shade: float = 0.5  # darkening at the corners (fraction of L)
    grain: float = 1.0  # the photo's grain, x its measured level

    def __post_init__(self) -> None:
        shades = (self.top_shade, self.corner_shade)
        if not (0 < self.back_l < self.tongue_l <= 1 and all(0 <= s < 1 for s in shades)
                and 0 <= self.tongue <= 1):
            raise ValueError(f"invalid CavityConfig: {self}")


class LipColours(NamedTuple):
    """Colours of the source's mouth, each (3,) float64 CIE Lab: ``lips`` (the median lip
    pixel), ``seam`` (the darkest pixels along the inner-lip contour), ``skin`` (the ring of skin
    around the lips); ``grain``: the L noise level (std of the finest detail) of that skin."""

    lips: np.ndarray
    seam: np.ndarray
    skin: np.ndarray
    grain: float


def lip_colours(lab: np.ndarray, vertices: np.ndarray) -> LipColours:
    """Measure :class:`LipColours` of a crop given in CIE Lab (R, R, 3) float32
    (:func:`~core.editing.warp.colour.to_lab`) whose mesh is ``vertices``."""
    size = lab.shape[0]
    lips = lips_mask(vertices, size) > 0.5
    if lips.sum() < MIN_LIP_PX:  # tiny lips (a small crop, a small face): the lips and the skin around
        lips = lip_ring(vertices, size, grow_frac=0.12) > 0.5
    if lips.sum() < MIN_LIP_PX:  # still nothing to measure: the mouth's bounding box
        x0, y0 = np.floor(ring(vertices, OUTER_LIP_RING).min(0)).astype(int)
        x1, y1 = np.ceil(ring(vertices, OUTER_LIP_RING).max(0)).astype(int)
        lips = np.zeros((size, size), bool)
        lips[max(0, y0 - 1):min(size, y1 + 2), max(0, x0 - 1):min(size, x1 + 2)] = True
    lip_px = lab[lips].astype(np.float64)
    seam_line = np.zeros((size, size), np.uint8)
    pts = np.round(ring(vertices, INNER_LIP_RING) * 16).astype(np.int32)
    cv2.polylines(seam_line, [pts], True, 1, thickness=3, lineType=cv2.LINE_8, shift=4)
    seam_px = lab[seam_line > 0].astype(np.float64)
    seam = seam_px[seam_px[:, 0] <= np.percentile(seam_px[:, 0], 20)].mean(0)
    ring_w = lip_ring(vertices, size, grow_frac=0.12) * (1.0 - lips_mask(vertices, size))
    skin_px = lab[ring_w > 0.5].astype(np.float64)
    skin = np.median(skin_px, axis=0) if len(skin_px) else np.median(lip_px, axis=0)
    detail = lab[..., 0] - cv2.GaussianBlur(lab[..., 0], (0, 0), sigmaX=1.0)
    d = detail[ring_w > 0.5]
    grain = float(1.4826 * np.median(np.abs(d - np.median(d)))) if len(d) else 0.0
    return LipColours(np.median(lip_px, axis=0), seam, skin, grain)


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def cavity(colours: LipColours, u: np.ndarray, v: np.ndarray, height_px: np.ndarray, *,
           config: CavityConfig = CavityConfig(), seed: int = 0) -> np.ndarray:
    """The cavity's CIE Lab (h, w, 3) float32 at target mouth positions.

    u: (h, w) along the mouth (-1 .. 1 corner to corner). v: (h, w) between the lips (0 upper
    inner lip .. 1 lower). height_px: (h, w) the opening's height there, px (sets the softness of
    the shapes). seed: the grain's random seed (the same seed gives the same pixels).
    """
    cfg = config
    lips, seam = colours.lips, colours.seam
    # the back: the lip colour darkened (its chroma with it), moved towards the shadow of the seam
    dim = np.sqrt(cfg.back_l)
    back = np.array([cfg.back_l * lips[0], dim * lips[1], 0.8 * dim * lips[2]])
    back[0] += cfg.seam_weight * (min(seam[0], back[0]) - back[0])
    back[1:] += cfg.seam_weight * (seam[1:] - back[1:])
    tongue = np.array([cfg.tongue_l * lips[0], 0.95 * lips[1], 0.7 * lips[2]])
    au = np.abs(u)
    soft = 3.0 / np.maximum(height_px, 3.0)  # ~3 px in v units: the tongue recedes, it has no hard edge
    # the tongue: its crest an arc over the middle, lower towards its sides
    half_w = cfg.tongue_width
    side = np.clip(au / half_w, 0.0, 1.0)
    crest = 1.0 - cfg.tongue_height * np.sqrt(np.clip(1.0 - side**2, 0.0, 1.0))
    tongue_a = cfg.tongue * _smoothstep(-soft, soft, v - crest) * (1.0 - _smoothstep(0.85, 1.0, au / half_w))
    # lit in front, darker where it recedes (its crest) and at its sides, shaded by the lower lip
    below = np.clip((v - crest) / np.maximum(1.0 - crest, 1e-3), 0.0, 1.0)
    tongue_l = (tongue[0] * (1.0 - 0.35 * side**2) * (0.7 + 0.3 * _smoothstep(0.0, 0.6, below))
                * (1.0 - 0.2 * _smoothstep(0.75, 1.0, below)))
    corner = 1.0 - cfg.corner_shade * _smoothstep(0.4, 1.0, au)
    shade = (1.0 - cfg.top_shade * (1.0 - _smoothstep(0.0, 0.55, v))) * corner
    out = np.empty(u.shape + (3,), np.float32)
    out[..., 0] = back[0] * shade * (0.85 + 0.3 * v)
    out[..., 1] = back[1]
    out[..., 2] = back[2]
    t = tongue_a[..., None]
    tongue_px = np.stack([tongue_l * (1.0 - 0.6 * cfg.corner_shade * _smoothstep(0.4, 1.0, au)),
                          np.full_like(u, tongue[1]), np.full_like(u, tongue[2])], -1)
    out = out + t * (tongue_px - out)
    if cfg.grain > 0 and colours.grain > 0:
        noise = np.random.default_rng(seed).standard_normal(u.shape).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=0.6) * 1.6  # the photo's grain is not per-pixel white
        rel = out[..., 0] / max(colours.skin[0], 1.0)
        out[..., 0] += cfg.grain * colours.grain * np.sqrt(np.clip(rel, 0.0, 1.0)) * noise
    out[..., 0] = np.clip(out[..., 0], 0.0, 100.0)
    return out.astype(np.float32)
