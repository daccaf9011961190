"""The 3D geometry preview: software renders offscreen (rotated by mouse drags); OpenGL under Xvfb."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, Qt

from core import assets
from gafet_studio.image_convert import from_qimage
from gafet_studio.widgets.preview3d import MeshSet, Preview3D

BACKGROUND = np.array([43, 43, 43])


@pytest.fixture(scope="module")
def canonical_mesh(app_assets):
    """The canonical MediaPipe face in 'crop pixels' (y down, z away), and its triangles."""
    tri = json.loads(assets.asset_path("au-face-model", "canonical_face_tessellation.json").read_text())
    verts = torch.load(assets.asset_path("au-face-model", "canonical_face_model.pt")).numpy()
    verts = verts * np.array([12.0, -12.0, -12.0]) + 256.0
    return verts.astype(np.float32), np.asarray(tri["triangles"], np.int64)


def _meshes(canonical_mesh) -> MeshSet:
    v, f = canonical_mesh
    smile = v.copy()
    smile[:, 1] += np.where(v[:, 1] > 300, 6.0, 0.0)  # a crude "jaw drop" so target differs
    return MeshSet(faces=f, source=v, reference=smile, target=smile)


def _covered(img: np.ndarray) -> float:
    return float((np.abs(img.astype(int) - BACKGROUND).sum(-1) > 30).mean())


def test_software_preview_renders_and_rotates_offscreen(qtbot, canonical_mesh) -> None:
    w = Preview3D()
    qtbot.addWidget(w)
    w.resize(600, 300)
    w.show()
    assert w.backend_name == "software"
    canvas = w.canvas
    with qtbot.waitSignal(canvas.rendered, timeout=60_000):
        w.set_meshes(_meshes(canonical_mesh))
    first = from_qimage(canvas.image())
    assert first.shape[:2] == (canvas.tile_height, 3 * canvas.tile)  # three tiles side by side
    assert canvas.tile >= 150 and canvas.tile_height >= 150  # as large as the panel allows
    for tile in np.split(first, 3, axis=1):
        assert _covered(tile) > 0.25  # each mesh is drawn, filling its tile
    # a mouse drag rotates the view and re-renders
    yaw = canvas.yaw
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
    with qtbot.waitSignal(canvas.rendered, timeout=60_000):
        qtbot.mouseMove(canvas, QPoint(180, 110))
        qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(180, 110))
    qtbot.waitUntil(lambda: not canvas.busy(), timeout=60_000)
    assert canvas.yaw != yaw
    rotated = from_qimage(canvas.image())
    assert np.abs(rotated.astype(int) - first.astype(int)).mean() > 1.0
    # hiding a mesh leaves two tiles
    with qtbot.waitSignal(canvas.rendered, timeout=60_000):
        w.toggles["reference"].setChecked(False)
    qtbot.waitUntil(lambda: not canvas.busy(), timeout=60_000)
    img = canvas.image()
    assert (img.width(), img.height()) == (2 * canvas.tile, canvas.tile_height)
    assert not w.grab().isNull()


@pytest.mark.gl
def test_opengl_preview_under_xvfb(qtbot, canonical_mesh) -> None:
    if os.environ.get("QT_QPA_PLATFORM", "offscreen") == "offscreen":
        pytest.skip("OpenGL needs a real display (run under xvfb-run with QT_QPA_PLATFORM=xcb)")
    w = Preview3D()
    qtbot.addWidget(w)
    if w.backend_name != "opengl":
        pytest.skip(f"no OpenGL here: {w.fallback_reason}")
    w.resize(600, 300)
    w.show()
    qtbot.waitExposed(w)
    w.set_meshes(_meshes(canonical_mesh))
    qtbot.wait(200)
    img = from_qimage(w.canvas.grab_image())
    assert img.size and _covered(img) > 0.05
    assert len(w.canvas._items) == 3
