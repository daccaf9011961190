"""The per-unit work of ``gafet prepare``, run inside a worker process.

For each image of a :class:`~training.data.sources.Unit` (a photo, or the sampled frames of a
video chunk), and for each face in it (left to right):

1. detect (on a copy with at most ``detect_side`` px; the mesh runs on the photo itself) and
   mesh (:class:`core.face.analyzer.FaceAnalyzer`, 468 points);
2. align (:func:`core.face.align.align_face`, FFHQ framing); a face that the R x R crop would
   enlarge more than ``max_upscale`` times is skipped as too small;
3. fit the face parameters in crop px (:mod:`core.editing.geometry_link`: AUs, identity, pose);
4. neutralise: X_n with its mesh and parameters (:mod:`training.data.neutraliser`).

Steps 2-4 run at a working size W = max(R, 256) (:data:`MIN_WORK_SIZE`): the warp editor needs
a mouth of some pixels to fill it (at 64² it fails on small lips), and its edit is better at
256². For R < 256, X and X_n are then area-averaged down to R together (the same resampling on
both sides of a pseudo-pair) and meshes and poses are scaled with them (:func:`rescale`).

Failures a person can act on (an unreadable file, no face, a face too small) are returned as
:class:`Skip` entries, never raised; anything else is a bug and propagates.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import cv2
import numpy as np

from core.editing.pipeline import EditPipeline, PreparedSource
from core.editing.warp.editor import WarpEditor
from core.errors import GafetError
from core.face.align import AlignConfig, align_face, alignment_matrix, matrix_scale
from core.face.analyzer import FaceAnalyzer, load_face_models
from core.geometry.face_model import FaceParams
from core.io import Photo, iter_frames, load_photo
from core.io.errors import VideoUnreadableError
from training.data.neutraliser import NeutralFace, build_neutraliser
from training.data.records import ExtractConfig, FaceArrays, FaceSample, Skip, UnitResult
from training.data.sources import Unit

MIN_WORK_SIZE = 256  # W: faces are aligned, fitted and neutralised at max(R, W) px


def rescale(face: FaceArrays, size: int) -> FaceArrays:
    """The same face in a ``size`` x ``size`` crop: the image area-averaged (or resized) to
    ``size``, landmarks and pose scaled by f = size / W about the pixel-centre convention
    (x' = (x + 0.5)·f - 0.5 for x and y, z' = z·f). Expression and identity are unchanged."""
    work = face.image.shape[0]
    if work == size:
        return face
    f = size / work
    interp = cv2.INTER_AREA if size < work else cv2.INTER_CUBIC
    image = cv2.resize(np.asarray(face.image), (size, size), interpolation=interp)
    shift = np.array([0.5 * f - 0.5, 0.5 * f - 0.5, 0.0], np.float32)
    return face._replace(image=image, landmarks=(face.landmarks * f + shift).astype(np.float32),
                         scale=(face.scale * f).astype(np.float32),
                         translation=(face.translation * f + shift).astype(np.float32))


def rescale_matrix(matrix: np.ndarray, f: float) -> np.ndarray:
    """A (2, 3) photo px -> crop px similarity followed by the crop scaling of :func:`rescale`."""
    out = np.asarray(matrix, np.float64) * f
    out[:, 2] += 0.5 * f - 0.5
    return out


def alignment_upscale(landmarks: np.ndarray, size: int) -> float:
    """Crop px per photo px of the ``size`` x ``size`` aligned crop of a mesh (photo px)."""
    return matrix_scale(alignment_matrix(landmarks, AlignConfig(size=size)))


def _arrays(crop: np.ndarray, landmarks: np.ndarray, params: FaceParams) -> FaceArrays:
    f32 = lambda t: np.array(t.detach().cpu().numpy()[0], dtype=np.float32, order="C")  # noqa: E731
    return FaceArrays(image=np.ascontiguousarray(crop, dtype=np.uint8),
                      landmarks=np.ascontiguousarray(landmarks, dtype=np.float32),
                      expression=f32(params.expression), identity=f32(params.identity),
                      scale=f32(params.pose.scale), rotation=f32(params.pose.rotation),
                      translation=f32(params.pose.translation))


class Extractor:
    """Builds the face networks, the fitter and the neutraliser once (seconds), then runs units."""

    def __init__(self, config: ExtractConfig) -> None:
        self.config = config
        self.work_size = max(config.size, MIN_WORK_SIZE)
        self.pipeline = EditPipeline(editor=WarpEditor(), crop_size=self.work_size)
        self.neutraliser = build_neutraliser(config.neutraliser, self.pipeline)
        self.analyzer = FaceAnalyzer(max_side=config.detect_side, models=load_face_models("cpu"))

    def run(self, unit: Unit) -> UnitResult:
        """Process one unit (module docstring)."""
        t0, c0 = time.perf_counter(), time.process_time()
        if unit.kind == "photo":
            out = self._photo(unit)
        else:
            out = self._video(unit)
        return out._replace(seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)

    # -- inputs ---------------------------------------------------------------------------------
    def _photo(self, unit: Unit) -> UnitResult:
        path = unit.path
        try:
            file_hash = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as err:
            skip = Skip(str(path), None, None, "unreadable", f"Cannot read '{path}': {err.strerror or err}.")
            return UnitResult(unit.uid, (), (skip,), (), 0, 0, 0.0)
        try:
            photo = load_photo(path)
        except GafetError as err:
            skip = Skip(str(path), None, None, "unreadable", str(err))
            return UnitResult(unit.uid, (), (skip,), (f"file:{file_hash}",), 0, 0, 0.0)
        rgb = np.asarray(photo.rgb)
        pixels = hashlib.sha256(repr(rgb.shape).encode() + rgb.tobytes()).hexdigest()
        samples, skipped = self._image(photo, -1)
        return UnitResult(unit.uid, samples, skipped, (f"file:{file_hash}", f"pixels:{pixels}"), 1, 0, 0.0)

    def _video(self, unit: Unit) -> UnitResult:
        path = unit.path
        keys = (f"file:{unit.file_hash}@{unit.chunk}",) if unit.file_hash else ()
        count = None
        if unit.frame_end is not None:
            count = -(-(unit.frame_end - unit.frame_start) // unit.frame_step)
        samples: list[FaceSample] = []
        skipped: list[Skip] = []
        images = held = 0
        try:
            frames = iter_frames(path, step=unit.frame_step, start=unit.frame_start, max_frames=count)
            for k, rgb in enumerate(frames):
                index = unit.frame_start + k * unit.frame_step
                if not unit.wants(index):
                    held += 1
                    continue
                images += 1
                photo = Photo(rgb=rgb, alpha=None, icc_profile=None, exif=None,
                              source_path=Path(f"{path}#frame{index}"), format="PNG", source_mode="RGB")
                s, k_skipped = self._image(photo, index, source=str(path))
                samples.extend(s)
                skipped.extend(k_skipped)
        except GafetError as err:
            if not (isinstance(err, VideoUnreadableError) and unit.chunk > 0 and images + held == 0):
                skipped.append(Skip(str(path), None, None, "unreadable", str(err)))
            # else: the container over-estimated its frame count; this chunk lies past the end
        return UnitResult(unit.uid, tuple(samples), tuple(skipped), keys, images, held, 0.0)

    # -- one image --------------------------------------------------------------------------------
    def _image(self, photo: Photo, frame: int, *, source: str | None = None
               ) -> tuple[tuple[FaceSample, ...], tuple[Skip, ...]]:
        source = source or str(photo.source_path)
        at = None if frame < 0 else frame
        pipe = self.pipeline
        try:
            faces = tuple(self.analyzer.analyze(np.asarray(photo.rgb)))
            if not faces:
                return (), (Skip(source, at, None, "no_face", "No face was found."),)
            samples: list[FaceSample] = []
            skipped: list[Skip] = []
            for i, face in enumerate(faces):
                try:
                    upscale = alignment_upscale(face.landmarks, self.config.size)
                    if upscale > self.config.max_upscale:
                        skipped.append(Skip(source, at, i, "small_face", (
                            f"Face {i} is too small: the {self.config.size}px crop would enlarge it "
                            f"{upscale:.1f}x (at most {self.config.max_upscale:g}x).")))
                        continue
                    aligned = align_face(np.asarray(photo.rgb), face.landmarks, pipe.align_config)
                    fit = pipe.geometry.fit(aligned.landmarks)
                except ValueError as err:  # degenerate or non-finite mesh
                    skipped.append(Skip(source, at, i, "bad_face",
                                        f"Face {i} cannot be aligned or fitted: {err}"))
                    continue
                prepared = PreparedSource(photo=photo, faces=faces, face_index=i, aligned=aligned,
                                          params=fit.params, fit=fit, vertices=aligned.landmarks,
                                          key=("prepare", source, frame, i))
                try:
                    samples.append(self._sample(prepared, source, frame, i, face.presence, fit.residual))
                except ValueError as err:  # the neutraliser cannot handle this face (see the report)
                    skipped.append(Skip(source, at, i, "bad_face", f"Face {i} cannot be neutralised: {err}"))
            return tuple(samples), tuple(skipped)
        finally:
            pipe.forget_sources()

    def _sample(self, prepared: PreparedSource, source: str, frame: int, face: int, presence: float,
                residual: float) -> FaceSample:
        aligned = prepared.aligned
        size = self.config.size
        x = rescale(_arrays(aligned.crop, aligned.landmarks, prepared.params), size)
        xn = None
        if self.neutraliser.name != "none":
            neutral: NeutralFace = self.neutraliser.neutralise(prepared)
            params = neutral.params
            if params is None:
                params = self.pipeline.geometry.fit(neutral.landmarks).params
            xn = rescale(_arrays(neutral.crop, neutral.landmarks, params), size)
        f = size / self.work_size
        return FaceSample(x=x, xn=xn, matrix=rescale_matrix(aligned.matrix, f).astype(np.float32),
                          source=source, frame=frame, face=face, presence=float(presence),
                          upscale=float(aligned.scale * f), residual=float(residual))
