"""Pure parts of the mouth fill: colour and light transfer, multi-band blend, opening measures, the
target -> content interior map, the bite line, the fallback cavity, configuration."""

from __future__ import annotations

import numpy as np
import pytest

from core.editing.geometry_link import geometry_link
from core.editing.masks import INNER_LIP_LOWER, INNER_LIP_RING, polygon_mask, ring
from core.editing.warp.blend import extend, laplacian_blend
from core.editing.warp.cavity import CavityConfig, LipColours, cavity
from core.editing.warp.colour import (
    LabStats,
    apply_light,
    from_lab,
    lab_stats,
    light_transfer,
    match_colour,
    to_lab,
)
from core.editing.warp.mouth_fill import MouthFillConfig, mouth_frame, relative_opening
from core.editing.warp.mouth_geometry import bite_line, interior_map


def canonical_mesh(size: int = 256) -> np.ndarray:
    """The canonical MediaPipe face (y up, cm) centred in a size x size crop (y down, px)."""
    c = np.asarray(geometry_link().model.data.mean)  # model frame: y up
    s = 0.55 * size / np.ptp(c[:, 0])
    v = np.stack([c[:, 0] * s, -c[:, 1] * s, -c[:, 2] * s], 1)
    v[:, :2] += size / 2 - (v[:, :2].min(0) + v[:, :2].max(0)) / 2
    return v.astype(np.float32)


def opened(v: np.ndarray, px: float) -> np.ndarray:
    """The mesh with the lower inner lip (not its corners) moved down by ``px``."""
    out = v.copy()
    out[list(INNER_LIP_LOWER[1:-1]), 1] += px
    return out


# --- colour --------------------------------------------------------------------------------------

def test_lab_round_trip_any_shape() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(from_lab(to_lab(rgb)), rgb, atol=1.0)
    flat = rgb.reshape(-1, 3)
    assert to_lab(flat).shape == flat.shape
    np.testing.assert_allclose(to_lab(flat), to_lab(rgb).reshape(-1, 3), atol=1e-4)


def test_match_colour_follows_the_lighting_but_keeps_teeth_neutral() -> None:
    ref = LabStats(mean=np.array([45.0, 25.0, 10.0]), std=np.array([8.0, 4.0, 3.0]))  # warm, dark
    src = LabStats(mean=np.array([60.0, 12.0, 6.0]), std=np.array([10.0, 3.0, 3.0]))  # pale, brighter
    skin, teeth, cavity_px = [45.0, 25.0, 10.0], [75.0, 2.0, 8.0], [12.0, 20.0, 8.0]
    px = np.array([skin, teeth, cavity_px], np.float32)
    out = match_colour(px, from_stats=ref, to_stats=src)
    assert out[0, 0] == pytest.approx(60.0)  # the ring's mean maps onto the source's
    assert out[1, 0] > 80 and abs(out[1, 1]) < 6  # teeth: brighter, still near neutral
    assert out[2, 0] < 25 and out[2, 1] > 15  # the dark cavity stays dark and red
    weights = np.zeros((4, 4), np.float32)
    weights[1:3, 1:3] = 1
    image = np.full((4, 4, 3), 128, np.uint8)
    stats = lab_stats(image, weights)
    assert stats.mean[0] == pytest.approx(53.6, abs=0.5)


