"""Batched box-constrained convex QP: ``argmin_x ½ xᵀGx − hᵀx  s.t.  lo ≤ x ≤ hi``.

Used for the AU solve (E = 20 unknowns): small, dense, strictly convex (G positive definite).

:func:`solve_box_qp` is an exact active-set method (the box version of Lawson–Hanson NNLS, as in
Stark & Parker's BVLS): free one bound variable whose gradient points into the box, re-solve the
free variables with the others held at their bounds, and step back along the segment whenever
the new point leaves the box. Every sample of the batch runs its own active set in lock-step
(masks), so the result is exact per sample. It runs without autograd. :func:`solve_box_qp_np`
is the same method for one problem in numpy (microseconds per step instead of torch's per-call
overhead): the exact fitter uses it.

:func:`resolve_on_active_set` re-solves the equality-constrained problem on a given active set
*with* autograd: the same value as the exact solution, with gradients that are exact wherever
the active set is locally constant (almost everywhere). This is how the differentiable fit
gets exact values and useful gradients at once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from core.checks import assert_shape

__all__ = ["BoxQPSolution", "resolve_on_active_set", "solve_box_qp", "solve_box_qp_np"]


class BoxQPSolution(NamedTuple):
    x: torch.Tensor  # (B, E) the minimiser
    free: torch.Tensor  # (B, E) bool: strictly inside the box (False: held at lo or hi)
    converged: torch.Tensor  # (B,) bool: KKT conditions met within the iteration budget
    iterations: int


def _masked_solve(g: torch.Tensor, h: torch.Tensor, free: torch.Tensor,
                  fixed_x: torch.Tensor) -> torch.Tensor:
    """Solve G_FF x_F = h_F − G_FC x_C per sample; fixed entries keep ``fixed_x``.

    g: (B, E, E) or (E, E); h, fixed_x: (B, E); free: (B, E) bool.
    """
    f = free.to(h.dtype)
    fixed_part = fixed_x * (1.0 - f)
    rhs = f * (h - (g @ fixed_part[..., None])[..., 0]) + fixed_part
    m = g * (f[:, :, None] * f[:, None, :]) + torch.diag_embed(1.0 - f)
    return torch.linalg.solve(m, rhs)


def _check(g: torch.Tensor, h: torch.Tensor, lo: float, hi: float) -> int:
    e = assert_shape(h, ("B", "E"), "h")["E"]
    if g.ndim == 2:
        assert_shape(g, (e, e), "G")
    else:
        assert_shape(g, (h.shape[0], e, e), "G")
    if not lo < hi:
        raise ValueError(f"box: need lo < hi, got [{lo}, {hi}]")
    return e


@torch.no_grad()
def solve_box_qp(g: torch.Tensor, h: torch.Tensor, *, lo: float = 0.0, hi: float = 1.0,
                 x0: torch.Tensor | None = None, max_iter: int = 200, tol: float = 1e-10) -> BoxQPSolution:
    """Exact minimiser of ``½ xᵀGx − hᵀx`` over the box ``[lo, hi]^E``, for each row of ``h``.

    g: (E, E) or (B, E, E) symmetric positive definite; h: (B, E); x0: optional (B, E) warm start
    (clamped into the box); tol: KKT tolerance on the gradient, relative to ``max|h| + max|G|``.
    Returns :class:`BoxQPSolution` (x (B, E) in [lo, hi]).
    """
    _check(g, h, lo, hi)
    scale = float(h.abs().max()) + float(g.abs().max())
    eps = tol * max(scale, 1.0)
    x = torch.full_like(h, lo) if x0 is None else x0.to(h).clamp(lo, hi)
    at_lo, at_hi = x <= lo, x >= hi
    free = ~(at_lo | at_hi)
    done = torch.zeros(h.shape[0], dtype=torch.bool, device=h.device)
    iterations = 0
    need_solve = free.any(dim=1)  # warm start: first make the free set optimal
    for iterations in range(1, max_iter + 1):  # noqa: B007 (reported below)
        if not need_solve.any():
            grad = (g @ x[..., None])[..., 0] - h
            want_up = at_lo & (grad < -eps)  # at lo, decreasing objective upwards
            want_down = at_hi & (grad > eps)
            viol = torch.where(want_up | want_down, grad.abs(), torch.zeros_like(grad))
            newly_done = viol.amax(dim=1) <= 0
            done = done | newly_done
            if bool(done.all()):
                break
            j = viol.argmax(dim=1)
            release = torch.zeros_like(free).scatter_(1, j[:, None], True) & ~done[:, None]
            free = free | release
            at_lo, at_hi = at_lo & ~release, at_hi & ~release
            need_solve = ~done
        # Re-solve the free set; step back into the box if it leaves it.
        fixed_x = torch.where(at_hi, torch.full_like(x, hi), torch.full_like(x, lo))
        z = _masked_solve(g, h, free, fixed_x)
        z = torch.where(need_solve[:, None], z, x)
        below = free & (z < lo)
        above = free & (z > hi)
        out = (below | above).any(dim=1)
        ok = need_solve & ~out
        x = torch.where(ok[:, None], z, x)
        need_solve = need_solve & out
        if out.any():
            # Largest step t in [0, 1] from x towards z that stays in the box; the blocking
            # variable (and any other that lands on a bound) joins the active set.
            dz = z - x
            safe = torch.where(dz == 0, torch.ones_like(dz), dz)
            t_each = torch.where(below, (lo - x) / safe,
                                 torch.where(above, (hi - x) / safe, torch.ones_like(x)))
            t, k = t_each.clamp(0.0, 1.0).min(dim=1)
            step = out[:, None]
            x = torch.where(step, (x + t[:, None] * dz).clamp(lo, hi), x)
            block = torch.zeros_like(free).scatter_(1, k[:, None], True) & step
            atol = 1e-12 * (hi - lo)
            hit_lo = step & free & ((block & below) | (x <= lo + atol))
            hit_hi = step & free & ((block & above) | (x >= hi - atol))
            x = torch.where(hit_lo, torch.full_like(x, lo), torch.where(hit_hi, torch.full_like(x, hi), x))
            free = free & ~(hit_lo | hit_hi)
            at_lo, at_hi = at_lo | hit_lo, at_hi | hit_hi
    converged = done & ~need_solve
    return BoxQPSolution(x=x, free=free, converged=converged, iterations=iterations)


def resolve_on_active_set(g: torch.Tensor, h: torch.Tensor, solution: BoxQPSolution, *,
                          lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    """Differentiable re-solve: free entries from ``G_FF x_F = h_F − G_FC x_C``, others at their bound.

    g: (E, E) or (B, E, E); h: (B, E) (may require grad); solution: from :func:`solve_box_qp` on
    the same problem. Returns (B, E), equal to ``solution.x`` up to round-off.
    """
    _check(g, h, lo, hi)
    fixed_x = torch.where(solution.x >= (lo + hi) / 2, torch.full_like(h, hi), torch.full_like(h, lo))
    return _masked_solve(g, h, solution.free, fixed_x.detach())


def solve_box_qp_np(g: np.ndarray, h: np.ndarray, *, lo: float = 0.0, hi: float = 1.0,
                    x0: np.ndarray | None = None, max_iter: int = 200,
                    tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray, bool]:
    """:func:`solve_box_qp` for a single problem in numpy.

    g: (E, E) symmetric positive definite; h: (E,); x0: optional (E,) warm start.
    Returns (x (E,) float64 in [lo, hi], free (E,) bool, converged).
    """
    e = h.shape[0]
    if g.shape != (e, e):
        raise ValueError(f"G: expected ({e}, {e}), got {g.shape}")
    eps = tol * max(float(np.abs(h).max()) + float(np.abs(g).max()), 1.0)
    x = np.full(e, lo) if x0 is None else np.clip(np.asarray(x0, np.float64), lo, hi)
    at_lo, at_hi = x <= lo, x >= hi
    free = ~(at_lo | at_hi)
    need_solve = bool(free.any())
    for _ in range(max_iter):
        if not need_solve:
            grad = g @ x - h
            viol = np.where((at_lo & (grad < -eps)) | (at_hi & (grad > eps)), np.abs(grad), 0.0)
            j = int(viol.argmax())
            if viol[j] <= 0:
                return x, free, True
            free[j], at_lo[j], at_hi[j] = True, False, False
        f = np.flatnonzero(free)
        c = np.flatnonzero(~free)
        z = x.copy()
        z[c] = np.where(at_hi[c], hi, lo)
        z[f] = np.linalg.solve(g[np.ix_(f, f)], h[f] - g[np.ix_(f, c)] @ z[c])
        below, above = free & (z < lo), free & (z > hi)
        if not (below.any() or above.any()):
            x, need_solve = z, False
            continue
        dz = z - x
        safe = np.where(dz == 0, 1.0, dz)
        t_each = np.where(below, (lo - x) / safe, np.where(above, (hi - x) / safe, 1.0)).clip(0.0, 1.0)
        k = int(t_each.argmin())
        x = np.clip(x + t_each[k] * dz, lo, hi)
        atol = 1e-12 * (hi - lo)
        hit_lo = free & ((x <= lo + atol) | (below & (np.arange(e) == k)))
        hit_hi = free & ((x >= hi - atol) | (above & (np.arange(e) == k)))
        x[hit_lo], x[hit_hi] = lo, hi
        free &= ~(hit_lo | hit_hi)
        at_lo |= hit_lo
        at_hi |= hit_hi
        need_solve = True
    return x, free, False
