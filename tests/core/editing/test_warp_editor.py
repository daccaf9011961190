"""The warp editor on real aligned crops: anger.jpg (mouth closed) and happy.jpg (open, teeth)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.editing.editor import EditGeometry, EditInputs
from core.editing.geometry_link import geometry_link
from core.editing.masks import EYE_LOWER_LIDS, EYE_UPPER_LIDS, INNER_LIP_RING, build_masks, polygon_mask, ring
from core.editing.warp.colour import to_lab
from core.editing.warp.editor import WarpEdit, WarpEditor
from core.editing.warp.eyes import eye_frame
from core.editing.warp.mouth_fill import relative_opening
from core.face.align import AlignConfig, align_face
from core.face.analyzer import FaceAnalyzer
from core.io import load_photo
from core.render.flow import backward_flow

SIZE = 384


@pytest.fixture(scope="module")
def crops(app_assets: None, media):
    analyzer = FaceAnalyzer()
    out = {}
    for name in ("anger.jpg", "happy.jpg"):
        photo = load_photo(media.path(name))
        face = analyzer.analyze(photo.rgb)[0]
        out[name] = align_face(photo.rgb, face.landmarks, AlignConfig(size=SIZE))
    return out


def open_mouth(verts: np.ndarray, px: float) -> np.ndarray:
    """The mesh with everything below the upper inner lip moved down by up to ``px`` (a jaw drop)."""
    v = verts.astype(np.float64).copy()
    y_lip = v[[13, 82, 312], 1].max() + 0.5
    x_mid, width = v[[61, 291], 0].mean(), np.ptp(v[:, 0])
    below = v[:, 1] > y_lip
    fall = np.exp(-(((v[:, 0] - x_mid) / (0.45 * width)) ** 2))
    v[below, 1] += px * fall[below]
    return v.astype(np.float32)


def squint(verts: np.ndarray, amount: float) -> np.ndarray:
    """The mesh with both upper lids moved ``amount`` of the way down to the lower lids."""
    v = verts.copy()
    for eye in (0, 1):
        up, lo = list(EYE_UPPER_LIDS[eye][1:-1]), list(EYE_LOWER_LIDS[eye][1:-1])
        v[up] = verts[up] + amount * (verts[lo] - verts[up])
    return v


def edit(source_crop: np.ndarray, source: np.ndarray, target: np.ndarray, *, reference_crop=None,
         reference=None) -> tuple[WarpEdit, np.ndarray]:
    link = geometry_link()
    geometry = EditGeometry(faces=link.faces, source=source, target=target, reference=reference,
                            mouth_faces=link.mouth_faces, eye_faces=link.eye_faces, size=SIZE)
    flow = backward_flow(EditGeometry.screen(target), EditGeometry.screen(source)[..., :2],
                         torch.as_tensor(link.faces), (SIZE, SIZE))
    masks = build_masks(geometry, flow.displacement[0].numpy())
    result = WarpEditor().edit_detailed(EditInputs(source_crop=source_crop, flow=flow, masks=masks,
                                                   reference_crop=reference_crop, geometry=geometry))
    return result, masks.face


def test_identity_target_changes_nothing(crops) -> None:
    a = crops["anger.jpg"]
    result, face = edit(a.crop, a.landmarks, a.landmarks.copy())
    assert np.array_equal(result.crop, a.crop) and not face.any()
    assert result.mouth.kind == "none" and result.eyes.states == ("unchanged", "unchanged")


def test_mouth_from_the_reference_has_teeth_and_source_colours(crops) -> None:
    a, h = crops["anger.jpg"], crops["happy.jpg"]
    target = open_mouth(a.landmarks, 22.0)
    assert relative_opening(a.landmarks) < 0.03 < 0.15 < relative_opening(target)
    result, face = edit(a.crop, a.landmarks, target, reference_crop=h.crop, reference=h.landmarks)
    assert result.mouth.kind == "reference" and result.mouth.alpha.max() > 0.99
    inside = polygon_mask(ring(target, INNER_LIP_RING), SIZE) > 0.99
    lab = to_lab(result.crop[inside])
    # teeth: a clearly brighter, nearly neutral group of pixels inside the opening ...
    bright = lab[lab[:, 0] > np.percentile(lab[:, 0], 85)]
    dark = lab[lab[:, 0] < np.percentile(lab[:, 0], 30)]
    assert bright[:, 0].mean() > dark[:, 0].mean() + 25
    assert np.abs(bright[:, 1:]).mean() < 15  # not tinted blue or green by the colour match
    # ... and none of the warp's stretched lip pixels
    warped = to_lab(result.warped[inside].astype(np.uint8))
    assert np.abs(lab[:, 0] - warped[:, 0]).mean() > 10
    # outside the change mask the crop is the source, exactly
    assert np.array_equal(result.crop[face == 0], a.crop[face == 0])


def test_mouth_without_reference_is_synthesised(crops) -> None:
    a = crops["anger.jpg"]
    target = open_mouth(a.landmarks, 22.0)
    result, _ = edit(a.crop, a.landmarks, target)
    assert result.mouth.kind == "synthetic"
    inside = polygon_mask(ring(target, INNER_LIP_RING), SIZE) > 0.99
    ys, xs = np.nonzero(inside)
    lab = to_lab(result.crop[ys, xs])
    top = ys < np.percentile(ys, 25)  # just under the upper lip: the teeth band
    mid = (ys > np.percentile(ys, 50)) & (ys < np.percentile(ys, 80))  # the dark cavity
    assert lab[top, 0].mean() > lab[mid, 0].mean() + 25
    assert lab[mid, 0].mean() < 35


def test_open_source_mouth_keeps_its_teeth_unstretched(crops) -> None:
    h = crops["happy.jpg"]
    target = open_mouth(h.landmarks, 16.0)
    result, _ = edit(h.crop, h.landmarks, target)
    assert result.mouth.kind == "source"

    def teeth_rows(image: np.ndarray, verts: np.ndarray) -> int:
        inside = polygon_mask(ring(verts, INNER_LIP_RING), SIZE) > 0.99
        light = (to_lab(image)[..., 0] > 65) & inside
        return int(light.any(axis=1).sum())

    own = teeth_rows(h.crop, h.landmarks)
    assert own > 5
    assert teeth_rows(result.crop, target) <= 1.3 * own  # the teeth keep their height ...
    assert teeth_rows(result.warped.astype(np.uint8), target) > 1.3 * own  # ... the plain warp stretches them


def test_closing_eyes_are_occluded_not_squashed(crops) -> None:
    h = crops["happy.jpg"]
    target = squint(h.landmarks, 0.5)
    result, _ = edit(h.crop, h.landmarks, target)
    assert result.eyes.states == ("closing", "closing")
    # the eye content is not resampled vertically: at the target eye's centre, the edited crop
    # shows the source's pixel at the same eye-frame position (the plain warp moves it)
    t, s = eye_frame(target, 0), eye_frame(h.landmarks, 0)
    up, lo = t.lids(np.zeros(1))
    b = float((up + lo)[0] / 2)
    p_t = np.round(t.point(np.zeros(1), np.array([b]))[0]).astype(int)
    p_s = np.round(s.point(np.zeros(1), np.array([b]))[0]).astype(int)
    got = result.crop[p_t[1], p_t[0]].astype(int)
    assert np.abs(got - h.crop[p_s[1], p_s[0]]).max() < 30


def test_closed_eyes_show_lid_skin(crops) -> None:
    h = crops["happy.jpg"]
    target = squint(h.landmarks, 0.93)
    result, _ = edit(h.crop, h.landmarks, target)
    assert result.eyes.states == ("closed", "closed")
    slit = result.eyes.alpha > 0.5
    skin = to_lab(h.crop[int(eye_frame(h.landmarks, 0).origin[1]) + 25, 100:130]).mean(0)
    assert abs(to_lab(result.crop[slit])[:, 0].mean() - skin[0]) < 25


def test_eye_opening_from_a_slit_uses_the_reference_eye(crops) -> None:
    a, h = crops["anger.jpg"], crops["happy.jpg"]
    slit = squint(a.landmarks, 0.8)  # pretend the source's eyes were a slit ...
    result, _ = edit(a.crop, slit, a.landmarks, reference_crop=h.crop, reference=h.landmarks)
    assert result.eyes.states == ("opening", "opening")
    region = result.eyes.alpha > 0.99
    lab = to_lab(result.crop[region])
    assert lab[:, 0].max() - lab[:, 0].min() > 40  # sclera and iris, not a smear of lashes
    result_syn, _ = edit(a.crop, slit, a.landmarks)  # ... and without a reference: a drawn eye
    lab = to_lab(result_syn.crop[result_syn.eyes.alpha > 0.99])
    assert lab[:, 0].max() - lab[:, 0].min() > 40
