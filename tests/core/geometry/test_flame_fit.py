"""Fitting FLAME to landmarks recovers a known synthetic expression, jaw and pose.

The synthetic bases are random low-frequency fields (see flame_synthetic), so with 10 shape and
10 expression components the 68 landmarks determine the parameters. Bounds below are on that
model: ψ and β within 0.05 std-dev (3D) / 0.1 (2D), jaw within 0.005 rad, head rotation within
0.5 degree, scale within 0.5 %, landmark RMS under 0.1 px.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import torch

from core.geometry.face_model import FRONTAL, Pose
from core.geometry.flame.fit import FitConfig, fit_landmarks
from core.geometry.flame.lbs import axis_angle_to_matrix
from core.geometry.flame.model import FlameConfig, FlameModel
from tests.helpers import flame_synthetic as fs

N = 10  # shape and expression components in these tests


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    with fs.one_torch_thread():
        yield


@pytest.fixture(scope="module")
def model() -> FlameModel:
    assets, embedding = fs.synthetic_assets()
    return FlameModel(assets=assets, embedding=embedding, config=FlameConfig(n_shape=N, n_expression=N))


def _truth(B: int = 2) -> tuple[torch.Tensor, torch.Tensor, Pose]:
    g = torch.Generator().manual_seed(11)
    beta = 0.7 * torch.randn(B, N, generator=g)
    jaw = torch.tensor([[0.2, 0.02, -0.01], [0.05, -0.03, 0.02]])
    expr = torch.cat([torch.randn(B, N, generator=g), jaw], 1)
    head = torch.tensor([[0.15, 0.25, 0.05], [-0.1, -0.3, 0.1]])  # pitch, yaw, roll-ish (radians)
    rot = torch.tensor(FRONTAL) @ axis_angle_to_matrix(head)
    return beta, expr, Pose(scale=torch.tensor([1000.0, 800.0]), rotation=rot,
                            translation=torch.tensor([[112.0, 118.0, 50.0], [100.0, 90.0, -20.0]]))


def _angle_deg(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    cos = ((a.transpose(1, 2) @ b).diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2
    return torch.rad2deg(torch.arccos(cos.clamp(-1, 1)))


CFG = FitConfig(n_shape=N, n_expression=N, w_shape=1e-9, w_expression=1e-9, w_jaw=1e-9)  # ~no prior


@pytest.mark.parametrize("dims, tol", [(3, 0.05), (2, 0.1)])
def test_fit_recovers_expression_jaw_and_pose(model: FlameModel, dims: int, tol: float) -> None:
    beta, expr, pose = _truth()
    target = model.landmarks(model.vertices(beta, expr, pose), "68")[..., :dims]
    result = fit_landmarks(model, target, config=CFG)
    p = result.params
    assert result.rms_error.max() < 0.1
    assert (p.expression[:, :N] - expr[:, :N]).abs().max() < tol
    assert (p.identity - beta).abs().max() < tol
    assert (p.expression[:, N:] - expr[:, N:]).abs().max() < 0.005
    assert _angle_deg(p.pose.rotation, pose.rotation).max() < 0.5
    assert ((p.pose.scale / pose.scale) - 1).abs().max() < 0.005
    assert (p.pose.translation[:, :2] - pose.translation[:, :2]).abs().max() < 1.0


def test_fit_is_deterministic_and_keeps_a_given_identity(model: FlameModel) -> None:
    beta, expr, pose = _truth()
    target = model.landmarks(model.vertices(beta, expr, pose), "68")[..., :2]
    cfg = replace(CFG, fit_shape=False)
    a = fit_landmarks(model, target, config=cfg, identity=beta)
    b = fit_landmarks(model, target, config=cfg, identity=beta)
    torch.testing.assert_close(a.params.expression, b.params.expression, atol=0, rtol=0)
    torch.testing.assert_close(a.params.identity, beta)
    assert (a.params.expression[:, :N] - expr[:, :N]).abs().max() < 0.01


def test_priors_pull_towards_the_mean(model: FlameModel) -> None:
    beta, expr, pose = _truth()
    target = model.landmarks(model.vertices(beta, expr, pose), "68")
    loose = fit_landmarks(model, target, config=CFG)
    tight = fit_landmarks(model, target, config=replace(CFG, w_shape=10.0, w_expression=10.0))
    assert tight.params.expression[:, :N].norm() < 0.5 * loose.params.expression[:, :N].norm()
    assert tight.rms_error.mean() > loose.rms_error.mean()


def test_dynamic_contour_fit_recovers_the_expression(model: FlameModel) -> None:
    beta, expr, pose = _truth()
    target = model.landmarks_dynamic68(model.vertices(beta, expr, pose), pose.rotation)[..., :2]
    result = fit_landmarks(model, target, config=replace(CFG, landmarks="dynamic68"))
    assert result.landmarks.shape == (2, 68, 3) and result.rms_error.max() < 0.1
    assert (result.params.expression[:, :N] - expr[:, :N]).abs().max() < 0.1
    assert _angle_deg(result.params.pose.rotation, pose.rotation).max() < 0.5


def test_lbfgs_and_adam_minimise_the_same_objective(model: FlameModel) -> None:
    beta, expr, pose = _truth()
    target = model.landmarks(model.vertices(beta, expr, pose), "68")[..., :2]
    base = FitConfig(n_shape=N, n_expression=N)  # default priors
    start = fit_landmarks(model, target, config=replace(base, steps=0)).loss
    lm = fit_landmarks(model, target, config=base).loss
    lbfgs = fit_landmarks(model, target, config=replace(base, optimizer="lbfgs", steps=5)).loss
    adam = fit_landmarks(model, target, config=replace(base, optimizer="adam", lr=0.02, steps=100)).loss
    assert (lm < 0.25 * start).all()  # LM is the reference; the first-order ones get close
    assert (lbfgs < 1.5 * lm).all() and (adam < 3.0 * lm).all()


def test_bad_inputs_are_named(model: FlameModel) -> None:
    with pytest.raises(ValueError, match="target"):
        fit_landmarks(model, torch.zeros(1, 51, 2))
    with pytest.raises(ValueError, match="optimizer"):
        fit_landmarks(model, torch.rand(1, 68, 2) * 100, config=FitConfig(optimizer="sgd", n_shape=N))
