"""Gradients reach vertex positions: gradcheck in float64 on tiny scenes, non-zero grads."""

from __future__ import annotations

import torch

from core.render.flow import backward_flow
from core.render.rasterizer import rasterize
from core.render.shaders import interpolate_attributes, normal_map, shade_grey

# Two triangles in an 8x8 image, partly overlapping, with vertex coordinates away from pixel
# centres so that finite differences do not change which face covers which pixel.
_VERTS = [
    [0.3, 0.4, 1.0], [0.6, 7.7, 1.5], [7.2, 1.1, 2.0],  # triangle 0
    [3.1, 2.2, 0.5], [2.4, 7.6, 3.0], [7.7, 6.3, 0.8],  # triangle 1, crosses triangle 0 in depth
]
_FACES = torch.tensor([[0, 1, 2], [3, 4, 5]])


def _scene() -> tuple[torch.Tensor, torch.Tensor]:
    verts = torch.tensor([_VERTS], dtype=torch.float64, requires_grad=True)
    attrs = torch.tensor([[[1.0, -2.0], [0.5, 3.0], [-1.0, 0.0], [2.0, 1.0], [0.0, -1.0], [4.0, 2.0]]],
                         dtype=torch.float64, requires_grad=True)
    return verts, attrs


def test_attribute_render_gradcheck() -> None:
    verts, attrs = _scene()
    frags = rasterize(verts.detach(), _FACES, (8, 8))
    assert set(frags.pix_to_face.unique().tolist()) == {-1, 0, 1}

    def render(v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        f = rasterize(v, _FACES, (8, 8))
        covered = f.pix_to_face >= 0
        return torch.cat((interpolate_attributes(f, _FACES, a).reshape(-1), f.zbuf[covered]))

    assert torch.autograd.gradcheck(render, (verts, attrs), eps=1e-6, atol=1e-6)


def test_perspective_correct_gradcheck() -> None:
    verts, attrs = _scene()

    def render(v: torch.Tensor) -> torch.Tensor:
        f = rasterize(v, _FACES, (8, 8), perspective_correct=True)
        image = interpolate_attributes(f, _FACES, attrs.detach())
        return torch.cat((image.reshape(-1), f.zbuf[f.pix_to_face >= 0]))

    assert torch.autograd.gradcheck(render, (verts,), eps=1e-6, atol=1e-6)


def test_shaders_give_nonzero_finite_vertex_gradients(face_scene) -> None:
    verts = face_scene.verts.clone().requires_grad_(True)
    frags = rasterize(verts, face_scene.faces, face_scene.size)
    loss = normal_map(frags, face_scene.faces, verts).square().sum()
    loss = loss + shade_grey(frags, face_scene.faces, verts).sum() + frags.zbuf[frags.pix_to_face >= 0].sum()
    loss.backward()
    g = verts.grad
    assert torch.isfinite(g).all()
    assert (g.abs().sum(-1) > 0).float().mean() > 0.9  # nearly every vertex receives gradient


def test_flow_is_differentiable(face_scene) -> None:
    target = face_scene.verts.clone()
    target[0, :, 1] += 3.0 * torch.sin(face_scene.model[:, 0])  # gentle non-rigid change
    source_xy = face_scene.verts[..., :2].clone().requires_grad_(True)
    target.requires_grad_(True)
    flow = backward_flow(target, source_xy, face_scene.faces, face_scene.size)
    flow.displacement.square().sum().backward()
    for g in (source_xy.grad, target.grad):
        assert torch.isfinite(g).all() and g.abs().sum() > 0
