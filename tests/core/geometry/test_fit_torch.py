"""The differentiable AU fit: close to the exact fit, batched, gradients reach the landmarks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.geometry.au.fit_torch import DifferentiableAUFit
from tests.helpers.au_synthetic import synthetic_face


def test_matches_the_exact_fit_on_real_and_synthetic_meshes(au_model, fitter, photo_landmarks):
    rng = np.random.default_rng(7)
    x = np.stack([photo_landmarks("happy.jpg"), photo_landmarks("surprise.jpg"),
                  synthetic_face(au_model, rng).landmarks])
    exact = fitter.fit(x).params
    diff_fit = DifferentiableAUFit(model=au_model)  # 12 rounds
    models = {torch.float64: type(au_model)(dtype=torch.float64), torch.float32: au_model}
    for dtype, tol, vtol in ((torch.float64, 0.01, 1e-6), (torch.float32, 0.02, 5e-3)):
        p = diff_fit(torch.as_tensor(x, dtype=dtype))
        assert p.expression.dtype == dtype
        assert float((p.expression.double() - exact.expression.double()).abs().max()) < tol
        # identity is the exact residual: the vertices are the input either way
        v = models[dtype].vertices_of(p)
        assert float((v.double() - torch.as_tensor(x).double()).abs().max()) < vtol
    converged = DifferentiableAUFit(model=au_model, rounds=40)(torch.as_tensor(x, dtype=torch.float64))
    assert float((converged.expression - exact.expression.double()).abs().max()) < 2e-3


def test_gradients_reach_the_landmarks(au_model, photo_landmarks):
    x = torch.tensor(photo_landmarks("happy.jpg"), dtype=torch.float64)[None].requires_grad_()
    p = DifferentiableAUFit(model=au_model, rounds=6)(x)
    i12 = au_model.au_index("AU12")
    p.expression[0, i12].backward()
    g = x.grad[0]
    assert bool(torch.isfinite(g).all()) and float(g.abs().sum()) > 0
    # moving the mouth corners (61, 291) along the gradient raises AU12: a finite-difference check
    with torch.no_grad():
        step = torch.zeros_like(x)
        step[0, [61, 291]] = 0.2 * g[[61, 291]] / g[[61, 291]].norm()
        fit = DifferentiableAUFit(model=au_model, rounds=6)
        up = fit(x + step).expression[0, i12] - fit(x).expression[0, i12]
    assert float(up) > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda(au_model, photo_landmarks):
    model = type(au_model)().cuda()
    x = torch.tensor(photo_landmarks("happy.jpg"))[None].cuda().requires_grad_()
    p = DifferentiableAUFit(model=model).cuda()(x)
    v = model.vertices_of(p)
    assert v.device.type == "cuda" and float((v - x).abs().max()) < 5e-3
    p.expression.sum().backward()
    assert bool(torch.isfinite(x.grad).all())
