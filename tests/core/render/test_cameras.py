"""Cameras: projection of known points."""

from __future__ import annotations

import math

import pytest
import torch

from core.render.cameras import OrthographicCamera, PerspectiveCamera, ScreenCamera


def _rot_y(deg: float) -> torch.Tensor:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def test_perspective_projects_known_points() -> None:
    cam = PerspectiveCamera(focal_length=(100.0, 120.0), principal_point=(64.0, 48.0))
    pts = torch.tensor([[[0.0, 0.0, 2.0], [1.0, -0.5, 4.0], [-2.0, 1.0, 10.0]]])
    out = cam.transform(pts)
    want = torch.tensor(
        [[[64.0, 48.0, 2.0], [64.0 + 25.0, 48.0 - 15.0, 4.0], [64.0 - 20.0, 48.0 + 12.0, 10.0]]]
    )
    torch.testing.assert_close(out, want)


def test_perspective_with_extrinsics() -> None:
    # World rotated 90 deg about y, then pushed 5 units in front of the camera.
    R = _rot_y(90.0)[None]
    T = torch.tensor([[0.0, 0.0, 5.0]])
    cam = PerspectiveCamera(focal_length=(50.0, 50.0), principal_point=(32.0, 32.0), R=R, T=T)
    # (0, 0, -1) rotated 90 deg about y becomes (-1, 0, 0); view point (-1, 0, 5).
    out = cam.transform(torch.tensor([[[0.0, 0.0, -1.0]]]))
    torch.testing.assert_close(out, torch.tensor([[[32.0 - 10.0, 32.0, 5.0]]]), atol=1e-5, rtol=0)
    assert cam.perspective


def test_orthographic_scales_depth_in_pixels() -> None:
    cam = OrthographicCamera(scale=10.0, principal_point=(5.0, 6.0), T=torch.tensor([0.0, 0.0, 1.0]))
    out = cam.transform(torch.tensor([[[1.0, 2.0, 3.0]]]))
    torch.testing.assert_close(out, torch.tensor([[[15.0, 26.0, 40.0]]]))
    assert not cam.perspective


def test_screen_camera_is_identity() -> None:
    v = torch.randn(2, 5, 3)
    assert ScreenCamera().transform(v) is v


@pytest.mark.parametrize(
    "make",
    [
        lambda: PerspectiveCamera(focal_length=(0.0, 1.0)),
        lambda: OrthographicCamera(scale=-1.0),
    ],
)
def test_invalid_intrinsics_raise(make) -> None:
    with pytest.raises(ValueError):
        make()


def test_wrong_shape_raises() -> None:
    with pytest.raises(ValueError, match="verts"):
        OrthographicCamera(scale=1.0).transform(torch.zeros(4, 3))
