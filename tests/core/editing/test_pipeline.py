"""The edit pipeline on real photos: anger.jpg (source) x surprise.jpg (reference)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.editing import pipeline as pipeline_module
from core.editing.editor import Editor
from core.editing.masks import INNER_LIP_RING, OUTER_LIP_RING
from core.editing.params import AU_NAMES, EditParams
from core.editing.pipeline import EditPipeline, EditResult, InvalidPresetError
from core.editing.warp.editor import WARP_EDITOR_NAME, WarpEditor
from core.editing.warp.mouth_fill import relative_opening
from core.face.errors import FaceIndexError, NoFaceError
from core.io import Photo, load_photo

# Upper face oval (forehead, temples) and nose bridge: no expression moves them. (The oval at
# cheekbone height is left out: its landmarks are a silhouette estimate that shifts when the jaw drops.)
RIGID = (10, 338, 297, 332, 284, 251, 389, 109, 67, 103, 54, 21, 6, 168, 197, 195)


def memory_photo(rgb: np.ndarray, name: str = "in-memory.png") -> Photo:
    rgb = np.ascontiguousarray(rgb)
    rgb.setflags(write=False)
    return Photo(rgb=rgb, alpha=None, icc_profile=None, exif=None, source_path=Path(name), format="PNG",
                 source_mode="RGB")


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2D points src (N, 2) mapped by the least-squares similarity onto dst."""
    m, _ = cv2.estimateAffinePartial2D(src.astype(np.float32), dst.astype(np.float32), method=cv2.LMEDS)
    return src @ m[:, :2].T + m[:, 2]


@pytest.fixture(scope="module")
def pipe(app_assets: None) -> EditPipeline:
    return EditPipeline(editor=WarpEditor(), crop_size=512)


@pytest.fixture(scope="module")
def prepared(pipe: EditPipeline, media):
    src = pipe.prepare_source(load_photo(media.path("anger.jpg")))
    ref = pipe.prepare_reference(load_photo(media.path("surprise.jpg")))
    return src, ref


@pytest.fixture(scope="module")
def full(pipe: EditPipeline, prepared) -> EditResult:
    src, ref = prepared
    return pipe.render(src, ref, EditParams(alpha=1.0))


def test_warp_editor_implements_the_protocol() -> None:
    editor = WarpEditor()
    assert isinstance(editor, Editor) and editor.name == WARP_EDITOR_NAME == "Warp (built-in)"


def test_prepare_is_cached(pipe: EditPipeline, prepared, media) -> None:
    src, ref = prepared
    assert pipe.prepare_source(load_photo(media.path("anger.jpg"))) is src  # same file, same mtime
    assert pipe.prepare_reference(load_photo(media.path("surprise.jpg"))) is ref
    assert src.vertices.shape == (468, 3) and src.aligned.crop.shape == (512, 512, 3)
    assert len(src.faces) == 1 and ref.aligned is not None and ref.aus.shape == (20,)


def test_render_runs_no_analysis(pipe: EditPipeline, prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_a: object, **_k: object) -> None:
        raise AssertionError("render must not re-analyse")

    monkeypatch.setattr(pipe.analyzer, "analyze", boom)
    monkeypatch.setattr(pipe.geometry, "fit", boom)
    src, ref = prepared
    r = pipe.render(src, ref, EditParams(alpha=0.5), full_resolution=False)
    assert r.image is None and r.crop.shape == (512, 512, 3) and r.editor_name == WARP_EDITOR_NAME
    t = r.timings
    assert min(t.interpolate_ms, t.render_ms, t.editor_ms, t.paste_ms) >= 0 and t.total_ms > 0


def test_alpha_zero_reproduces_the_source_exactly(pipe: EditPipeline, prepared) -> None:
    src, ref = prepared
    r = pipe.render(src, ref, EditParams(alpha=0.0))
    assert r.image is not None and r.image.shape == src.photo.rgb.shape
    # tolerance: none: intensity 0 moves nothing, so nothing is resampled or pasted
    assert np.array_equal(r.image, src.photo.rgb)
    assert np.array_equal(r.crop, src.aligned.crop)
    assert np.array_equal(r.target_vertices, r.source_vertices)
    np.testing.assert_allclose(r.target_aus, src.fit.aus)


