"""The target's measured goals (brow height, eye opening, mouth aperture), the pinned face outline
and the per-face cap on the change (:mod:`core.editing.geometry_link`), on real photos."""

from __future__ import annotations

import numpy as np
import pytest

from core.editing.geometry_link import (
    BROW_TOLERANCE,
    EYE_TOLERANCE,
    MAX_CHANGE_RMS,
    MOUTH_TOLERANCE,
    cap_change,
    outline_pin,
)
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline
from core.editing.warp.editor import WarpEditor
from core.geometry.au.calibration import brow_height, eye_opening, mouth_gap
from core.geometry.au.topology import EYE_LEFT, EYE_RIGHT, FACE_OVAL
from core.geometry.presets import builtin_preset
from core.io import load_photo


@pytest.fixture(scope="module")
def pipe(app_assets: None) -> EditPipeline:
    return EditPipeline(editor=WarpEditor(), crop_size=512)


def _iod(mesh: np.ndarray) -> float:
    return float(np.linalg.norm(mesh[list(EYE_LEFT), :2].mean(0) - mesh[list(EYE_RIGHT), :2].mean(0)))


def _rms(change: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum(change[:, :2] ** 2, axis=1))))


def test_a_photo_reference_sets_brows_eyes_and_mouth(pipe: EditPipeline, media) -> None:
    source = pipe.prepare_source(load_photo(media.path("single_face.jpg")))
    reference = pipe.prepare_reference(load_photo(media.path("anger.jpg")))
    link, fit = pipe.geometry, source.fit
    aus = pipe.target_aus(reference, EditParams(alpha=1.0), source)
    goals = link.mouth_goal(fit, aus, reference.vertices, {})
    assert goals.brow == pytest.approx(brow_height(reference.vertices))
    # the eye goal moves from the source's opening towards the reference's, past it (the mesh reads
    # eye openings compressed, and the warp shows less than the mesh asks for)
    own, ref_eye = eye_opening(fit.landmarks), eye_opening(reference.vertices)
    assert (goals.eye - own) * (ref_eye - own) > 0 and abs(goals.eye - own) > abs(ref_eye - own)
    change = link.expression_change(fit, aus, goals)
    target = fit.landmarks + change
    assert _rms(change) < MAX_CHANGE_RMS * _iod(fit.landmarks)  # this pair is not capped ...
    assert brow_height(target) == pytest.approx(goals.brow, abs=2 * BROW_TOLERANCE)  # ... so: its goals
    assert eye_opening(target) == pytest.approx(goals.eye, abs=2 * EYE_TOLERANCE)
    assert mouth_gap(target) == pytest.approx(goals.mouth, abs=MOUTH_TOLERANCE + 0.001)
    assert brow_height(target) < brow_height(fit.landmarks) - 0.03  # anger lowers his brows
    # a user's brow / eye override is the user's: no goal from the photo then
    user = link.mouth_goal(fit, aus, reference.vertices, {"AU04": 0.5, "AU05": 0.2})
    assert user.brow is None and user.eye is None and user.mouth == pytest.approx(goals.mouth)


def test_a_preset_has_no_photo_goals_and_the_change_is_capped(pipe: EditPipeline, media) -> None:
    source = pipe.prepare_source(load_photo(media.path("multi_face.jpg")), face_index=0)
    preset = pipe.prepare_preset(builtin_preset("surprise"))
    aus = pipe.target_aus(preset, EditParams(alpha=1.0), source)
    goals = pipe.geometry.mouth_goal(source.fit, aus, None, {})
    assert goals.brow is None and goals.eye is None
    change = pipe.geometry.expression_change(source.fit, aus, goals)
    # surprise on this face asked for an RMS of 0.16 IOD (identity distance 0.59): capped at 0.11
    assert _rms(change) == pytest.approx(MAX_CHANGE_RMS * _iod(source.fit.landmarks), rel=1e-6)


def test_cap_change_scales_only_what_exceeds_the_cap() -> None:
    rng = np.random.default_rng(0)
    mesh = rng.uniform(0, 200, (468, 3))
    mesh[list(EYE_LEFT), :2] = [150.0, 80.0]
    mesh[list(EYE_RIGHT), :2] = [50.0, 80.0]  # IOD 100 px
    small = np.full((468, 3), 5.0)  # RMS 7.07 px < 11 px
    assert cap_change(small, mesh) is small
    big = rng.normal(0, 30.0, (468, 3))
    capped = cap_change(big, mesh)
    assert _rms(capped) == pytest.approx(MAX_CHANGE_RMS * 100.0)
    assert np.allclose(capped / np.linalg.norm(capped), big / np.linalg.norm(big))  # the shape is kept
    with pytest.raises(ValueError):
        cap_change(big[:10], mesh)


def test_outline_pin_is_zero_on_the_outline_and_one_inside() -> None:
    rng = np.random.default_rng(1)
    mesh = rng.uniform(0, 200, (468, 3))
    mesh[list(EYE_LEFT), :2] = [150.0, 80.0]
    mesh[list(EYE_RIGHT), :2] = [50.0, 80.0]  # IOD 100 px
    pin = outline_pin(mesh, reach=0.3)
    assert pin.shape == (468,) and pin.min() >= 0.0 and pin.max() <= 1.0
    assert np.all(pin[list(FACE_OVAL)] == 0.0)
    outline = mesh[list(FACE_OVAL)][None, :, :2]
    far = np.min(np.linalg.norm(mesh[:, None, :2] - outline, axis=2), axis=1) >= 30.0
    assert far.any() and np.all(pin[far] == 1.0)
    assert np.array_equal(outline_pin(mesh, reach=0.0), np.ones(468))
    with pytest.raises(ValueError):
        outline_pin(mesh[:100])

