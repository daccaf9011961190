"""The pure loss functions of training/losses on known inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.geometry.au.model import AUFaceModel
from core.geometry.face_model import FaceParams, Pose
from training.losses.adversarial import discriminator_adversarial_loss, generator_adversarial_loss, r1_penalty
from training.losses.contextual import contextual_loss, contextual_similarity, pool_to_positions
from training.losses.expression import au_embedding, expression_au_loss, expression_shape_loss
from training.losses.reconstruction import l1_distance, lpips_distance


def _images(seed: int, b: int = 2, r: int = 16) -> torch.Tensor:
    return torch.rand(b, 3, r, r, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# -- reconstruction (Eq. 1) --------------------------------------------------------------------


def test_l1_distance_known_values() -> None:
    x = _images(0)
    assert l1_distance(x, x).item() == 0.0
    assert l1_distance(x + 0.25, x).item() == pytest.approx(0.25)
    assert l1_distance(x.bfloat16(), x).dtype == torch.float32
    with pytest.raises(ValueError, match="target"):
        l1_distance(x, x[:, :, :8])


def test_lpips_distance_uses_the_network() -> None:
    calls = []

    def fake_lpips(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        calls.append(a.shape)
        return (a - b).square().mean(dim=(1, 2, 3), keepdim=True)

    x = _images(1)
    assert lpips_distance(x, x, fake_lpips).item() == 0.0
    assert lpips_distance(x, -x, fake_lpips).item() == pytest.approx((2 * x).square().mean().item(), rel=1e-5)
    assert calls == [x.shape, x.shape]


# -- contextual (Eq. 4) ------------------------------------------------------------------------


def test_contextual_similarity_is_one_for_distinct_exact_matches() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, 50, 8, generator=g)
    perm = torch.randperm(50, generator=g)
    cx = contextual_similarity(y[:, perm], y, band_width=0.5, eps=1e-5)  # same features, other order
    assert torch.allclose(cx, torch.ones(2), atol=1e-4)
    other = torch.randn(2, 50, 8, generator=g)
    assert (contextual_similarity(other, y, band_width=0.5, eps=1e-5) < 0.5).all()


def test_contextual_loss_zero_for_identical_and_positive_otherwise() -> None:
    g = torch.Generator().manual_seed(1)
    feats = [torch.randn(2, 16, 12, 12, generator=g), torch.randn(2, 32, 6, 6, generator=g)]
    same = contextual_loss(feats, [f.clone() for f in feats], band_width=0.5, eps=1e-5, max_positions=4096)
    assert same.shape == (2,) and same.abs().max().item() < 1e-3
    other = [torch.randn_like(f) for f in feats]
    diff = contextual_loss(other, feats, band_width=0.5, eps=1e-5, max_positions=4096)
    assert (diff > 1.0).all()


def test_contextual_loss_gradient_reaches_pred_only() -> None:
    g = torch.Generator().manual_seed(2)
    pred = torch.randn(1, 8, 10, 10, generator=g, requires_grad=True)
    target = torch.randn(1, 8, 10, 10, generator=g, requires_grad=True)
    contextual_loss([pred], [target], band_width=0.5, eps=1e-5, max_positions=64).sum().backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0 and torch.isfinite(pred.grad).all()
    assert target.grad is None


def test_pooling_respects_the_position_budget() -> None:
    x = torch.randn(1, 4, 64, 64)
    assert pool_to_positions(x, 1024).shape == (1, 4, 32, 32)
    assert pool_to_positions(x, 4096).shape == (1, 4, 64, 64)
    assert pool_to_positions(torch.randn(1, 4, 10, 6), 16).shape == (1, 4, 5, 3)
    assert pool_to_positions(torch.randn(1, 4, 10, 6), 8).shape == (1, 4, 3, 2)  # ceil mode


def test_contextual_loss_is_float32_and_finite_under_bf16_autocast() -> None:
    torch.manual_seed(3)
    conv = nn.Conv2d(3, 16, 3, padding=1)
    x, y = _images(4, r=32), _images(5, r=32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fx, fy = F.relu(conv(x)), F.relu(conv(y))
        assert fx.dtype == torch.bfloat16
        loss = contextual_loss([fx], [fy], band_width=0.1, eps=1e-5, max_positions=256)
    assert loss.dtype == torch.float32 and torch.isfinite(loss).all() and loss.item() > 0
    loss.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in conv.parameters())


# -- expression (Eqs. 2-3) -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def au_model(app_assets: None) -> AUFaceModel:
    return AUFaceModel()


def _params(model: AUFaceModel, expression: torch.Tensor) -> FaceParams:
    b = expression.shape[0]
    identity = torch.randn(b, model.num_vertices, 3, generator=torch.Generator().manual_seed(0))
    return FaceParams(identity=identity, expression=expression, pose=Pose.frontal(b))


def test_expression_shape_loss_known_values(au_model: AUFaceModel) -> None:
    ref = torch.zeros(2, au_model.expression_dim)
    ref[:, 3] = 0.5
    params = _params(au_model, ref)
    same = expression_shape_loss(au_model, ref.clone(), params, unit_scale=1.0)
    assert same.item() == pytest.approx(0, abs=1e-6)
    k = au_model.au_index("AU12")
    pred = ref.clone()
    pred[:, k] += 1.0  # one unit of AU12 more: the loss is the mean |B_k| of its basis
    expected = au_model.basis[k].abs().mean().item() * 0.001
    got = expression_shape_loss(au_model, pred, params, unit_scale=0.001).item()
    assert got == pytest.approx(expected, rel=1e-5)


def test_expression_shape_loss_gradient(au_model: AUFaceModel) -> None:
    ref = _params(au_model, torch.zeros(1, au_model.expression_dim))
    pred = torch.full((1, au_model.expression_dim), 0.3, requires_grad=True)
    opt = torch.optim.Adam([pred], lr=0.02)
    first = None
    for _ in range(60):  # gradient descent on the expression finds the reference's
        opt.zero_grad()
        loss = expression_shape_loss(au_model, pred, ref, unit_scale=1e-3)
        first = loss.item() if first is None else first
        loss.backward()
        opt.step()
    assert loss.item() < first / 5


def test_expression_au_loss_known_values() -> None:
    a = torch.tensor([[0.2, 0.0, 0.9]])
    assert expression_au_loss(a, a * 3, neutral=0.0).item() == pytest.approx(0.0, abs=1e-6)  # same direction
    e1, e2 = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]])
    assert expression_au_loss(e1, e2, neutral=0.0).item() == pytest.approx(1.0)
    zero = torch.zeros(1, 2)
    assert expression_au_loss(zero, zero, neutral=0.1).item() == pytest.approx(0.0, abs=1e-6)  # both neutral
    expected = 1 - 0.1 / math.sqrt(1.01)
    assert expression_au_loss(e1, zero, neutral=0.1).item() == pytest.approx(expected, rel=1e-5)
    assert au_embedding(e1, neutral=0.1).tolist() == [[1.0, 0.0, pytest.approx(0.1)]]


def test_expression_au_loss_unit_scale() -> None:
    """s_AU (the stand-in embedding's measured unit conversion) scales the value and the gradient alike."""
    pred = torch.tensor([[0.7, 0.1, 0.0]], requires_grad=True)
    ref = torch.tensor([[0.0, 0.4, 0.3]])
    raw = expression_au_loss(pred, ref, neutral=0.1)
    (g_raw,) = torch.autograd.grad(raw, pred)
    scaled = expression_au_loss(pred, ref, neutral=0.1, unit_scale=0.0125)
    (g_scaled,) = torch.autograd.grad(scaled, pred)
    assert scaled.item() == pytest.approx(0.0125 * raw.item(), rel=1e-6)
    assert torch.allclose(g_scaled, 0.0125 * g_raw, rtol=1e-5)
    with pytest.raises(ValueError, match="unit_scale"):
        expression_au_loss(pred, ref, neutral=0.1, unit_scale=0.0)


# -- adversarial -------------------------------------------------------------------------------


def test_non_saturating_losses_known_values() -> None:
    zero = torch.zeros(4)
    assert generator_adversarial_loss(zero).item() == pytest.approx(math.log(2))
    assert discriminator_adversarial_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    big = torch.full((4,), 30.0)
    assert discriminator_adversarial_loss(big, -big).item() == pytest.approx(0.0, abs=1e-10)  # perfect D
    assert generator_adversarial_loss(big).item() == pytest.approx(0.0, abs=1e-10)  # D fooled


def test_r1_penalty_is_the_squared_input_gradient_and_trains_d() -> None:
    d = nn.Linear(12, 1, bias=False)
    x = torch.randn(3, 12).requires_grad_(True)
    penalty = r1_penalty(d(x).squeeze(1), [x])
    assert penalty.item() == pytest.approx(d.weight.square().sum().item(), rel=1e-6) and penalty.item() > 0
    penalty.backward()  # create_graph=True: the penalty's own gradient reaches D
    assert torch.allclose(d.weight.grad, 2 * d.weight.detach())
    with pytest.raises(ValueError, match="require grad"):
        r1_penalty(d(x.detach()).squeeze(1), [x.detach()])
