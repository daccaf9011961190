"""Lips that close over an open mouth (core.editing.warp.lips): the lips' own pixels cover the
teeth, corners included; nothing moves at intensity 0; the maps are monotone (no fold)."""

from __future__ import annotations

import numpy as np
import pytest

from core.editing.masks import INNER_LIP_LOWER, INNER_LIP_UPPER, OUTER_LIP_RING, polygon_mask, ring
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline, PreparedSource
from core.editing.warp.colour import to_lab
from core.editing.warp.editor import WarpEditor, WarpEditorConfig
from core.editing.warp.lips import closed_target, closing_weight, lip_edges, stretch_lips
from core.editing.warp.mouth_fill import lab_near_mouth
from core.geometry.au.calibration import load_au_calibration, mouth_gap
from core.geometry.presets import builtin_preset
from core.io import load_photo


@pytest.fixture(scope="module")
def smile(app_assets: None, media) -> tuple[EditPipeline, EditPipeline, PreparedSource]:
    """The toothy smile of single_face.jpg, with and without the lip handling."""
    new = EditPipeline(editor=WarpEditor(), crop_size=512)
    old = EditPipeline(editor=WarpEditor(config=WarpEditorConfig(fix_lips=False)), crop_size=512)
    return new, old, new.prepare_source(load_photo(media.path("single_face.jpg")))


def _mouth_shares(crop: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Shares of the target's outer-lip area that look like teeth (light and much less red than
    this face's lips, Lab a ~41) and like the mouth's cavity (dark)."""
    inside = polygon_mask(ring(target, OUTER_LIP_RING), crop.shape[0]) > 0.5
    lab = to_lab(crop[inside])
    return float(((lab[:, 0] > 55) & (lab[:, 1] < 26)).mean()), float((lab[:, 0] < 28).mean())


# measured (teeth, cavity) shares with the lip handling / without it
MEASURED = {"neutral": ((0.006, 0.007), (0.007, 0.043)), "sad": ((0.010, 0.000), (0.008, 0.044)),
            "angry": ((0.007, 0.033), (0.009, 0.058))}


@pytest.mark.parametrize("preset", ["neutral", "sad", "angry"])
def test_closing_presets_cover_the_mouth_with_the_lips(smile, preset: str) -> None:
    """A toothy smile under a closed-mouth preset: the lips meet along the whole mouth (the corners
    too: no dark cavity left there) and no teeth show between them."""
    new, old, source = smile
    reference = new.prepare_preset(builtin_preset(preset))
    params = EditParams(alpha=1.0)
    out = new.render(source, reference, params, full_resolution=False)
    before = old.render(source, reference, params, full_resolution=False)
    assert mouth_gap(out.target_vertices) < 0.03  # the preset closes the mouth
    src_teeth, src_dark = _mouth_shares(source.aligned.crop, source.vertices)
    teeth, dark = _mouth_shares(out.crop, out.target_vertices)
    _, dark_before = _mouth_shares(before.crop, out.target_vertices)
    print(preset, "source", round(src_teeth, 3), round(src_dark, 3), "with", round(teeth, 3), round(dark, 3),
          "without", round(dark_before, 3), "measured", MEASURED[preset])
    assert src_teeth > 0.15 and src_dark > 0.15  # measured 0.19, 0.18
    assert teeth < 0.015
    assert dark < 0.045 and dark < 0.75 * dark_before


def test_closing_is_exact_at_intensity_zero(smile) -> None:
    new, _, source = smile
    result = new.render(source, new.prepare_preset(builtin_preset("neutral")), EditParams(alpha=0.0))
    assert np.array_equal(result.image, source.photo.rgb)


def test_stretch_and_weights(smile) -> None:
    new, _, source = smile
    src = source.vertices.astype(np.float64)
    gaps = load_au_calibration().closed_mouth_gap
    assert closing_weight(src, src, gaps) == 0.0  # an open mouth that stays open
    target = new.target_vertices(source, new.prepare_preset(builtin_preset("neutral")), EditParams(alpha=1.0))
    assert closing_weight(src, target, gaps) == pytest.approx(1.0)
    closed = closed_target(target, 1.0)
    gap = closed[list(INNER_LIP_LOWER), 1] - closed[list(INNER_LIP_UPPER), 1]
    before = target[list(INNER_LIP_LOWER), 1] - target[list(INNER_LIP_UPPER), 1]
    assert before.max() > 2.5  # the smile's corners stay open in the target (measured 3.6 px) ...
    assert gap.max() <= gap[4:7].max() + 0.05  # ... closed: no pair gapes more than the middle
    assert np.array_equal(closed_target(src, 0.0), src.astype(np.float32))
    # the lips stretch monotonically: the displacement's sampled rows keep their order down a column
    zero = np.zeros((512, 512, 2), np.float32)
    box = (0, 512, 0, 512)
    moved = stretch_lips(zero, target, closed, box)
    for vertex in (191, 80, 13, 310):
        x = int(round(target[vertex, 0]))
        ys = np.arange(512) + moved[:, x, 1]
        assert np.all(np.diff(ys) > -1e-3)
    assert np.abs(moved).max() > 0.5  # it does move the lips (measured 0.96 px before the flow's untangling)
    edges = lip_edges(lab_near_mouth(source.aligned.crop, source.vertices), source.vertices)
    assert np.all(edges.real_up <= edges.mesh_up + 1.01) and np.all(edges.real_lo >= edges.mesh_lo - 1.01)
    assert np.all(edges.real_up >= edges.outer_up) and np.all(edges.real_lo <= edges.outer_lo)
