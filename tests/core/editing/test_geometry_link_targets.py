"""Issue 10's geometry targets on a small grid of real photos and video frames.

Judged independently of the editor: dlib's 68 landmarks (the output read in its source's box),
dlib's identity ResNet and fer's emotion classifier (:mod:`core.evaluation.judges`), as
``gafet evaluate`` does. Thresholds sit a little under what the calibrated geometry reaches
(numbers in the comments), so a regression fails them.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from core import assets
from core.editing.params import AU_NAMES, EditParams
from core.editing.pipeline import EditPipeline, PreparedReference, PreparedSource
from core.editing.warp.editor import WarpEditor
from core.geometry.au.calibration import mouth_gap
from core.geometry.presets import builtin_preset
from core.io import load_photo
from core.io.video import iter_frames
from core.metrics.emotion import EMOTIONS
from core.metrics.face_geometry import face_geometry, gap_closure
from core.metrics.identity import identity_distance

NEUTRAL_FRAME = 1  # neutral_to_smile.mp4: the man holding still (the calibration used frames 0, 3, ..., 15)


@pytest.fixture(scope="module")
def pipe(app_assets: None) -> EditPipeline:
    return EditPipeline(editor=WarpEditor(), crop_size=512)


@pytest.fixture(scope="module")
def judges(app_assets: None):
    from core.evaluation.judges import load_judges

    assets.ensure(["identity-dlib", "emotion-fer"])
    j = load_judges("dlib")
    assert j.landmarks is not None and j.identity is not None and j.emotion is not None
    return j


@pytest.fixture(scope="module")
def faces(pipe: EditPipeline, media, tmp_path_factory) -> dict[str, PreparedSource]:
    """Sources / references by name: photos, and video frames saved as PNGs."""
    folder: Path = tmp_path_factory.mktemp("frames")

    def frame(video: str, index: int):
        rgb = next(iter_frames(media.path(video), start=index, max_frames=1))
        path = folder / f"{Path(video).stem}_{index}.png"
        cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        return load_photo(path)

    photos = {"single": (load_photo(media.path("single_face.jpg")), 0),
              "boy": (load_photo(media.path("multi_face.jpg")), 2),
              "man": (frame("neutral_to_smile.mp4", NEUTRAL_FRAME), 0),
              "man_smile": (frame("neutral_to_smile.mp4", 60), 0),
              "woman": (frame("sad_to_laugh.mp4", 240), 0),
              "sad": (frame("sad_to_laugh.mp4", 0), 0),
              "laugh": (frame("sad_to_laugh.mp4", 300), 0),
              "surprise": (load_photo(media.path("surprise.jpg")), 0),
              "anger": (load_photo(media.path("anger.jpg")), 0)}
    return {k: pipe.prepare_source(p, face_index=i) for k, (p, i) in photos.items()}


def _reference(pipe: EditPipeline, source: PreparedSource) -> PreparedReference:
    return pipe.prepare_reference(source.photo, face_index=source.face_index)


def _geometry(judges, image: np.ndarray, box: tuple[int, int, int, int]):
    return face_geometry(judges.landmarks.landmarks(image, box))


def _face_box_mad(source: PreparedSource, image: np.ndarray) -> float:
    x0, y0, x1, y1 = np.maximum(np.round(source.faces[source.face_index].detection.box), 0).astype(int)
    rgb = np.asarray(source.photo.rgb, dtype=np.float64)
    return float(np.abs(np.asarray(image, dtype=np.float64) - rgb)[y0:y1, x0:x1].mean())


def test_a_relaxed_closed_mouth_is_the_persons_neutral(faces: dict[str, PreparedSource]) -> None:
    """Alone, the thin-lipped neutral man reads lip pressor 1.0; relative to his single-photo neutral
    he shows no AU, while his smile still reads AU12 / AU06 and no lip pressor."""
    man, smile = faces["man"].fit, faces["man_smile"].fit
    i12, i06, i24 = (AU_NAMES.index(n) for n in ("AU12", "AU06", "AU24"))
    assert man.aus[i24] > 0.7  # the documented single-photo leak (docs/geometry.md §3)
    relative = man.aus - man.neutral_aus
    assert relative.max() < 0.02, dict(zip(AU_NAMES, relative.round(3).tolist(), strict=True))
    rel_smile = smile.aus - smile.neutral_aus
    assert rel_smile[i12] > 0.5 and rel_smile[i06] > 0.25 and rel_smile[i24] < 0.15


def test_neutral_preset_leaves_neutral_faces_alone(pipe: EditPipeline,
                                                   faces: dict[str, PreparedSource]) -> None:
    """The man is the test media's one neutral face (his frames also set the neutral floor, so this
    holds by construction for him); the near-neutral boy loses only his slight smile (AU12 0.2)."""
    neutral = pipe.prepare_preset(builtin_preset("neutral"))
    mads = {}
    for name in ("man", "boy"):
        source = faces[name]
        mads[name] = _face_box_mad(source, pipe.render(source, neutral, EditParams(alpha=1.0)).image)
    print("neutral preset: mean |difference| / 255 in the face box", mads)
    assert mads["man"] < 1.0  # measured 0.00
    assert mads["boy"] < 1.6  # measured 1.35


def test_neutral_preset_removes_a_smile_and_closes_the_mouth(pipe: EditPipeline,
                                                              faces: dict[str, PreparedSource]) -> None:
    source = faces["single"]
    neutral = pipe.prepare_preset(builtin_preset("neutral"))
    goal = pipe.target_aus(neutral, EditParams(), source)
    assert goal[AU_NAMES.index("AU12")] < 0.05 and goal[AU_NAMES.index("AU26")] == 0.0
    assert mouth_gap(source.vertices) > 0.15  # an open smile ...
    target = pipe.target_vertices(source, neutral, EditParams(alpha=1.0))
    assert mouth_gap(target) < 0.02  # ... closed (a relaxed closed mouth: 0.011)


def test_mouth_aperture_follows_the_reference(pipe: EditPipeline, faces: dict[str, PreparedSource]) -> None:
    source = faces["single"]
    for name in ("anger", "surprise", "laugh"):
        reference = _reference(pipe, faces[name])
        target = pipe.target_vertices(source, reference, EditParams(alpha=1.0))
        assert mouth_gap(target) == pytest.approx(mouth_gap(reference.vertices), abs=0.006), name
    # an AU26 override is the user's: the aperture then follows the AUs, not the photo
    reference = _reference(pipe, faces["anger"])
    opened = pipe.target_vertices(source, reference, EditParams(alpha=1.0, au_overrides=(("AU26", 1.0),)))
    assert mouth_gap(opened) > mouth_gap(reference.vertices) + 0.1


def test_transfer_closes_the_geometry_gaps_and_keeps_identity(pipe: EditPipeline, judges,
                                                              faces: dict[str, PreparedSource]) -> None:
    """dlib-68 brow height, eye opening and mouth opening of the output move most of the way from
    the source's to the reference's (median over pairs); the dlib identity stays the source's."""
    closures: dict[str, list[float]] = {"brow_height": [], "eye_opening": [], "mouth_opening": []}
    distances = []
    for src_name in ("single", "man"):
        source = faces[src_name]
        face = source.faces[source.face_index]
        box = judges.landmarks.box(face)
        src_geo = _geometry(judges, np.asarray(source.photo.rgb), box)
        src_desc = judges.identity.describe(np.asarray(source.photo.rgb), face)
        for ref_name in ("surprise", "anger", "sad", "laugh"):
            ref_src = faces[ref_name]
            ref_face = ref_src.faces[ref_src.face_index]
            ref_geo = _geometry(judges, np.asarray(ref_src.photo.rgb), judges.landmarks.box(ref_face))
            result = pipe.render(source, _reference(pipe, ref_src), EditParams(alpha=1.0))
            out_geo = _geometry(judges, np.asarray(result.image), box)
            gaps = gap_closure(src_geo, ref_geo, out_geo)
            for measure in closures:
                value = getattr(gaps, measure)
                if value is not None:
                    closures[measure].append(value)
            distances.append(float(identity_distance(judges.identity.describe(np.asarray(result.image), face),
                                                     src_desc)))
    medians = {m: float(np.median(v)) for m, v in closures.items()}
    print("gap closure medians", {m: round(v, 2) for m, v in medians.items()}, "pairs",
          {m: len(v) for m, v in closures.items()}, "identity", np.round(distances, 3))
    # measured: brows 0.51, eyes 0.43, mouth 0.73 (6, 5, 6 pairs); identity median 0.26, max 0.42
    assert medians["brow_height"] > 0.45 and medians["eye_opening"] > 0.35 and medians["mouth_opening"] > 0.65
    assert np.median(distances) <= 0.30 and max(distances) <= 0.45


