"""FLAME as an nn.Module: shapes, LBS behaviour, gradients, codes, landmarks, regions."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from core.geometry.face_model import FRONTAL, Pose
from core.geometry.flame.codes import FlameCodes, codes_to_params
from core.geometry.flame.lbs import axis_angle_to_matrix
from core.geometry.flame.model import (
    FlameConfig,
    FlameEmbeddingMissingError,
    FlameModel,
    FlamePose,
)
from tests.helpers import flame_synthetic as fs


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    with fs.one_torch_thread():
        yield


@pytest.fixture(scope="module")
def model() -> FlameModel:
    assets, embedding = fs.synthetic_assets()
    return FlameModel(assets=assets, embedding=embedding, config=FlameConfig(n_shape=300, n_expression=100))


def _pose(B: int, *, scale: float = 900.0) -> Pose:
    g = torch.Generator().manual_seed(1)
    rot = torch.tensor(FRONTAL) @ axis_angle_to_matrix(0.2 * torch.randn(B, 3, generator=g))
    shift = torch.randn(B, 3, generator=g) * 50 + 112
    return Pose(scale=torch.full((B,), scale), rotation=rot, translation=shift)


def test_forward_shapes_for_a_batch(model: FlameModel) -> None:
    B = 3
    g = torch.Generator().manual_seed(0)
    beta, psi = torch.randn(B, 300, generator=g), torch.randn(B, 100, generator=g)
    pose = FlamePose(*(0.1 * torch.randn(B, n, generator=g) for n in (3, 3, 3, 6)))
    out = model.deform(shape=beta, expression=psi, pose=pose)
    assert out.vertices.shape == (B, 5023, 3) and out.joints.shape == (B, 5, 3)
    assert model.faces.shape == (9976, 3) and model.faces.dtype == torch.long
    verts = model.vertices(beta, torch.randn(B, model.expression_dim, generator=g), _pose(B))
    assert verts.shape == (B, 5023, 3) and torch.isfinite(verts).all()
    assert model.landmarks(verts).shape == (B, 68, 3)
    assert model.landmarks(verts, "static51").shape == (B, 51, 3)
    assert (model.identity_dim, model.expression_dim) == (300, 103)


def test_zero_params_give_the_template_up_to_the_similarity(model: FlameModel) -> None:
    B = 2
    out = model.deform(shape=torch.zeros(B, 300), expression=torch.zeros(B, 100), pose=FlamePose.zeros(B))
    torch.testing.assert_close(out.vertices, model.v_template.expand(B, -1, -1), atol=1e-6, rtol=0)
    pose = _pose(B)
    verts = model.vertices(torch.zeros(B, 300), torch.zeros(B, 103), pose)
    rotated = model.v_template @ pose.rotation.transpose(1, 2)
    want = pose.scale[:, None, None] * rotated + pose.translation[:, None]
    torch.testing.assert_close(verts, want, atol=1e-3, rtol=1e-6)


def test_face_model_interface_defaults(model: FlameModel) -> None:
    params = model.default_params(2)
    assert params.identity.shape == (2, 300) and params.expression.shape == (2, 103)
    frontal = model.v_template @ torch.tensor(FRONTAL).T  # y down, z away from the camera
    torch.testing.assert_close(model.vertices_of(params), frontal.expand(2, -1, -1))
    assert model.region_masks().shape == (len(model.region_names), 5023)
    assert set(model.region_names) >= {"brows", "eyes", "nose", "mouth", "jaw", "cheeks"}
    assert model.expression_names[-3:] == ("jaw_x", "jaw_y", "jaw_z") and len(model.expression_names) == 103


def test_jaw_rotation_moves_only_jaw_weighted_vertices(model: FlameModel) -> None:
    zero = FlamePose.zeros(1)
    rest = model.deform(shape=torch.zeros(1, 300), expression=torch.zeros(1, 100), pose=zero).vertices[0]
    opened = model.deform(shape=torch.zeros(1, 300), expression=torch.zeros(1, 100),
                          pose=zero._replace(jaw=torch.tensor([[0.3, 0.0, 0.0]]))).vertices[0]
    moved = (opened - rest).norm(dim=1)
    jaw_w = model.weights[:, 2]
    assert (jaw_w == 0).sum() > 1000 and (jaw_w > 0.5).sum() > 100
    assert moved[jaw_w == 0].max() < 1e-7
    assert moved[jaw_w > 0.5].min() > 1e-3  # 0.3 rad about a joint centimetres away


def test_global_rotation_turns_the_head_about_the_root_joint(model: FlameModel) -> None:
    g = torch.Generator().manual_seed(3)
    beta, psi = torch.randn(1, 300, generator=g), torch.randn(1, 100, generator=g)
    aa = torch.tensor([[0.1, -0.4, 0.2]])
    base = model.deform(shape=beta, expression=psi, pose=FlamePose.zeros(1))
    turned = model.deform(shape=beta, expression=psi, pose=FlamePose.zeros(1)._replace(global_rot=aa))
    rot, root = axis_angle_to_matrix(aa)[0], base.joints[0, 0]
    want = (base.vertices[0] - root) @ rot.T + root
    torch.testing.assert_close(turned.vertices[0], want, atol=1e-6, rtol=0)


def test_rodrigues_matches_scipy_and_is_safe_at_zero() -> None:
    g = torch.Generator().manual_seed(0)
    aa = torch.cat([torch.randn(50, 3, generator=g, dtype=torch.float64),
                    1e-7 * torch.randn(3, 3, generator=g, dtype=torch.float64)])
    want = torch.from_numpy(Rotation.from_rotvec(aa.numpy()).as_matrix())
    torch.testing.assert_close(axis_angle_to_matrix(aa), want, atol=1e-12, rtol=0)
    zero = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    axis_angle_to_matrix(zero)[0, 1, 0].backward()  # d R_10 / d r_z = 1 at zero
    torch.testing.assert_close(zero.grad, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64))


def test_gradients_reach_shape_expression_and_pose(model: FlameModel) -> None:
    B = 2
    beta = torch.zeros(B, 300, requires_grad=True)
    expr = torch.zeros(B, 103, requires_grad=True)
    pose = _pose(B)
    pose = Pose(*(t.clone().requires_grad_(True) for t in (pose.scale, pose.rotation, pose.translation)))
    eyes = torch.zeros(B, 6, requires_grad=True)
    lmk = model.landmarks(model.vertices(beta, expr, pose))
    out = model.deform(shape=beta, expression=expr[:, :100], pose=FlamePose.zeros(B)._replace(eyes=eyes))
    (lmk.square().sum() + out.vertices.square().sum() * 1e3).backward()
    for name, t in [("shape", beta), ("expression", expr), ("scale", pose.scale), ("rotation", pose.rotation),
                    ("translation", pose.translation), ("eyes", eyes)]:
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0, name
    assert expr.grad[:, 100:].abs().sum() > 0  # the jaw


def test_vertex_subset_matches_the_full_mesh(model: FlameModel) -> None:
    g = torch.Generator().manual_seed(5)
    beta, psi = torch.randn(2, 300, generator=g), torch.randn(2, 100, generator=g)
    pose = FlamePose(*(0.2 * torch.randn(2, n, generator=g) for n in (3, 3, 3, 6)))
    ids = torch.tensor([0, 17, 4999, 5010, 2500])
    full = model.deform(shape=beta, expression=psi, pose=pose)
    part = model.deform(shape=beta, expression=psi, pose=pose, vertex_ids=ids)
    torch.testing.assert_close(part.vertices, full.vertices[:, ids], atol=1e-6, rtol=0)
    torch.testing.assert_close(part.joints, full.joints)


def test_codes_land_where_deca_projects_them(model: FlameModel) -> None:
    B, S = 2, 224
    g = torch.Generator().manual_seed(7)
    codes = FlameCodes(shape=torch.randn(B, 100, generator=g), expression=torch.randn(B, 50, generator=g),
                       pose=0.2 * torch.randn(B, 6, generator=g),
                       cam=torch.tensor([[8.0, 0.01, -0.02], [9.0, -0.03, 0.0]]))
    params = codes_to_params(model, codes, image_size=S)
    got = model.vertices(params.identity, params.expression, params.pose)
    beta = torch.nn.functional.pad(codes.shape, (0, 200))
    psi = torch.nn.functional.pad(codes.expression, (0, 50))
    pose = FlamePose.zeros(B)._replace(global_rot=codes.pose[:, :3], jaw=codes.pose[:, 3:])
    v = model.deform(shape=beta, expression=psi, pose=pose).vertices
    s, t = codes.cam[:, None, :1], codes.cam[:, None, 1:]
    ndc = s * (v[..., :2] + t)
    want = torch.stack([(ndc[..., 0] + 1) * S / 2, (-ndc[..., 1] + 1) * S / 2], dim=-1)
    torch.testing.assert_close(got[..., :2], want, atol=2e-3, rtol=0)
    torch.testing.assert_close(got[..., 2], -s[..., 0] * v[..., 2] * S / 2, atol=2e-3, rtol=0)


def test_landmarks_are_barycentric_mixes(model: FlameModel) -> None:
    emb = fs.synthetic_flame().embedding
    verts = model.v_template[None]
    lmk = model.landmarks(verts, "68")[0].numpy()
    tri = fs.synthetic_flame().arrays["f"][emb["full_lmk_faces_idx"]].astype(np.int64)
    want = (model.v_template.numpy()[tri] * emb["full_lmk_bary_coords"][..., None]).sum(1)
    np.testing.assert_allclose(lmk, want, atol=1e-6)
    idx = model.landmark_indices
    assert idx.shape == (68,) and idx.dtype == torch.long
    gap = (model.v_template[idx] - torch.from_numpy(want).float()).norm(dim=1)
    assert gap.max() < 0.01  # a corner of the landmark's triangle


def test_dynamic_contour_follows_yaw(model: FlameModel) -> None:
    verts = model.v_template[None]
    frontal = torch.tensor(FRONTAL)[None]
    torch.testing.assert_close(model.landmarks_dynamic68(verts, frontal), model.landmarks(verts, "68"))
    yawed = frontal @ axis_angle_to_matrix(torch.tensor([[0.0, float(np.deg2rad(20.0)), 0.0]]))
    contour = model.landmarks_dynamic68(verts, yawed)[:, :17]
    emb = fs.synthetic_flame().embedding
    tri = fs.synthetic_flame().arrays["f"][emb["dynamic_lmk_faces_idx"][20]].astype(np.int64)
    want = (model.v_template.numpy()[tri] * emb["dynamic_lmk_bary_coords"][20][..., None]).sum(1)
    np.testing.assert_allclose(contour[0].numpy(), want, atol=1e-6)


def test_region_weights_are_a_partition_led_by_the_right_region(model: FlameModel) -> None:
    lmk = model.landmarks(model.v_template[None], "68")[0]
    masks = model.region_masks()  # (R, V) in region_names order
    assert masks.shape == (7, 5023) and masks.dtype == torch.float32 and masks.min() >= 0
    torch.testing.assert_close(masks.sum(0), torch.ones(5023))
    names = model.region_names
    cheek = (lmk[3] + lmk[48]) / 2
    for point, region in [(lmk[62], "mouth"), (lmk[19], "brows"), (lmk[30], "nose"), (lmk[37], "eyes"),
                          (lmk[8], "jaw"), (cheek, "cheeks")]:
        v = int((model.v_template - point).norm(dim=1).argmin())
        assert names[int(masks[:, v].argmax())] == region, region
    far = model.v_template[:, 2] < -0.05  # back of the head
    assert (model.region_weights("rest")[far] > 0.99).all()
    with pytest.raises(KeyError, match="Unknown face region"):
        model.region_weights("ears")


def test_missing_embedding_and_bad_config_are_clear() -> None:
    assets, _ = fs.synthetic_assets()
    bare = FlameModel(assets=assets, config=FlameConfig(n_shape=10, n_expression=10))
    with pytest.raises(FlameEmbeddingMissingError, match="gafet assets import-flame"):
        bare.landmarks(bare.v_template[None])
    with pytest.raises(ValueError, match="n_shape=301"):
        FlameModel(assets=assets, config=FlameConfig(n_shape=301))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_runs_on_cuda(model: FlameModel) -> None:
    cuda = FlameModel(assets=fs.synthetic_assets()[0], embedding=fs.synthetic_assets()[1]).cuda()
    pose = _pose(2).to("cuda")
    verts = cuda.vertices(torch.zeros(2, 300, device="cuda"), torch.zeros(2, 103, device="cuda"), pose)
    cpu = model.vertices(torch.zeros(2, 300), torch.zeros(2, 103), _pose(2))
    torch.testing.assert_close(verts.cpu(), cpu, atol=1e-2, rtol=1e-5)
