"""Eye openings that open, close or stay, remapped from the source's own eye.

The mesh flow maps the target eye opening (the triangles inside the lid contour) onto the
source's by a piecewise-affine warp: an eye that closes gets its iris squashed into a flat oval,
an eye that opens stretches its lid margins into heavy dark outlines and the iris into a tall dark
blob. :func:`fill_eyes` replaces the flow inside the target's lid contour, per eye, by an
**eyeball-and-lids** mapping, in an *eye frame* (origin at the midpoint of the eye corners, a
along corner-to-corner, b perpendicular pointing down the face, unit = that eye's width; U(a),
L(a) = the upper and lower lid there):

* the **lid margins** (the lash line and the lid's shadow, a band of ``upper_margin`` /
  ``lower_margin`` eye widths inside each lid) move with their lid: a target point that far below
  the target's upper lid samples the source the same distance below the source's upper lid, so
  lashes keep their thickness and the contour meets the mesh flow outside it without a seam;
* the **eyeball** between the margins stays where it is in the eye frame (the lids slide over
  it): a target point (a, b) samples the source at the same (a, b) when the source shows it. An eye
  that closes hides part of it (the iris stays round, the lid passes over it); an eye that opens
  reveals eyeball the source hid, which is *completed from the source's own pixels*, column by
  column: the iris's chord (or the middle of the sclera) stays put and the sclera next to it is
  stretched over what the lids uncover (pupil, catchlights and the soft limbus keep their place
  and size; nothing is mirrored, so no doubled iris rim or catchlight). An eye that shows less
  than ~0.9 of the iris the target shows (a disc estimated from the source eye:
  :func:`estimate_iris`) has its iris continued round from its horizontal half-diameter at the
  same radius (pupil, rings, limbus, colour: an iris is nearly radially
  symmetric), so it opens into a round iris of its own size, and the sclera above and below it is
  taken from beside it;
* the result is a *displacement* (:attr:`EyeFill.displacement`, where :attr:`EyeFill.moved`):
  the editor warps with it, and the full-resolution paste-back resamples the photo itself with
  it, so the eye keeps every pixel of its detail (iris, catchlights, lashes);
* **no eye to show** (the source's opening below ``slit_none`` of the eye width², a closed eye or
  a blink, opening): the reference's eye, fitted between the target's lids and colour-matched to
  the source's eye surround, or, without a reference photo (a preset), a drawn eye; made colour
  (:attr:`EyeFill.rgb`, :attr:`EyeFill.alpha`), blended in from ``slit_none`` down to ``slit_full``;
* **closed** (the target opening below ``closed_full`` of the eye width² while the source's was
  open): the remaining slit is filled with eyelid skin sampled ``lid_offset`` eye widths above the
  source's upper lid (made colour), blended in between ``closed_none`` and ``closed_full``.

An eye whose contour does not change is left to the flow, so intensity 0 is an exact no-op.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
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
    upper_margin: float = 0.035  # eye widths: the upper lid's margin (lash shadow) moves with the lid
    lower_margin: float = 0.025  # eye widths: the same for the lower lid
    iris_contrast: float = 20.0  # grey levels between sclera and iris below which no iris is estimated
    limbus: float = 0.03  # eye widths over which a completed iris blends into the sclera
    iris_shown: float = 0.6  # the source shows less of the iris the target shows: continued round ...
    iris_blend: float = 0.3  # ... above this much more, kept in place with the sclera stretched round it
    closed_full: float = 0.05  # relative opening (area / width²) at or below which the slit is all lid skin
    closed_none: float = 0.09  # relative opening at or above which no lid skin is used
    lid_offset: float = 0.16  # lid skin is sampled this many eye widths above the source's upper lid
    min_change: float = 0.05  # px: contours moving less than this are left to the flow
    slit_full: float = 0.035  # an opening eye whose source opening is at or below this shows no eye:
    slit_none: float = 0.07  # ... the reference's eye (or a drawn one) is used; none from this opening

    def __post_init__(self) -> None:
        if (self.upper_margin < 0 or self.lower_margin < 0 or not 0 <= self.closed_full < self.closed_none
                or not 0 <= self.slit_full < self.slit_none):
            raise ValueError(f"invalid EyeFillConfig: {self}")


class Iris(NamedTuple):
    """An iris in an eye frame (eye widths): centre (a, b) and radius; the half-diameter its hidden
    parts are continued from: the row ``row`` on the ``side`` (-1: towards smaller a, +1: larger)
    of the centre, chosen free of catchlights."""

    a: float
    b: float
    radius: float
    side: float = 1.0
    row: float = 0.0


class EyeFill(NamedTuple):
    """displacement: (R, R, 2) float32 crop px, the backward displacement inside the target's eye
    openings (eyeball-and-lids mapping); moved: (R, R) float32 [0, 1], where it replaces the flow's.
    rgb: (R, R, 3) float32 [0, 255] made colour (a borrowed or drawn eye, lid skin); alpha: (R, R)
    float32 [0, 1], where rgb replaces the warp. states: per eye (the person's right, left):
    "unchanged", "closing", "opening" or "closed". irises: per eye, the source's iris
    (:class:`Iris`) or None."""

    rgb: np.ndarray
    alpha: np.ndarray
    states: tuple[str, str]
    displacement: np.ndarray
    moved: np.ndarray
    irises: tuple[Iris | None, Iris | None] = (None, None)

    @staticmethod
    def empty(size: int) -> EyeFill:
        zeros = np.zeros((size, size), np.float32)
        return EyeFill(np.zeros((size, size, 3), np.float32), zeros, ("unchanged", "unchanged"),
                       np.zeros((size, size, 2), np.float32), zeros.copy())


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


def _margins(up: np.ndarray, lo: np.ndarray, config: EyeFillConfig) -> tuple[np.ndarray, np.ndarray]:
    """The upper and lower lid margin widths (eye widths) of an opening with lids ``up``, ``lo``."""
    h = np.maximum(lo - up, 0.0)
    return np.minimum(config.upper_margin, 0.3 * h), np.minimum(config.lower_margin, 0.25 * h)


def estimate_iris(gray: np.ndarray, frame: EyeFrame, config: EyeFillConfig = EyeFillConfig()) -> Iris | None:
    """The iris of an eye from its visible eyeball (between the lid margins), or None.

    gray: (R, R) float32 luminance of the crop; frame: the eye's frame in it. The iris is the run
    widest run of dark columns (darker than about midway between the sclera's and the iris's grey
    levels); its radius is half that run (clamped to 0.15 to 0.23 eye widths, the human
    range); its centre row comes from a visible lower or upper iris edge, else the opening's middle (and
    stays within 0.05 eye widths of it).
    None when the eye shows too little or no contrast between sclera and iris.
    """
    a = np.linspace(-0.45, 0.45, 91)
    up, lo = frame.lids(a)
    mu, ml = _margins(up, lo, config)
    v0, v1 = up + mu, lo - ml
    if (v1 - v0).max() < 0.02:
        return None
    b = np.arange(v0.min(), v1.max() + 1e-9, 0.01)
    aa, bb = np.meshgrid(a, b)
    xy = frame.point(aa, bb).astype(np.float32)
    lum = cv2.remap(gray, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    visible = (bb >= v0[None]) & (bb <= v1[None])
    if visible.sum() < 30:
        return None
    values = lum[visible]
    sclera, dark = np.percentile(values, 90), np.percentile(values, 8)
    if sclera - dark < config.iris_contrast:
        return None
    col = np.where(visible, lum, np.nan)
    counts = visible.sum(axis=0)
    usable = (counts >= max(2, 0.4 * counts.max())) & (np.abs(a) <= 0.38)  # not the thin, shaded corners
    with np.errstate(all="ignore"):
        col_level = np.where(usable, np.nanpercentile(np.where(usable, col, 0.0), 40, axis=0), np.nan)
    if np.isnan(col_level).all():
        return None
    threshold = sclera - 0.55 * (sclera - dark)
    is_dark = np.nan_to_num(col_level, nan=np.inf) < threshold
    if not is_dark.any():
        return None
    gap = 7  # columns (0.07 eye widths): a catchlight does not split the iris
    is_dark = cv2.morphologyEx(is_dark.astype(np.uint8)[None], cv2.MORPH_CLOSE, np.ones((1, gap), np.uint8),
                               borderType=cv2.BORDER_CONSTANT, borderValue=0)[0] > 0
    # the iris: the widest run of dark columns (a shaded corner is darker but narrower)
    edges = np.diff(np.concatenate([[0], is_dark.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    best = int(np.argmax(ends - starts))
    i0, i1 = int(starts[best]), int(ends[best])
    step = a[1] - a[0]
    centre_a = float((a[i0] + a[i1]) / 2)
    radius = float(np.clip((i1 - i0 + 1) * step / 2, 0.15, 0.23))
    j = int(np.argmin(np.abs(a - centre_a)))
    rows = visible[:, j] & (lum[:, j] < threshold)
    if not rows.any():
        return Iris(centre_a, float((v0[j] + v1[j]) / 2), radius)
    top, bottom = float(b[rows].min()), float(b[rows].max())
    top_cut, bottom_cut = top <= v0[j] + 0.015, bottom >= v1[j] - 0.015
    if not bottom_cut and not top_cut:
        centre_b = (top + bottom) / 2
    elif not bottom_cut:
        centre_b = bottom - radius
    elif not top_cut:
        centre_b = top + radius
    else:
        centre_b = (top + bottom) / 2
    mid = (up[j] + lo[j]) / 2  # an iris centre sits near the middle of the opening
    iris = Iris(centre_a, float(np.clip(centre_b, mid - 0.05, mid + 0.05)), radius)
    return _diameter(gray, frame, iris, config)


def _diameter(gray: np.ndarray, frame: EyeFrame, iris: Iris, config: EyeFillConfig) -> Iris:
    """``iris`` with the visible half-diameter its hidden parts are continued from: among the
    rows within 0.045 eye widths of the centre that the source shows, on either side, the one
    whose brightest sample (a catchlight) is dimmest, so no catchlight is copied round."""
    rho = np.linspace(0.0, iris.radius, 24)
    best, best_score = (1.0, iris.b), np.inf
    for side in (-1.0, 1.0):
        a = np.clip(iris.a + side * rho, -0.45, 0.45)
        up, lo = frame.lids(a)
        mu, ml = _margins(up, lo, config)
        for offset in (0.0, -0.015, 0.015, -0.03, 0.03, -0.045, 0.045):
            row = iris.b + offset
            if not ((row >= up + mu) & (row <= lo - ml)).mean() > 0.8:
                continue
            xy = frame.point(a, np.full_like(a, row)).astype(np.float32)
            lum = cv2.remap(gray, xy[None, :, 0], xy[None, :, 1], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)[0]
            score = float(lum.max()) + 0.1 * abs(offset) * 100  # prefer the centre row a little
            if score < best_score:
                best, best_score = (side, row), score
    return iris._replace(side=best[0], row=best[1])


def _squeeze(b: np.ndarray, e0: np.ndarray, e1: np.ndarray, v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """Linear map of [e0, e1] onto [v0, v1] (elementwise)."""
    return v0 + (b - e0) * (v1 - v0) / np.maximum(e1 - e0, 1e-6)


def _stretch(b: np.ndarray, e0: np.ndarray, e1: np.ndarray, v0: np.ndarray, v1: np.ndarray,
             k0: np.ndarray, k1: np.ndarray) -> np.ndarray:
    """Where a target span [e0, e1] samples a source that shows [v0, v1] of it (elementwise): the
    part [k0, k1] (the iris's chord, or the middle of the sclera) stays where it is (the eyeball
    does not move); above it the target's [e0, k0] samples the source's [max(e0, v0), k0], below
    it [k1, e1] samples [k1, min(e1, v1)]: a lid that opens reveals the eyeball by stretching the
    sclera next to it (never a mirror image: no doubled iris rim, no second catchlight); a lid
    that closes passes over it (the identity). Monotone in b: no fold."""
    s0, s1 = np.maximum(e0, v0), np.minimum(e1, np.maximum(v1, np.maximum(e0, v0)))
    k0 = np.clip(k0, s0, s1)
    k1 = np.clip(k1, k0, s1)
    up = s0 + (b - e0) * (k0 - s0) / np.maximum(k0 - e0, 1e-6)
    down = k1 + (b - k1) * (s1 - k1) / np.maximum(e1 - k1, 1e-6)
    return np.where(b < k0, up, np.where(b > k1, down, b))


def _keep_span(a: np.ndarray, v0: np.ndarray, v1: np.ndarray, iris: Iris | None
               ) -> tuple[np.ndarray, np.ndarray]:
    """The part of each column that stays put when the lids open (:func:`_stretch`): the iris's
    chord through the column, else the middle of the source's visible eyeball (a centre line that
    slides smoothly from the opening's middle to the iris's centre next to the iris)."""
    mid = (v0 + v1) / 2
    if iris is None:
        return mid, mid
    da = np.abs(a - iris.a)
    near = np.clip((iris.radius + 0.12 - da) / 0.12, 0.0, 1.0)
    near = near * near * (3.0 - 2.0 * near)
    centre = mid + near * (iris.b - mid)
    chord = np.sqrt(np.maximum(iris.radius**2 - da**2, 0.0))
    return centre - chord, centre + chord


def _iris_shown(t: EyeFrame, s: EyeFrame, iris: Iris, config: EyeFillConfig) -> float:
    """How much of the iris the target shows (vertically, through its centre) the source shows."""
    column = np.array([iris.a])
    (up_s, lo_s), (up_t, lo_t) = s.lids(column), t.lids(column)
    mu_s, ml_s = _margins(up_s, lo_s, config)
    mu_t, ml_t = _margins(up_t, lo_t, config)
    top, bottom = iris.b - iris.radius, iris.b + iris.radius
    seen = min(float(lo_s[0] - ml_s[0]), bottom) - max(float(up_s[0] + mu_s[0]), top)
    wanted = min(float(lo_t[0] - ml_t[0]), bottom) - max(float(up_t[0] + mu_t[0]), top)
    return max(seen, 0.0) / max(wanted, 1e-6)


_IRISES: OrderedDict[bytes, Iris | None] = OrderedDict()  # per source eye: a slider move does not re-estimate
_IRISES_LOCK = threading.Lock()


def _cached_iris(gray: np.ndarray, frame: EyeFrame, config: EyeFillConfig) -> Iris | None:
    """:func:`estimate_iris`, remembered for the last few source eyes (keyed on the eye's frame,
    its pixels and the config)."""
    r = int(np.ceil(0.8 * frame.width))
    x, y = int(round(frame.origin[0])), int(round(frame.origin[1]))
    patch = gray[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]
    digest = hashlib.blake2b(digest_size=16)
    for part in (np.ascontiguousarray(patch), frame.origin, frame.ex, np.float64(frame.width), *frame.upper,
                 *frame.lower):
        digest.update(np.ascontiguousarray(part).tobytes())
    digest.update(repr(config).encode())
    key = digest.digest()
    with _IRISES_LOCK:
        if key in _IRISES:
            _IRISES.move_to_end(key)
            return _IRISES[key]
    iris = estimate_iris(gray, frame, config)
    with _IRISES_LOCK:
        _IRISES[key] = iris
        while len(_IRISES) > 16:
            _IRISES.popitem(last=False)
    return iris


def _eyeball_coords(t: EyeFrame, s: EyeFrame, a: np.ndarray, b: np.ndarray, iris: Iris | None,
                    config: EyeFillConfig) -> tuple[np.ndarray, np.ndarray]:
    """Where target eye-frame points (a, b) sample the source eye frame (module docstring).

    Lid margins: translated with their lid. Between them (the eyeball, target span [e0, e1],
    source's visible span [v0, v1] at the same column): [e0, e1] revealed (:func:`_stretch`) from
    [v0, v1], unless the source shows a thin band of the iris the target shows (a squint opening
    wide, :func:`_iris_shown`): then inside the iris disc the same point where the source shows it,
    else the point of the same radius on the iris's horizontal half-diameter; outside it (sclera)
    revealed, in columns through the iris from the sclera next to it; blended in between.
    """
    up_t, lo_t = t.lids(a)
    up_s, lo_s = s.lids(a)
    mu_s, ml_s = _margins(up_s, lo_s, config)
    mu_t, ml_t = _margins(up_t, lo_t, config)
    mu_t, ml_t = np.minimum(mu_t, mu_s), np.minimum(ml_t, ml_s)
    a_s, b_s = a.copy(), b.copy()
    upper = b < up_t + mu_t
    lower = (b > lo_t - ml_t) & ~upper
    b_s[upper] = (up_s + (b - up_t) * np.minimum(mu_s / np.maximum(mu_t, 1e-6), 4.0))[upper]
    b_s[lower] = (lo_s - (lo_t - b) * np.minimum(ml_s / np.maximum(ml_t, 1e-6), 4.0))[lower]
    middle = ~upper & ~lower
    e0, e1 = up_t + mu_t, lo_t - ml_t  # the target's eyeball at column a
    v0, v1 = up_s + mu_s, lo_s - ml_s  # the source's visible eyeball at column a
    # the eyeball revealed column by column: the iris (or the middle of the sclera) stays put, the
    # sclera next to it is stretched over what the lids uncover (pupil, catchlights and the soft
    # limbus keep their place and size; nothing is mirrored)
    a_rev, b_rev = a, _stretch(b, e0, e1, v0, v1, *_keep_span(a, v0, v1, iris))
    shows = 1.0 if iris is None else _iris_shown(t, s, iris, config)
    if shows >= config.iris_shown + config.iris_blend:
        b_s[middle] = b_rev[middle]
        return _inside(s, a_s, b_s)
    # the source shows a thin band of the iris of what the target shows (a squint opening wide):
    # the iris where the source shows it, itself; where it hid it, the same radius on the iris's
    # horizontal half-diameter (an iris is nearly radially symmetric: pupil, rings and limbus
    # continue round; one side for both halves, so the map has no seam: :func:`_diameter`); the
    # sclera revealed, in columns through the iris (no sclera above or below it in the source)
    # squeezed from the column next to the iris
    da = a - iris.a
    a_sc, b_sc = a.copy(), b_rev.copy()
    beside = np.abs(da) < iris.radius + 0.04
    if beside.any():
        a_side = np.clip(iris.a + np.where(da < 0, -1.0, 1.0) * (iris.radius + 0.05), -0.45, 0.45)
        up_a, lo_a = s.lids(a_side)
        mu_a, ml_a = _margins(up_a, lo_a, config)
        a_sc[beside] = a_side[beside]
        b_sc[beside] = _squeeze(b, e0, e1, up_a + mu_a, lo_a - ml_a)[beside]
    chord = np.sqrt(np.maximum(iris.radius**2 - da**2, 0.0))
    lo_i, hi_i = np.maximum(v0, iris.b - chord), np.minimum(v1, iris.b + chord)
    rho = np.hypot(da, b - iris.b)
    offset = iris.row - iris.b  # the half-diameter's row: the point of radius rho on it
    a_rad = np.clip(iris.a + iris.side * np.sqrt(np.maximum(rho**2 - offset**2, 0.0)), -0.45, 0.45)
    up_r, lo_r = s.lids(a_rad)
    mu_r, ml_r = _margins(up_r, lo_r, config)
    b_rad = np.clip(iris.row, up_r + mu_r, np.maximum(lo_r - ml_r, up_r + mu_r))
    outside = np.maximum(lo_i - b, b - hi_i)  # > 0: hidden in the source
    shown = np.clip(0.5 - outside / 0.05, 0.0, 1.0) * (hi_i > lo_i)
    a_ir = a_rad + shown * (a - a_rad)
    b_ir = b_rad + shown * (b - b_rad)
    # a soft limbus: the sampling position slides from the iris's edge to the sclera's over
    # ``limbus`` eye widths (through the visible band: no lashes on the way)
    w = np.clip(1.0 - (rho - iris.radius) / config.limbus, 0.0, 1.0)  # outside the disc only
    a_round, b_round = a_sc + w * (a_ir - a_sc), b_sc + w * (b_ir - b_sc)
    k = float(np.clip((shows - config.iris_shown) / config.iris_blend, 0.0, 1.0))
    k = k * k * (3.0 - 2.0 * k)  # between the two: the sampling positions blend
    a_s[middle] = (a_round + k * (a_rev - a_round))[middle]
    b_s[middle] = (b_round + k * (b_rev - b_round))[middle]
    return _inside(s, a_s, b_s)


def _inside(s: EyeFrame, a_s: np.ndarray, b_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sampling points kept on the source's eye (between its lids, a little beyond for the lid
    margins): at the corners, where the opening's height goes to zero, the maps' ratios do not
    send them across the face."""
    a_s = np.clip(a_s, -0.5, 0.5)
    up, lo = s.lids(a_s)
    return a_s, np.clip(b_s, up - 0.03, lo + 0.03)


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
    """The eye openings of the target (see the module docstring).

    source_crop: (R, R, 3) uint8 RGB aligned source. reference_crop: (R', R', 3) uint8 or None
    (its mesh is ``geometry.reference``). Returns :class:`EyeFill`.
    """
    size = geometry.size
    fill = EyeFill.empty(size)
    rgb, alpha, displacement, moved = fill.rgb, fill.alpha, fill.displacement, fill.moved
    image = torch.from_numpy(np.ascontiguousarray(source_crop)).permute(2, 0, 1)[None].to(torch.float32)
    gray = cv2.cvtColor(np.ascontiguousarray(source_crop), cv2.COLOR_RGB2GRAY).astype(np.float32)
    states: list[str] = []
    irises: list[Iris | None] = []
    for eye in (0, 1):
        idx = list(EYE_RINGS[eye])
        if np.abs(geometry.target[idx, :2] - geometry.source[idx, :2]).max() < config.min_change:
            states.append("unchanged")
            irises.append(None)
            continue
        t, s = eye_frame(geometry.target, eye), eye_frame(geometry.source, eye)
        iris = _cached_iris(gray, s, config)
        irises.append(iris)
        rho = t.opening / max(s.opening, 1e-6)
        closed = 0.0
        if s.opening - t.opening > 0.02:
            closed = 1.0 - _smoothstep(config.closed_full, config.closed_none, t.opening)
        region = polygon_mask(ring(geometry.target, EYE_RINGS[eye]), size)
        box = mask_box(region, pad=1)
        if box is None:
            states.append("closed")
            continue
        y0, y1, x0, x1 = box
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        a, b = t.coords(np.stack([xx, yy], -1))
        a_s, b_s = _eyeball_coords(t, s, a, b, iris, config)
        src_xy = s.point(a_s, b_s)
        w = region[y0:y1, x0:x1]
        disp = (src_xy - np.stack([xx, yy], -1)).astype(np.float32)
        displacement[y0:y1, x0:x1] += w[..., None] * (disp - displacement[y0:y1, x0:x1])
        moved[y0:y1, x0:x1] = np.maximum(moved[y0:y1, x0:x1], w)
        made, made_alpha = None, 0.0
        slit = 1.0 - _smoothstep(config.slit_full, config.slit_none, s.opening) if rho > 1.0 else 0.0
        if slit > 0.0:  # the source shows (almost) no eye: take the reference's, or draw one
            ref = geometry.reference
            if (reference_crop is not None and ref is not None
                    and eye_frame(ref, eye).opening >= config.slit_none):
                made = _from_reference(reference_crop, ref, source_crop, geometry.source, eye, t, a, b)
            else:
                made = _synthetic_eye(source_crop, geometry.source, eye, t, a, b)
            made_alpha = slit
        if closed > 0.0:
            up_s, _ = s.lids(a_s)
            b_lid = up_s - config.lid_offset + (b - np.mean(t.lids(a), axis=0)) * 0.5
            made, made_alpha = _sample(image, s.point(a_s, b_lid)), closed
        if made is not None:
            wa = w * made_alpha
            rgb[y0:y1, x0:x1] += wa[..., None] * (made - rgb[y0:y1, x0:x1])
            alpha[y0:y1, x0:x1] = np.maximum(alpha[y0:y1, x0:x1], wa)
        states.append("closed" if closed >= 1.0 else ("closing" if rho <= 1.0 else "opening"))
    return EyeFill(rgb, alpha, (states[0], states[1]), displacement, moved, (irises[0], irises[1]))
