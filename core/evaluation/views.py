"""What the judges see of one face: fitted AUs, head angles, identity descriptor, emotion, crop.

Every picture of an evaluation (source, reference, each editor's output, the target) goes
through :meth:`FaceJudge.view` the same way, from the full photo and the face's mesh found in
*that* photo (an output is re-analysed, never described by the geometry the editor aimed for).
The AUs are the project's own fit (:mod:`core.geometry.au.fit`) of the mesh in an aligned crop;
identity and emotion come from the independent judges (:mod:`core.evaluation.judges`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.editing.geometry_link import GeometryLink
from core.evaluation.judges import Judges
from core.face.align import AlignConfig, align_face
from core.face.types import Face
from core.geometry.face_model import head_rotation
from core.geometry.rotations import euler_from_matrix
from core.metrics.face_geometry import FaceGeometry, face_geometry

VIEW_CROP = 256  # side of the aligned face crops kept for the report and for FID
MIN_OUTPUT_IOU = 0.3  # an output's face must overlap the source face's box this much


@dataclass(frozen=True, eq=False)
class FaceView:
    """One judged face.

    aus: (20,) float64 in [0, 1], the fitted AU intensities (order of ``params.AU_NAMES``).
    yaw, pitch: head angles in degrees (:mod:`core.geometry.summary`'s convention).
    descriptor: (D,) float64 identity descriptor, or None without an identity judge.
    emotion: (7,) float64 emotion probabilities, or None without an emotion judge.
    crop: (S, S, 3) uint8 RGB aligned face crop (S = :data:`VIEW_CROP`).
    csim_embedding: (512,) float64 embedding of the imported CSIM network, or None without one.
    landmarks68: (68, 2) float64 photo px, dlib's 68 points, or None without a landmark judge.
    landmark_box: the box they were read in (left, top, right, bottom px, inclusive), or None.
    """

    aus: np.ndarray
    yaw: float
    pitch: float
    descriptor: np.ndarray | None
    emotion: np.ndarray | None
    crop: np.ndarray
    csim_embedding: np.ndarray | None = None
    landmarks68: np.ndarray | None = None
    landmark_box: tuple[int, int, int, int] | None = None

    @property
    def geometry(self) -> FaceGeometry | None:
        """The dlib-68 face measures (:mod:`core.metrics.face_geometry`), or None without landmarks."""
        return None if self.landmarks68 is None else face_geometry(self.landmarks68)

    def to_json(self) -> dict[str, object]:
        """The numbers (not the crop) as plain JSON values; :meth:`from_json` reads them back."""
        return {"aus": self.aus.tolist(), "yaw": self.yaw, "pitch": self.pitch,
                "descriptor": None if self.descriptor is None else self.descriptor.tolist(),
                "emotion": None if self.emotion is None else self.emotion.tolist(),
                "csim_embedding": None if self.csim_embedding is None else self.csim_embedding.tolist(),
                "landmarks68": None if self.landmarks68 is None else self.landmarks68.tolist(),
                "landmark_box": None if self.landmark_box is None else list(self.landmark_box)}

    @classmethod
    def from_json(cls, data: dict[str, object], crop: np.ndarray) -> FaceView:
        def arr(key: str) -> np.ndarray | None:
            v = data.get(key)
            return None if v is None else np.asarray(v, dtype=np.float64)

        aus = arr("aus")
        if aus is None:
            raise ValueError("a cached face view has no AUs")
        return cls(aus=aus, yaw=float(data["yaw"]), pitch=float(data["pitch"]),  # type: ignore[arg-type]
                   descriptor=arr("descriptor"), emotion=arr("emotion"), crop=crop,
                   csim_embedding=arr("csim_embedding"), landmarks68=arr("landmarks68"),
                   landmark_box=None if data.get("landmark_box") is None
                   else tuple(int(v) for v in data["landmark_box"]))  # type: ignore[union-attr, arg-type]


class FaceJudge:
    """Makes :class:`FaceView` s with one geometry fit and one set of judges."""

    def __init__(self, *, judges: Judges, geometry: GeometryLink, crop_size: int = VIEW_CROP) -> None:
        self.judges = judges
        self.geometry = geometry
        self.align_config = AlignConfig(size=crop_size)

    def view(self, image: np.ndarray, face: Face, *,
             landmark_box: tuple[int, int, int, int] | None = None) -> FaceView:
        """image: (H, W, 3) uint8 RGB; face: one of its faces (``FaceAnalyzer.analyze``).
        landmark_box: the box the landmark judge reads the face in (an output: its source's box);
        None: the judge's box from this face's mesh."""
        aligned = align_face(image, face.landmarks, self.align_config)
        fit = self.geometry.fit(aligned.landmarks)
        angles = euler_from_matrix(head_rotation(fit.params.pose.rotation.double().cpu()))
        identity, emotion = self.judges.identity, self.judges.emotion
        landmarks68, box = self._landmarks(image, face, landmark_box)
        return FaceView(
            aus=np.array(fit.aus, dtype=np.float64),
            yaw=math.degrees(float(angles.yaw[0])),
            pitch=math.degrees(float(angles.pitch[0])),
            descriptor=None if identity is None else identity.describe(image, face),
            emotion=None if emotion is None else emotion.probabilities(image, face),
            crop=aligned.crop,
            csim_embedding=None if self.judges.csim is None else self.judges.csim.describe(image, face),
            landmarks68=landmarks68,
            landmark_box=box,
        )

    def _landmarks(self, image: np.ndarray, face: Face, box: tuple[int, int, int, int] | None
                   ) -> tuple[np.ndarray | None, tuple[int, int, int, int] | None]:
        """(dlib's 68 points, the box they were read in), or (None, None) without the judge."""
        judge = self.judges.landmarks
        if judge is None:
            return None, None
        box = judge.box(face) if box is None else box
        return np.asarray(judge.landmarks(image, box), dtype=np.float64), box


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (4,) x0, y0, x1, y1 boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def matching_face(faces: list[Face] | tuple[Face, ...], box: np.ndarray) -> Face | None:
    """The face whose box overlaps ``box`` most (at least :data:`MIN_OUTPUT_IOU`), or None."""
    best, best_iou = None, MIN_OUTPUT_IOU
    for face in faces:
        iou = box_iou(np.asarray(face.detection.box, np.float64), np.asarray(box, np.float64))
        if iou >= best_iou:
            best, best_iou = face, iou
    return best
