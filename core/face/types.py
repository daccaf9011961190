"""Typed results of face detection and face-mesh estimation, in original photo pixels.

Photo px follow OpenCV (``cv2.warpAffine``): x right, y down, the centre of pixel (row i, col j)
is (x=j, y=i); the photo spans [-0.5, W - 0.5] x [-0.5, H - 0.5].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_centre",
                  "right_ear_tragion", "left_ear_tragion")
NUM_LANDMARKS = 468


def _frozen_array(value: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.array(value, dtype=np.float32, copy=True)
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains non-finite values")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Detection:
    """One detected face.

    box: (4,) float32 x0, y0, x1, y1 in photo px (x right, y down; may extend past the photo).
    keypoints: (6, 2) float32 x, y photo px, MediaPipe order (the *person's* right / left):
        right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion.
    score: detector confidence in [0, 1].
    Arrays are read-only copies (copy before editing).
    """

    box: np.ndarray
    keypoints: np.ndarray
    score: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", _frozen_array(self.box, (4,), "box"))
        object.__setattr__(self, "keypoints", _frozen_array(self.keypoints, (6, 2), "keypoints"))
        object.__setattr__(self, "score", float(self.score))
        if self.box[2] < self.box[0] or self.box[3] < self.box[1]:
            raise ValueError(f"box must be x0, y0, x1, y1 with x0 <= x1, y0 <= y1, got {self.box.tolist()}")

    @property
    def centre(self) -> np.ndarray:
        """(2,) float32 box centre x, y in photo px."""
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2], np.float32)

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


@dataclass(frozen=True, eq=False)
class Face:
    """A detected face with its 468-point 3D mesh.

    landmarks: (468, 3) float32 photo px; x right, y down, z depth scaled like x / y, MediaPipe
        sign (smaller = nearer the camera; about 0 at the face's centre plane).
    presence: face-presence probability of the mesh network in [0, 1].
    """

    detection: Detection
    landmarks: np.ndarray
    presence: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "landmarks", _frozen_array(self.landmarks, (NUM_LANDMARKS, 3), "landmarks"))
        object.__setattr__(self, "presence", float(self.presence))
