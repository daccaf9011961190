"""The discrete half of rasterization: which face is nearest at each pixel centre (pure torch).

Nothing here is differentiable, on purpose: the choice of face per pixel is piecewise constant.
:func:`core.render.rasterizer.rasterize` recomputes barycentrics and depth from the vertex
positions afterwards with differentiable torch ops.

Algorithm (vectorised, no custom kernels, same code on CPU and CUDA):

1. Snap screen x, y to fixed point (1/1024 px) so that edge functions are exact int64
   arithmetic. Shared edges are then watertight, and a consistent tie-break rule gives a pixel
   centre lying exactly on a shared edge to exactly one of the two triangles.
2. Per triangle, write each edge function as ``e + A*dx + B*dy`` over pixel steps from the
   bounding box's corner (clipped to the image), and depth (orthographic) or 1 / depth
   (perspective) as a plane ``c0 + c_dx*dx + c_dy*dy`` in the same steps.
3. Spans: list every (triangle, bounding-box row) with ``repeat_interleave`` and solve the three
   inequalities ``e + A*dx + B*dy >= 0`` for that row exactly in integers, giving the covered
   interval of columns. Then list every covered pixel of every span the same way. The work is
   the number of rows plus the number of covered pixels; no pixel is ever tested and rejected.
4. Pack ``(depth, face)`` into one int64 key (order-preserving bits of the float32 depth in the
   high word, face index in the low word) and take ``scatter_reduce(amin)`` per pixel: the
   nearest face wins, ties go to the lower face index, and the result is deterministic.

Triangles are processed in chunks whose bounding boxes hold at most ``max_candidates`` pixels,
to bound memory.
"""

from __future__ import annotations

import torch

__all__ = ["MAX_COORD_PX", "SUBPIXEL_BITS", "visible_faces"]

SUBPIXEL_BITS = 10
"""Screen x, y are snapped to 1 / 2**SUBPIXEL_BITS px for the coverage test."""

MAX_COORD_PX = float(2**18)
"""Triangles with a vertex beyond +-MAX_COORD_PX px in x or y are dropped (int64 headroom)."""

_ONE = 1 << SUBPIXEL_BITS
_HALF = _ONE // 2
_EMPTY = torch.iinfo(torch.int64).max
_LOW32 = 0xFFFFFFFF

# Columns of the per-triangle integer table gathered once per candidate.
_WIDTH, _BASE, _FACE = 9, 10, 11


def _ordered_bits(x: torch.Tensor) -> torch.Tensor:
    """float32 -> int64 whose signed order matches the float order (finite values)."""
    bits = x.contiguous().view(torch.int32)
    return torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits).to(torch.int64)


def _floor_div(a: torch.Tensor, b: int) -> torch.Tensor:
    return torch.div(a, b, rounding_mode="floor")


