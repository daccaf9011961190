"""Rasterizer: coverage against analytic areas and exact point-in-polygon counts, z-test,
watertight shared edges, perspective correctness, culling, batching, input checks."""

from __future__ import annotations

import math

import pytest
import torch

from core.render.backends import RenderBackendUnavailableError, pytorch3d_available, resolve_backend
from core.render.cameras import PerspectiveCamera
from core.render.primitives import cube, model_to_screen
from core.render.rasterizer import rasterize
from core.render.shaders import interpolate_attributes


def _centres(H: int, W: int) -> tuple[torch.Tensor, torch.Tensor]:
    ys, xs = torch.meshgrid(
        torch.arange(H, dtype=torch.float64) + 0.5, torch.arange(W, dtype=torch.float64) + 0.5, indexing="ij"
    )
    return xs, ys


def _inside_convex(poly: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """(H, W) bool: pixel centres strictly inside the convex polygon (K, 2), either winding."""
    return _inside_and_near_edge(poly, H, W)[0]


def _inside_and_near_edge(poly: torch.Tensor, H: int, W: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact float64 point-in-convex-polygon for pixel centres, plus which centres lie within
    2**-9 px of an edge line (there the rasterizer's 1/1024-px snapping may decide either way)."""
    xs, ys = _centres(H, W)
    p = poly.double()
    signs, near = [], torch.zeros(H, W, dtype=torch.bool)
    for k in range(len(p)):
        a, b = p[k], p[(k + 1) % len(p)]
        s = (b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])
        signs.append(s)
        near |= s.abs() / (b - a).norm() < 2.0**-9
    s = torch.stack(signs)
    return (s > 0).all(0) | (s < 0).all(0), near


def _polygon_area(poly: torch.Tensor) -> float:
    x, y = poly[:, 0].double(), poly[:, 1].double()
    return 0.5 * abs(float((x * y.roll(-1) - x.roll(-1) * y).sum()))


def _perimeter(poly: torch.Tensor) -> float:
    return float((poly - poly.roll(-1, 0)).norm(dim=1).sum())


def test_single_triangles_match_area_and_exact_pixel_sets() -> None:
    gen = torch.Generator().manual_seed(0)
    H = W = 64
    for _ in range(20):
        xy = torch.rand(3, 2, generator=gen) * 70 - 3  # partly off-screen sometimes
        verts = torch.cat((xy, torch.rand(3, 1, generator=gen)), dim=1)[None]
        frags = rasterize(verts, torch.tensor([[0, 1, 2]]), (H, W))
        covered = frags.pix_to_face[0] >= 0
        want, near_edge = _inside_and_near_edge(xy, H, W)
        assert torch.equal(covered[~near_edge], want[~near_edge])
        # And against the analytic area, for triangles fully inside the image.
        if (xy >= 0).all() and (xy <= 64).all():
            err = abs(int(covered.sum()) - _polygon_area(xy))
            assert err <= 0.5 * _perimeter(xy) + 1.0


def test_nearer_triangle_wins() -> None:
    tri = torch.tensor([[4.0, 4.0], [4.0, 28.0], [28.0, 4.0]])
    for near_first in (True, False):
        z0, z1 = (1.0, 2.0) if near_first else (2.0, 1.0)
        a = torch.cat((tri, torch.full((3, 1), z0)), 1)
        b = torch.cat((tri + 2.0, torch.full((3, 1), z1)), 1)
        verts = torch.cat((a, b))[None]
        frags = rasterize(verts, torch.tensor([[0, 1, 2], [3, 4, 5]]), (32, 32))
        both = _inside_convex(tri, 32, 32) & _inside_convex(tri + 2.0, 32, 32)
        winner = 0 if near_first else 1
        assert both.sum() > 100
        assert (frags.pix_to_face[0][both] == winner).all()
        torch.testing.assert_close(frags.zbuf[0][both], torch.full((int(both.sum()),), min(z0, z1)))


def test_interpenetrating_triangles_switch_at_the_intersection() -> None:
    # Two large triangles over the image; depths cross along x = 16.
    H = W = 32
    a = torch.tensor([[-10.0, -10.0, 0.0], [-10.0, 60.0, 0.0], [60.0, -10.0, 0.0]])
    b = a.clone()
    a[:, 2] = (a[:, 0] - 16.0) * 0.1  # nearer on the left
    b[:, 2] = -(b[:, 0] - 16.0) * 0.1  # nearer on the right
    frags = rasterize(torch.cat((a, b))[None], torch.tensor([[0, 1, 2], [3, 4, 5]]), (H, W))
    row = frags.pix_to_face[0, 5]
    assert (row[:16] == 0).all() and (row[16:] == 1).all()


def test_shared_edges_are_watertight_with_centres_on_edges() -> None:
    # A 2-px grid whose vertices sit exactly on pixel centres, so that many pixel centres lie
    # exactly on shared edges (including the diagonals): each must be covered exactly once.
    n, step, off = 6, 2.0, 3.5
    g = torch.arange(n + 1, dtype=torch.float32) * step + off
    ys, xs = torch.meshgrid(g, g, indexing="ij")
    verts = torch.stack((xs.reshape(-1), ys.reshape(-1), torch.zeros(xs.numel())), 1)[None]
    faces = []
    for r in range(n):
        for c in range(n):
            a, d = r * (n + 1) + c, (r + 1) * (n + 1) + c
            b, e = a + 1, d + 1
            faces += [(a, d, e), (a, e, b)] if (r + c) % 2 else [(a, d, b), (b, d, e)]
    faces = torch.tensor(faces)
    H = W = 24
    union = rasterize(verts, faces, (H, W)).pix_to_face[0] >= 0
    single_total = sum(
        int((rasterize(verts, faces[i : i + 1], (H, W)).pix_to_face >= 0).sum()) for i in range(len(faces))
    )
    assert single_total == int(union.sum())  # nothing counted twice
    xs_c, ys_c = _centres(H, W)
    lo, hi = off, off + n * step
    interior = (xs_c > lo) & (xs_c < hi) & (ys_c > lo) & (ys_c < hi)
    assert union[interior].all()  # no holes


def _isometric_cube(scale: float, center: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    mesh = cube(size=2.0)
    ay, ax = math.radians(45.0), math.atan(1 / math.sqrt(2))
    Ry = torch.tensor([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    Rx = torch.tensor([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    model = mesh.verts @ (Rx @ Ry).T.float()
    return model_to_screen(model, scale=scale, center=center)[None], mesh.faces


@pytest.mark.parametrize("cull", [False, True])
def test_cube_seen_from_a_corner(cull: bool) -> None:
    H = W = 128
    verts, faces = _isometric_cube(scale=30.0, center=(64.3, 63.8))
    frags = rasterize(verts, faces, (H, W), cull_backfaces=cull)
    p2f = frags.pix_to_face[0]
    face_area = 4.0 * 30.0**2 / math.sqrt(3.0)  # each visible face: side^2 * |n_z| * scale^2
    seen = 0
    for quad in range(6):
        count = int(((p2f == 2 * quad) | (p2f == 2 * quad + 1)).sum())
        corners = verts[0, faces[2 * quad].tolist() + [int(faces[2 * quad + 1, 2])], :2]
        if count == 0:
            continue
        seen += 1
        assert abs(count - face_area) <= 0.5 * _perimeter(corners)
        assert torch.equal((p2f == 2 * quad) | (p2f == 2 * quad + 1), _inside_convex(corners, H, W))
    assert seen == 3
    assert abs(int((p2f >= 0).sum()) - 3 * face_area) < 0.02 * 3 * face_area


def test_cube_from_the_front_covers_exact_square() -> None:
    mesh = cube(size=2.0)
    verts = model_to_screen(mesh.verts, scale=16.0, center=(32.0, 32.0))[None]
    frags = rasterize(verts, mesh.faces, (64, 64))
    covered = frags.pix_to_face[0] >= 0
    assert int(covered.sum()) == 32 * 32
    assert covered[16:48, 16:48].all()
    assert set(frags.pix_to_face[0][covered].unique().tolist()) == {10, 11}  # the +z (front) quad
    torch.testing.assert_close(frags.zbuf[0][covered], torch.full((1024,), -16.0))


def test_perspective_correct_interpolation() -> None:
    cam = PerspectiveCamera(focal_length=(64.0, 64.0), principal_point=(32.0, 32.0))
    view = torch.tensor([[[-1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [1.0, 1.0, 6.0], [-1.0, 1.0, 6.0]]])
    faces = torch.tensor([[0, 2, 1], [0, 3, 2]])
    screen = cam.transform(view)
    frags = rasterize(screen, faces, (64, 64), perspective_correct=True)
    covered = frags.pix_to_face[0] >= 0
    assert covered.sum() > 500
    pts = interpolate_attributes(frags, faces, view)[0][covered]  # view-space points per pixel
    xs, ys = _centres(64, 64)
    proj_x = 64.0 * pts[:, 0] / pts[:, 2] + 32.0
    proj_y = 64.0 * pts[:, 1] / pts[:, 2] + 32.0
    torch.testing.assert_close(proj_x.double(), xs[covered], atol=2e-3, rtol=0)
    torch.testing.assert_close(proj_y.double(), ys[covered], atol=2e-3, rtol=0)
    torch.testing.assert_close(frags.zbuf[0][covered], pts[:, 2], atol=1e-4, rtol=1e-5)
    # Screen-linear interpolation of the same mesh would be visibly wrong.
    affine = rasterize(screen, faces, (64, 64), perspective_correct=False)
    wrong = interpolate_attributes(affine, faces, view)[0][covered]
    assert (64.0 * wrong[:, 1] / wrong[:, 2] + 32.0 - ys[covered].float()).abs().max() > 1.0


def test_backface_culling() -> None:
    ccw = torch.tensor([[[4.0, 4.0, 0.0], [4.0, 20.0, 0.0], [20.0, 4.0, 0.0]]])  # counter-clockwise on screen
    cw = ccw[:, [0, 2, 1]]
    f = torch.tensor([[0, 1, 2]])
    assert (rasterize(ccw, f, (24, 24), cull_backfaces=True).pix_to_face >= 0).sum() > 50
    assert (rasterize(cw, f, (24, 24), cull_backfaces=True).pix_to_face >= 0).sum() == 0
    assert (rasterize(cw, f, (24, 24)).pix_to_face >= 0).sum() > 50


def test_degenerate_offscreen_and_nan_triangles_cover_nothing() -> None:
    verts = torch.tensor(
        [[[1.0, 1.0, 0.0], [5.0, 5.0, 0.0], [9.0, 9.0, 0.0],  # collinear
          [100.0, 100.0, 0.0], [120.0, 100.0, 0.0], [100.0, 120.0, 0.0],  # off-screen
          [2.0, 2.0, float("nan")], [2.0, 14.0, 0.0], [14.0, 2.0, 0.0]]]  # NaN depth
    )
    frags = rasterize(verts, torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]]), (16, 16))
    assert (frags.pix_to_face == -1).all()
    assert torch.isinf(frags.zbuf).all() and (frags.bary == 0).all()


def test_batch_and_chunking_match_single_runs(face_scene) -> None:
    v, f, size = face_scene.verts, face_scene.faces, face_scene.size
    batch = torch.cat((v, v + torch.tensor([7.3, -5.1, 0.0])))
    full = rasterize(batch, f, size)
    small_chunks = rasterize(batch, f, size, max_candidates=500)
    assert torch.equal(full.pix_to_face, small_chunks.pix_to_face)
    for b in range(2):
        single = rasterize(batch[b : b + 1], f, size)
        assert torch.equal(single.pix_to_face[0], full.pix_to_face[b])
        torch.testing.assert_close(single.bary[0], full.bary[b])


def test_face_mesh_barycentrics_reconstruct_pixel_centres(face_scene) -> None:
    v, f, (H, W) = face_scene.verts, face_scene.faces, face_scene.size
    frags = rasterize(v, f, (H, W))
    covered = frags.pix_to_face[0] >= 0
    assert covered.sum() > 0.3 * H * W
    # Each visible face is camera-facing (counter-clockwise) and nearest: culling changes nothing.
    assert torch.equal(rasterize(v, f, (H, W), cull_backfaces=True).pix_to_face, frags.pix_to_face)
    bary = frags.bary[0][covered]
    assert bary.min() > -1e-3 and bary.max() < 1 + 1e-3
    torch.testing.assert_close(bary.sum(-1), torch.ones(len(bary)))
    xy = interpolate_attributes(frags, f, v[..., :2])[0][covered]
    xs, ys = _centres(H, W)
    torch.testing.assert_close(xy.double(), torch.stack((xs[covered], ys[covered]), -1), atol=1e-3, rtol=0)


@pytest.mark.parametrize(
    ("verts", "faces", "size", "error"),
    [
        (torch.zeros(3, 3), torch.tensor([[0, 1, 2]]), (8, 8), ValueError),
        (torch.zeros(1, 3, 3), torch.tensor([[0, 1, 2]], dtype=torch.int32), (8, 8), TypeError),
        (torch.zeros(1, 3, 3), torch.tensor([[0, 1, 3]]), (8, 8), ValueError),
        (torch.zeros(1, 3, 3), torch.tensor([[0, 1, 2]]), (0, 8), ValueError),
        (torch.zeros(1, 3, 3, dtype=torch.int64), torch.tensor([[0, 1, 2]]), (8, 8), TypeError),
    ],
)
def test_bad_inputs_raise(verts, faces, size, error) -> None:
    with pytest.raises(error):
        rasterize(verts, faces, size)


@pytest.mark.skipif(pytorch3d_available(), reason="pytorch3d is importable here")
def test_backend_falls_back_to_torch_without_pytorch3d() -> None:
    assert resolve_backend("auto", torch.device("cpu")) == "torch"
    assert resolve_backend("auto", torch.device("cuda")) == "torch"
    with pytest.raises(RenderBackendUnavailableError, match="pytorch3d"):
        resolve_backend("pytorch3d", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown"):
        resolve_backend("opengl", torch.device("cpu"))
