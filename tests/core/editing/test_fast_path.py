"""The live slider path (core.editing.fast_path) against the exact pipeline, and its parts.

The issue's requirement: the fast path and the full-resolution path agree within a small tolerance
at the same parameters. Real photos: happy.jpg (source) x surprise.jpg (reference), the view as
large as the photo, so both pictures have the photo's pixels.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.editing.fast_path import LiveAnchor, LiveConfig, correspondence, display_photo, display_scale
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline
from core.editing.warp.editor import WarpEditor
from core.io import load_photo
from core.render.fill import pull_push_fill, pull_push_fill_numpy


@pytest.fixture(scope="module")
def pipe(app_assets: None) -> EditPipeline:
    return EditPipeline(editor=WarpEditor(), crop_size=512)


@pytest.fixture(scope="module")
def pair(pipe: EditPipeline, media):
    src = pipe.prepare_source(load_photo(media.path("happy.jpg")))
    ref = pipe.prepare_reference(load_photo(media.path("surprise.jpg")))
    return src, ref


@pytest.mark.parametrize("params", [
    EditParams(alpha=1.0),
    EditParams(alpha=1.5, regions=(("mouth", 0.5), ("brows", 1.3))),
    EditParams(alpha=0.8, au_overrides=(("AU12", 0.9),)),
], ids=["intensity", "regions", "au"])
def test_live_picture_agrees_with_the_exact_render(pipe, pair, params) -> None:
    src, ref = pair
    exact = pipe.render(src, ref, params)
    h, w = exact.image.shape[:2]
    view = pipe.live_view(src, (w, h))
    anchor = LiveAnchor(crop=exact.crop, replaced=exact.crop_replaced, target=exact.target_vertices)
    frame = view.render(pipe.live_target(src, ref, params), anchor)
    assert frame.image.shape == exact.image.shape and frame.image.dtype == np.uint8
    diff = np.abs(frame.image.astype(np.int16) - exact.image.astype(np.int16)).max(axis=2)
    region = exact.region
    # measured: mean 1.3-1.9 levels, p99 15-22 (the eye openings' lid remapping is the exact path's only)
    assert diff[region].mean() < 3.0, diff[region].mean()
    assert np.percentile(diff[region], 99) < 40
    # the same target mesh: the live path untangles exactly as the exact path does
    np.testing.assert_allclose(frame.target, exact.target_vertices, atol=1e-3)
    # away from the face the photo is untouched, bit for bit
    x0, y0, x1, y1 = frame.box
    outside = np.ones((h, w), bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(frame.image[outside], np.asarray(src.photo.rgb)[outside])
    # without the anchor the mouth is the plain warp: further from the exact picture
    plain = view.render(pipe.live_target(src, ref, params), None)
    plain_diff = np.abs(plain.image.astype(np.int16) - exact.image.astype(np.int16)).max(axis=2)
    assert plain_diff[region].mean() > diff[region].mean()


def test_live_picture_is_at_the_view_resolution(pipe, pair) -> None:
    src, ref = pair
    h, w = src.photo.rgb.shape[:2]
    view = pipe.live_view(src, (w // 2, h))  # half as wide as the photo
    assert view.display_size == (w // 2, round(h * (w // 2) / w))
    frame = view.render(pipe.live_target(src, ref, EditParams(alpha=1.2)), bgra=True)
    assert frame.image.shape == (view.display_size[1], view.display_size[0], 4)
    assert (frame.image[..., 3] == 255).all()
    assert display_scale((6000, 4000), (1200, 900)) == pytest.approx(0.2)
    assert display_scale((640, 360), (1200, 900)) == 1.0  # never enlarged


def test_intensity_zero_leaves_the_photo_alone(pipe, pair) -> None:
    src, ref = pair
    h, w = src.photo.rgb.shape[:2]
    view = pipe.live_view(src, (w, h), LiveConfig(flow_size=64))
    frame = view.render(pipe.live_target(src, ref, EditParams(alpha=0.0)))
    assert frame.box is None and np.array_equal(frame.image, np.asarray(src.photo.rgb))


def test_correspondence_inverts_an_affine_mesh() -> None:
    """A mesh moved by an affine map: every covered pixel maps back exactly through its inverse;
    the nearer of two overlapping triangles wins."""
    xs, ys = np.meshgrid(np.linspace(10, 50, 8), np.linspace(10, 50, 5))
    pts = np.column_stack([xs.ravel(), ys.ravel()])  # 40 points, a grid of 7 x 4 cells
    corners = [(r * 8 + c, r * 8 + c + 1, (r + 1) * 8 + c) for r in range(4) for c in range(7)]
    cells = [(a, b, c, c + 1) for a, b, c in corners]
    faces = np.array([t for a, b, c, d in cells for t in ((a, b, d), (a, d, c))], np.int64)
    source = np.column_stack([pts, np.zeros(len(pts))])
    a = np.array([[1.1, 0.2], [-0.1, 0.9]])
    target = source.copy()
    target[:, :2] = pts @ a.T + (3.0, -2.0)
    pix, where = correspondence(target, source, faces, 64)
    assert len(pix) > 500 and np.all(np.diff(pix) > 0)
    p = np.column_stack([pix % 64, pix // 64]).astype(np.float64)
    np.testing.assert_allclose(where, (p - (3.0, -2.0)) @ np.linalg.inv(a).T, atol=1e-9)
    # a small near triangle over the mesh hides what is under it
    verts = np.vstack([target, [[20, 20, -5.0], [30, 20, -5.0], [20, 30, -5.0]]])
    src2 = np.vstack([source, [[0, 0, 0], [0, 0, 0], [0, 0, 0]]])
    faces2 = np.vstack([faces, [[40, 41, 42]]])
    pix2, where2 = correspondence(verts, src2, faces2, 64)
    covered = dict(zip(pix2.tolist(), where2.tolist(), strict=True))
    assert np.allclose(covered[22 * 64 + 22], [0.0, 0.0])


def test_numpy_pull_push_matches_the_torch_one() -> None:
    rng = np.random.default_rng(0)
    for h, w in ((96, 96), (37, 50), (1, 5)):
        values = rng.normal(size=(h, w, 2)).astype(np.float32)
        known = (rng.uniform(size=(h, w)) > 0.7).astype(np.float32)
        want = pull_push_fill(torch.from_numpy(values).permute(2, 0, 1)[None],
                              torch.from_numpy(known)[None, None])
        got = pull_push_fill_numpy(values, known)
        np.testing.assert_allclose(got, want[0].permute(1, 2, 0).numpy(), atol=1e-4)


def test_display_photo_fits_the_view_and_is_made_once_per_photo() -> None:
    ys, xs = np.mgrid[0:300, 0:400]
    photo = np.stack([xs * 255 // 399, ys * 255 // 299, (xs + ys) % 256], axis=-1).astype(np.uint8)
    small = display_photo(photo, (200, 200))
    assert small.shape == (150, 200, 3) and not small.flags.writeable
    assert display_photo(photo, (200, 200)) is small  # made ahead, found again
    assert np.abs(small[..., :2].astype(int) - photo[::2, ::2, :2].astype(int)).max() <= 2  # the photo halved
    assert display_photo(photo, (800, 800)) is photo  # never enlarged
    other = photo.copy()
    assert display_photo(other, (200, 200)) is not small and np.array_equal(display_photo(other, (200, 200)),
                                                                            small)
