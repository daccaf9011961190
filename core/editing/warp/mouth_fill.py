"""The mouth interior when the edited mouth opens (or closes) relative to the source.

A backward warp fills the target's inner-lip contour by a piecewise-affine map of the source's
opening: a mouth that opens a bit more stretches the teeth into fangs, one that was closed
stretches a slit of lip pixels, one that closes squashes the teeth. :func:`fill_mouth` makes the
interior instead whenever the opening's area, middle height or width changes by more than 2 %
(blending in up to 12 %, so intensity 0 stays an exact no-op), from real pixels where any exist:

1. **content**, in this order: the source's own open mouth (its own teeth), else the reference
   photo's open mouth, else a cavity made from the source's own colours
   (:mod:`core.editing.warp.cavity`: a preset opening a closed mouth; no teeth are drawn);
2. **rigid teeth, through the lip contours**
   (:func:`~core.editing.warp.mouth_geometry.interior_map`): the upper teeth move as one piece
   with the middle of the upper inner lip, the lower teeth with the lower lip (the jaw), at the
   face's scale, parting at the content's own bite line; they keep their shape whatever the
   lips do. Where the target opens wider than the content (a jaw drop, 150 %), the part the
   content has no pixels for is mouth cavity in the source's colours, as dark as the content's
   own cavity, with soft edges; the fill covers exactly the target's inner-lip contour;
3. **the source's light** (reference content only): a lighting and white-balance change estimated
   on matching rings of lips and skin around the two mouths, applied to the interior
   (:func:`~core.editing.warp.colour.light_transfer`: log-L mean/std and a/b offsets in CIE Lab);
4. **shadows**: a soft shadow right under the upper lip and towards the corners, and a darker
   narrow opening (little light gets into a slit);
5. **multi-band blend** into the warped crop (:func:`~core.editing.warp.blend.laplacian_blend`),
   on the target contour with a 1-2 px soft edge (at 512 px): fine detail switches within the
   edge, shading meets over a few px, so there is neither a gap nor a drawn outline.

:class:`MouthFill` holds the blended pixels and where they apply (``alpha``: the opening and the
few px of lip around it that the blend shades).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.editing.editor import EditGeometry
from core.editing.masks import (
    INNER_LIP_RING,
    OUTER_LIP_RING,
    feathered,
    mask_box,
    polygon_area,
    polygon_mask,
    ring,
)
from core.editing.warp.blend import extend, laplacian_blend
from core.editing.warp.cavity import CavityConfig, cavity, lip_colours
from core.editing.warp.colour import apply_light, from_lab, light_transfer, to_lab
from core.editing.warp.mouth_geometry import (
    MOUTH_CORNERS,
    MouthFrame,
    bite_line,
    face_scale,
    interior_map,
    lip_ring,
    mouth_frame,
    mouth_width,
    relative_opening,
)

__all__ = ["MOUTH_CORNERS", "MouthFill", "MouthFillConfig", "MouthFrame", "fill_mouth", "face_scale",
           "lip_ring", "mouth_frame", "mouth_width", "relative_opening"]

_REFERENCE_SIZE = 512  # px sizes in the config are for a crop of this size


@dataclass(frozen=True, kw_only=True)
class MouthFillConfig:
    keep_ratio: float = 1.02  # opening-area ratios within [1/keep, keep] keep the warp as it is
    full_ratio: float = 1.12  # ratios beyond [1/full, full] are filled completely (linear in log between)
    min_opening: float = 0.03  # target opening area / mouth width² below which nothing is filled
    own_opening: float = 0.10  # the source's own interior is used if its relative opening is >= this
    sample_opening: float = 0.04  # an image's interior is usable at all from this relative opening
    ring_grow: float = 0.12  # the colour-match ring: outer lip grown by this fraction of the mouth width
    gain_limits: tuple[float, float] = (0.8, 1.25)  # limits of the log-L contrast gain of the light match
    chroma_fraction: float = 0.5  # part of the rings' a/b difference taken as the light's white balance
    chroma_limit: float = 8.0  # largest a/b white-balance offset (Lab units)
    clamp_px: float = 3.0  # a jaw's content may be continued this far (px at 512) past the content's lips
    gap_edge_px: float = 2.0  # soft edge between teeth and cavity, px at 512
    gap_min_px: float = 4.0  # the jaws part only past this much more opening (px at 512): a stretch before
    narrow_shadow: float = 0.5  # darkening of a narrow opening (light does not get in) ...
    narrow_px: float = 5.0  # ... where it is about this many px high (at 512)
    edge_px: float = 1.5  # soft edge of the opening under the lips, px at 512
    blend_levels: int = 2  # band-pass levels of the multi-band blend (0: plain soft-edged paste)
    change_levels: float = 0.5  # the fill's alpha covers where the blend changes the crop by more (of 255)
    lip_shadow: float = 0.2  # darkening right under the upper lip (fraction of L) ...
    lip_shadow_px: float = 4.0  # ... fading over this many px (at 512)
    corner_shadow: float = 0.25  # darkening at the corners (fraction of L)
    cavity: CavityConfig = field(default_factory=CavityConfig)

    def __post_init__(self) -> None:
        if not 1.0 <= self.keep_ratio < self.full_ratio:
            raise ValueError(f"need 1 <= keep_ratio < full_ratio, got {self.keep_ratio}, {self.full_ratio}")
        if self.blend_levels < 0 or self.edge_px < 0 or self.clamp_px < 0 or self.gap_edge_px <= 0:
            raise ValueError(f"invalid MouthFillConfig: {self}")


class MouthFill(NamedTuple):
    """rgb: (R, R, 3) float32 in [0, 255], the crop with the mouth blended in (meaningful where
    alpha > 0); alpha: (R, R) float32 in [0, 1], where rgb applies (the opening and the lip
    pixels the blend shades, times the fill's weight); kind: "none", "source", "reference" or
    "cavity"; ratio: source/target opening area."""

    rgb: np.ndarray
    alpha: np.ndarray
    kind: str
    ratio: float


def _sample(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bicubic samples of (S, S, 3) uint8 ``image`` at crop px (h, w, 2) -> (h, w, 3) float32."""
    size = image.shape[0]
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].to(torch.float32)
    grid = torch.from_numpy(((xy + 0.5) * (2.0 / size) - 1.0).astype(np.float32))[None]
    out = F.grid_sample(t, grid, mode="bicubic", padding_mode="border", align_corners=False)
    return out[0].permute(1, 2, 0).clamp(0, 255).numpy()


