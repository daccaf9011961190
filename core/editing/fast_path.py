"""The live slider path: an edit at the view's resolution in milliseconds (issue 13).

While a slider moves, the Studio shows this path's picture; once it rests, the exact render
(:meth:`core.editing.pipeline.EditPipeline.render`) replaces it. Both follow the same recipe: the
same target mesh (interpolated, then untangled by :func:`core.editing.face_flow.untangle`), the same
flow shaping (:func:`core.editing.face_flow.shape_flow`: slide fade at the face's edge, the retreat
band, the region) and the same paste-back idea (:mod:`core.editing.photo_paste`: the photo's own
pixels resampled once through the flow, made content from an edited crop). What differs:

* **resolution**: the flow is computed on a small crop grid (``LiveConfig.flow_size``, 96 px:
  the flow is piecewise affine and smooth, so a coarse grid carries it) and the photo is sampled
  at the *display* resolution (:class:`LiveView`: the photo fitted into the view, never enlarged),
  bilinearly, only inside the face's box;
* **rasterization**: vectorised in numpy (:func:`correspondence`: every triangle's bounding-box
  pixels tested at once, the nearest wins), with no per-triangle Python loop; each covered pixel's
  source position is the barycentric blend of the source triangle's corners, the same
  piecewise-affine correspondence the exact path interpolates;
* **made content** (a filled mouth, a drawn eye): not made again per move. It is carried over
  from the latest exact render (:class:`LiveAnchor`) and moved with the opening: an affine map
  fitted from the current inner-lip (and eye) contour to the anchor's. At the anchor's own
  parameters the map is the identity and the picture matches the exact one (see
  ``tests/core/editing/test_fast_path.py``); the eye openings' lid remapping is the exact path's
  only.

Everything that depends on the source photo and the view size alone (the display-size photo,
the matrices, pixel grids) is made once per :class:`LiveView`. No Qt here; callers run it in a
worker. Pixel convention: centres at integers in every space (crop, flow grid, photo, display).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from core.editing.face_flow import FaceFlowConfig, shape_flow, untangle
from core.editing.masks import EYE_RINGS, INNER_LIP_RING, inner_feather
from core.face.align import AlignedFace, shrink_source
from core.face.paste import footprint
from core.render.fill import pull_push_fill_numpy

_FEATHER = 0.01  # the face mask's inner feather, a fraction of the crop (core.editing.masks)
_MAX_SHIFT = 0.25  # a triangle's source position is trusted within this fraction of the grid


@dataclass(frozen=True, kw_only=True)
class LiveConfig:
    """flow_size: side of the crop grid the flow is computed on (px). flow: the exact path's
    :class:`~core.editing.face_flow.FaceFlowConfig` (its pixel sizes are scaled to the grid)."""

    flow_size: int = 96
    flow: FaceFlowConfig = FaceFlowConfig()

    def __post_init__(self) -> None:
        if not 32 <= self.flow_size <= 1024:
            raise ValueError(f"LiveConfig.flow_size must be in [32, 1024], got {self.flow_size}")


class LiveAnchor(NamedTuple):
    """The made content of an exact render, carried over to live frames.

    crop: (R, R, 3) uint8 the exact edited crop. replaced: (R, R) float32 [0, 1] where it holds
    made content. target: (V, 3) float32 crop px, the (untangled) target mesh it was made for.
    """

    crop: np.ndarray
    replaced: np.ndarray
    target: np.ndarray


class LiveFrame(NamedTuple):
    """One live picture.

    image: (h, w, 3) uint8 RGB the whole photo at display size with the edit (a new array), or
    (h, w, 4) B, G, R, 255 (``render(bgra=True)``).
    box: (x0, y0, x1, y1) end-exclusive display px outside which ``image`` equals
    :attr:`LiveView.base`; None when nothing changed. target: (V, 3) float32 crop px the untangled
    target mesh. flow_ms / paste_ms: time in the flow and in the display composite.
    """

    image: np.ndarray
    box: tuple[int, int, int, int] | None
    target: np.ndarray
    flow_ms: float
    paste_ms: float


def _h(m: np.ndarray) -> np.ndarray:
    """(2, 3) affine -> (3, 3) homogeneous."""
    return np.vstack([np.asarray(m, np.float64), [0.0, 0.0, 1.0]])


def display_scale(photo_size: tuple[int, int], view_size: tuple[int, int]) -> float:
    """The factor that fits a photo (w, h) into a view (w, h) px, at most 1 (never enlarged)."""
    (w, h), (vw, vh) = photo_size, view_size
    if min(w, h, vw, vh) <= 0:
        raise ValueError(f"sizes must be positive, got photo {photo_size}, view {view_size}")
    return min(1.0, vw / w, vh / h)


_DISPLAY: dict[tuple[int, tuple[int, int]], tuple[np.ndarray, np.ndarray]] = {}


def display_photo(photo: np.ndarray, view_size: tuple[int, int]) -> np.ndarray:
    """(h, w, 3) uint8 the photo (H, W, 3) uint8 fitted into ``view_size`` (w, h) px, never enlarged
    (:func:`display_scale`; area-averaged), read-only: the photo itself when it fits. The latest
    few are kept per photo array, so a caller may make it ahead (the Studio does, while the face is
    being analysed) and :class:`LiveView` then finds it. Any thread."""
    key = (id(photo), (int(view_size[0]), int(view_size[1])))
    hit = _DISPLAY.get(key)
    if hit is not None and hit[0] is photo:
        return hit[1]
    h, w = photo.shape[:2]
    s = display_scale((w, h), view_size)
    dw, dh = max(1, round(w * s)), max(1, round(h * s))
    base = photo if (dw, dh) == (w, h) else cv2.resize(photo, (dw, dh), interpolation=cv2.INTER_AREA)
    base = np.ascontiguousarray(base)
    if base is not photo:
        base.setflags(write=False)
    if len(_DISPLAY) > 3:
        _DISPLAY.clear()
    _DISPLAY[key] = (photo, base)
    return base


def correspondence(target: np.ndarray, source: np.ndarray, faces: np.ndarray,
                   size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rasterize ``target`` on a size x size grid and map each covered pixel to ``source``: the
    piecewise-affine mesh correspondence (what the exact path interpolates barycentrically).

    target, source: (V, 3) / (V, 2+) px, pixel centres at integers; z smaller = nearer (where
    triangles overlap, the one nearer by mean depth wins: painter's order). faces: (F, 3) int64.
    Returns ``pix`` (N,) int64 flat indices of the covered pixels and ``where`` (N, 2) float64
    their source positions (px).
    Vectorised: every triangle's bounding-box pixels are tested at once (pixel centres inside or
    on the edge); degenerate triangles cover nothing. ``pix`` is in increasing order.
    """
    tv = np.asarray(target, np.float64)
    t, z3 = tv[:, :2][faces], tv[:, 2][faces]  # (F, 3, 2), (F, 3)
    sv = np.asarray(source, np.float64)[:, :2][faces]
    e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    lo = np.clip(np.ceil(t.min(axis=1)), 0, size - 1).astype(np.int64)
    hi = np.clip(np.floor(t.max(axis=1)), -1, size - 1).astype(np.int64)
    w, h = hi[:, 0] - lo[:, 0] + 1, hi[:, 1] - lo[:, 1] + 1
    n = np.where((np.abs(det) > 1e-9) & (w > 0) & (h > 0), w * h, 0)
    far_first = np.argsort(-z3.mean(axis=1), kind="stable")  # painter's order: nearer ones win below
    n_sorted = n[far_first]
    tri = np.repeat(far_first, n_sorted)
    k = np.arange(tri.size) - np.repeat(np.cumsum(n_sorted) - n_sorted, n_sorted)
    wt = w[tri]
    px, py = lo[tri, 0] + k % wt, lo[tri, 1] + k // wt
    inv = 1.0 / np.where(np.abs(det) > 1e-9, det, 1.0)
    dx, dy = px - t[tri, 0, 0], py - t[tri, 0, 1]
    b1 = (dx * e2[tri, 1] - dy * e2[tri, 0]) * inv[tri]
    b2 = (e1[tri, 0] * dy - e1[tri, 1] * dx) * inv[tri]
    b0 = 1.0 - b1 - b2
    ok = (b0 >= -1e-9) & (b1 >= -1e-9) & (b2 >= -1e-9)
    tri, b0, b1, b2 = tri[ok], b0[ok], b1[ok], b2[ok]
    pix = py[ok] * size + px[ok]
    winner = np.full(size * size, -1, np.int64)
    winner[pix] = np.arange(pix.size)  # repeated pixels: the last (nearest) triangle's candidate
    pick = winner[winner >= 0]
    tri, b0, b1, b2 = tri[pick], b0[pick, None], b1[pick, None], b2[pick, None]
    where = b0 * sv[tri, 0] + b1 * sv[tri, 1] + b2 * sv[tri, 2]
    return pix[pick], where