def _ring_image(rgb: tuple[int, int, int], noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.asarray(rgb, np.float32) + rng.normal(0.0, noise, (32, 32, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_light_transfer_moves_the_ring_and_keeps_teeth_and_cavity_apart() -> None:
    warm_dark = _ring_image((150, 105, 70), 6.0, 0)  # the reference: warm light, darker
    cool_bright = _ring_image((200, 170, 175), 9.0, 1)  # the source: cool light, brighter
    ring_w = np.ones((32, 32), np.float32)
    light = light_transfer(warm_dark, ring_w, cool_bright, ring_w)
    ring_from, ring_to = to_lab(warm_dark).reshape(-1, 3), to_lab(cool_bright).reshape(-1, 3)
    moved = apply_light(ring_from, light)
    # the ring's lightness lands on the source's (geometric mean of L), its white balance moves
    # half-way (the rest is the people's skin), limited
    assert np.exp(np.log(moved[:, 0]).mean()) == pytest.approx(np.exp(np.log(ring_to[:, 0]).mean()), rel=0.02)
    shift = moved[:, 1:].mean(0) - ring_from[:, 1:].mean(0)
    want = np.clip(0.5 * (ring_to[:, 1:].mean(0) - ring_from[:, 1:].mean(0)), -8, 8)
    np.testing.assert_allclose(shift, want, atol=1.0)
    teeth = np.array([[80.0, 4.0, 22.0]])  # lit by the warm light
    cavity_px = np.array([[8.0, 12.0, 6.0]])
    t, c = apply_light(teeth, light)[0], apply_light(cavity_px, light)[0]
    assert t[0] > moved[:, 0].mean() + 15  # teeth stay much brighter than the skin ...
    assert t[2] < teeth[0, 2] - 5  # ... and lose the warm cast
    assert 3.0 < c[0] < 15.0  # the cavity stays dark, not clipped to black
    assert abs(c[2] - cavity_px[0, 2]) < abs(t[2] - teeth[0, 2])  # dark pixels move less in colour


# --- blend ---------------------------------------------------------------------------------------

def test_laplacian_blend() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 255, (64, 80, 3)).astype(np.float32)
    over = rng.uniform(0, 255, (64, 80, 3)).astype(np.float32)
    mask = np.zeros((64, 80), np.float32)
    mask[20:44, 30:50] = 1.0
    plain = laplacian_blend(base, over, mask, levels=0)
    np.testing.assert_allclose(plain, base + mask[..., None] * (over - base), atol=1e-4)
    out = laplacian_blend(base, over, mask, levels=2)
    far = np.ones((64, 80), bool)
    far[20 - 14:44 + 14, 30 - 14:50 + 14] = False
    np.testing.assert_allclose(out[far], base[far], atol=1e-3)  # nothing changes away from the mask
    np.testing.assert_allclose(out[28:36, 36:44], over[28:36, 36:44], atol=1.0)  # the overlay deep inside
    # fine detail switches within the mask's edge: just outside it the overlay's texture is absent
    edge_out = out[20:44, 26] - base[20:44, 26]
    texture = np.abs(over[20:44, 26] - base[20:44, 26]).mean()
    assert np.abs(edge_out - edge_out.mean(0)).mean() < 0.25 * texture
    with pytest.raises(ValueError):
        laplacian_blend(base, over[:-1], mask, levels=2)


def test_extend_keeps_the_known_part_and_fills_within_its_range() -> None:
    img = np.zeros((20, 20, 3), np.float32)
    img[:, :10] = 50.0
    img[:, 10:] = 200.0  # the unknown part holds something else
    known = np.zeros((20, 20), np.float32)
    known[:, :10] = 1.0
    out = extend(img, known)
    np.testing.assert_array_equal(out[:, :10], img[:, :10])
    np.testing.assert_allclose(out[:, 10:], 50.0, atol=1e-3)


# --- geometry ------------------------------------------------------------------------------------

def test_opening_measures_on_the_canonical_face() -> None:
    v = canonical_mesh()
    closed = relative_opening(v)  # the canonical face's lips are slightly apart
    assert 0.0 < closed < 0.12
    wide = opened(v, 15.0)
    assert relative_opening(wide) > closed + 0.1
    frame = mouth_frame(wide)
    up, lo = frame.lips(np.zeros(1))
    assert lo[0] - up[0] > 12.0 and frame.width > 20


def _opening_points(v: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    inside = polygon_mask(ring(v, INNER_LIP_RING), size) > 0.99
    ys, xs = np.nonzero(inside)
    x, y = mouth_frame(v).coords(np.stack([xs, ys], -1).astype(np.float64))
    return x, y, np.stack([xs, ys], -1).astype(np.float64)


def test_interior_map_is_the_identity_on_the_same_mouth() -> None:
    v = opened(canonical_mesh(), 12.0)
    f = mouth_frame(v)
    x, y, pts = _opening_points(v, 256)
    m = interior_map(f, f, x, y, scale=1.0, bite=0.5, inset_px=0.0)
    err = np.abs(m.xy - pts).max(-1)
    assert np.median(err) < 1e-6 and err.max() < 0.5  # (sub-px at the corners: polygon vs polyline)
    assert m.gap.max() == 0.0 and 0.0 <= m.v.min() and m.v.max() <= 1.0


def test_interior_map_keeps_teeth_rigid_and_opens_a_gap() -> None:
    content = opened(canonical_mesh(), 10.0)
    target = opened(content, 14.0)  # the jaw drops 14 px further
    ft, fc = mouth_frame(target), mouth_frame(content)
    x, y, pts = _opening_points(target, 256)
    m = interior_map(ft, fc, x, y, scale=1.0, bite=0.5, edge_px=1.0, gap_min_px=0.0, inset_px=0.0)
    up_t, lo_t = ft.lips(x)
    top = (y - up_t < 3) & (np.abs(x) < 5)
    bottom = (lo_t - y < 3) & (np.abs(x) < 5)
    middle = np.abs(y - (up_t + lo_t) / 2) < 2
    np.testing.assert_allclose(m.xy[top], pts[top], atol=0.2)  # upper teeth: where they were
    shift = m.xy[bottom] - pts[bottom]
    assert np.all(np.abs(shift[:, 1] + 14.0) < 0.6)  # lower teeth: moved with the jaw, same size
    assert m.gap[middle & (np.abs(x) < 5)].min() > 0.9  # between them: nothing (the cavity)
    assert m.gap[top | bottom].max() < 0.01
    # a little more opening stretches the content slightly before the jaws part
    small = opened(content, 1.0)
    x, y, pts = _opening_points(small, 256)
    m = interior_map(mouth_frame(small), fc, x, y, scale=1.0, bite=0.5, gap_min_px=4.0, inset_px=0.0)
    assert m.gap.max() < 0.05


def test_bite_line_finds_the_dark_line_between_the_teeth() -> None:
    v = opened(canonical_mesh(), 20.0)
    f = mouth_frame(v)
    lightness = np.full((256, 256), 85.0, np.float32)  # teeth everywhere ...
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float64)
    fx, fy = f.coords(np.stack([xx, yy], -1))
    up, lo = f.lips(fx)
    rel = (fy - up) / np.maximum(lo - up, 1e-6)
    lightness[np.abs(rel - 0.35) < 0.06] = 10.0  # ... but a dark line at 35 % of the height
    assert bite_line(lightness, f) == pytest.approx(0.35, abs=0.05)
    assert bite_line(np.full((256, 256), 85.0, np.float32), f) == pytest.approx(0.5, abs=0.05)


# --- cavity --------------------------------------------------------------------------------------

def test_cavity_comes_from_the_lip_colours() -> None:
    yy, xx = np.mgrid[0:40, 0:80].astype(np.float64)
    u, v, height = (xx - 39.5) / 40.0, yy / 39.0, np.full((40, 80), 40.0)
    red = LipColours(lips=np.array([50.0, 30.0, 12.0]), seam=np.array([20.0, 18.0, 6.0]),
                     skin=np.array([65.0, 12.0, 15.0]), grain=0.0)
    purple = red._replace(lips=np.array([50.0, 22.0, -6.0]))
    a, b = cavity(red, u, v, height), cavity(purple, u, v, height)
    assert a[..., 0].max() < red.lips[0]  # darker than the lips everywhere
    assert (b[..., 2] - a[..., 2]).mean() < -4 and (b[..., 1] - a[..., 1]).mean() < -2  # the lips' hue
    top, tongue, corner = a[2:6, 34:46, 0].mean(), a[32:38, 34:46, 0].mean(), a[18:22, 1:4, 0].mean()
    assert tongue > top + 5 and corner < a[18:22, 36:44, 0].mean()  # a lit tongue, shaded corners and top
    flat = cavity(red, u, v, height, config=CavityConfig(tongue=0.0))
    assert flat[32:38, 34:46, 0].mean() < tongue - 5
    grainy = cavity(red._replace(grain=2.0), u, v, height)
    assert 0.3 < (grainy - a)[..., 0].std() < 4.0  # the photo's grain, not noise of its own


def test_config_is_validated() -> None:
    with pytest.raises(ValueError):
        MouthFillConfig(keep_ratio=1.5, full_ratio=1.2)
    with pytest.raises(ValueError):
        MouthFillConfig(blend_levels=-1)
    with pytest.raises(ValueError):
        CavityConfig(back_l=0.8, tongue_l=0.5)