def _smoothstep(a: float, b: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def lab_near_mouth(image: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """(S, S, 3) float32 CIE Lab of ``image`` (S, S, 3) uint8 around its mouth only (the outer
    lips grown by a fifth of the mouth width: everything the mouth's colour measures read), 0
    elsewhere: a full conversion of the crop costs more than the rest of the fill."""
    size = image.shape[0]
    pts = ring(vertices, OUTER_LIP_RING)
    pad = 0.2 * mouth_width(vertices) + 4
    x0, y0 = np.clip(np.floor(pts.min(0) - pad).astype(int), 0, size)
    x1, y1 = np.clip(np.ceil(pts.max(0) + pad).astype(int) + 1, 0, size)
    lab = np.zeros(image.shape, np.float32)
    lab[y0:y1, x0:x1] = to_lab(image[y0:y1, x0:x1])
    return lab


def dark_interior(lab: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """(3,) float64 Lab of an open mouth's own cavity: the mean of the darkest tenth of the pixels
    inside its inner-lip contour (``lab``: (S, S, 3) the image in Lab, ``vertices`` its mesh)."""
    inside = polygon_mask(ring(vertices, INNER_LIP_RING), lab.shape[0]) > 0.5
    px = lab[inside].astype(np.float64)
    if len(px) < 10:
        raise ValueError("dark_interior: the mouth opening covers fewer than 10 px")
    return px[px[:, 0] <= np.percentile(px[:, 0], 10)].mean(0)


def fill_weight(source: np.ndarray, target: np.ndarray, config: MouthFillConfig) -> tuple[float, float]:
    """(weight in [0, 1] of the fill, source/target opening-area ratio) for two meshes: 0 while
    the opening's area, middle height and width change by less than ``keep_ratio``, 1 from
    ``full_ratio`` on (linear in log between)."""
    area_t = polygon_area(ring(target, INNER_LIP_RING))
    area_s = polygon_area(ring(source, INNER_LIP_RING))
    ratio = area_s / max(area_t, 1e-6)
    up_t, lo_t = mouth_frame(target).lips(np.zeros(1))
    up_s, lo_s = mouth_frame(source).lips(np.zeros(1))
    height = max(float(lo_s[0] - up_s[0]), 1e-6) / max(float(lo_t[0] - up_t[0]), 1e-6)
    changes = (ratio, height, mouth_width(source) / max(mouth_width(target), 1e-6))
    dev = max(abs(math.log(min(max(c, 1e-6), 1e6))) for c in changes)
    span = math.log(config.full_ratio / config.keep_ratio)
    return float(np.clip((dev - math.log(config.keep_ratio)) / span, 0.0, 1.0)), ratio


def fill_mouth(
    *,
    source_crop: np.ndarray,
    geometry: EditGeometry,
    reference_crop: np.ndarray | None,
    warped: np.ndarray,
    config: MouthFillConfig = MouthFillConfig(),
) -> MouthFill:
    """The target's mouth interior blended into ``warped`` (see the module docstring).

    source_crop: (R, R, 3) uint8 aligned source. reference_crop: (R', R', 3) uint8 or None.
    warped: (R, R, 3) float32 [0, 255], the crop the mouth goes into (the flow warp, eyes fixed).
    """
    size = geometry.size
    if warped.shape != (size, size, 3):
        raise ValueError(f"warped: expected ({size}, {size}, 3), got {warped.shape}")
    tgt, src, ref = geometry.target, geometry.source, geometry.reference
    zeros = np.zeros((size, size), np.float32)
    none = MouthFill(np.zeros((size, size, 3), np.float32), zeros, "none", math.nan)
    if relative_opening(tgt) < config.min_opening and relative_opening(src) < config.min_opening:
        return none
    w, ratio = fill_weight(src, tgt, config)
    unit = size / _REFERENCE_SIZE
    region = polygon_mask(ring(tgt, INNER_LIP_RING), size)
    if config.edge_px > 0:
        region = cv2.GaussianBlur(region, (0, 0), sigmaX=0.4 * config.edge_px * unit)
    reach = 3 * 2**config.blend_levels + 2  # px the multi-band blend reaches beyond the mask
    box = mask_box(region, pad=reach + 4)
    if w <= 0.0 or box is None:
        return none._replace(ratio=ratio)
    y0, y1, x0, x1 = box
    frame = mouth_frame(tgt)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    x, y = frame.coords(np.stack([xx, yy], -1))

    open_s = relative_opening(src)
    usable_ref = (reference_crop is not None and ref is not None
                  and relative_opening(ref) >= config.sample_opening)
    up_t, lo_t = frame.lips(x)
    height = np.maximum(lo_t - up_t, 0.0)
    mapping = {"clamp_px": config.clamp_px * unit, "edge_px": config.gap_edge_px * unit,
               "gap_min_px": config.gap_min_px * unit}
    content: np.ndarray | None = None
    source_lab = lab_near_mouth(source_crop, src)
    colours = lip_colours(source_lab, src)
    if open_s >= config.own_opening or (open_s >= config.sample_opening and not usable_ref):
        src_frame = mouth_frame(src)
        bite = bite_line(source_lab[..., 0], src_frame)
        m = interior_map(frame, src_frame, x, y, scale=1.0, bite=bite, **mapping)
        content, kind = to_lab(_sample(source_crop, m.xy)), "source"
        colours = colours._replace(seam=dark_interior(source_lab, src))
    elif usable_ref:
        assert reference_crop is not None and ref is not None
        ref_frame, reference_lab = mouth_frame(ref), lab_near_mouth(reference_crop, ref)
        m = interior_map(frame, ref_frame, x, y, scale=face_scale(ref) / face_scale(tgt),
                         bite=bite_line(reference_lab[..., 0], ref_frame), **mapping)
        ref_ring = lip_ring(ref, reference_crop.shape[0], grow_frac=config.ring_grow)
        src_ring = lip_ring(src, size, grow_frac=config.ring_grow)
        light = light_transfer(reference_crop, ref_ring, source_crop, src_ring,
                               gain_limits=config.gain_limits, chroma_fraction=config.chroma_fraction,
                               chroma_limit=config.chroma_limit)
        content, kind = apply_light(to_lab(_sample(reference_crop, m.xy)), light), "reference"
        colours = colours._replace(seam=apply_light(dark_interior(reference_lab, ref), light))
    else:
        m = interior_map(frame, frame, x, y, scale=1.0)
        kind = "cavity"
    # where real pixels run out (and for a closed source mouth everywhere): a cavity in the
    # source's colours, as dark as the content's own cavity when there is one
    cav_cfg = config.cavity if content is None else replace(config.cavity, seam_weight=1.0)
    lab = cavity(colours, m.u, m.v, height, config=cav_cfg)
    # the source's own mouth, barely changed, stays itself: its shadows come in with the change
    strength = w if kind == "source" else 1.0
    if content is not None:  # real pixels, shaded by the lips; the cavity only where they run out
        below = m.v * height  # px under the upper lip
        shade = 1.0 - config.lip_shadow * strength * np.exp(-below / max(config.lip_shadow_px * unit, 1e-3))
        shade = shade * (1.0 - config.corner_shadow * strength * _smoothstep(0.7, 1.0, np.abs(m.u)))
        content[..., 0] *= shade.astype(np.float32)
        lab = content + m.gap[..., None].astype(np.float32) * (lab - content)
    narrow = 1.0 - config.narrow_shadow * strength * np.exp(-height / max(config.narrow_px * unit, 1e-3))
    lab[..., 0] *= narrow.astype(np.float32)
    interior = from_lab(lab)
    base = warped[y0:y1, x0:x1].astype(np.float32)
    inside = region[y0:y1, x0:x1]
    known = 1.0 - cv2.dilate((inside > 0).astype(np.float32), np.ones((3, 3), np.uint8))
    blended = laplacian_blend(extend(base, known), interior, inside, levels=config.blend_levels)
    blended = np.clip(blended, 0.0, 255.0)
    # where the blend changes the crop visibly: the opening and the lip shading around it (the
    # photo paste-back takes these pixels from the crop, the rest from the photo itself)
    changed = (np.abs(blended - base).max(-1) > config.change_levels) | (inside > 0)
    support = feathered(changed.astype(np.float32), grow_px=1, blur_px=2)
    rgb = np.zeros((size, size, 3), np.float32)
    rgb[y0:y1, x0:x1] = blended
    alpha = np.zeros((size, size), np.float32)
    # made content fades in with the change; the source's own mouth is itself at any change (a
    # crossfade of two placements of the same teeth would show them twice)
    alpha[y0:y1, x0:x1] = support * (1.0 if kind == "source" else w)
    return MouthFill(rgb, alpha, kind, ratio)