def visible_faces(
    verts_screen: torch.Tensor,
    faces: torch.Tensor,
    image_size: tuple[int, int],
    *,
    cull_backfaces: bool = False,
    perspective_correct: bool = False,
    max_candidates: int = 1 << 21,
) -> torch.Tensor:
    """Index of the nearest face at every pixel centre.

    verts_screen: (B, V, 3) float screen-space ``[x_px, y_px, depth]`` (see :mod:`core.render`).
    faces: (F, 3) int64 vertex indices, shared by the batch.
    image_size: (H, W) in px. cull_backfaces: drop faces whose screen winding is clockwise
    (they face away from the camera). perspective_correct: depth is view-space z (> 0) and
    1/depth is interpolated linearly; triangles with a vertex at depth <= 0 are dropped.
    Returns pix_to_face: (B, H, W) int64, face index in [0, F) or -1 for background.
    Inputs are assumed validated by the caller (:func:`core.render.rasterizer.rasterize`).
    """
    H, W = image_size
    B = verts_screen.shape[0]
    F = faces.shape[0]
    device = verts_screen.device
    buf = torch.full((B * H * W,), _EMPTY, dtype=torch.int64, device=device)
    if F == 0 or B == 0:
        return buf.new_full((B, H, W), -1)

    with torch.no_grad():
        tri = verts_screen.detach()[:, faces].to(torch.float64)  # (B, F, 3 verts, 3 coords)
        xy = tri[..., :2]
        z = tri[..., 2]
        valid = torch.isfinite(tri).all(dim=-1).all(dim=-1)
        valid &= (xy.abs() <= MAX_COORD_PX).all(dim=-1).all(dim=-1)
        if perspective_correct:
            valid &= (z > 0).all(dim=-1)
        fx = torch.where(valid[..., None, None], xy * _ONE, torch.zeros_like(xy)).round().to(torch.int64)
        X, Y = fx[..., 0], fx[..., 1]  # (B, F, 3) fixed point

        # Twice the signed area; > 0 means clockwise on screen (y down), i.e. a back face.
        area = (X[..., 2] - X[..., 1]) * (Y[..., 0] - Y[..., 1]) - (Y[..., 2] - Y[..., 1]) * (
            X[..., 0] - X[..., 1]
        )
        valid &= area != 0
        if cull_backfaces:
            valid &= area < 0
        # Reorder front faces (area < 0) to positive orientation by swapping vertices 1 and 2.
        flip = area < 0
        order = torch.where(flip[..., None], X.new_tensor([0, 2, 1]), X.new_tensor([0, 1, 2]))
        X = X.gather(-1, order)
        Y = Y.gather(-1, order)
        z = z.gather(-1, order)
        area = area.abs()

        # Pixel-index bounding box of the pixel centres (j + 0.5) the triangle can contain.
        x_lo = -_floor_div(-(X.amin(-1) - _HALF), _ONE)
        x_hi = _floor_div(X.amax(-1) - _HALF, _ONE)
        y_lo = -_floor_div(-(Y.amin(-1) - _HALF), _ONE)
        y_hi = _floor_div(Y.amax(-1) - _HALF, _ONE)
        x_lo, x_hi = x_lo.clamp(min=0), x_hi.clamp(max=W - 1)
        y_lo, y_hi = y_lo.clamp(min=0), y_hi.clamp(max=H - 1)
        width = (x_hi - x_lo + 1).clamp(min=0)
        count = width * (y_hi - y_lo + 1).clamp(min=0) * valid

        # Edge k runs from vertex k+1 to k+2; E_k(P) = (bx-ax)(Py-ay) - (by-ay)(Px-ax) is >= 0
        # inside and equals `area` at vertex k. In pixel-index steps: E = E_org + A*dx + B*dy.
        ox = x_lo * _ONE + _HALF
        oy = y_lo * _ONE + _HALF
        cols: list[torch.Tensor] = []
        depth_q = 1.0 / z if perspective_correct else z
        plane = torch.zeros(B, F, 3, dtype=torch.float64, device=device)  # depth: c0, c_dx, c_dy
        for k in range(3):
            a, b = (k + 1) % 3, (k + 2) % 3
            ex, ey = X[..., b] - X[..., a], Y[..., b] - Y[..., a]
            e_org = ex * (oy - Y[..., a]) - ey * (ox - X[..., a])
            A, Bc = -ey * _ONE, ex * _ONE
            # Tie-break: a centre exactly on the edge belongs to this triangle only when the
            # edge points "up" (or exactly left). The neighbour across a shared edge walks it
            # the other way round, so exactly one of the two triangles keeps the centre.
            owns_edge = (ey < 0) | ((ey == 0) & (ex < 0))
            cols += [e_org - (~owns_edge).long(), A, Bc]
            q = depth_q[..., k]
            plane += torch.stack((q * e_org, q * A, q * Bc), dim=-1)
        plane = (plane / area.clamp(min=1)[..., None].double()).to(torch.float32)

        batch_base = torch.arange(B, device=device)[:, None] * (H * W)
        face_ids = torch.arange(F, device=device).expand(B, F)
        height = (y_hi - y_lo + 1).clamp(min=0) * (width > 0)
        tri_int = torch.stack(cols + [width, batch_base + y_lo * W + x_lo, face_ids], dim=-1)
        tri_int = tri_int.reshape(B * F, len(cols) + 3)
        plane = plane.reshape(B * F, 3)
        height = height.reshape(B * F)
        count = count.reshape(B * F)

        tri_ids = torch.nonzero(count > 0).squeeze(1)
        if tri_ids.numel() == 0:
            return buf.new_full((B, H, W), -1)
        # Chunks of triangles whose bounding boxes hold at most max_candidates pixels in total
        # (a single larger triangle forms its own chunk).
        ends = torch.cumsum(count[tri_ids], 0).cpu()
        bounds = [0]
        while bounds[-1] < len(tri_ids):
            done = int(ends[bounds[-1] - 1]) if bounds[-1] > 0 else 0
            nxt = int(torch.searchsorted(ends, done + max_candidates, right=True))
            bounds.append(max(nxt, bounds[-1] + 1))
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            ids = tri_ids[lo:hi]
            _scatter_chunk(buf, tri_int[ids], plane[ids], height[ids], W, perspective_correct)

        return torch.where(buf == _EMPTY, -1, buf & _LOW32).reshape(B, H, W)