@pytest.mark.parametrize("emotion", ["happy", "surprise"])
def test_presets_read_as_their_emotion(pipe: EditPipeline, judges, faces: dict[str, PreparedSource],
                                       emotion: str) -> None:
    """fer sees the preset's emotion on faces that do not already show a broad toothy smile
    (measured: happy on the woman and the boy, not the man; surprise on all three). sad, angry,
    fear and disgust are not asserted: fer reads them on at most one of these faces (the report)."""
    preset = pipe.prepare_preset(builtin_preset(emotion))
    tops = []
    for name in ("man", "woman", "boy"):
        source = faces[name]
        result = pipe.render(source, preset, EditParams(alpha=1.0))
        probs = judges.emotion.probabilities(np.asarray(result.image), source.faces[source.face_index])
        tops.append(EMOTIONS[int(np.argmax(probs))])
    print(emotion, tops)
    assert tops.count(emotion) >= 2, tops


def test_alpha_zero_keeps_the_source_for_a_preset(pipe: EditPipeline,
                                                  faces: dict[str, PreparedSource]) -> None:
    source = faces["single"]
    result = pipe.render(source, pipe.prepare_preset(builtin_preset("surprise")), EditParams(alpha=0.0))
    assert np.array_equal(result.image, source.photo.rgb)
