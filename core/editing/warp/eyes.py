"""Eye openings that close or open without smearing.

The mesh flow maps the target eye opening (the triangles inside the lid contour) onto the
source's by a piecewise-affine warp: an eye that closes gets its iris squashed into a flat oval,
and an eye that opens a lot stretches a thin slit of lashes and iris into vertical streaks.
:func:`fill_eyes` replaces the warp inside the target's lid contour, per eye, working in an *eye
frame* (origin at the midpoint of the eye corners, a along corner-to-corner, b perpendicular
pointing down the face, unit = that eye's width; U(a), L(a) = the upper and lower lid there):

* **closing** (relative opening ratio rho = target / source < 1): the eye content is *occluded*,
  not squashed: a target point (a, b) samples the source at the same (a, b) of the source's eye
  frame; the lids (warped by the mesh flow) cover the rest, so the iris stays round and the lid
  margin passes over it;
* **opening, mildly** (1 < rho <= ``max_stretch``): the mesh warp's vertical stretch is kept (the
  iris becomes a slightly taller oval); nothing is replaced;
* **opening a lot** (rho > ``max_stretch``, e.g. from a squint or a blink): the existing eye
  content is scaled up uniformly about the eye centre, s = min(rho / max_stretch, max_scale), and
  the rest is a stretch between the lids: a_s = a / s, and b keeps its relative height between
  the lids, b_s = U_s(a_s) + (b - U_t(a)) / (L_t(a) - U_t(a)) * (L_s(a_s) - U_s(a_s)), so the
  lid contour still maps onto the source's lid contour (no seam) while the slit is stretched
  by rho / s instead of rho;
* **opening from a slit** (the source's opening below ``slit_none`` of the eye width², e.g. a
  smile's squint: there is no iris or sclera to scale): the reference's eye, fitted between the
  target's lids (relative height kept) and colour-matched to the source's eye surround in Lab,
  or, without a reference photo (a preset), a drawn eye: sclera lighter than the skin and shaded
  at the corners, a dark iris (0.19 eye widths radius) with a pupil and a highlight; blended in
  from ``slit_none`` down to ``slit_full``;
* **closed** (the target opening below ``closed_full`` of the eye width² while the source's was
  open): the remaining slit is filled with eyelid skin sampled ``lid_offset`` eye widths above the
  source's upper lid, blended in between ``closed_none`` and ``closed_full``.

An eye whose contour does not change is left to the flow, so intensity 0 is an exact no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from core.editing.editor import EditGeometry
from core.editing.masks import (
    EYE_CORNERS,
    EYE_LOWER_LIDS,
    EYE_RINGS,
    EYE_UPPER_LIDS,
    mask_box,
    polygon_area,
    polygon_mask,
    ring,
)
from core.editing.warp.colour import from_lab, lab_stats, match_colour, to_lab


@dataclass(frozen=True, kw_only=True)
class EyeFillConfig:
    max_stretch: float = 1.35  # vertical stretch of the eye content accepted as it is (mesh warp)
    max_scale: float = 1.5  # largest uniform magnification of the eye content when an eye opens
    closed_full: float = 0.05  # relative opening (area / width²) at or below which the slit is all lid skin
    closed_none: float = 0.09  # relative opening at or above which no lid skin is used
    lid_offset: float = 0.16  # lid skin is sampled this many eye widths above the source's upper lid
    min_change: float = 0.05  # px: contours moving less than this are left to the flow
    slit_full: float = 0.06  # an opening eye whose source opening is at or below this shows no eye:
    slit_none: float = 0.12  # ... the reference's eye (or a drawn one) is used; none from this opening

    def __post_init__(self) -> None:
        if self.max_scale < 1 or self.max_stretch < 1 or not 0 <= self.closed_full < self.closed_none:
            raise ValueError(f"invalid EyeFillConfig: {self}")


class EyeFill(NamedTuple):
    """rgb: (R, R, 3) float32 [0, 255]; alpha: (R, R) float32 [0, 1] (where rgb replaces the warp);
    states: per eye (the person's right, left): "unchanged", "closing", "stretched", "opening" or
    "closed"."""

    rgb: np.ndarray
    alpha: np.ndarray
    states: tuple[str, str]


class EyeFrame(NamedTuple):
    """An eye's frame in a crop: a point p has a = (p - origin) . ex / width, b = ... . ey / width."""

    origin: np.ndarray  # (2,) crop px, midpoint of the corners
    ex: np.ndarray  # (2,) unit vector, corner to corner, image left to right
    ey: np.ndarray  # (2,) unit vector perpendicular to ex, pointing down the face
    width: float  # px, corner to corner
    opening: float  # area of the lid contour / width², dimensionless
    upper: tuple[np.ndarray, np.ndarray]  # upper lid polyline (a sorted, b)
    lower: tuple[np.ndarray, np.ndarray]  # lower lid polyline (a sorted, b)

    def coords(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(xy, np.float64) - self.origin
        return (d @ self.ex) / self.width, (d @ self.ey) / self.width

    def point(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """(..., 2) crop px of frame coordinates a, b."""
        return self.origin + (a[..., None] * self.ex + b[..., None] * self.ey) * self.width

    def lids(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Heights (b) of the upper and lower lid at ``a``."""
        return np.interp(a, *self.upper), np.interp(a, *self.lower)


def eye_frame(vertices: np.ndarray, eye: int) -> EyeFrame:
    """The frame of the person's right (0) or left (1) eye of a (V, 2|3) crop-px mesh."""
    verts = np.asarray(vertices, np.float64)
    p, q = verts[list(EYE_CORNERS[eye]), :2]
    if p[0] > q[0]:
        p, q = q, p
    width = max(float(np.hypot(*(q - p))), 1e-3)
    ex = (q - p) / width
    ey = np.array([-ex[1], ex[0]])
    origin = (p + q) / 2
    frame = EyeFrame(origin, ex, ey, width, polygon_area(ring(verts, EYE_RINGS[eye])) / width**2,
                     (np.zeros(1), np.zeros(1)), (np.zeros(1), np.zeros(1)))

    def polyline(idx: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        a, b = frame.coords(verts[list(idx), :2])
        order = np.argsort(a)
        return a[order], b[order]

    return frame._replace(upper=polyline(EYE_UPPER_LIDS[eye]), lower=polyline(EYE_LOWER_LIDS[eye]))


def _smoothstep(a: float, b: float, x: float) -> float:
    t = min(max((x - a) / (b - a), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _sample(image: torch.Tensor, xy: np.ndarray) -> np.ndarray:
    """Bicubic samples of image (1, 3, R, R) float at crop px (h, w, 2) -> (h, w, 3) float32."""
    size = image.shape[-1]
    grid = torch.from_numpy(((xy + 0.5) * (2.0 / size) - 1.0).astype(np.float32))[None]
    out = F.grid_sample(image, grid, mode="bicubic", padding_mode="border", align_corners=False)
    return out[0].permute(1, 2, 0).clamp(0, 255).numpy()


def _source_coords(t: EyeFrame, s: EyeFrame, a: np.ndarray, b: np.ndarray, rho: float,
                   config: EyeFillConfig) -> tuple[np.ndarray, np.ndarray]:
    """Where target eye-frame points (a, b) sample the source eye frame (see the module docstring)."""
    if rho <= 1.0:
        return a, b
    scale = min(max(rho / config.max_stretch, 1.0), config.max_scale)
    a_s = a / scale
    up_t, lo_t = t.lids(a)
    up_s, lo_s = s.lids(a_s)
    v = np.clip((b - up_t) / np.maximum(lo_t - up_t, 1e-4), 0.0, 1.0)
    return a_s, up_s + v * (lo_s - up_s)


def _eye_ring(vertices: np.ndarray, eye: int, size: int) -> np.ndarray:
    """(size, size) float32: the skin around an eye (contour grown by 0.3 eye widths, minus the eye)."""
    frame = eye_frame(vertices, eye)
    inner = polygon_mask(ring(vertices, EYE_RINGS[eye]), size)
    r = max(2, int(round(0.3 * frame.width)))
    grown = cv2.dilate(inner, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return np.clip(grown - cv2.dilate(inner, np.ones((5, 5), np.uint8)), 0.0, 1.0)


def _from_reference(reference_crop: np.ndarray, reference: np.ndarray, source_crop: np.ndarray,
                    source: np.ndarray, eye: int, t: EyeFrame, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """RGB (h, w, 3) float32: the reference's open eye fitted between the target's lids (each point
    keeps its relative height between the lids), colour-matched to the source's eye surround."""
    r = eye_frame(reference, eye)
    up_t, lo_t = t.lids(a)
    up_r, lo_r = r.lids(a)
    v = np.clip((b - up_t) / np.maximum(lo_t - up_t, 1e-4), 0.0, 1.0)
    ref = torch.from_numpy(np.ascontiguousarray(reference_crop)).permute(2, 0, 1)[None].to(torch.float32)
    lab = to_lab(_sample(ref, r.point(a, up_r + v * (lo_r - up_r))))
    from_stats = lab_stats(reference_crop, _eye_ring(reference, eye, reference_crop.shape[0]))
    to_stats = lab_stats(source_crop, _eye_ring(source, eye, source_crop.shape[0]))
    return from_lab(match_colour(lab, from_stats=from_stats, to_stats=to_stats))


def _synthetic_eye(source_crop: np.ndarray, source: np.ndarray, eye: int, t: EyeFrame, a: np.ndarray,
                   b: np.ndarray) -> np.ndarray:
    """RGB (h, w, 3) float32: a plain open eye between the target's lids: sclera (lighter than
    the skin around the eye, shaded at the corners and under the upper lid), a dark iris of
    0.19 eye widths radius in the middle with a pupil and a small highlight."""
    skin = lab_stats(source_crop, _eye_ring(source, eye, source_crop.shape[0]))
    up, lo = t.lids(a)
    mid = (up + lo) / 2
    lab = np.empty(a.shape + (3,), np.float32)
    shade = (1.0 - 0.35 * np.abs(np.clip(a / 0.5, -1, 1)) ** 2) * (0.8 + 0.2 * _smooth(b - up, 0.0, 0.08))
    lab[..., 0] = np.clip(skin.mean[0] + 12.0, 65.0, 85.0) * shade
    lab[..., 1] = 1.5
    lab[..., 2] = 2.5
    centre_b = float(np.mean(mid[np.abs(a) < 0.1])) if (np.abs(a) < 0.1).any() else 0.0
    dist = np.hypot(a, b - centre_b)
    iris = 1.0 - _smooth(dist, 0.17, 0.2)
    pupil = 1.0 - _smooth(dist, 0.065, 0.085)
    ring_dark = _smooth(dist, 0.12, 0.19)  # the limbal ring darkens the iris edge
    lab[..., 0] = lab[..., 0] * (1 - iris) + iris * (20.0 - 7.0 * ring_dark - 12.0 * pupil)
    lab[..., 1] = lab[..., 1] * (1 - iris) + iris * 4.0 * (1 - pupil)
    lab[..., 2] = lab[..., 2] * (1 - iris) + iris * 7.0 * (1 - pupil)
    glint = 1.0 - _smooth(np.hypot(a + 0.05, b - centre_b + 0.06), 0.015, 0.03)
    lab[..., 0] += 0.8 * glint * (92.0 - lab[..., 0])
    return from_lab(lab)


def _smooth(x: np.ndarray, a: float, b: float) -> np.ndarray:
    t = np.clip((x - a) / (b - a), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def fill_eyes(
    *,
    source_crop: np.ndarray,
    geometry: EditGeometry,
    reference_crop: np.ndarray | None = None,
    config: EyeFillConfig = EyeFillConfig(),
) -> EyeFill:
    """Eye-opening pixels for the target (see the module docstring).

    source_crop: (R, R, 3) uint8 RGB aligned source. reference_crop: (R', R', 3) uint8 or None
    (its mesh is ``geometry.reference``). Returns :class:`EyeFill`.
    """
    size = geometry.size
    rgb = np.zeros((size, size, 3), np.float32)
    alpha = np.zeros((size, size), np.float32)
    image = torch.from_numpy(np.ascontiguousarray(source_crop)).permute(2, 0, 1)[None].to(torch.float32)
    states: list[str] = []
    for eye in (0, 1):
        idx = list(EYE_RINGS[eye])
        if np.abs(geometry.target[idx, :2] - geometry.source[idx, :2]).max() < config.min_change:
            states.append("unchanged")
            continue
        t, s = eye_frame(geometry.target, eye), eye_frame(geometry.source, eye)
        rho = t.opening / max(s.opening, 1e-6)
        closed = 0.0
        if s.opening - t.opening > 0.02:
            closed = 1.0 - _smoothstep(config.closed_full, config.closed_none, t.opening)
        if 1.0 < rho <= config.max_stretch and closed == 0.0:
            states.append("stretched")
            continue
        region = polygon_mask(ring(geometry.target, EYE_RINGS[eye]), size)
        box = mask_box(region, pad=1)
        if box is None:
            states.append("closed")
            continue
        y0, y1, x0, x1 = box
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        a, b = t.coords(np.stack([xx, yy], -1))
        a_s, b_s = _source_coords(t, s, a, b, rho, config)
        colour = _sample(image, s.point(a_s, b_s))
        slit = 1.0 - _smoothstep(config.slit_full, config.slit_none, s.opening) if rho > 1.0 else 0.0
        if slit > 0.0:  # the source shows (almost) no eye: take the reference's, or draw one
            ref = geometry.reference
            if (reference_crop is not None and ref is not None
                    and eye_frame(ref, eye).opening >= config.slit_none):
                made = _from_reference(reference_crop, ref, source_crop, geometry.source, eye, t, a, b)
            else:
                made = _synthetic_eye(source_crop, geometry.source, eye, t, a, b)
            colour = colour + slit * (made - colour)
        if closed > 0.0:
            up_s, _ = s.lids(a_s)
            b_lid = up_s - config.lid_offset + (b - np.mean(t.lids(a), axis=0)) * 0.5
            colour = colour + closed * (_sample(image, s.point(a_s, b_lid)) - colour)
        states.append("closed" if closed >= 1.0 else ("closing" if rho <= 1.0 else "opening"))
        w = region[y0:y1, x0:x1, None]
        rgb[y0:y1, x0:x1] = rgb[y0:y1, x0:x1] * (1 - w) + colour * w
        alpha[y0:y1, x0:x1] = np.maximum(alpha[y0:y1, x0:x1], region[y0:y1, x0:x1])
    return EyeFill(rgb, alpha, (states[0], states[1]))
