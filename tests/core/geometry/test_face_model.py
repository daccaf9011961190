"""The face-model interface records (Pose, FaceParams) and the AU model behind it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.geometry.au.topology import EYE_LEFT, EYE_RIGHT, LIPS_INNER, NOSE
from core.geometry.face_model import FRONTAL, REGION_NAMES, FaceParams, Pose, head_rotation


def _params(b: int) -> FaceParams:
    g = torch.Generator().manual_seed(0)
    pose = Pose(scale=torch.rand(b, generator=g) + 0.5, rotation=Pose.frontal(b).rotation,
                translation=torch.randn(b, 3, generator=g))
    return FaceParams(identity=torch.randn(b, 468, 3, generator=g), expression=torch.rand(b, 20, generator=g),
                      pose=pose)


def test_params_index_cat_detach_to():
    p = _params(3)
    assert p.index(1).batch_size == 1
    assert torch.equal(p.index(1).expression[0], p.expression[1])
    assert p.index(slice(0, 2)).batch_size == 2
    q = FaceParams.cat([p, p.index(0)])
    assert q.batch_size == 4 and torch.equal(q.identity[3], p.identity[0])
    assert p.to(torch.float64).pose.rotation.dtype == torch.float64
    r = p.replace(expression=torch.zeros(3, 20))
    assert torch.equal(r.identity, p.identity) and float(r.expression.abs().sum()) == 0.0
    x = p.expression.clone().requires_grad_()
    assert not p.replace(expression=x * 2).detach().expression.requires_grad


def test_records_reject_mismatched_batches():
    with pytest.raises(ValueError, match="Pose.rotation"):
        Pose(scale=torch.ones(2), rotation=torch.eye(3).expand(3, 3, 3), translation=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="identity"):
        FaceParams(identity=torch.zeros(3, 468, 3), expression=torch.zeros(2, 20), pose=Pose.frontal(2))


def test_frontal_pose_flips_y_and_z():
    p = Pose.frontal(1)
    out = p.apply(torch.tensor([[[1.0, 2.0, 3.0]]]))
    assert out.tolist() == [[[1.0, -2.0, -3.0]]]
    assert torch.allclose(head_rotation(p.rotation), torch.eye(3)[None])
    assert torch.det(torch.tensor(FRONTAL)) == 1.0


def test_au_model_sizes_and_default_face(au_model):
    m = au_model
    assert (m.num_vertices, m.expression_dim, m.identity_shape) == (468, 20, (468, 3))
    assert tuple(m.faces.shape) == (898, 3) and m.faces.dtype == torch.long
    assert m.au_names[0] == "AU01" and m.au_names[-1] == "AU43" and len(set(m.au_names)) == 20
    v = m.vertices_of(m.default_params(2))
    assert v.shape == (2, 468, 3)
    # frontal: forehead (10) above the chin (152) in the photo (smaller y), nose tip (1) nearest
    assert float(v[0, 10, 1]) < float(v[0, 152, 1])
    assert int(v[0, :, 2].argmin()) in NOSE
    assert torch.equal(m.landmarks(v), v)


def test_au_model_is_linear_in_the_aus_and_au26_opens_the_mouth(au_model):
    m = au_model
    p = m.default_params(1)
    a = p.expression.clone()
    a[0, m.au_index("AU26")] = 1.0
    v0, v1 = m.vertices_of(p), m.vertices_of(p.replace(expression=a))
    half = m.vertices_of(p.replace(expression=a / 2))
    assert torch.allclose(half, (v0 + v1) / 2, atol=1e-4)
    gap = lambda v: float(v[0, 14, 1] - v[0, 13, 1])  # noqa: E731 — lower minus upper inner lip, y down
    assert gap(v1) > gap(v0) + 5.0


def test_au_model_moves_with_dtype_and_is_differentiable(au_model):
    m64 = type(au_model)(dtype=torch.float64)
    p = m64.default_params(1, dtype=torch.float64)
    expr = p.expression.clone().requires_grad_()
    m64.vertices(p.identity, expr, p.pose).sum().backward()
    assert expr.grad is not None and expr.grad.dtype == torch.float64
    with pytest.raises(ValueError, match="unknown AU"):
        m64.au_index("AU99")


def test_opening_faces_span_exactly_the_mouth_and_eyes(au_model):
    m = au_model
    mouth, eyes = m.mouth_interior_faces, m.eye_interior_faces
    assert int(mouth.sum()) == len(LIPS_INNER) - 2 == 18
    assert int(eyes.sum()) == 2 * (len(EYE_RIGHT) - 2) == 28
    assert not bool((mouth & eyes).any())
    assert set(m.faces[mouth].flatten().tolist()) <= set(LIPS_INNER)
    assert set(m.faces[eyes].flatten().tolist()) <= set(EYE_RIGHT) | set(EYE_LEFT)
    # the mouth triangles cover the mouth opening: their area in the frontal face is the opening
    v = m.mean.double()
    f = m.faces[mouth]
    area = 0.5 * torch.linalg.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]).norm(dim=1).sum()
    assert 0 < float(area) < 400  # a thin slit of a closed-mouth mean face (face width ≈ 174)


def test_regions_are_a_soft_partition_of_unity(au_model):
    m = au_model
    assert m.region_names == REGION_NAMES
    masks = m.region_masks()
    assert masks.shape == (6, 468)
    assert float(masks.min()) >= 0 and float(masks.max()) <= 1
    assert torch.allclose(masks.sum(0), torch.ones(468, dtype=masks.dtype), atol=1e-6)
    probes = [("mouth", 13), ("eyes", 159), ("nose", 1), ("brows", 105), ("jaw", 152), ("cheeks", 50)]
    for name, probe in probes:
        w = m.region_weights(name)
        assert float(w[probe]) > 0.6, (name, float(w[probe]))
    # soft: some vertices are shared between two regions
    assert int(((masks > 0.2) & (masks < 0.8)).any(0).sum()) > 50
    with pytest.raises(ValueError, match="unknown region"):
        m.region_weights("ears")


def test_mirror_permutation_is_an_involution(au_model):
    p = au_model.mirror
    assert torch.equal(p[p], torch.arange(468))
    assert int(p[33]) == 263 and int(p[1]) == 1  # eye corners swap; nose tip is on the midline
    mean = au_model.mean.double().numpy()
    mirrored = mean[p.numpy()] * np.array([-1.0, 1.0, 1.0])
    offset = (mirrored - mean).mean(0)
    assert np.abs(mirrored - mean - offset).max() < 8.0  # the AU model's mean face is nearly symmetric
