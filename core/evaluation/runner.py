"""The evaluation loop: for every pair and editor, make the output, judge it, score it, cache it.

    evaluator = Evaluator(settings=EvalSettings(alpha=1.0), judges=load_judges(), cache=EvalCache(folder))
    for outcome in evaluator.run(pairs, editors):      # one PairOutcome per (pair, editor)
        ...
    evaluator.real_views                               # the judged sources and references (FID's real set)
    evaluator.pair_views[pair]                         # (source view, reference view or None)

:meth:`Evaluator.run` is a generator, like :func:`core.editing.batch.run_batch`: a caller shows
progress and carries on past bad pairs. Only :class:`~core.errors.GafetError` (an unreadable
photo, no face, a face the judges cannot find in an output) is caught per pair and reported in
the outcome; anything else is a bug and propagates. Cached views and results are read without
loading any network; the face networks load on the first thing that must be computed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from core.editing.pipeline import EditPipeline, PreparedReference, PreparedSource, preset_aus
from core.editing.spec import WARP, build_editor
from core.errors import GafetError
from core.evaluation.cache import EvalCache, cache_key, file_digest
from core.evaluation.editors import EditorRunner, EvalEditor
from core.evaluation.judges import Judges
from core.evaluation.pairs import EvalPair
from core.evaluation.records import PairOutcome, PairRecord, PairScores
from core.evaluation.scoring import PairedCrops, detail_scores, score_pair
from core.evaluation.views import VIEW_CROP, FaceJudge, FaceView, matching_face
from core.face.align import AlignConfig, align_face
from core.face.errors import FaceIndexError, NoFaceError
from core.geometry import presets
from core.io import load_photo


class OutputFaceError(NoFaceError):
    """The judges found no face in an editor's output where the source face was (exit code 3)."""


@dataclass(frozen=True)
class EvalSettings:
    """alpha: the edit intensity, 0..1.5. crop_size: the edit pipeline's crop side (px).
    device: where the face networks and GaFET models run. same_pose_deg: keep only pairs whose
    head yaw and pitch differ by at most this many degrees (None: every pair)."""

    alpha: float = 1.0
    crop_size: int = 512
    device: str = "cpu"
    same_pose_deg: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.5:
            raise GafetError(f"--alpha must be between 0 and 1.5, got {self.alpha}.")
        if self.same_pose_deg is not None and self.same_pose_deg <= 0:
            raise GafetError(f"The same-pose tolerance must be > 0 degrees, got {self.same_pose_deg}.")


def load_reference_preset(name: str) -> presets.ExpressionPreset:
    """A preset named in a pair: a .json file, a built-in name, or one of the user's presets."""
    try:
        return presets.find_preset(name)
    except presets.PresetNotFoundError:
        raise
    except presets.PresetError as err:
        raise GafetError(f"Cannot use the preset '{name}': {err}.") from err


class _PairInputs:
    """A pair's judged inputs (views; prepared faces on demand) and the parts of its cache keys."""

    def __init__(self, pair: EvalPair) -> None:
        self.pair = pair
        self.source_view: FaceView | None = None
        self.reference_view: FaceView | None = None
        self.reference_aus: np.ndarray | None = None
        self.source: PreparedSource | None = None
        self.reference: PreparedReference | None = None
        self.key_parts: dict[str, object] = {}


