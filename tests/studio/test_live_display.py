"""What the GUI thread does with pictures (issue 13): an exact picture is drawn as its changed box
over the photo (no full-photo conversion), the software 3D preview renders new meshes at most every
MESH_UPDATE_MS (the latest set wins), and an export's own progress drives the result panel's card."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtGui import QImage

from core import assets
from gafet_studio.image_convert import display_patch, from_qimage, patched_display_qimage, to_display_qimage
from gafet_studio.jobs import ExportRequest
from gafet_studio.session import Task
from gafet_studio.widgets.overlay import now
from gafet_studio.widgets.preview3d import MESH_UPDATE_MS, MeshSet, Preview3D
from gafet_studio.widgets.result_view import CompareView
from tests.helpers.studio import load_pair, set_intensity, shown_after, wait_idle


def test_a_patched_picture_is_drawn_as_its_box_over_the_photo(qtbot) -> None:
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (60, 80, 3), np.uint8)
    edited = photo.copy()
    edited[10:30, 20:50] = 255 - edited[10:30, 20:50]
    before = to_display_qimage(photo)
    after = patched_display_qimage(before, edited, (20, 10, 50, 30))
    patch = display_patch(after)
    assert patch is not None and (patch.x, patch.y) == (20, 10) and patch.base_key == before.cacheKey()
    assert (patch.image.width(), patch.image.height()) == (30, 20)
    assert np.array_equal(from_qimage(after), edited)
    assert display_patch(to_display_qimage(edited)) is None

    view = CompareView()
    qtbot.addWidget(view)
    view.set_image(before)
    view.set_after(after, (80, 60))
    assert view._after.image().width() == 30 and view._after.sceneBoundingRect().width() == 80
    assert view.has_after() and np.array_equal(from_qimage(view._after.pixmap().toImage()), edited)
    # another photo under it: the whole picture is shown instead
    view.set_image(to_display_qimage(photo[:, ::-1].copy()))
    view.set_after(after, (80, 60))
    assert view._after.image().width() == 80 and np.array_equal(from_qimage(view._after.image()), edited)
    # nothing changed (box None): "after" is the photo itself, and shows as such
    view.set_image(before)
    view.set_after(patched_display_qimage(before, photo, None), (80, 60))
    assert view.has_after() and view._after.image().isNull()
    assert np.array_equal(from_qimage(view._after.pixmap().toImage()), photo)


def _canonical() -> tuple[np.ndarray, np.ndarray]:
    import torch

    tri = json.loads(assets.asset_path("au-face-model", "canonical_face_tessellation.json").read_text())
    verts = torch.load(assets.asset_path("au-face-model", "canonical_face_model.pt")).numpy()
    return (verts * np.array([12.0, -12.0, -12.0]) + 256.0).astype(np.float32), np.asarray(tri["triangles"])


def test_the_software_preview_renders_a_burst_of_meshes_at_most_every_interval(qtbot, app_assets) -> None:
    verts, faces = _canonical()
    w = Preview3D(force_software=True)
    qtbot.addWidget(w)
    w.resize(480, 240)
    w.show()
    canvas = w.canvas
    with qtbot.waitSignal(canvas.rendered, timeout=60_000):
        w.set_meshes(MeshSet(faces=faces, source=verts, target=verts))
    qtbot.waitUntil(lambda: not canvas.busy(), timeout=60_000)
    asked: list[float] = []
    request = canvas._runner.request

    def spy(*args):
        asked.append(now())
        return request(*args)

    canvas._runner.request = spy
    w.set_meshes(MeshSet(faces=faces, source=verts, target=verts.copy()))  # equal meshes: no render
    assert not asked and not canvas._later.isActive()
    last = verts.copy()
    for k in range(1, 13):  # a drag: new meshes every few ms
        last = verts + np.float32(k)
        w.set_meshes(MeshSet(faces=faces, source=verts, target=last))
        qtbot.wait(5)
    qtbot.waitUntil(lambda: not canvas._later.isActive() and not canvas.busy(), timeout=60_000)
    assert 1 <= len(asked) < 12  # not one render per set
    gaps = np.diff(asked)
    assert (gaps >= 0.9 * MESH_UPDATE_MS / 1000).all(), gaps  # at most one per interval
    assert np.array_equal(canvas._meshes[-1].vertices, last)  # the last set is the one on show
    assert canvas.image() is not None

def test_exact_pictures_show_as_patches_and_export_progress_drives_the_card(qtbot, window, media,
                                                                            tmp_path) -> None:
    s = window.session
    load_pair(qtbot, window, media)
    set_intensity(qtbot, window, 70)
    exact, view = s.result, window.result_view.view
    assert not exact.preview and display_patch(exact.image) is not None
    shown = view._after.image()
    assert 0 < shown.width() * shown.height() < exact.image.width() * exact.image.height()
    assert shown.format() == QImage.Format.Format_RGB32
    assert np.array_equal(shown_after(window), from_qimage(exact.image))

    seen = []

    def check(p) -> None:  # the window's own slot ran first (connected before this one)
        seen.append((p.fraction, window._task_progress(Task.EXPORT, now() + 1.0)))

    window.controller.engine.exportProgress.connect(check)
    done = []
    window.controller.engine.exported.connect(done.append)
    assert window.controller.export(ExportRequest(path=tmp_path / "out.jpg"))
    qtbot.waitUntil(lambda: bool(done), timeout=120_000)
    wait_idle(qtbot, window)
    assert len(seen) >= 2
    for fraction, card in seen[:-1]:  # (the last one may arrive as the export ends)
        assert card is not None and card[1] == fraction


def test_the_photo_under_a_whole_picture_is_not_drawn_and_large_images_get_a_reduced_copy(qtbot) -> None:
    from PySide6.QtGui import QColor

    view = CompareView()
    qtbot.addWidget(view)
    view.resize(300, 200)
    view.show()
    before = to_display_qimage(np.full((80, 100, 3), 40, np.uint8))
    view.set_image(before)
    view.set_after(to_display_qimage(np.full((40, 50, 3), 200, np.uint8)), (100, 80))  # a preview
    assert view._image_item.clip is not None and view._image_item.clip.isEmpty()
    view.set_split(0.5)
    assert view._image_item.clip.width() == 50
    view.set_show_before(True)
    assert view._image_item.clip is None
    view.set_show_before(False)
    view.set_after(patched_display_qimage(before, np.full((80, 100, 3), 90, np.uint8), (10, 10, 20, 20)))
    assert view._after.patched() and view._image_item.clip is None
    view.set_after(to_display_qimage(np.full((30, 30, 3), 9, np.uint8)))  # smaller than the photo
    assert view._image_item.clip is None

    big = QImage(3200, 2000, QImage.Format.Format_RGB32)
    big.fill(QColor(10, 200, 30))
    view.set_after(None)
    view.set_image(big)
    qtbot.waitUntil(view._image_item.has_reduced, timeout=30_000)
    assert view._image_item._small.width() == 2560
    shot = from_qimage(view.grab().toImage())
    assert (np.abs(shot[100, 150].astype(int) - (10, 200, 30)) <= 2).all()
