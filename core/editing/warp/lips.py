"""Lips that close over an open mouth by stretching their own pixels (no paint).

The mesh's inner-lip contour of an open, toothy mouth often lies a pixel or more *inside* the
opening, on the teeth: the mesh's "lip" band then holds a rim of teeth and cavity. When the
target mouth closes, the piecewise-affine flow maps the target's lips onto that band, so the
closed mouth keeps a line of the source's teeth between the lips.

:func:`lip_edges` finds the **real inner edge of each lip** in the source, column by column
along the mouth: walking from the outer lip contour towards the opening, the lip ends where the
pixels stop having the lip's own colour (CIE Lab distance to the median colour of the outer half
of that lip, in units of that band's spread: teeth are lighter and less red, the cavity darker).
:func:`lip_remap` then corrects the edit's backward displacement: a sampled point that lies in the
source's mesh lip band ``[outer, inner]`` is moved to ``[outer, real inner]`` (a monotone 1-D map
per column of the source's mouth frame, the identity on the outer contour and beyond the mouth's
corners), so the target's lips are made of lip pixels only: lips that meet are the source's lips
stretched over the gap. The correction is scaled by the mouth's change weight, so intensity 0
stays an exact no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from core.editing.masks import INNER_LIP_LOWER, INNER_LIP_UPPER
from core.editing.warp.mouth_geometry import MouthFrame, mouth_frame
from core.geometry.au.calibration import mouth_gap
from core.geometry.au.topology import EYE_LEFT, EYE_RIGHT

OUTER_LIP_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)  # corner to corner
OUTER_LIP_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
_REFERENCE_SIZE = 512


@dataclass(frozen=True, kw_only=True)
class LipConfig:
    min_gap_px: float = 1.5  # (at 512) source columns whose mesh opening is smaller are left alone
    min_lip: float = 0.35  # the real lip keeps at least this fraction of the mesh lip's thickness
    redness: float = 0.45  # a pixel is not lip when its Lab a is below the lip's by this fraction of it ...
    min_distance: float = 6.0  # ... (or at least by this much)
    darkness: float = 22.0  # ... or its L is below the lip's by this much (the cavity)
    past_mesh_px: float = 1.0  # (at 512) the real edge lies at most this far past the mesh's, inwards
    corner: float = 0.8  # the correction fades out from this fraction of the half-width to the corner
    columns: int = 48  # columns sampled along the mouth

    def __post_init__(self) -> None:
        if not 0 < self.min_lip <= 1 or self.redness <= 0 or not 0 < self.corner < 1 or self.columns < 8:
            raise ValueError(f"invalid LipConfig: {self}")


class LipEdges(NamedTuple):
    """Per column ``xs`` (frame x, px, sorted) of the source's mouth frame, frame y (down the face):
    the outer contours, the mesh's inner contours and the real inner edges of the lips."""

    frame: MouthFrame
    xs: np.ndarray
    outer_up: np.ndarray
    mesh_up: np.ndarray
    real_up: np.ndarray
    mesh_lo: np.ndarray
    real_lo: np.ndarray
    outer_lo: np.ndarray


