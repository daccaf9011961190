"""Rotations, similarity Procrustes (torch and numpy twins) and the box-constrained QP solver."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import lsq_linear

from core.geometry.au.fit import procrustes_np
from core.geometry.box_qp import resolve_on_active_set, solve_box_qp, solve_box_qp_np
from core.geometry.rotations import euler_from_matrix, matrix_from_euler, similarity_procrustes


def test_euler_round_trip_and_sign_convention():
    g = torch.Generator().manual_seed(1)
    ang = (torch.rand(50, 3, generator=g, dtype=torch.float64) - 0.5) * 2.5  # |yaw| < 1.25 rad
    r = matrix_from_euler(ang[:, 0], ang[:, 1], ang[:, 2])
    eye = torch.eye(3, dtype=torch.float64).expand(50, 3, 3)
    assert torch.allclose(r.transpose(1, 2) @ r, eye, atol=1e-12)
    back = euler_from_matrix(r)
    assert torch.allclose(torch.stack(back, 1), ang, atol=1e-9)
    nose = torch.tensor([0.0, 0.0, -1.0], dtype=torch.float64)
    yaw = matrix_from_euler(*torch.tensor([[0.0], [0.3], [0.0]], dtype=torch.float64))[0] @ nose
    pitch = matrix_from_euler(*torch.tensor([[0.3], [0.0], [0.0]], dtype=torch.float64))[0] @ nose
    assert yaw[0] < 0  # yaw > 0: nose towards the photo's left
    assert pitch[1] > 0  # pitch > 0: nose down (y down)


def _random_similarity(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(n, 60, 3, generator=g, dtype=torch.float64) * torch.tensor([3.0, 2.0, 1.0]).double()
    ang = (torch.rand(n, 3, generator=g, dtype=torch.float64) - 0.5) * 2 * math.pi / 3
    rot = matrix_from_euler(ang[:, 0], ang[:, 1], ang[:, 2])
    s = torch.rand(n, generator=g, dtype=torch.float64) * 3 + 0.2
    t = torch.randn(n, 3, generator=g, dtype=torch.float64) * 100
    return src, s, rot, t


def test_procrustes_recovers_a_similarity_and_the_numpy_twin_agrees():
    src, s, rot, t = _random_similarity(8, 2)
    dst = s[:, None, None] * src @ rot.transpose(1, 2) + t[:, None]
    w = torch.rand(60, dtype=torch.float64) + 0.1
    fit = similarity_procrustes(src, dst, w)
    assert torch.allclose(fit.scale, s, atol=1e-9)
    assert torch.allclose(fit.rotation, rot, atol=1e-9)
    assert torch.allclose(fit.translation, t, atol=1e-7)
    wobble = 0.1 * np.sin(np.arange(180)).reshape(60, 3)
    for i in range(8):
        s_np, r_np, t_np = procrustes_np(src[i].numpy(), dst[i].numpy() + wobble, w.numpy())
        noisy = similarity_procrustes(src[i:i + 1], dst[i:i + 1] + torch.tensor(wobble), w)
        assert abs(s_np - float(noisy.scale[0])) < 1e-10
        assert np.allclose(r_np, noisy.rotation[0].numpy(), atol=1e-10)
        assert np.allclose(t_np, noisy.translation[0].numpy(), atol=1e-8)


def test_procrustes_never_reflects_and_is_differentiable():
    src, *_ = _random_similarity(2, 3)
    mirrored = src * torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    dst = mirrored.clone().requires_grad_()
    fit = similarity_procrustes(src, dst)
    assert torch.allclose(torch.linalg.det(fit.rotation), torch.ones(2, dtype=torch.float64))
    (fit.scale.sum() + fit.rotation.sum()).backward()
    assert dst.grad is not None and bool(torch.isfinite(dst.grad).all())


def _qp_problem(seed: int, e: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(120, e, generator=g, dtype=torch.float64)
    a[:, 1] = 0.97 * a[:, 0] + 0.03 * a[:, 1]  # strongly correlated columns, like the AU rows
    gram = a.T @ a + 0.05 * torch.eye(e, dtype=torch.float64)
    h = torch.randn(40, e, generator=g, dtype=torch.float64) * 20
    return gram, h


def test_box_qp_matches_scipy_bvls_and_the_numpy_twin():
    gram, h = _qp_problem(4)
    sol = solve_box_qp(gram, h)
    assert bool(sol.converged.all())
    chol = torch.linalg.cholesky(gram)
    for i in range(h.shape[0]):
        rhs = torch.linalg.solve_triangular(chol, h[i][:, None], upper=False)[:, 0]
        ref = lsq_linear(chol.T.numpy(), rhs.numpy(), bounds=(0, 1), method="bvls", tol=1e-14).x
        assert np.abs(sol.x[i].numpy() - ref).max() < 1e-9
        x_np, free_np, ok = solve_box_qp_np(gram.numpy(), h[i].numpy())
        assert ok and np.abs(x_np - sol.x[i].numpy()).max() < 1e-12
        assert np.array_equal(free_np, sol.free[i].numpy())
    warm = solve_box_qp(gram, h, x0=sol.x)
    assert torch.allclose(warm.x, sol.x, atol=1e-12) and warm.iterations <= 3


def test_resolve_on_active_set_gives_the_value_and_its_gradient():
    gram, h = _qp_problem(5, e=6)
    h = h[:4].clone().requires_grad_()
    sol = solve_box_qp(gram, h.detach())
    x = resolve_on_active_set(gram, h, sol)
    assert torch.allclose(x, sol.x, atol=1e-10)
    w = torch.linspace(-1, 1, 6, dtype=torch.float64)
    (x @ w).sum().backward()
    eps = 1e-6  # finite differences (the active set does not change for a small step)
    for j in range(6):
        dh = torch.zeros_like(h)
        dh[:, j] = eps
        fd = ((solve_box_qp(gram, h.detach() + dh).x - solve_box_qp(gram, h.detach() - dh).x) @ w) / (2 * eps)
        assert torch.allclose(h.grad[:, j], fd, atol=1e-5)


def test_box_qp_rejects_bad_shapes():
    with pytest.raises(ValueError):
        solve_box_qp(torch.eye(3), torch.zeros(2, 4))
    with pytest.raises(ValueError):
        solve_box_qp(torch.eye(3), torch.zeros(2, 3), lo=1.0, hi=0.0)