def test_alpha_one_moves_the_expression_to_the_reference(pipe: EditPipeline, prepared, full: EditResult,
                                                         record_property) -> None:
    src, ref = prepared
    out = pipe.prepare_source(memory_photo(full.image, "anger_to_surprise.png"))
    before = float(np.linalg.norm(src.fit.aus - ref.aus))
    after = float(np.linalg.norm(out.fit.aus - ref.aus))
    record_property("au_distance", (before, after))
    print(f"AU L2 distance to the reference: source {before:.3f}, output {after:.3f} ({after / before:.2f}x)")
    assert after < 0.6 * before
    # the mouth really opened (AU26, jaw drop) and the output's mouth opening grew a lot
    assert out.fit.aus[AU_NAMES.index("AU26")] > src.fit.aus[AU_NAMES.index("AU26")] + 0.25
    assert relative_opening(out.vertices) > relative_opening(src.vertices) + 0.1

    # identity: the upper face oval, forehead, temples and nose bridge keep their shape and place
    lm_src = src.faces[0].landmarks[list(RIGID), :2]
    lm_out = out.faces[0].landmarks[list(RIGID), :2]
    raw = np.linalg.norm(lm_out - lm_src, axis=1)
    shape = np.linalg.norm(similarity(lm_out, lm_src) - lm_src, axis=1)
    print(f"rigid landmarks: raw shift mean {raw.mean():.1f} px max {raw.max():.1f} px; "
          f"after a similarity fit mean {shape.mean():.1f} px max {shape.max():.1f} px")
    assert raw.mean() < 8.0 and shape.mean() < 4.0 and shape.max() < 6.5


def test_output_keeps_resolution_and_background(prepared, full: EditResult) -> None:
    src, _ = prepared
    photo = src.photo.rgb
    assert full.image.shape == photo.shape and full.image.dtype == np.uint8
    diff = np.abs(full.image.astype(int) - photo).max(axis=2)
    ys, xs = np.nonzero(diff)
    assert len(ys) > 0
    # every change lies inside the crop's footprint in the photo ...
    corners = np.array([[0, 0], [511, 0], [0, 511], [511, 511]], np.float64)
    foot = corners @ src.aligned.inverse[:, :2].T + src.aligned.inverse[:, 2]
    assert xs.min() >= foot[:, 0].min() - 2 and xs.max() <= foot[:, 0].max() + 2
    # ... and within the flow's fade-out distance of the face (core.render.flow: max(0.35 x face
    # size, 3 x largest displacement), + 2 coarse cells): the background beyond is bit-identical.
    to_photo = src.aligned.to_photo
    pts = np.concatenate([to_photo(full.source_vertices), to_photo(full.target_vertices)])[:, :2]
    hull = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(pts).astype(np.int32)), 1)
    dist = cv2.distanceTransform(1 - hull, cv2.DIST_L2, 5)
    scale = src.aligned.scale
    largest = np.linalg.norm(full.target_vertices - full.source_vertices, axis=1).max() / scale
    radius = max(0.35 * np.sqrt(hull.sum()), 3 * largest) + 2 * 8 / scale
    background = dist > radius
    assert background.sum() > 5000  # the lab portrait is mostly face: a band at the top and corners
    assert diff[background].max() == 0
    # near the face the background only follows the face's motion a little (the neck below a
    # dropping jaw moves most): the mean change there stays small
    near = (dist > 0) & ~background
    assert diff[near].mean() < 12.0


def test_region_weight_zero_keeps_the_mouth(pipe: EditPipeline, prepared, full: EditResult) -> None:
    src, ref = prepared
    r = pipe.render(src, ref, EditParams(alpha=1.0, regions=(("mouth", 0.0),)), full_resolution=False)
    lips = list(OUTER_LIP_RING + INNER_LIP_RING)
    moved_full = np.linalg.norm((full.target_vertices - full.source_vertices)[lips, :2], axis=1).mean()
    moved = np.linalg.norm((r.target_vertices - r.source_vertices)[lips, :2], axis=1).mean()
    assert moved < 0.2 * moved_full
    assert abs(relative_opening(r.target_vertices) - relative_opening(src.vertices)) < 0.03
    assert relative_opening(full.target_vertices) > relative_opening(src.vertices) + 0.1
    # the other regions still move: the eyes open as in the full edit
    brows = [70, 63, 105, 66, 107, 336, 296, 334, 293, 300]
    np.testing.assert_allclose(r.target_vertices[brows], full.target_vertices[brows], atol=1.0)