def _polyline(frame: MouthFrame, verts: np.ndarray, idx: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    x, y = frame.coords(verts[list(idx), :2])
    order = np.argsort(x)
    return x[order], y[order]


def _sample(lab: np.ndarray, xy: np.ndarray) -> np.ndarray:
    m = np.ascontiguousarray(xy, np.float32)
    return cv2.remap(np.ascontiguousarray(lab, np.float32), m[..., 0], m[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _edge(lab: np.ndarray, frame: MouthFrame, xs: np.ndarray, outer: np.ndarray, inner: np.ndarray,
          limit: np.ndarray, config: LipConfig) -> np.ndarray:
    """The real inner edge (frame y) of one lip, per column: walking from ``outer`` towards
    ``limit`` (the middle of the opening), the first place past ``min_lip`` of the mesh lip where
    two samples in a row are not lip-coloured; ``limit`` when the lip reaches it."""
    steps = 40
    t = np.linspace(0.0, 1.0, steps)
    ys = outer[:, None] + t[None] * (limit - outer)[:, None]  # (n, steps)
    px = _sample(lab, frame.point(np.repeat(xs[:, None], steps, 1), ys))
    thick = inner - outer  # signed: the lip's mesh thickness along the walk
    band = (np.abs(ys - outer[:, None]) >= 0.3 * np.abs(thick)[:, None]) & (
        np.abs(ys - outer[:, None]) <= 0.75 * np.abs(thick)[:, None])
    if band.sum() < 6:
        return inner.copy()
    colour = np.median(px[band], axis=0)
    # teeth are much less red than the lip (a highlight on the lip is lighter, but still red); the
    # cavity is much darker
    pale = px[..., 1] < colour[1] - max(config.redness * colour[1], config.min_distance)
    dark = px[..., 0] < colour[0] - config.darkness
    start = np.abs(ys - outer[:, None]) >= config.min_lip * np.abs(thick)[:, None]
    off = (pale | dark) & start
    two = off[:, :-1] & off[:, 1:]
    found = two.any(axis=1)
    first = np.argmax(two, axis=1)
    edge = np.where(found, ys[np.arange(len(xs)), first], limit)
    return edge


def lip_edges(lab: np.ndarray, vertices: np.ndarray, config: LipConfig = LipConfig()) -> LipEdges:
    """The source's lip edges (module docstring). lab: (S, S, 3) float32 CIE Lab of the source
    crop (at least around the mouth); vertices: its (468, 2|3) mesh in crop px."""
    verts = np.asarray(vertices, np.float64)
    frame = mouth_frame(verts)
    unit = lab.shape[0] / _REFERENCE_SIZE
    xs = np.linspace(-0.97, 0.97, config.columns) * frame.width / 2
    outer_up = np.interp(xs, *_polyline(frame, verts, OUTER_LIP_UPPER))
    outer_lo = np.interp(xs, *_polyline(frame, verts, OUTER_LIP_LOWER))
    mesh_up, mesh_lo = frame.lips(xs)
    mid = (mesh_up + mesh_lo) / 2
    real_up, real_lo = mesh_up.copy(), mesh_lo.copy()
    open_cols = (mesh_lo - mesh_up) >= config.min_gap_px * unit
    if open_cols.sum() >= 3:
        c = open_cols
        real_up[c] = _edge(lab, frame, xs[c], outer_up[c], mesh_up[c], mid[c], config)
        real_lo[c] = _edge(lab, frame, xs[c], outer_lo[c], mesh_lo[c], mid[c], config)
        # smooth along the mouth (a stray dark or bright pixel does not notch the lip)
        for arr in (real_up, real_lo):
            arr[:] = cv2.GaussianBlur(cv2.medianBlur(arr.astype(np.float32)[None], 5)[0][None], (0, 0),
                                      sigmaX=1.5)[0].astype(np.float64)
        past = config.past_mesh_px * unit
        real_up = np.clip(real_up, outer_up + config.min_lip * (mesh_up - outer_up),
                          np.minimum(mesh_up + past, mid))
        real_lo = np.clip(real_lo, np.maximum(mesh_lo - past, mid),
                          outer_lo + config.min_lip * (mesh_lo - outer_lo))
    # the correction fades out towards the corners
    half = frame.width / 2
    fade = np.clip((np.abs(xs) / half - config.corner) / (1.0 - config.corner), 0.0, 1.0)
    keep = 1.0 - fade * fade * (3.0 - 2.0 * fade)
    real_up = mesh_up + keep * (real_up - mesh_up)
    real_lo = mesh_lo + keep * (real_lo - mesh_lo)
    return LipEdges(frame, xs, outer_up, mesh_up, real_up, mesh_lo, real_lo, outer_lo)


def _piecewise(y: np.ndarray, knots_from: list[np.ndarray], knots_to: list[np.ndarray]) -> np.ndarray:
    """Per element, the piecewise-linear map through the (elementwise) knots; identity outside."""
    out = y.copy()
    for k in range(len(knots_from) - 1):
        a0, a1, b0, b1 = knots_from[k], knots_from[k + 1], knots_to[k], knots_to[k + 1]
        inside = (y >= a0) & (y <= a1) & (a1 - a0 > 1e-6)
        t = (y - a0) / np.maximum(a1 - a0, 1e-6)
        out = np.where(inside, b0 + t * (b1 - b0), out)
    return out


def lip_remap(displacement: np.ndarray, edges: LipEdges, weight: float, box: tuple[int, int, int, int]
              ) -> np.ndarray:
    """The backward ``displacement`` (R, R, 2) float32 with its sampled points in the source's lip
    bands moved onto the real lips (module docstring), by ``weight`` in [0, 1], inside ``box``
    (y0, y1, x0, x1) of the target crop. Returns a new array (a copy when weight is 0)."""
    out = np.array(displacement, dtype=np.float32, copy=True)
    if weight <= 0.0:
        return out
    y0, y1, x0, x1 = box
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    p = np.stack([xx, yy], -1) + out[y0:y1, x0:x1].astype(np.float64)
    f = edges.frame
    x, y = f.coords(p)
    xc = np.clip(x, edges.xs[0], edges.xs[-1])
    ou, mu, ru, ml, rl, ol = (np.interp(xc, edges.xs, arr) for arr in (
        edges.outer_up, edges.mesh_up, edges.real_up, edges.mesh_lo, edges.real_lo, edges.outer_lo))
    mid = (mu + ml) / 2
    beyond = np.abs(x) > f.width / 2  # past the corners: the identity
    y_new = _piecewise(y, [ou, mu, mid, ml, ol], [ou, ru, mid, rl, ol])
    y_new = np.where(beyond, y, y_new)
    moved = f.point(x, y_new) - p
    out[y0:y1, x0:x1] += (weight * moved).astype(np.float32)
    return out


def closing_weight(source: np.ndarray, target: np.ndarray, closed_gap: tuple[float, float]) -> float:
    """How far a target mouth counts as closing an open source mouth, in [0, 1]: 1 when the
    target's middle inner-lip gap (/ IOD, :func:`~core.geometry.au.calibration.mouth_gap`) is at or
    below ``closed_gap[0]`` while the source's is at or above ``closed_gap[1]``, 0 when the
    target's is above ``closed_gap[1]`` or the source's below ``closed_gap[0]``; linear between."""
    o0, o1 = closed_gap
    span = max(o1 - o0, 1e-6)
    shut = float(np.clip((o1 - mouth_gap(target)) / span, 0.0, 1.0))
    was_open = float(np.clip((mouth_gap(source) - o0) / span, 0.0, 1.0))
    return shut * was_open


def closed_target(target: np.ndarray, weight: float) -> np.ndarray:
    """(V, 3) float32: ``target`` with each upper / lower inner-lip pair (corner to corner) whose
    gap exceeds the middle's moved together by ``weight`` of the excess, half each, along the
    face's downward direction (a smile's corners stay open when only the middle closes)."""
    t = np.array(target, dtype=np.float64, copy=True)
    if weight <= 0.0:
        return t.astype(np.float32)
    left, right = (t[list(eye), :2].mean(axis=0) for eye in (EYE_LEFT, EYE_RIGHT))
    axis = left - right
    iod = max(float(np.linalg.norm(axis)), 1e-9)
    down = np.array([-axis[1], axis[0]]) / iod
    if np.dot(t[13, :2] - (left + right) / 2, down) < 0:
        down = -down
    upper, lower = list(INNER_LIP_UPPER[1:-1]), list(INNER_LIP_LOWER[1:-1])
    gap = (t[lower, :2] - t[upper, :2]) @ down
    excess = weight * np.maximum(gap - max(mouth_gap(t), 0.0) * iod, 0.0)
    t[upper, :2] += 0.5 * excess[:, None] * down[None]
    t[lower, :2] -= 0.5 * excess[:, None] * down[None]
    return t.astype(np.float32)


def stretch_lips(displacement: np.ndarray, target: np.ndarray, closed: np.ndarray,
                 box: tuple[int, int, int, int]) -> np.ndarray:
    """The backward ``displacement`` (R, R, 2) composed with a per-column stretch in the target's
    mouth frame that takes the target's lips (outer contour to inner contour) down / up to the
    inner contours of ``closed`` (:func:`closed_target`): the warped lips themselves cover what
    was opening (no paint). Identity beyond the mouth's corners and outside the outer lips; only
    inside ``box`` (y0, y1, x0, x1). Returns a new array."""
    out = np.array(displacement, dtype=np.float32, copy=True)
    y0, y1, x0, x1 = box
    frame = mouth_frame(target)
    tv, cv = np.asarray(target, np.float64), np.asarray(closed, np.float64)
    xs = np.linspace(-1.0, 1.0, 64) * frame.width / 2
    ou = np.interp(xs, *_polyline(frame, tv, OUTER_LIP_UPPER))
    ol = np.interp(xs, *_polyline(frame, tv, OUTER_LIP_LOWER))
    tu, tl = frame.lips(xs)
    cu = np.interp(xs, *_polyline(frame, cv, INNER_LIP_UPPER))
    cl = np.interp(xs, *_polyline(frame, cv, INNER_LIP_LOWER))
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    x, y = frame.coords(np.stack([xx, yy], -1))
    col = [np.interp(np.clip(x, xs[0], xs[-1]), xs, arr) for arr in (ou, cu, cl, ol, tu, tl)]
    k_ou, k_cu, k_cl, k_ol, k_tu, k_tl = col
    k_cu, k_cl = np.clip(k_cu, k_ou, k_ol), np.clip(k_cl, k_ou, k_ol)
    y_src = _piecewise(y, [k_ou, k_cu, k_cl, k_ol], [k_ou, k_tu, k_tl, k_ol])
    y_src = np.where(np.abs(x) > frame.width / 2, y, y_src)
    moved = np.abs(y_src - y) > 1e-6
    if not moved.any():
        return out
    q = frame.point(x, y_src).astype(np.float32)
    d = out[y0:y1, x0:x1]
    sampled = np.stack([cv2.remap(np.ascontiguousarray(out[..., c]), q[..., 0], q[..., 1], cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE) for c in range(2)], -1)
    new = q + sampled - np.stack([xx, yy], -1)
    out[y0:y1, x0:x1] = np.where(moved[..., None], new, d).astype(np.float32)
    return out
