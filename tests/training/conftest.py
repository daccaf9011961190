"""Fixtures of the training tests.

``face_cache_inputs`` / ``face_cache``: a small real face cache, prepared once per session
(``gafet prepare`` in this process) from the test media: three lab portraits, ``no_face.jpg``, a
truncated JPEG, a byte copy of one portrait, a text file, and both videos at one frame every 2 s,
with a hold-out range in the crying-to-laughing video. 64² crops, 4 faces per shard, 4 sampled
frames per video work unit (so the videos span several units and shards).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from training.data.cache import CacheSettings
from training.data.prepare import PrepareSummary, run_prepare

FACE_CACHE_SETTINGS = CacheSettings(size=64, fps=0.5, neutraliser="warp", shard_size=4, chunk_frames=4,
                                    holdout=("sad_to_laugh.mp4:240:360",))
FACE_CACHE_PHOTOS = ("anger.jpg", "happy.jpg", "surprise.jpg", "no_face.jpg")
FACE_CACHE_VIDEOS = ("neutral_to_smile.mp4", "sad_to_laugh.mp4")


@dataclass(frozen=True)
class FaceCacheInputs:
    """The input folder, and the names of its special files."""

    root: Path
    broken: str = "photos/broken.jpg"  # the first 4 KB of surprise.jpg
    duplicate: str = "photos/happy_again.jpg"  # the same bytes as happy.jpg
    text: str = "photos/readme.txt"


@dataclass(frozen=True)
class PreparedFaceCache:
    root: Path
    inputs: FaceCacheInputs
    settings: CacheSettings
    summary: PrepareSummary


@pytest.fixture(scope="session")
def face_cache_inputs(tmp_path_factory: pytest.TempPathFactory, media: object,
                      app_assets: None) -> FaceCacheInputs:
    root = tmp_path_factory.mktemp("face_cache_inputs")
    (root / "photos").mkdir()
    (root / "videos").mkdir()
    for name in FACE_CACHE_PHOTOS:
        shutil.copyfile(media.path(name), root / "photos" / name)
    for name in FACE_CACHE_VIDEOS:
        shutil.copyfile(media.path(name), root / "videos" / name)
    inputs = FaceCacheInputs(root=root)
    (root / inputs.broken).write_bytes(media.path("surprise.jpg").read_bytes()[:4096])
    shutil.copyfile(media.path("happy.jpg"), root / inputs.duplicate)
    (root / inputs.text).write_text("not a photo\n")
    return inputs


@pytest.fixture(scope="session")
def face_cache(tmp_path_factory: pytest.TempPathFactory,
               face_cache_inputs: FaceCacheInputs) -> PreparedFaceCache:
    root = tmp_path_factory.mktemp("face_cache") / "cache"
    summary = run_prepare([face_cache_inputs.root], root, FACE_CACHE_SETTINGS, workers=1)
    return PreparedFaceCache(root=root, inputs=face_cache_inputs, settings=FACE_CACHE_SETTINGS,
                             summary=summary)
