"""Shaders, normals and the composed MeshRenderer."""

from __future__ import annotations

import torch

from core.render import (
    DepthShader,
    GreyShader,
    MaskShader,
    MeshRasterizer,
    MeshRenderer,
    NormalShader,
    OrthographicCamera,
    RasterSettings,
    ScreenCamera,
    coverage_mask,
    depth_map,
    interpolate_attributes,
    normal_map,
    rasterize,
    shade_grey,
    vertex_normals,
)
from core.render.primitives import model_to_screen, uv_sphere


def _sphere_scene(size: int = 64, radius_px: float = 24.0):
    mesh = uv_sphere(rings=24, segments=48)
    verts = model_to_screen(mesh.verts, scale=radius_px, center=(size / 2, size / 2))[None]
    return verts, mesh.faces


def test_interpolation_reproduces_a_linear_function_at_pixel_centres() -> None:
    verts = torch.tensor([[[2.3, 1.7, 0.0], [3.1, 29.4, 0.0], [30.2, 12.6, 0.0]]])
    faces = torch.tensor([[0, 1, 2]])

    def linear(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.stack((0.7 * x - 1.3 * y + 4.0, -0.2 * x + 0.05 * y - 2.0), dim=-1)

    attrs = linear(verts[..., 0], verts[..., 1])  # (1, 3, 2)
    frags = rasterize(verts, faces, (32, 32))
    out = interpolate_attributes(frags, faces, attrs)[0]
    covered = frags.pix_to_face[0] >= 0
    assert covered.sum() > 200
    ys, xs = torch.meshgrid(torch.arange(32) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    torch.testing.assert_close(out[covered], linear(xs, ys)[covered], atol=1e-4, rtol=1e-5)
    assert (out[~covered] == 0).all()


def test_vertex_normals_of_a_sphere_are_radial() -> None:
    mesh = uv_sphere(rings=16, segments=32)
    n = vertex_normals(mesh.verts[None], mesh.faces)[0]
    cos = (n * mesh.verts / mesh.verts.norm(dim=1, keepdim=True)).sum(1)
    assert cos.min() > 0.995
    torch.testing.assert_close(n.norm(dim=1), torch.ones(len(n)))


def test_normal_map_of_a_sphere_matches_analytic_normals() -> None:
    verts, faces = _sphere_scene()
    frags = rasterize(verts, faces, (64, 64))
    img = normal_map(frags, faces, verts)[0]
    covered = frags.pix_to_face[0] >= 0
    assert img.min() >= 0 and img.max() <= 1
    assert (img[~covered] == 0).all()
    ys, xs = torch.meshgrid(torch.arange(64) + 0.5, torch.arange(64) + 0.5, indexing="ij")
    nx, ny = (xs - 32) / 24, (ys - 32) / 24
    nz = -(1 - nx**2 - ny**2).clamp(min=0).sqrt()  # facing the camera: negative z
    want = torch.stack((0.5 + 0.5 * nx, 0.5 - 0.5 * ny, 0.5 - 0.5 * nz), -1)
    inner = covered & (nx**2 + ny**2 < 0.8)  # away from the faceted silhouette
    assert (img[inner] - want[inner]).abs().max() < 0.03
    centre = img[32, 32]
    torch.testing.assert_close(centre, torch.tensor([0.5, 0.5, 1.0]), atol=0.03, rtol=0)


def test_grey_shading_is_brightest_towards_the_light() -> None:
    verts, faces = _sphere_scene()
    frags = rasterize(verts, faces, (64, 64))
    grey = shade_grey(frags, faces, verts, background=0.0)[0, ..., 0]
    covered = frags.pix_to_face[0] >= 0
    assert grey[covered].min() >= 0.25 - 1e-6 and grey.max() <= 1.0
    # Default light comes from upper-left-front: the upper-left quadrant is brighter.
    assert grey[20:28, 20:28].mean() > grey[36:44, 36:44].mean() + 0.1


def test_depth_and_mask() -> None:
    verts, faces = _sphere_scene()
    frags = rasterize(verts, faces, (64, 64))
    mask = coverage_mask(frags)
    depth = depth_map(frags, background=99.0)
    assert set(mask.unique().tolist()) == {0.0, 1.0}
    assert (depth[mask == 0] == 99.0).all()
    # Nearest point of the sphere is its centre: depth -radius.
    assert abs(float(depth[0, 32, 32]) + 24.0) < 0.5
    assert abs(float(mask.sum()) - torch.pi * 24**2) < 0.03 * torch.pi * 24**2


def test_mesh_renderer_composes_camera_rasterizer_and_shaders() -> None:
    mesh = uv_sphere(rings=12, segments=24)
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # model y-up -> view y-down, z forward
    camera = OrthographicCamera(scale=20.0, principal_point=(24.0, 16.0), R=flip)
    rasterizer = MeshRasterizer(camera=camera, settings=RasterSettings(image_size=(32, 48)))
    verts = torch.stack((mesh.verts, mesh.verts * 0.5))
    for shader, channels in ((NormalShader(), 3), (GreyShader(), 1), (DepthShader(), 1), (MaskShader(), 1)):
        out = MeshRenderer(rasterizer=rasterizer, shader=shader)(verts, mesh.faces)
        assert out.shape == (2, 32, 48, channels)
        assert torch.isfinite(out).all()
    mask = MeshRenderer(rasterizer=rasterizer, shader=MaskShader())(verts, mesh.faces)
    assert mask[0].sum() > 3 * mask[1].sum()  # the second sphere is half the size
    # Same picture as the screen-space path with the equivalent vertices.
    screen = model_to_screen(mesh.verts, scale=20.0, center=(24.0, 16.0))[None]
    direct = MeshRenderer(
        rasterizer=MeshRasterizer(camera=ScreenCamera(), settings=RasterSettings(image_size=(32, 48))),
        shader=NormalShader(),
    )(screen, mesh.faces)
    ortho = MeshRenderer(rasterizer=rasterizer, shader=NormalShader())(verts[:1], mesh.faces)
    torch.testing.assert_close(ortho, direct, atol=1e-5, rtol=0)