def test_au_override_moves_that_au(pipe: EditPipeline, prepared) -> None:
    src, ref = prepared
    i = AU_NAMES.index("AU12")
    plain = pipe.render(src, ref, EditParams(alpha=1.0), full_resolution=False)
    smile = pipe.render(src, ref, EditParams(alpha=1.0, au_overrides=(("AU12", 1.0),)), full_resolution=False)
    assert smile.target_aus[i] == pytest.approx(1.0) and plain.target_aus[i] < 0.2
    fit_plain, fit_smile = pipe.geometry.fit(plain.target_vertices), pipe.geometry.fit(smile.target_vertices)
    assert fit_smile.aus[i] > fit_plain.aus[i] + 0.25  # the ridge-regularised fit reads ~0.35 of +1.0
    corners = [61, 291]  # the mouth corners go up (smaller y) with AU12
    assert (smile.target_vertices[corners, 1] < plain.target_vertices[corners, 1] - 3).all()


def test_preset_reference(pipe: EditPipeline, prepared) -> None:
    src, _ = prepared
    ref = pipe.prepare_preset({"AU12": 0.9, "AU06": 0.6, "AU25": 0.8, "AU26": 0.6})
    assert ref.aligned is None and ref.vertices is None and ref.aus[AU_NAMES.index("AU12")] == 0.9
    r = pipe.render(src, ref, EditParams(alpha=1.0))
    assert r.reference_vertices.shape == (468, 3) and not np.array_equal(r.image, src.photo.rgb)
    with pytest.raises(InvalidPresetError):
        pipe.prepare_preset({"AU12": 1.5})


def test_missing_face_index_is_a_user_error(pipe: EditPipeline, prepared, media) -> None:
    # (a photo with no face at all: tests/cli/test_edit_cmd.py, exit code 3)
    assert issubclass(FaceIndexError, NoFaceError)
    with pytest.raises(FaceIndexError, match="has 1 face; face 3 does not exist"):
        pipe.prepare_source(load_photo(media.path("anger.jpg")), face_index=3)


def test_24_megapixel_photo(pipe: EditPipeline, media) -> None:
    small = load_photo(media.path("single_face.jpg")).rgb
    side = 4000
    big = cv2.resize(small, (side, side), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, 0, 0, 1000, 1000, cv2.BORDER_REFLECT_101)  # 6000 x 4000, 24 MP
    photo = memory_photo(big, "big.png")
    src = pipe.prepare_source(photo)
    assert src.aligned.scale < 0.5  # the face is far larger than the crop: detail-preserving paste
    ref = pipe.prepare_preset({"AU01": 0.6, "AU02": 0.6, "AU05": 0.5, "AU26": 0.7})
    r = pipe.render(src, ref, EditParams(alpha=1.0))
    assert r.image is not None and r.image.shape == (4000, 6000, 3)
    changed = np.abs(r.image.astype(np.int16) - big).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert changed.any() and xs.min() > 800 and xs.max() < 5200  # background at the sides untouched
    assert not changed[:, :800].any() and not changed[:, 5200:].any()
    # the untouched photo detail is kept: where nothing moved the output equals the input exactly
    assert changed.mean() < 0.5


def test_the_pipeline_knows_editors_only_through_the_protocol() -> None:
    tree = ast.parse(inspect.getsource(pipeline_module))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in imported if m and m.startswith(("core.editing.warp", "core.editing.gafet"))]
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    probes = [ast.unparse(n) for n in calls
              if n.func.id in ("getattr", "hasattr") and "editor" in ast.unparse(n.args[0])]
    assert probes == []  # no guessing at what an editor can do beyond the protocol
