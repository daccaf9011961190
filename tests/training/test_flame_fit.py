"""L_exp^shape through FLAME (when imported): the measurement of :mod:`training.flame_fit` on real
aligned faces, with a synthetic FLAME (tests/helpers/flame_synthetic.py: FLAME's layout, made-up
contents; the licensed model is never in the tests).

The synthetic head is an ellipsoid, so the fitted values are not a real expression; what is
checked is the plumbing the real model goes through: the same photo measured twice gives a zero
loss, two different expressions give a positive one, and its gradient reaches the pixels.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from core.face.facemesh_net import FaceMeshNet
from core.geometry.flame.model import FlameConfig, FlameModel
from tests.helpers import flame_synthetic as fs
from tests.helpers.loss_batches import aligned_faces
from training.flame_fit import FlameExpressionFitter
from training.losses.expression import expression_shape_loss


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    with fs.one_torch_thread():
        yield


@pytest.fixture(scope="module")
def fitter(app_assets) -> FlameExpressionFitter:
    assets, embedding = fs.synthetic_assets()
    model = FlameModel(assets=assets, embedding=embedding, config=FlameConfig(n_shape=10, n_expression=10))
    return FlameExpressionFitter(mesh=FaceMeshNet.from_asset(), model=model)


def test_flame_shape_loss_is_zero_for_the_same_face_and_reaches_the_pixels(media, fitter) -> None:
    images, marks = aligned_faces(media, ("happy.jpg", "surprise.jpg"), 128)
    with torch.no_grad():
        ref = fitter(images, marks).params.detach()
    pred_images = images.clone().requires_grad_(True)
    pred = fitter(pred_images, marks)
    assert pred.params.expression.shape == (2, 13) and torch.isfinite(pred.params.expression).all()
    same = expression_shape_loss(fitter.model, pred.params.expression, ref, unit_scale=fitter.unit_scale)
    assert float(same.detach()) < 1e-6

    swapped = ref.__class__(identity=ref.identity, expression=ref.expression.flip(0), pose=ref.pose)
    loss = expression_shape_loss(fitter.model, pred.params.expression, swapped, unit_scale=fitter.unit_scale)
    assert float(loss.detach()) > 1e-5
    (grad,) = torch.autograd.grad(loss, pred_images)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_objective_measures_the_shape_loss_with_flame_when_configured(media, fitter) -> None:
    """``expression.shape_model = "flame"``: L_exp^shape comes from the FLAME fitter (logged, finite,
    its gradient reaches G); the AU term still uses the AU fit."""
    import dataclasses

    from core.nets.gafet import build_networks
    from tests.helpers.loss_batches import real_batch
    from training.config import training_config
    from training.face_fit import ExpressionFitter
    from training.objective import GafetObjective
    from training.perceptual import build_perceptual

    base = training_config("cpu-smoke").replace(perceptual="random")
    off = {f.name: False for f in dataclasses.fields(base.losses)}
    cfg = base.with_losses(**{**off, "exp_shape": True})
    cfg = cfg.replace(expression=dataclasses.replace(cfg.expression, shape_model="flame"))
    perceptual = build_perceptual(mode="random", need_lpips=False, need_vgg19=False,
                                  vgg19_layers=cfg.contextual.layers, seed=cfg.perceptual_seed)
    with pytest.raises(ValueError, match="FlameExpressionFitter"):
        GafetObjective(config=cfg, perceptual=perceptual, fitter=ExpressionFitter.from_assets())
    objective = GafetObjective(config=cfg, perceptual=perceptual, fitter=ExpressionFitter.from_assets(),
                               shape_fitter=fitter)
    assert objective.metadata()["exp_shape_model"] == "flame"
    torch.manual_seed(0)
    nets = build_networks(cfg.net)
    batch = real_batch(media, cfg.net, paired=True, size=1)
    g = objective.generator_loss(nets, batch)
    assert set(g.named()) == {"exp_shape", "total"} and torch.isfinite(g.total)
    weighted = cfg.weights.exp_shape * float(g.named()["exp_shape"])
    assert float(g.total.detach()) == pytest.approx(weighted, rel=1e-5) and weighted > 0
    g.total.backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in nets.generator.parameters())
