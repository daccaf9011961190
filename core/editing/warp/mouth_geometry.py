"""Where a mouth is and how a target mouth opening maps onto another image's opening.

Everything is measured on the inner-lip contour of the 468-point mesh (:data:`INNER_LIP_RING`,
the mesh correspondence between any two faces). A *mouth frame* has its origin at the midpoint of
the inner-lip corners, x along corner to corner (image left to right), y down the face, in px.

:func:`interior_map` sends every point of a target opening to a point of a content image's opening
(the reference photo's or the source's own). Teeth are rigid and belong to a jaw, they do not bend
with the lips: the **upper teeth** move as one piece with the middle of the upper inner lip, the
**lower teeth** with the middle of the lower inner lip (the jaw), both at the face's scale
(:func:`face_scale`), and the content parts at its own bite line (:func:`bite_line`). Where the
target opens wider than the content (a jaw drop, 150 %), the part between the two rows of teeth,
beyond the content's corners, or far above / below its lips has no content: the map says so
(``InteriorMap.gap``) and the caller shows the mouth cavity there; where it opens less, the upper
teeth pass in front of the lower ones. The caller fills exactly the target's inner-lip contour,
so lips and interior always meet.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from core.editing.masks import (
    INNER_LIP_LOWER,
    INNER_LIP_RING,
    INNER_LIP_UPPER,
    OUTER_LIP_RING,
    polygon_area,
    polygon_mask,
    ring,
)

MOUTH_CORNERS = (78, 308)  # inner-lip corners, image left / right
EYE_OUTER_CORNERS = (33, 263)  # the face's scale: the distance between the outer eye corners


class MouthFrame(NamedTuple):
    """A mouth's frame: x along the inner-lip corners, y down the face, px; lips as polylines."""

    origin: np.ndarray  # (2,) midpoint of the corners
    ex: np.ndarray  # (2,) unit, image left corner -> right corner
    ey: np.ndarray  # (2,) unit, down the face
    width: float  # corner to corner, px
    upper: tuple[np.ndarray, np.ndarray]  # upper inner lip (x sorted, y)
    lower: tuple[np.ndarray, np.ndarray]  # lower inner lip (x sorted, y)

    def coords(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 2) crop px -> frame (x, y), each (...) float64."""
        d = np.asarray(xy, np.float64) - self.origin
        return d @ self.ex, d @ self.ey

    def point(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Frame (x, y) (...) -> (..., 2) crop px."""
        return self.origin + x[..., None] * self.ex + y[..., None] * self.ey

    def lips(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The upper and lower inner lip's frame y at frame x (held constant beyond the corners)."""
        return np.interp(x, *self.upper), np.interp(x, *self.lower)


def mouth_frame(vertices: np.ndarray) -> MouthFrame:
    """The mouth frame of a (V, 2|3) mesh in crop px."""
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
    """Inner-lip corner to corner, px."""
    a, b = np.asarray(vertices, np.float64)[list(MOUTH_CORNERS), :2]
    return float(np.hypot(*(b - a)))


def relative_opening(vertices: np.ndarray) -> float:
    """Area inside the inner-lip contour / mouth width² (0 = closed, ~0.35 = wide open)."""
    w = mouth_width(vertices)
    return polygon_area(ring(vertices, INNER_LIP_RING)) / max(w * w, 1e-6)


def face_scale(vertices: np.ndarray) -> float:
    """The distance between the outer eye corners, px: the face's scale (teeth do not change size
    when the mouth changes shape, so content moves between faces at this ratio)."""
    v = np.asarray(vertices, np.float64)
    a, b = v[list(EYE_OUTER_CORNERS), :2]
    return float(np.hypot(*(b - a)))


def lip_ring(vertices: np.ndarray, size: int, *, grow_frac: float) -> np.ndarray:
    """(size, size) float32 weight of the lips and the skin just around them (outer-lip contour
    grown by grow_frac x mouth width, minus the mouth opening)."""
    outer = polygon_mask(ring(vertices, OUTER_LIP_RING), size)
    r = max(1, int(round(grow_frac * mouth_width(vertices))))
    grown = cv2.dilate(outer, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    inner = cv2.dilate(polygon_mask(ring(vertices, INNER_LIP_RING), size), np.ones((3, 3), np.uint8))
    return np.clip(grown - inner, 0.0, 1.0)


def lips_mask(vertices: np.ndarray, size: int) -> np.ndarray:
    """(size, size) float32 in [0, 1]: the lips alone (outer-lip contour minus the opening, the
    mesh contours' uncertain pixel at each edge left out)."""
    outer = polygon_mask(ring(vertices, OUTER_LIP_RING), size)
    inner = polygon_mask(ring(vertices, INNER_LIP_RING), size)
    lips = np.clip(outer - inner, 0.0, 1.0)
    return cv2.erode(lips, np.ones((3, 3), np.uint8))


class InteriorMap(NamedTuple):
    """Where each target point takes its content: ``xy`` (h, w, 2) crop px of the content image;
    ``u`` (h, w) the target's position along the mouth (-1 left corner .. 1 right corner); ``v``
    (h, w) its position between the lips (0 upper inner lip .. 1 lower inner lip), both clipped;
    ``gap`` (h, w) in [0, 1]: where the content has nothing to show (between the teeth when the
    target opens wider, beyond its corners), with soft edges."""

    xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    gap: np.ndarray


def _ramp(d: np.ndarray, width: float) -> np.ndarray:
    """0 for d <= -width / 2, 1 for d >= width / 2, linear between."""
    return np.clip(d / max(width, 1e-6) + 0.5, 0.0, 1.0)


def _bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    m = np.ascontiguousarray(xy, np.float32)
    return cv2.remap(np.ascontiguousarray(image, np.float32), m[..., 0], m[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def bite_line(lightness: np.ndarray, frame: MouthFrame, *, samples: int = 32, rows: int = 33,
              search: tuple[float, float] = (0.2, 0.8), min_contrast: float = 0.15) -> float:
    """Where an open mouth's content parts when the target opens wider: the fraction of the
    opening's height (from the upper inner lip) of its darkest line (between the upper and lower
    teeth, or the deepest part of the cavity), one value for the whole mouth.

    lightness: (S, S) float the image's L (or luminance) the frame belongs to. Each column across
    the middle 60 % of the mouth votes for its darkest point within ``search``, weighted by how
    much darker it is than the column's median (relative; below ``min_contrast`` the vote leans
    to the middle, 0.5); the result is the weighted median of the votes (0.5 without any).
    """
    xs = np.linspace(-0.6, 0.6, samples) * frame.width / 2
    up, lo = frame.lips(xs)
    h = np.maximum(lo - up, 0.0)
    ts = np.linspace(0.0, 1.0, rows)
    pts = frame.point(np.repeat(xs[:, None], rows, 1), up[:, None] + ts[None] * h[:, None])
    prof = cv2.GaussianBlur(_bilinear(lightness, pts), (0, 0), sigmaX=1.0, sigmaY=1.5)
    window = (ts >= search[0]) & (ts <= search[1])
    darkest = np.argmin(np.where(window[None], prof, np.inf), axis=1)
    med = np.median(prof, axis=1)
    contrast = (med - prof[np.arange(samples), darkest]) / np.maximum(med, 1.0)
    trust = np.clip(contrast / min_contrast, 0.0, 1.0) * (h >= 3.0)
    votes = 0.5 + trust * (ts[darkest] - 0.5)
    weight = 0.05 + trust
    order = np.argsort(votes)
    cum = np.cumsum(weight[order])
    return float(votes[order][np.searchsorted(cum, cum[-1] / 2)])


def interior_map(target: MouthFrame, content: MouthFrame, x: np.ndarray, y: np.ndarray, *, scale: float,
                 bite: float = 0.5, clamp_px: float = 3.0, edge_px: float = 2.0, gap_min_px: float = 4.0,
                 max_stretch: float = 0.12, inset_px: float = 1.5) -> InteriorMap:
    """Map target frame points (x, y) (h, w) into the content image (see the module docstring).

    scale: content px per target px at equal face size (:func:`face_scale` ratio; 1 for the source
    itself). bite: where the content parts into upper and lower teeth, a fraction of its opening's
    height (:func:`bite_line`). clamp_px: target px by which a jaw's content may be continued
    beyond the content's lip or corner (its last row or column repeated) before it counts as
    missing. edge_px: the soft edge of the missing part, target px. gap_min_px: a target opening
    up to this much (target px, and at most ``max_stretch`` of the content's opening) taller than
    the content's at the face's scale stretches the content a little instead of parting the jaws,
    so a gap opens from nothing rather than as a thin dark line. inset_px: the content's lip contour
    moved this far into its opening (its contour pixels are part lip).
    """
    k = scale
    u = np.clip(x / (target.width / 2), -1.0, 1.0)
    up_t, lo_t = target.lips(x)
    v = np.clip((y - up_t) / np.maximum(lo_t - up_t, 1e-6), 0.0, 1.0)
    (ut0,), (lt0,) = target.lips(np.zeros(1))
    (uc0,), (lc0,) = content.lips(np.zeros(1))
    half_c = content.width / 2
    xc = np.clip(k * x, -half_c, half_c)
    up_c, lo_c = content.lips(xc)
    inset = np.minimum(inset_px, np.maximum(lo_c - up_c, 0.0) / 4)
    up_c, lo_c = up_c + inset, lo_c - inset
    split = up_c + float(np.clip(bite, 0.05, 0.95)) * np.maximum(lo_c - up_c, 0.0)
    # the upper teeth hang from the middle of the upper lip, the lower ones stand on the lower lip;
    # a slightly larger opening stretches the content (factor f) instead of parting them
    h0 = max(lc0 - uc0, 1e-6)
    sep = k * (lt0 - ut0) - h0  # content px the jaws part by at the middle
    f = 1.0 + float(np.clip(sep, 0.0, min(gap_min_px * k, max_stretch * h0))) / h0
    yu = uc0 + (k / f) * (y - ut0)
    yl = lc0 + (k / f) * (y - lt0)
    kc, ke = clamp_px * k, edge_px * k  # in content px
    # each jaw's content reaches half an edge past the bite line, so the two meet without a seam
    upper_ok = _ramp(split - yu + ke / 2, ke) * _ramp(yu - up_c + kc, ke)  # not far above the lip
    lower_ok = _ramp(yl - split + ke / 2, ke) * _ramp(lo_c - yl + kc, ke)
    lower_w = lower_ok * (1.0 - upper_ok)  # the upper teeth in front
    side_ok = _ramp(half_c + kc - np.abs(k * x), ke)
    have = np.clip(upper_ok + lower_w, 0.0, 1.0) * side_ok
    yu = np.clip(yu, up_c, split)
    yl = np.clip(yl, split, lo_c)
    # where neither jaw has content, sample the nearer one (the cavity covers it)
    w_low = np.where(upper_ok + lower_w > 1e-3, lower_w / np.maximum(upper_ok + lower_w, 1e-6),
                     (np.abs(y - lo_t) < np.abs(y - up_t)).astype(np.float64))
    yc = yu + w_low * (yl - yu)
    return InteriorMap(content.point(xc, yc), u, v, 1.0 - have)