def _ragged(counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For counts (N,) -> (owner (M,), rank (M,)): element m belongs to owner[m], the
    rank[m]-th of its owner's elements; M = counts.sum()."""
    total = int(counts.sum())
    ids = torch.arange(len(counts), device=counts.device)
    owner = torch.repeat_interleave(ids, counts, output_size=total)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(total, device=counts.device) - starts.index_select(0, owner)
    return owner, rank


def _scatter_chunk(
    buf: torch.Tensor,
    tri_int: torch.Tensor,
    plane: torch.Tensor,
    height: torch.Tensor,
    W: int,
    perspective_correct: bool,
) -> None:
    """Z-test one chunk of triangles into ``buf`` (flat (B*H*W,) int64 keys), in place.

    tri_int: (T, 12) int64 per triangle: (e, A, B) for the three edges, bbox width, flat pixel
    index of the bbox origin, face index. plane: (T, 3) float32 depth plane (c0, c_dx, c_dy).
    height: (T,) bbox height in rows.

    Works span by span: for each (triangle, row) the three edge inequalities
    ``e + A*dx + B*dy >= 0`` are solved exactly for the covered dx interval, so only covered
    pixels are ever enumerated and no per-pixel edge test is needed.
    """
    row_tri, dy = _ragged(height)  # one entry per (triangle, bbox row)
    t = tri_int.index_select(0, row_tri)
    lo = torch.zeros_like(dy)
    hi = t[:, _WIDTH] - 1
    empty = torch.zeros_like(dy, dtype=torch.bool)
    for k in range(3):
        e, A, Bc = t[:, 3 * k], t[:, 3 * k + 1], t[:, 3 * k + 2]
        m = e + Bc * dy  # inequality per row: A * dx >= -m
        pos, neg = A > 0, A < 0
        a_safe = torch.where(A == 0, torch.ones_like(A), A.abs())
        q = _floor_div(m, a_safe)
        # A > 0: dx >= ceil(-m / A) = -floor(m / A);  A < 0: dx <= floor(m / -A).
        lo = torch.where(pos, torch.maximum(lo, -q), lo)
        hi = torch.where(neg, torch.minimum(hi, q), hi)
        empty |= (A == 0) & (m < 0)
    n_px = torch.where(empty, torch.zeros_like(lo), (hi - lo + 1).clamp(min=0))
    pl = plane.index_select(0, row_tri)
    start_val = pl[:, 0] + pl[:, 2] * dy.to(torch.float32) + pl[:, 1] * lo.to(torch.float32)
    row_int = torch.stack((t[:, _BASE] + dy * W + lo, t[:, _FACE]), dim=-1)
    row_flt = torch.stack((start_val, pl[:, 1]), dim=-1)

    px_row, dx = _ragged(n_px)  # one entry per covered pixel
    if px_row.numel() == 0:
        return
    ri = row_int.index_select(0, px_row)
    rf = row_flt.index_select(0, px_row)
    pix = ri[:, 0] + dx
    val = rf[:, 0] + rf[:, 1] * dx.to(torch.float32)
    depth_key = -val if perspective_correct else val
    keys = _ordered_bits(depth_key) * (1 << 32) + ri[:, 1]
    buf.scatter_reduce_(0, pix, keys, reduce="amin", include_self=True)
