"""The warp editor on real aligned crops: anger.jpg (mouth closed) and happy.jpg (open, teeth); its
flow, eyes and nose on single_face.jpg through the pipeline (issue 10)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from core.editing.editor import EditGeometry, EditInputs
from core.editing.face_flow import face_flow, folded_faces
from core.editing.geometry_link import geometry_link
from core.editing.masks import (
    EYE_LOWER_LIDS,
    EYE_RINGS,
    EYE_UPPER_LIDS,
    INNER_LIP_RING,
    build_masks,
    polygon_mask,
    ring,
)
from core.editing.params import EditParams
from core.editing.pipeline import EditPipeline
from core.editing.warp.colour import to_lab
from core.editing.warp.editor import WarpEdit, WarpEditor, WarpEditorConfig
from core.editing.warp.eyes import eye_frame
from core.editing.warp.mouth_fill import relative_opening
from core.face.align import AlignConfig, align_face
from core.face.analyzer import FaceAnalyzer
from core.geometry.au.topology import NOSE
from core.geometry.presets import builtin_preset
from core.io import load_photo
from core.render.flow import backward_flow, identity_grid
from tests.helpers.face import jaw_drop as open_mouth

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


def test_mouth_without_reference_is_a_dark_cavity_without_drawn_teeth(crops) -> None:
    a = crops["anger.jpg"]
    target = open_mouth(a.landmarks, 22.0)
    result, _ = edit(a.crop, a.landmarks, target)
    assert result.mouth.kind == "cavity"
    inside = polygon_mask(ring(target, INNER_LIP_RING), SIZE) > 0.99
    ys, xs = np.nonzero(inside)
    lab = to_lab(result.crop[ys, xs])
    top = ys < np.percentile(ys, 25)  # just under the upper lip: in shadow, no band of teeth
    low = ys > np.percentile(ys, 75)  # the tongue, lit
    assert lab[top, 0].mean() < 28 and lab[:, 0].max() < 50
    assert lab[low, 0].mean() > lab[top, 0].mean() + 5


def test_open_source_mouth_keeps_its_teeth_unstretched(crops) -> None:
    h = crops["happy.jpg"]
    target = open_mouth(h.landmarks, 16.0)
    result, _ = edit(h.crop, h.landmarks, target)
    assert result.mouth.kind == "source"

    def teeth_height(image: np.ndarray, verts: np.ndarray) -> float:
        """Teeth px per column across the middle third of the mouth (a stretch makes it grow)."""
        inside = polygon_mask(ring(verts, INNER_LIP_RING), SIZE) > 0.99
        light = (to_lab(image)[..., 0] > 65) & inside
        mid, width = verts[[78, 308], 0].mean(), abs(verts[308, 0] - verts[78, 0])
        cols = slice(int(mid - width / 6), int(mid + width / 6) + 1)
        return float(light[:, cols].sum(axis=0).mean())

    own = teeth_height(h.crop, h.landmarks)
    assert own > 5
    assert teeth_height(result.crop, target) <= 1.3 * own  # the teeth keep (nearly) their height ...
    assert teeth_height(result.warped.astype(np.uint8), target) > 1.3 * own  # ... the warp stretches them


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


# --- issue 10: the flow stays on the face and does not fold; widened eyes show real eye content ---


@pytest.fixture(scope="module")
def portrait(app_assets: None, media):
    pipe = EditPipeline(editor=WarpEditor(), crop_size=512)
    return pipe, pipe.prepare_source(load_photo(media.path("single_face.jpg")))


def skip_openings(link) -> np.ndarray:
    skip = np.zeros(len(link.faces), bool)
    skip[np.concatenate([link.mouth_faces, *link.eye_faces])] = True
    return skip


def steepest(displacement: np.ndarray) -> np.ndarray:
    """(R, R): the largest |partial derivative| of a (R, R, 2) px displacement: a fold or an
    overlap of the mesh is a jump (several px per px), a smooth warp stays near its stretch."""
    return np.max([np.abs(g) for c in (0, 1) for g in np.gradient(displacement[..., c])], axis=0)


def test_face_flow_is_the_identity_off_the_face_and_does_not_fold(portrait) -> None:
    pipe, src = portrait
    link = pipe.geometry
    raw = pipe.target_vertices(src, pipe.prepare_preset(builtin_preset("disgust")), EditParams(alpha=1.5))
    skip = skip_openings(link)
    assert folded_faces(src.vertices, raw, link.faces, skip=skip).sum() > 5  # the target folds (nose, lips)
    moved = face_flow(src.vertices, raw, link.faces, 512, skip=skip)
    assert not folded_faces(src.vertices, moved.target, link.faces, skip=skip).any()
    shift = np.abs(moved.target - raw)[:, :2].max(axis=1)  # folds relaxed locally, the expression kept:
    assert np.median(shift) < 2.0 and np.percentile(shift, 90) < 10.0  # measured 0.0 and 7.4 px
    d = moved.flow.displacement[0].numpy()
    assert not d[moved.region == 0].any()  # exactly the identity outside the region
    grid = moved.flow.grid[0].numpy()
    still = moved.region == 0
    np.testing.assert_array_equal(grid[still], identity_grid(512, 512)[0].numpy()[still])
    cover = moved.flow.mask[0].numpy() > 0
    assert moved.region.sum() < 1.3 * cover.sum()  # the face plus a thin band (measured 1.17)
    nose = np.zeros((512, 512), np.uint8)
    for verts in (moved.target, raw):
        cv2.fillConvexPoly(nose, cv2.convexHull(np.round(verts[list(NOSE), :2]).astype(np.int32)), 1)
    assert steepest(d)[nose > 0].max() < 5.0  # no fold across the nose (the crease of issue 10): 4.1
    same = face_flow(src.vertices, src.vertices.copy(), link.faces, 512, skip=skip)
    assert not same.region.any() and not same.flow.displacement.any()


def test_disgust_draws_no_crease_across_the_nose(portrait) -> None:
    pipe, src = portrait
    result = pipe.render(src, pipe.prepare_preset(builtin_preset("disgust")), EditParams(alpha=1.0))
    nose = np.zeros((512, 512), np.uint8)
    for verts in (result.source_vertices, result.target_vertices):
        cv2.fillConvexPoly(nose, cv2.convexHull(np.round(verts[list(NOSE), :2]).astype(np.int32)), 1)

    def edges(image: np.ndarray) -> float:  # the strongest edges (99th percentile of |LoG|)
        gray = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.0)
        return float(np.percentile(np.abs(cv2.Laplacian(gray, cv2.CV_32F))[nose > 0], 99))

    # measured 1.7x the source's (the nose wrinkles); the unfolded flow's hard fold line: 2.5x
    assert edges(result.crop) < 2.0 * edges(src.aligned.crop)


@pytest.mark.parametrize("preset", ["surprise", "fear"])
def test_widened_eyes_show_the_source_eye_not_a_dark_blob(portrait, preset: str) -> None:
    pipe, src = portrait
    result = pipe.render(src, pipe.prepare_preset(builtin_preset(preset)), EditParams(alpha=1.0))
    plain = EditPipeline(editor=WarpEditor(config=WarpEditorConfig(fix_eyes=False)), crop_size=512)
    stretched = plain.render(plain.prepare_source(src.photo), plain.prepare_preset(builtin_preset(preset)),
                             EditParams(alpha=1.0)).crop
    lum = lambda image: cv2.cvtColor(image, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32) * (100 / 255)  # noqa: E731
    for eye in (0, 1):
        s, t = eye_frame(result.source_vertices, eye), eye_frame(result.target_vertices, eye)
        assert t.opening > 1.25 * s.opening  # the eye really widens (fear preset: 1.38x)
        inside = [cv2.erode(polygon_mask(ring(v, EYE_RINGS[eye]), 512), np.ones((3, 3))) > 0.5
                  for v in (result.source_vertices, result.target_vertices)]
        rim = [(polygon_mask(ring(v, EYE_RINGS[eye]), 512) > 0.5) & ~m
               for v, m in zip((result.source_vertices, result.target_vertices), inside, strict=True)]
        src_l, out_l = lum(src.aligned.crop), lum(result.crop)
        # the source's own eye, moved: its detail (a stretched slit has about a third of it) ...
        lap = [np.var(cv2.Laplacian(x, cv2.CV_32F)[m]) for x, m in ((src_l, inside[0]), (out_l, inside[1]))]
        assert lap[1] > 0.6 * lap[0]
        assert np.var(cv2.Laplacian(lum(stretched), cv2.CV_32F)[inside[1]]) < 0.6 * lap[0]
        # ... not darker than it was, and no heavy outline along the lids
        assert out_l[inside[1]].mean() > src_l[inside[0]].mean() - 3.0
        assert (out_l[inside[1]] < 15).mean() < (src_l[inside[0]] < 15).mean() + 0.12
        assert out_l[rim[1]].mean() > src_l[rim[0]].mean() - 4.0