class LiveView:
    """The live path for one source face shown in a view of a given size (see the module docstring).

    photo: (H, W, 3) uint8 the source photo. aligned: its AlignedFace (crop R, matrices).
    source: (V, 3) float32 crop px, the source mesh. faces: (F, 3) int64. skip: (F,) bool the
    triangles :func:`~core.editing.face_flow.untangle` does not check (the openings).
    view_size: (w, h) px of the view the picture is shown in.
    """

    def __init__(self, *, photo: np.ndarray, aligned: AlignedFace, source: np.ndarray, faces: np.ndarray,
                 skip: np.ndarray, view_size: tuple[int, int], config: LiveConfig = LiveConfig()) -> None:
        if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
            raise ValueError(f"photo: expected (H, W, 3) uint8, got {photo.dtype} {photo.shape}")
        self.config = config
        self.faces = np.asarray(faces, np.int64)
        self.skip = np.asarray(skip, bool)
        self.source = np.asarray(source, np.float32)
        self.size = aligned.size
        h, w = photo.shape[:2]
        self.base = display_photo(photo, view_size)
        dh, dw = self.base.shape[:2]
        self._base_bgra: np.ndarray | None = None
        sx, sy = dw / w, dh / h
        photo_to_display = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0, 0, 1]])
        self.crop_to_display = (photo_to_display @ _h(aligned.inverse))[:2]
        r = config.flow_size
        self.k = r / self.size  # crop px -> grid px: x_r = (x + 0.5) k - 0.5
        grid_to_crop = np.array([[1 / self.k, 0, 0.5 / self.k - 0.5], [0, 1 / self.k, 0.5 / self.k - 0.5],
                                 [0, 0, 1]])
        self.grid_to_display = (_h(self.crop_to_display) @ grid_to_crop)[:2]
        ys, xs = np.mgrid[0:r, 0:r].astype(np.float64)
        self._grid = (xs.ravel(), ys.ravel())
        # display px of every grid pixel centre (r * r, 2)
        a = self.grid_to_display
        self._positions = np.stack([a[0, 0] * xs.ravel() + a[0, 1] * ys.ravel() + a[0, 2],
                                    a[1, 0] * xs.ravel() + a[1, 1] * ys.ravel() + a[1, 2]], axis=1)
        k = self.k
        fc = config.flow
        self._flow_config = FaceFlowConfig(band_guard=fc.band_guard, band_margin=fc.band_margin * k,
                                           min_motion=fc.min_motion * k, collapse=fc.collapse,
                                           min_area=fc.min_area, untangle_steps=fc.untangle_steps,
                                           relax=fc.relax)

    @property
    def display_size(self) -> tuple[int, int]:
        """(w, h) of the pictures this view makes."""
        return self.base.shape[1], self.base.shape[0]

    def _to_grid(self, v: np.ndarray) -> np.ndarray:
        out = np.array(v, np.float64)
        out[:, :2] = (out[:, :2] + 0.5) * self.k - 0.5
        out[:, 2] *= self.k
        return out

    def flow(self, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The edit's flow on the grid: (untangled target (V, 3) float32 crop px, displacement
        (r, r, 2) float32 in *crop* px, face mask (r, r) float32 [0, 1]: the region feathered
        inside its edge as in :func:`core.editing.masks.build_masks`)."""
        r = self.config.flow_size
        tgt = untangle(self.source, target, self.faces, skip=self.skip, config=self.config.flow)
        if np.array_equal(tgt, self.source):
            return tgt, np.zeros((r, r, 2), np.float32), np.zeros((r, r), np.float32)
        t_r, s_r = self._to_grid(tgt), self._to_grid(self.source)
        px, where = correspondence(t_r, s_r, self.faces, r)
        dx = where[:, 0] - self._grid[0][px]
        dy = where[:, 1] - self._grid[1][px]
        ok = np.hypot(dx, dy) < _MAX_SHIFT * r
        px, dx, dy = px[ok], dx[ok], dy[ok]
        inside = np.zeros((r * r, 2), np.float32)
        inside[px, 0], inside[px, 1] = dx, dy
        inside = inside.reshape(r, r, 2)
        covered = np.zeros(r * r, bool)
        covered[px] = True
        covered = covered.reshape(r, r)
        if not covered.any():
            return tgt, np.zeros((r, r, 2), np.float32), np.zeros((r, r), np.float32)
        ext = pull_push_fill_numpy(inside, covered.astype(np.float32))
        disp, region = shape_flow(inside, covered, ext, self._flow_config, blur_px=3.0 * self.k)
        face = inner_feather(region, max(1.5, _FEATHER * self.size) * self.k)
        return tgt, disp * (1.0 / self.k), face

    def render(self, target: np.ndarray, anchor: LiveAnchor | None = None, *,
               bgra: bool = False) -> LiveFrame:
        """The live picture for the (interpolated, not yet untangled) target mesh (V, 3) crop px;
        ``anchor``: made content to carry over (None: the plain warp). bgra: return the picture as
        (h, w, 4) uint8 in B, G, R, 255 byte order (a display's native 32-bit format) instead of RGB."""
        t0 = time.perf_counter()
        tgt, disp, face = self.flow(target)
        t1 = time.perf_counter()
        if bgra:
            if self._base_bgra is None:
                self._base_bgra = cv2.cvtColor(self.base, cv2.COLOR_RGB2BGRA)
            image = np.array(self._base_bgra, copy=True)
        else:
            image = np.array(self.base, copy=True)
        box = footprint(face, self.grid_to_display, image.shape[:2])
        if box is not None:
            x0, y0, x1, y1 = box
            band = self._composite(box, tgt, disp, face, anchor)
            image[y0:y1, x0:x1] = cv2.cvtColor(band, cv2.COLOR_RGB2BGRA) if bgra else band
        t2 = time.perf_counter()
        return LiveFrame(image=image, box=box, target=tgt, flow_ms=(t1 - t0) * 1e3, paste_ms=(t2 - t1) * 1e3)

    def _composite(self, box: tuple[int, int, int, int], tgt: np.ndarray, disp: np.ndarray, face: np.ndarray,
                   anchor: LiveAnchor | None) -> np.ndarray:
        """The display pixels of ``box`` with the edit: (h, w, 3) uint8.

        The sampling positions ``P + L d(P)`` are an affine function of the grid position plus
        the displacement, so they are made on the grid and warped to the box in one go (bilinear
        interpolation reproduces the affine part exactly)."""
        x0, y0, x1, y1 = box
        dsize = (x1 - x0, y1 - y0)
        to_box = self.grid_to_display.copy()
        to_box[:, 2] -= (x0, y0)
        lin = self.crop_to_display[:, :2].astype(np.float32)  # crop-px displacement -> display px
        where = (self._positions + disp.reshape(-1, 2) @ lin.T).astype(np.float32).reshape(disp.shape)
        flags, border = cv2.INTER_LINEAR, cv2.BORDER_CONSTANT
        # x and y warped as two one-channel maps: OpenCV's two-channel float warp is about five
        # times slower and rounds its weights to 1/32 (one-channel ones interpolate exactly)
        map_x, map_y = (cv2.warpAffine(np.ascontiguousarray(where[..., i]), to_box, dsize, flags=flags,
                                       borderMode=border) for i in (0, 1))
        mask = cv2.warpAffine(face, to_box, dsize, flags=flags, borderMode=border)  # in [0, 1]: bilinear
        out = cv2.remap(self.base, map_x, map_y, interpolation=flags, borderMode=cv2.BORDER_REFLECT_101)
        if anchor is not None:
            self._paste_made(out, box, tgt, anchor)
        return cv2.blendLinear(out, self.base[y0:y1, x0:x1], mask, 1.0 - mask)

    def _paste_made(self, out: np.ndarray, box: tuple[int, int, int, int], tgt: np.ndarray,
                    anchor: LiveAnchor) -> None:
        """Blend the anchor's made content, moved to the current openings, into ``out`` (the
        box's pixels, (h, w, 3) uint8, in place)."""
        x0, y0, x1, y1 = box
        crop_to_box = _h(self.crop_to_display)
        crop_to_box[:2, 2] -= (x0, y0)
        for ring, layer in _anchor_layers(anchor):
            if layer is None:
                continue
            colour, weight, (ox, oy) = layer
            idx = list(ring)
            g = _fit_affine(tgt[idx, :2].astype(np.float64), anchor.target[idx, :2].astype(np.float64))
            offset = np.array([[1.0, 0.0, ox], [0.0, 1.0, oy], [0.0, 0.0, 1.0]])
            to_box = crop_to_box @ np.linalg.inv(g) @ offset  # layer px -> box px
            lh, lw = weight.shape
            corners = np.array([[0, 0, 1], [lw, 0, 1], [0, lh, 1], [lw, lh, 1]], np.float64) @ to_box[:2].T
            bx0, by0 = np.floor(corners.min(axis=0)).astype(int) - 1
            bx1, by1 = np.ceil(corners.max(axis=0)).astype(int) + 2
            bx0, by0 = max(bx0, 0), max(by0, 0)
            bx1, by1 = min(bx1, out.shape[1]), min(by1, out.shape[0])
            if bx1 <= bx0 or by1 <= by0:
                continue
            to_sub = to_box.copy()
            to_sub[:2, 2] -= (bx0, by0)
            sub = (bx1 - bx0, by1 - by0)
            small_c, m_c = shrink_source(colour, to_sub[:2])
            small_w, m_w = shrink_source(weight, to_sub[:2])
            made = cv2.warpAffine(small_c, m_c, sub, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            a = cv2.warpAffine(small_w, m_w, sub, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            a = np.clip(a, 0.0, 1.0)
            region = out[by0:by1, bx0:bx1]
            region[...] = cv2.blendLinear(made, region, a, 1.0 - a)


def _fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(3, 3) the least-squares affine map of points ``src`` (N, 2) onto ``dst`` (N, 2)."""
    a = np.hstack([src, np.ones((len(src), 1))])
    sol, *_ = np.linalg.lstsq(a, dst, rcond=None)  # (3, 2)
    return np.vstack([sol.T, [0.0, 0.0, 1.0]])


_Layer = tuple[np.ndarray, np.ndarray, tuple[int, int]]  # colour uint8, weight float32, (x, y) offset
_LAYERS: dict[int, tuple[LiveAnchor, list[tuple[tuple[int, ...], _Layer | None]]]] = {}


def _anchor_layers(anchor: LiveAnchor) -> list[tuple[tuple[int, ...], _Layer | None]]:
    """Per opening (mouth, right eye, left eye): its ring and the anchor's made content there
    (colour (h, w, 3) uint8, weight (h, w) float32 [0, 1], and the (x, y) of that box in the
    crop), None where the anchor made nothing. Cached per anchor (the latest few)."""
    hit = _LAYERS.get(id(anchor))
    if hit is not None and hit[0] is anchor:
        return hit[1]
    size = anchor.crop.shape[0]
    rings = (INNER_LIP_RING, *EYE_RINGS)
    made = anchor.replaced > 1e-3
    rows, cols = np.flatnonzero(made.any(axis=1)), np.flatnonzero(made.any(axis=0))
    if rows.size == 0:
        out: list[tuple[tuple[int, ...], _Layer | None]] = [(ring, None) for ring in rings]
    else:  # each made pixel belongs to the nearest opening (by its ring's centre)
        top, left = rows[0], cols[0]
        ys, xs = np.mgrid[top:rows[-1] + 1, left:cols[-1] + 1].astype(np.float32)
        centres = np.array([anchor.target[list(r), :2].mean(axis=0) for r in rings])
        nearest = np.argmin([(xs - cx) ** 2 + (ys - cy) ** 2 for cx, cy in centres], axis=0)
        box = anchor.replaced[top:rows[-1] + 1, left:cols[-1] + 1]
        out = []
        for i, ring in enumerate(rings):
            part = (box * (nearest == i)).astype(np.float32)
            pr, pc = np.flatnonzero((part > 1e-3).any(axis=1)), np.flatnonzero((part > 1e-3).any(axis=0))
            if pr.size == 0:
                out.append((ring, None))
                continue
            y0, y1 = max(0, top + pr[0] - 2), min(size, top + pr[-1] + 3)
            x0, x1 = max(0, left + pc[0] - 2), min(size, left + pc[-1] + 3)
            weight = np.zeros((y1 - y0, x1 - x0), np.float32)
            sy0, sx0 = max(y0, top), max(x0, left)
            sy1, sx1 = min(y1, top + part.shape[0]), min(x1, left + part.shape[1])
            weight[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = part[sy0 - top:sy1 - top, sx0 - left:sx1 - left]
            colour = np.ascontiguousarray(anchor.crop[y0:y1, x0:x1])
            out.append((ring, (colour, weight, (int(x0), int(y0)))))
    if len(_LAYERS) > 4:
        _LAYERS.clear()
    _LAYERS[id(anchor)] = (anchor, out)
    return out
