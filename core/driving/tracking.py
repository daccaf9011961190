"""Follow one driving face through a video: by box overlap and identity, not "the first face".

Per frame (:meth:`FaceTracker.step`):

* **tracked** frames (between detections): the face mesh runs on the region of the previous
  frame's mesh (``roi_from_landmarks``), as MediaPipe tracks; no detector;
* **detection** frames (every ``detect_every`` frames, and at once when the tracked mesh loses
  the face or its identity stops matching): every face is analysed and the one that matches the
  track's identity is taken, preferring the best box overlap (IoU) with the last known box;
* **lost** frames: no face, or none that matches; the caller holds and fades (``core.driving.drive``).

Identity (:func:`identity_descriptor`) is appearance in the aligned face: a 64 px crop's
brightness pattern over brows, eyes and nose (zero mean, unit norm; lighting-robust, little
changed by the mouth) and the mean chroma (Lab a*, b*) of the upper face. Its distance
(:func:`identity_distance`) on the test videos: 0.00-0.45 for one person across a laugh, 0.88+
between the two people; the threshold is 0.6. The template is the face chosen at the start,
slowly updated (``template_rate``) on matching detection frames.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import cv2
import numpy as np

from core.face.align import AlignConfig, align_face
from core.face.analyzer import FaceAnalyzer
from core.face.errors import FaceIndexError, NoFaceError
from core.face.mesh_roi import roi_from_landmarks
from core.face.types import Face

_ID_ALIGN = AlignConfig(size=64, interpolation=cv2.INTER_AREA)
_ID_ROWS, _ID_COLS = slice(14, 40), slice(12, 52)  # brows, eyes, nose in the 64 px crop
_CHROMA_WEIGHT = 0.02  # identity distance per unit of Lab chroma distance
OVERLAP_WEIGHT = 0.3  # among faces that match, score = identity distance - this x IoU with the last box


@dataclass(frozen=True)
class IdentityDescriptor:
    """pattern: (1040,) float32 unit-norm zero-mean brightness; chroma: (2,) float32 mean Lab a*, b*."""

    pattern: np.ndarray
    chroma: np.ndarray


def identity_descriptor(image: np.ndarray, landmarks: np.ndarray) -> IdentityDescriptor:
    """image: (H, W, 3) uint8 RGB; landmarks: (468, 3) photo px of one face."""
    crop = align_face(image, landmarks, _ID_ALIGN).crop
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)[_ID_ROWS, _ID_COLS]
    grey = lab[..., 0] - lab[..., 0].mean()
    pattern = (grey / (np.linalg.norm(grey) + 1e-6)).ravel()
    return IdentityDescriptor(pattern=pattern, chroma=lab[..., 1:].reshape(-1, 2).mean(axis=0))


def identity_distance(a: IdentityDescriptor, b: IdentityDescriptor) -> float:
    """0 for the same picture; about 0-0.45 for one person, 0.9+ for two (module docstring)."""
    return float(1.0 - a.pattern @ b.pattern) + _CHROMA_WEIGHT * float(np.linalg.norm(a.chroma - b.chroma))


def _blend(a: IdentityDescriptor, b: IdentityDescriptor, rate: float) -> IdentityDescriptor:
    p = (1 - rate) * a.pattern + rate * b.pattern
    chroma = (1 - rate) * a.chroma + rate * b.chroma
    return IdentityDescriptor(pattern=p / (np.linalg.norm(p) + 1e-6), chroma=chroma)


def mesh_box(landmarks: np.ndarray) -> np.ndarray:
    """(4,) float64 x0, y0, x1, y1: the bounding box of a (468, 2|3) mesh in photo px."""
    p = np.asarray(landmarks, dtype=np.float64)[:, :2]
    return np.concatenate([p.min(axis=0), p.max(axis=0)])


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two x0, y0, x1, y1 boxes (0 when they do not overlap)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class TrackStatus(enum.Enum):
    DETECTED = "detected"  # found by a detection frame
    TRACKED = "tracked"  # followed from the previous frame's mesh
    LOST = "lost"  # not in this frame (no face, or none with the track's identity)


@dataclass(frozen=True)
class TrackerConfig:
    """detect_every: K, frames between detections; min_presence: mesh face-presence to keep
    tracking; max_identity: identity distance above which a face is someone else;
    template_rate: how fast the identity template follows matching detections (0: never)."""

    detect_every: int = 10
    min_presence: float = 0.5
    max_identity: float = 0.6
    template_rate: float = 0.1

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every}")
        if not 0 <= self.template_rate <= 1 or not 0 < self.min_presence < 1 or self.max_identity <= 0:
            raise ValueError(f"bad tracker settings: {self}")


@dataclass(frozen=True, eq=False)
class TrackStep:
    """One frame's result. landmarks: (468, 3) float32 photo px, or None when LOST.
    identity: the identity distance of the face taken (nan when LOST). candidates: how many faces
    a detection frame saw (0 on tracked frames)."""

    status: TrackStatus
    landmarks: np.ndarray | None
    identity: float
    candidates: int


class FaceTracker:
    """Tracks one face of a video (module docstring). Use :meth:`start` on the first frame, then
    :meth:`step` on each following frame, in order."""

    def __init__(self, analyzer: FaceAnalyzer, config: TrackerConfig = TrackerConfig()) -> None:
        self.analyzer = analyzer
        self.config = config
        self._template: IdentityDescriptor | None = None
        self._landmarks: np.ndarray | None = None  # the last frame's, None when lost
        self._box: np.ndarray | None = None  # the last known box
        self._since_detection = 0

    def start(self, frame: np.ndarray, face_index: int = 0) -> TrackStep:
        """Pick face ``face_index`` (0 = leftmost) of the first frame as the one to follow.
        Raises NoFaceError / FaceIndexError when that face is not there."""
        faces = self.analyzer.analyze(frame)
        if not faces:
            raise NoFaceError("No face was found in the first frame of the driving video; choose a --start "
                              "where the face is visible.")
        if not 0 <= face_index < len(faces):
            raise FaceIndexError(f"The first frame of the driving video with a face has {len(faces)} face"
                                 f"{'s' if len(faces) != 1 else ''}; --driving-face {face_index} does not "
                                 f"exist (use 0 to {len(faces) - 1}, left to right).")
        face = faces[face_index]
        self._template = identity_descriptor(frame, face.landmarks)
        return self._take(face.landmarks, TrackStatus.DETECTED, 0.0, len(faces))

    def step(self, frame: np.ndarray) -> TrackStep:
        """The followed face in the next frame (:class:`TrackStep`)."""
        if self._template is None:
            raise RuntimeError("FaceTracker.step() before start()")
        self._since_detection += 1
        if self._landmarks is not None and self._since_detection < self.config.detect_every:
            tracked = self._track(frame)
            if tracked is not None:
                return tracked
        return self._detect(frame)

    def _track(self, frame: np.ndarray) -> TrackStep | None:
        roi = roi_from_landmarks(np.asarray(self._landmarks))[None]
        mesh = self.analyzer.mesh(frame, roi)
        if float(mesh.presence[0]) < self.config.min_presence:
            return None
        landmarks = mesh.landmarks[0]
        distance = identity_distance(self._template, identity_descriptor(frame, landmarks))
        if distance > self.config.max_identity:
            return None  # a cut to someone else at the same place: let detection decide
        return self._take(landmarks, TrackStatus.TRACKED, distance, 0, count=False)

    def _detect(self, frame: np.ndarray) -> TrackStep:
        self._since_detection = 0
        faces: list[Face] = self.analyzer.analyze(frame)
        best, best_score, best_distance, best_id = None, np.inf, np.nan, None
        for face in faces:
            descriptor = identity_descriptor(frame, face.landmarks)
            distance = identity_distance(self._template, descriptor)
            if distance > self.config.max_identity:
                continue
            overlap = box_iou(self._box, mesh_box(face.landmarks)) if self._box is not None else 0.0
            score = distance - OVERLAP_WEIGHT * overlap
            if score < best_score:
                best, best_score, best_distance, best_id = face, score, distance, descriptor
        if best is None:
            self._landmarks = None
            return TrackStep(TrackStatus.LOST, None, float("nan"), len(faces))
        if self.config.template_rate > 0:
            self._template = _blend(self._template, best_id, self.config.template_rate)
        return self._take(best.landmarks, TrackStatus.DETECTED, best_distance, len(faces))

    def _take(self, landmarks: np.ndarray, status: TrackStatus, distance: float, candidates: int, *,
              count: bool = True) -> TrackStep:
        landmarks = np.array(landmarks, dtype=np.float32)
        self._landmarks = landmarks
        self._box = mesh_box(landmarks)
        if count:
            self._since_detection = 0
        return TrackStep(status, landmarks, float(distance), candidates)
