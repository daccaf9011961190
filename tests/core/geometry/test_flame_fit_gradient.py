"""The differentiable FLAME fit (``fit_landmarks(..., differentiable=True)``): same values as the
plain fit, and the gradient of the fitted expression w.r.t. the landmarks matches finite
differences of the plain fit (the implicit-function gradient of the solution).

Synthetic FLAME (tests/helpers/flame_synthetic.py), 10 shape and 10 expression components, 3D
landmarks generated from known parameters.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from core.geometry.face_model import FRONTAL, Pose
from core.geometry.flame.fit import FitConfig, fit_landmarks
from core.geometry.flame.lbs import axis_angle_to_matrix
from core.geometry.flame.model import FlameConfig, FlameModel
from tests.helpers import flame_synthetic as fs

N = 10
CFG = FitConfig(n_shape=N, n_expression=N, steps=60, tolerance=1e-14)


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    with fs.one_torch_thread():
        yield


@pytest.fixture(scope="module")
def model() -> FlameModel:
    assets, embedding = fs.synthetic_assets()
    return FlameModel(assets=assets, embedding=embedding,
                      config=FlameConfig(n_shape=N, n_expression=N)).double()


def _target(model: FlameModel) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    beta = 0.5 * torch.randn(1, N, generator=g, dtype=torch.float64)
    expr = torch.cat([torch.randn(1, N, generator=g, dtype=torch.float64),
                      torch.tensor([[0.1, 0.0, 0.0]], dtype=torch.float64)], 1)
    rot = torch.tensor(FRONTAL, dtype=torch.float64) @ axis_angle_to_matrix(
        torch.tensor([[0.1, 0.2, 0.0]], dtype=torch.float64))
    pose = Pose(scale=torch.tensor([900.0], dtype=torch.float64), rotation=rot,
                translation=torch.tensor([[110.0, 120.0, 30.0]], dtype=torch.float64))
    return model.landmarks(model.vertices(beta, expr, pose), "68")


def test_values_equal_the_plain_fit_and_gradient_matches_finite_differences(model: FlameModel) -> None:
    target = _target(model)
    g = torch.Generator().manual_seed(9)
    target = target + 0.3 * torch.randn(target.shape, generator=g, dtype=target.dtype)  # a real residual
    plain = fit_landmarks(model, target, config=CFG)
    t = target.clone().requires_grad_(True)
    diff = fit_landmarks(model, t, config=CFG, differentiable=True)
    assert diff.params.expression.requires_grad
    torch.testing.assert_close(diff.params.expression.detach(), plain.params.expression, atol=1e-5, rtol=0)

    probe = torch.randn(diff.params.expression.shape, generator=g, dtype=target.dtype)
    (grad,) = torch.autograd.grad((diff.params.expression * probe).sum(), t)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    direction = torch.randn(target.shape, generator=g, dtype=target.dtype)
    eps = 1e-3
    up = fit_landmarks(model, target + eps * direction, config=CFG).params.expression
    down = fit_landmarks(model, target - eps * direction, config=CFG).params.expression
    numeric = float(((up - down) / (2 * eps) * probe).sum())
    analytic = float((grad * direction).sum())
    assert analytic == pytest.approx(numeric, rel=0.05, abs=1e-4)