class Evaluator:
    """Runs pairs x editors (see the module docstring)."""

    def __init__(self, *, settings: EvalSettings, judges: Judges, cache: EvalCache,
                 lpips_model: nn.Module | None = None) -> None:
        self.settings = settings
        self.judges = judges
        self.cache = cache
        self.lpips_model = lpips_model
        self.real_views: dict[str, FaceView] = {}  # view key -> judged source / reference face
        self.pair_views: dict[EvalPair, tuple[FaceView, FaceView | None]] = {}  # (source, reference)
        self._pipeline: EditPipeline | None = None
        self._runner: EditorRunner | None = None
        self._face_judge: FaceJudge | None = None
        names = [None if judges.identity is None else judges.identity.name,
                 None if judges.emotion is None else judges.emotion.name]
        if judges.csim is not None:  # only then: without one, the cache keys stay as they were
            names.append(judges.csim.name)
        if judges.landmarks is not None:
            names.append(judges.landmarks.name)
        self._judge_names: list[str | None] = names

    # --- lazily loaded networks ------------------------------------------------------------

    @property
    def pipeline(self) -> EditPipeline:
        if self._pipeline is None:
            self._pipeline = EditPipeline(editor=build_editor(WARP), crop_size=self.settings.crop_size,
                                          device=self.settings.device)
        return self._pipeline

    @property
    def runner(self) -> EditorRunner:
        if self._runner is None:
            self._runner = EditorRunner(self.pipeline)
        return self._runner

    @property
    def face_judge(self) -> FaceJudge:
        if self._face_judge is None:
            self._face_judge = FaceJudge(judges=self.judges, geometry=self.pipeline.geometry)
        return self._face_judge

    # --- the loop --------------------------------------------------------------------------

    def run(self, pairs: Sequence[EvalPair], editors: Sequence[EvalEditor]) -> Iterator[PairOutcome]:
        """One :class:`PairOutcome` per (pair, editor), pair-major."""
        for pair in pairs:
            inputs = _PairInputs(pair)
            try:
                self._prepare_inputs(inputs)
            except GafetError as err:
                for editor in editors:
                    yield PairOutcome(pair=pair, editor=editor, error=err)
                continue
            pose_gap = self._pose_gap(inputs)
            if pose_gap is not None:
                for editor in editors:
                    yield PairOutcome(pair=pair, editor=editor, skipped=pose_gap)
                continue
            for editor in editors:
                try:
                    yield self._evaluate(inputs, editor)
                except GafetError as err:
                    yield PairOutcome(pair=pair, editor=editor, error=err)

    def _view_key(self, path: Path, face: int) -> str:
        return cache_key({"kind": "view", "file": file_digest(path), "face": face,
                          "judges": self._judge_names, "view_crop": VIEW_CROP})

    def _view(self, path: Path, face_index: int, role: str) -> FaceView:
        if not path.is_file():
            load_photo(path)  # raises the photo module's "not found" error, naming the file
        key = self._view_key(path, face_index)
        hit = self.cache.load("views", key)
        if hit is not None:
            view = FaceView.from_json(hit[0], hit[1])
        else:
            photo = load_photo(path)
            prepared = (self.pipeline.prepare_source(photo, face_index=face_index) if role == "source"
                        else self.pipeline.prepare_reference(photo, face_index=face_index))
            face = prepared.faces[prepared.face_index]
            view = self.face_judge.view(np.asarray(photo.rgb), face)
            self.cache.save("views", key, view.to_json(), view.crop)
        self.real_views[key] = view
        return view

    def _prepare_inputs(self, inputs: _PairInputs) -> None:
        pair = inputs.pair
        inputs.source_view = self._view(pair.source, pair.source_face, "source")
        if pair.preset is not None:
            inputs.reference_aus = preset_aus(load_reference_preset(pair.preset))
            ref_key: object = f"preset:{pair.preset}:{inputs.reference_aus.tobytes().hex()}"
        else:
            assert pair.reference is not None
            inputs.reference_view = self._view(pair.reference, pair.reference_face, "reference")
            inputs.reference_aus = inputs.reference_view.aus
            ref_key = file_digest(pair.reference)
        self.pair_views[pair] = (inputs.source_view, inputs.reference_view)
        inputs.key_parts = {
            "kind": "result", "source": file_digest(pair.source), "source_face": pair.source_face,
            "reference": ref_key, "reference_face": pair.reference_face,
            "target": None if pair.target is None else file_digest(pair.target),
            "alpha": self.settings.alpha, "crop_size": self.settings.crop_size, "judges": self._judge_names,
            "lpips": self.lpips_model is not None,
        }

    def _pose_gap(self, inputs: _PairInputs) -> str | None:
        tol = self.settings.same_pose_deg
        src, ref = inputs.source_view, inputs.reference_view
        if tol is None or src is None or ref is None:
            return None
        dyaw, dpitch = abs(src.yaw - ref.yaw), abs(src.pitch - ref.pitch)
        if max(dyaw, dpitch) <= tol:
            return None
        return f"not the same pose (yaw differs by {dyaw:.0f}°, pitch by {dpitch:.0f}°; tolerance {tol:g}°)"

    def _prepared(self, inputs: _PairInputs) -> tuple[PreparedSource, PreparedReference]:
        pair, pipe = inputs.pair, self.pipeline
        if inputs.source is None:
            inputs.source = pipe.prepare_source(load_photo(pair.source), face_index=pair.source_face)
        if inputs.reference is None:
            if pair.preset is not None:
                inputs.reference = pipe.prepare_preset(load_reference_preset(pair.preset))
            else:
                assert pair.reference is not None
                inputs.reference = pipe.prepare_reference(load_photo(pair.reference),
                                                          face_index=pair.reference_face)
        return inputs.source, inputs.reference

    def _evaluate(self, inputs: _PairInputs, editor: EvalEditor) -> PairOutcome:
        pair, alpha = inputs.pair, self.settings.alpha
        if editor.kind == "mouth-paste" and pair.preset is not None:
            return PairOutcome(pair=pair, editor=editor, skipped=f"{editor.name} needs a reference photo")
        key = cache_key(inputs.key_parts | {"editor": editor.cache_text()})
        hit = self.cache.load("results", key)
        if hit is not None:
            data, crop = hit
            record = PairRecord(pair=pair, editor=editor, alpha=alpha,
                                scores=PairScores.from_json(data["scores"]),  # type: ignore[arg-type]
                                output=FaceView.from_json(data["output"], crop))  # type: ignore[arg-type]
            return PairOutcome(pair=pair, editor=editor, record=record, cached=True)
        source, reference = self._prepared(inputs)
        image = self.runner.output(editor, source, reference, alpha)
        if image is None:
            return PairOutcome(pair=pair, editor=editor, skipped=f"{editor.name} needs a reference photo")
        source_box = source.faces[source.face_index].detection.box
        face = matching_face(self.pipeline.analyzer.analyze(image), source_box)
        if face is None:
            raise OutputFaceError(f"The judges found no face in the output of {editor.name} "
                                  f"for {pair.label}.")
        assert inputs.source_view is not None and inputs.reference_aus is not None
        # the landmark judge reads the output in the source's box: only its pixels differ
        output = self.face_judge.view(image, face, landmark_box=inputs.source_view.landmark_box)
        detail = detail_scores(image, np.asarray(source.photo.rgb), source.faces[source.face_index].landmarks,
                               face.landmarks, inputs.source_view.landmark_box)
        scores = score_pair(source=inputs.source_view, reference=inputs.reference_view,
                            reference_aus=inputs.reference_aus, preset=pair.preset, output=output,
                            paired=self._paired(pair, image), lpips_model=self.lpips_model, detail=detail)
        record = PairRecord(pair=pair, editor=editor, alpha=alpha, scores=scores, output=output)
        self.cache.save("results", key, {"scores": scores.to_json(finite=False), "output": output.to_json()},
                        output.crop)
        return PairOutcome(pair=pair, editor=editor, record=record)

    def _paired(self, pair: EvalPair, output: np.ndarray) -> PairedCrops | None:
        if pair.target is None:
            return None
        target = load_photo(pair.target)
        faces = self.pipeline.analyze(target)
        if not faces:
            raise NoFaceError(f"No face was found in the target '{pair.target.name}'.")
        if pair.reference_face >= len(faces):
            raise FaceIndexError(f"The target '{pair.target.name}' has no face {pair.reference_face}.")
        rgb = np.asarray(target.rgb)
        if rgb.shape != output.shape:
            raise GafetError(f"The target '{pair.target.name}' is {rgb.shape[1]}x{rgb.shape[0]} px but the "
                             f"source is {output.shape[1]}x{output.shape[0]}: paired metrics need frames "
                             "of one size.")
        config = AlignConfig(size=VIEW_CROP)
        landmarks = faces[pair.reference_face].landmarks
        return PairedCrops(output=align_face(output, landmarks, config).crop,
                           target=align_face(rgb, landmarks, config).crop)
