"""The mouth interior when the edited mouth opens (or closes) relative to the source.

A backward warp fills the target's inner-lip contour by a piecewise-affine map of the source's
opening: a mouth that opens a bit more stretches the teeth into fangs, one that was closed
stretches a slit of lip pixels, one that closes squashes the teeth. :func:`fill_mouth` makes the
interior instead whenever the opening's area, middle height or width changes by more than 2 %
(blending in up to 12 %, so intensity 0 stays an exact no-op), from the best content available:

* **lip-attached sampling** of an image with an open mouth (the source itself when its mouth is
  open, else the reference photo): teeth move with their lip and are never stretched. In a
  mouth frame (x along the inner-lip corners, y down the face), a target point at height ``d``
  below the upper inner lip samples the image at the same height below *its* upper inner lip
  (upper teeth, hanging from the upper lip); a point ``d`` above the lower inner lip samples the
  same height above the image's lower lip (lower teeth, tongue). The upper half of the opening
  uses the upper lip, the lower half the lower lip; where the target opens wider than the image,
  the gap between them is the image's own dark cavity (from its darkest interior pixels).
  The correspondence comes from the mesh: the inner-lip contour vertices of both meshes; sizes
  scale with the faces (the distance between the eye corners), not with the mouth, because
  teeth keep their size when the lips change shape (a narrower "O" covers the side teeth);
* reference content is **colour-matched** to the source in CIE Lab (:mod:`core.editing.warp.colour`,
  from a ring of lips and skin around each mouth);
* **synthesised** (a preset, or a closed reference, and a closed source): a dark oral cavity (the
  source's lip colour, darkened) with an upper-teeth band under the upper lip: teeth brighter
  than the skin, darker towards the corners, faint gaps between incisors, canines and premolars,
  a soft lower edge and a hint of tongue at the bottom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.editing.editor import EditGeometry
from core.editing.masks import (
    INNER_LIP_LOWER,
    INNER_LIP_RING,
    INNER_LIP_UPPER,
    OUTER_LIP_RING,
    mask_box,
    polygon_area,
    polygon_mask,
    ring,
)
from core.editing.warp.colour import LabStats, from_lab, lab_stats, match_colour, to_lab

MOUTH_CORNERS = (78, 308)  # inner-lip corners, image left / right

# Boundaries between upper teeth as fractions of the mouth half-width, from the middle outwards
# (central incisor, lateral incisor, canine, premolars: widths ~8.5, 6.5, 7.5, 7 mm on a
# ~50 mm wide smile, the farther ones foreshortened).
_TOOTH_GAPS = (0.0, 0.34, 0.60, 0.79, 0.93)


@dataclass(frozen=True, kw_only=True)
class MouthFillConfig:
    keep_ratio: float = 1.02  # opening-area ratios within [1/keep, keep] keep the warp as it is
    full_ratio: float = 1.12  # ratios beyond [1/full, full] are filled completely (linear in log between)
    min_opening: float = 0.03  # target opening area / mouth width² below which nothing is filled
    own_opening: float = 0.10  # the source's own interior is used if its relative opening is >= this
    sample_opening: float = 0.04  # an image's interior is usable at all from this relative opening
    gain_limits: tuple[float, float] = (0.6, 1.6)  # limits of the L gain of the colour match
    ring_grow: float = 0.12  # the colour-match ring: outer lip grown by this fraction of the mouth width

    def __post_init__(self) -> None:
        if not 1.0 <= self.keep_ratio < self.full_ratio:
            raise ValueError(f"need 1 <= keep_ratio < full_ratio, got {self.keep_ratio}, {self.full_ratio}")


class MouthFill(NamedTuple):
    """rgb: (R, R, 3) float32 in [0, 255] (meaningful where alpha > 0); alpha: (R, R) float32 in
    [0, 1]; kind: "none", "source", "reference" or "synthetic"; ratio: source/target opening area."""

    rgb: np.ndarray
    alpha: np.ndarray
    kind: str
    ratio: float


class MouthFrame(NamedTuple):
    """A mouth's frame: x along the inner-lip corners, y down the face, px; lips as polylines."""

    origin: np.ndarray  # (2,) midpoint of the corners
    ex: np.ndarray  # (2,) unit, image left corner -> right corner
    ey: np.ndarray  # (2,) unit, down the face
    width: float  # corner to corner, px
    upper: tuple[np.ndarray, np.ndarray]  # upper inner lip (x sorted, y)
    lower: tuple[np.ndarray, np.ndarray]  # lower inner lip (x sorted, y)

    def coords(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(xy, np.float64) - self.origin
        return d @ self.ex, d @ self.ey

    def point(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.origin + x[..., None] * self.ex + y[..., None] * self.ey

    def lips(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.interp(x, *self.upper), np.interp(x, *self.lower)


def mouth_frame(vertices: np.ndarray) -> MouthFrame:
    verts = np.asarray(vertices, np.float64)
    p, q = verts[list(MOUTH_CORNERS), :2]
    if p[0] > q[0]:
        p, q = q, p
    width = max(float(np.hypot(*(q - p))), 1e-3)
    ex = (q - p) / width
    empty = (np.zeros(1), np.zeros(1))
    frame = MouthFrame((p + q) / 2, ex, np.array([-ex[1], ex[0]]), width, empty, empty)

    def polyline(idx: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        x, y = frame.coords(verts[list(idx), :2])
        order = np.argsort(x)
        return x[order], y[order]

    return frame._replace(upper=polyline(INNER_LIP_UPPER), lower=polyline(INNER_LIP_LOWER))


def mouth_width(vertices: np.ndarray) -> float:
    a, b = np.asarray(vertices, np.float64)[list(MOUTH_CORNERS), :2]
    return float(np.hypot(*(b - a)))


def relative_opening(vertices: np.ndarray) -> float:
    """Area inside the inner-lip contour / mouth width² (0 = closed, ~0.35 = wide open)."""
    w = mouth_width(vertices)
    return polygon_area(ring(vertices, INNER_LIP_RING)) / max(w * w, 1e-6)


def lip_ring(vertices: np.ndarray, size: int, *, grow_frac: float) -> np.ndarray:
    """(size, size) float32 weight of the lips and the skin just around them (outer-lip contour
    grown by grow_frac x mouth width, minus the mouth opening)."""
    outer = polygon_mask(ring(vertices, OUTER_LIP_RING), size)
    r = max(1, int(round(grow_frac * mouth_width(vertices))))
    grown = cv2.dilate(outer, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    inner = cv2.dilate(polygon_mask(ring(vertices, INNER_LIP_RING), size), np.ones((3, 3), np.uint8))
    return np.clip(grown - inner, 0.0, 1.0)


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _sample(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bicubic samples of (S, S, 3) uint8 ``image`` at crop px (h, w, 2) -> (h, w, 3) float32."""
    size = image.shape[0]
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(torch.float32)
    grid = torch.from_numpy(((xy + 0.5) * (2.0 / size) - 1.0).astype(np.float32))[None]
    out = F.grid_sample(t, grid, mode="bicubic", padding_mode="border", align_corners=False)
    return out[0].permute(1, 2, 0).clamp(0, 255).numpy()


def _cavity_lab(image: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """(3,) Lab of an image's oral cavity: its darkest tenth of the mouth opening, darkened."""
    inside = polygon_mask(ring(vertices, INNER_LIP_RING), image.shape[0]) > 0.5
    if inside.sum() < 10:
        return np.array([12.0, 10.0, 5.0])
    lab = to_lab(image[inside]).reshape(-1, 3)
    dark = lab[lab[:, 0] <= np.percentile(lab[:, 0], 10)].mean(0)
    dark[0] = min(0.7 * dark[0], 22.0)
    return dark


def face_scale(vertices: np.ndarray) -> float:
    """The distance between the outer eye corners, px: the face's scale (teeth do not change size
    when the mouth changes shape, so content moves between faces at this ratio)."""
    v = np.asarray(vertices, np.float64)
    return float(np.hypot(*(v[263, :2] - v[33, :2])))


def lip_attached(image: np.ndarray, vertices: np.ndarray, target: MouthFrame, x: np.ndarray,
                 y: np.ndarray, *, scale: float) -> np.ndarray:
    """Lab (h, w, 3) float32 of the target mouth points (frame coords x, y) sampled from ``image``
    (S, S, 3) uint8 whose mesh is ``vertices``, lip-attached (see the module docstring).
    scale: image px per target px (1 for the source itself; :func:`face_scale` ratio otherwise)."""
    src = mouth_frame(vertices)
    k = scale
    up_t, lo_t = target.lips(x)
    xs = x * k
    up_s, lo_s = src.lips(xs)
    d_up, d_lo = (y - up_t) * k, (lo_t - y) * k
    half = np.maximum(lo_s - up_s, 0.0) / 2
    upper = to_lab(_sample(image, src.point(xs, up_s + d_up)))
    lower = to_lab(_sample(image, src.point(xs, lo_s - d_lo)))
    h_t = np.maximum(lo_t - up_t, 1e-3)
    v = np.clip((y - up_t) / h_t, 0.0, 1.0)
    # the cavity: darker at the corners and in the depth under the upper teeth, a little lighter
    # and redder towards the lower lip (tongue)
    depth = 0.75 + 0.25 * (1.0 - np.abs(np.clip(x / (target.width / 2), -1, 1)) ** 1.5)
    cav = _cavity_lab(image, vertices)
    cavity = np.empty(x.shape + (3,), np.float32)
    cavity[..., 0] = cav[0] * depth * (0.8 + 0.45 * v)
    cavity[..., 1] = cav[1] * (0.9 + 0.4 * v)
    cavity[..., 2] = cav[2]
    ramp = 2.5  # px: soft edge between the teeth and the cavity
    valid_u = np.clip((half - d_up) / ramp + 0.5, 0.0, 1.0)[..., None]
    valid_l = np.clip((half - d_lo) / ramp + 0.5, 0.0, 1.0)[..., None]
    w_lower = _smoothstep(0.4, 0.6, v)[..., None]
    top = valid_u * upper + (1 - valid_u) * cavity
    bottom = valid_l * lower + (1 - valid_l) * cavity
    return ((1 - w_lower) * top + w_lower * bottom).astype(np.float32)


def synthesize_mouth(source_crop: np.ndarray, source: np.ndarray, target: MouthFrame, x: np.ndarray,
                     y: np.ndarray) -> np.ndarray:
    """Lab (h, w, 3) float32: a plausible open-mouth interior at target frame coords (x, y);
    colours derive from the source's lips and the skin around them (``source`` = its mesh)."""
    size = source_crop.shape[0]
    ring_w = lip_ring(source, size, grow_frac=0.12)
    skin = lab_stats(source_crop, ring_w)
    lips = lab_stats(source_crop, polygon_mask(ring(source, OUTER_LIP_RING), size) * ring_w)
    up, lo = target.lips(x)
    height = np.maximum(lo - up, 1e-3)
    u = np.clip(x / (target.width / 2), -1.0, 1.0)
    v = np.clip((y - up) / height, 0.0, 1.0)
    depth = 1.0 - 0.6 * np.abs(u) ** 1.5  # corners recede into shadow
    cavity = np.empty(x.shape + (3,), np.float32)
    cavity[..., 0] = np.clip(0.2 * lips.mean[0], 6.0, 20.0) * (0.75 + 0.25 * depth)
    cavity[..., 1] = 0.55 * lips.mean[1] + 4.0
    cavity[..., 2] = 0.45 * lips.mean[2]
    tongue = _smoothstep(0.55, 0.95, v) * np.clip(1.0 - np.abs(u) / 0.7, 0.0, 1.0)
    cavity[..., 0] += tongue * (np.clip(0.45 * lips.mean[0], 15.0, 40.0) - 0.5 * cavity[..., 0])
    cavity[..., 1] += tongue * 0.4 * max(lips.mean[1], 10.0)
    band = np.minimum(0.6 * height, 0.17 * target.width) * (1.0 - 0.45 * u**2)  # upper teeth
    below = y - up
    teeth_a = 1.0 - _smoothstep(-1.2, 1.2, below - band)
    teeth_l = np.clip(skin.mean[0] + 12.0, 60.0, 92.0) * depth
    teeth_l = teeth_l * (0.82 + 0.18 * _smoothstep(0.0, 3.0, below))  # shadow of the upper lip
    # each tooth is a little brighter in its middle (rounded), with soft, shallow gaps between
    au = np.abs(u)
    edges = np.asarray(_TOOTH_GAPS + (1.0,))
    i = np.clip(np.searchsorted(edges, au, side="right") - 1, 0, len(edges) - 2)
    within = (au - edges[i]) / (edges[i + 1] - edges[i])
    teeth_l = teeth_l * (0.9 + 0.1 * np.sin(np.pi * np.clip(within, 0.0, 1.0)))
    gap = np.zeros_like(x)
    for g in _TOOTH_GAPS:
        for s in (1.0,) if g == 0 else (1.0, -1.0):
            gap = np.maximum(gap, np.exp(-0.5 * (np.abs(u - s * g) * (target.width / 2) / 0.6) ** 2))
    teeth_l = teeth_l * (1.0 - 0.18 * gap * _smoothstep(0.0, 2.5, below))
    teeth = np.stack([teeth_l, np.full_like(teeth_l, 0.5), np.full_like(teeth_l, 5.0)], -1)
    teeth = teeth.astype(np.float32)
    return cavity + teeth_a[..., None].astype(np.float32) * (teeth - cavity)


def fill_mouth(
    *,
    source_crop: np.ndarray,
    geometry: EditGeometry,
    reference_crop: np.ndarray | None,
    config: MouthFillConfig = MouthFillConfig(),
) -> MouthFill:
    """The target's mouth interior and how much of it replaces the warp (see the module docstring).

    source_crop: (R, R, 3) uint8 aligned source. reference_crop: (R', R', 3) uint8 or None.
    """
    size = geometry.size
    tgt, src, ref = geometry.target, geometry.source, geometry.reference
    zeros = np.zeros((size, size), np.float32)
    none = MouthFill(np.zeros((size, size, 3), np.float32), zeros, "none", math.nan)
    area_t = polygon_area(ring(tgt, INNER_LIP_RING))
    area_s = polygon_area(ring(src, INNER_LIP_RING))
    if relative_opening(tgt) < config.min_opening and relative_opening(src) < config.min_opening:
        return none
    ratio = area_s / max(area_t, 1e-6)
    # how much the plain warp would distort the interior: area, height at the middle, width
    up_t, lo_t = mouth_frame(tgt).lips(np.zeros(1))
    up_s, lo_s = mouth_frame(src).lips(np.zeros(1))
    height = max(float(lo_s[0] - up_s[0]), 1e-6) / max(float(lo_t[0] - up_t[0]), 1e-6)
    changes = (ratio, height, mouth_width(src) / max(mouth_width(tgt), 1e-6))
    dev = max(abs(math.log(min(max(c, 1e-6), 1e6))) for c in changes)
    span = math.log(config.full_ratio / config.keep_ratio)
    w = float(np.clip((dev - math.log(config.keep_ratio)) / span, 0.0, 1.0))
    region = polygon_mask(ring(tgt, INNER_LIP_RING), size)
    box = mask_box(region, pad=1)
    if w <= 0.0 or box is None:
        return none._replace(ratio=ratio)
    y0, y1, x0, x1 = box
    frame = mouth_frame(tgt)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    x, y = frame.coords(np.stack([xx, yy], -1))

    open_s = relative_opening(src)
    usable_ref = (reference_crop is not None and ref is not None
                  and relative_opening(ref) >= config.sample_opening)
    if open_s >= config.own_opening or (open_s >= config.sample_opening and not usable_ref):
        lab, kind = lip_attached(source_crop, src, frame, x, y, scale=1.0), "source"
    elif usable_ref:
        assert reference_crop is not None and ref is not None
        lab = lip_attached(reference_crop, ref, frame, x, y, scale=face_scale(ref) / face_scale(tgt))
        ref_ring = lip_ring(ref, reference_crop.shape[0], grow_frac=config.ring_grow)
        from_stats = lab_stats(reference_crop, ref_ring)
        to_stats: LabStats = lab_stats(source_crop, lip_ring(src, size, grow_frac=config.ring_grow))
        lab = match_colour(lab, from_stats=from_stats, to_stats=to_stats, gain_limits=config.gain_limits)
        kind = "reference"
    else:
        lab, kind = synthesize_mouth(source_crop, src, frame, x, y), "synthetic"
    rgb = np.zeros((size, size, 3), np.float32)
    rgb[y0:y1, x0:x1] = cv2.GaussianBlur(from_lab(lab), (0, 0), sigmaX=0.5)
    return MouthFill(rgb, region * w, kind, ratio)
