"""Fixtures for the geometry tests: the built-in AU model and real face meshes.

Real meshes come from the project's own face analyzer (:class:`core.face.analyzer.FaceAnalyzer`)
on the test media (fetched by the asset manager); each photo is analysed once per session.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

# Frames of neutral_to_smile.mp4 (72 frames, one man): neutral up to ~15, smiling from ~21.
SMILE_VIDEO_STEP = 6  # frames 0, 6, 12, ..., 66 are decoded ...
VIDEO_FRAMES = (0, 1, 2, 6, 10)  # ... and these are analysed: frames 0, 6, 12, 36, 60
NEUTRAL_FRAMES = (0, 1, 2)  # positions in smile_video_landmarks: frames 0, 6, 12
SMILE_FRAMES = (3, 4)  # frames 36, 60


@pytest.fixture(scope="session")
def au_model():
    from core.geometry.au.fit import default_fitter

    return default_fitter().model


@pytest.fixture(scope="session")
def fitter():
    from core.geometry.au.fit import default_fitter

    return default_fitter()


@pytest.fixture(scope="session")
def analyzer(app_assets):
    from core.face.analyzer import FaceAnalyzer

    return FaceAnalyzer()


@pytest.fixture(scope="session")
def photo_landmarks(media, analyzer) -> Callable[..., np.ndarray]:
    """``get(name, flip=False, face=0)`` → (468, 3) float32 mesh of a test photo (cached)."""
    from core.io import load_photo

    cache: dict[tuple[str, bool, int], np.ndarray] = {}

    def get(name: str, *, flip: bool = False, face: int = 0) -> np.ndarray:
        key = (name, flip, face)
        if key not in cache:
            rgb = load_photo(media.path(name)).rgb
            if flip:
                rgb = rgb[:, ::-1]
            cache[key] = analyzer.analyze_one(np.ascontiguousarray(rgb), face).landmarks
        return cache[key]

    return get


@pytest.fixture(scope="session")
def smile_video_landmarks(media, analyzer) -> np.ndarray:
    """(5, 468, 3): frames 0, 6, 12, 36, 60 of neutral_to_smile.mp4 (NEUTRAL_FRAMES, SMILE_FRAMES)."""
    from core.io import iter_frames

    frames = list(iter_frames(media.path("neutral_to_smile.mp4"), step=SMILE_VIDEO_STEP))
    return np.stack([analyzer.analyze_one(frames[i]).landmarks for i in VIDEO_FRAMES])
