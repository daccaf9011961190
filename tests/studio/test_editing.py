"""The main flow with real photos: drop → result, sliders move the expression, undo/redo, faces."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from core.editing.params import EditParams
from gafet_studio.image_convert import from_qimage
from tests.helpers.studio import drop, load_pair, set_intensity, shown_after, wait_idle, wait_result


def test_drops_on_both_panels_show_an_edited_photo(qtbot, window, media) -> None:
    load_pair(qtbot, window, media)
    s = window.session
    assert s.source.path == media.path("happy.jpg") and s.reference.path == media.path("surprise.jpg")
    assert "happy.jpg" in window.source_panel.caption() and "surprise.jpg" in window.reference_panel.caption()
    after = shown_after(window)
    before = from_qimage(s.source.image)
    assert after.shape == before.shape  # the full photo, not a crop
    assert np.abs(after.astype(int) - before.astype(int)).mean() > 0.5  # the face changed
    assert "total" in window.status_bar.timings_label.text()
    assert "Warp" in window.status_bar.editor_label.text()
    # source and reference are analysed side by side: either may be recorded first
    assert sorted(p.name for p in window.controller.recent.files()[:2]) == ["happy.jpg", "surprise.jpg"]
    # the 3D preview shows source, reference and target (software render offscreen)
    canvas = window.preview3d.canvas
    qtbot.waitUntil(lambda: canvas.image() is not None and not canvas.busy(), timeout=60_000)
    assert canvas.image().width() == 3 * canvas.tile  # three meshes side by side
    # the before/after controls
    window.result_view.before_button.setChecked(True)
    assert not window.result_view.view.showing_after()
    window.result_view.before_button.setChecked(False)
    window.result_view.split_slider.setValue(100)
    assert not window.result_view.view.showing_after()
    window.result_view.split_slider.setValue(30)
    assert window.result_view.view.showing_after()
    # zoom: 100 %, wheel, fit
    view = window.result_view.view
    view.actual_size()
    assert abs(view.zoom() - 1.0) < 1e-6 and not view.is_fitted()
    view.fit()
    assert view.is_fitted()


def test_undo_redo_restore_params_and_picture(qtbot, window, media) -> None:
    load_pair(qtbot, window, media)
    s = window.session
    set_intensity(qtbot, window, 0)
    at0 = shown_after(window)
    # intensity 0: the picture is the source photo (up to paste rounding)
    assert np.abs(at0.astype(int) - from_qimage(s.source.image).astype(int)).mean() < 1.0
    set_intensity(qtbot, window, 120)
    at120 = shown_after(window)
    assert np.abs(at120.astype(int) - at0.astype(int)).mean() > 0.5
    window.sliders.regions["mouth"].slider.setValue(40)
    wait_result(qtbot, window)
    mouth40 = shown_after(window)

    # Ctrl+Z, as the user types it: params, sliders and the picture come back at once (cached)
    window.activateWindow()
    window.result_view.view.setFocus()
    qtbot.keyClick(window.result_view.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert s.params == EditParams(alpha=1.2)
    assert s.result_is_current() and np.array_equal(shown_after(window), at120)
    assert window.sliders.regions["mouth"].value() == 1.0
    window.menus.undo.trigger()
    assert s.params == EditParams(alpha=0.0)
    assert s.result_is_current() and np.array_equal(shown_after(window), at0)
    assert window.sliders.intensity.value() == 0.0
    mods = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(window.result_view.view, Qt.Key.Key_Z, mods)  # Ctrl+Shift+Z
    window.menus.redo.trigger()
    assert s.params == EditParams(alpha=1.2, regions=(("mouth", 0.4),))
    assert s.result_is_current() and np.array_equal(shown_after(window), mouth40)
    assert window.sliders.regions["mouth"].value() == 0.4
    # the keyboard shortcuts are the ones the Edit menu shows
    assert "Ctrl+Z" in [k.toString() for k in window.menus.undo.shortcuts()]
    assert "Ctrl+Shift+Z" in [k.toString() for k in window.menus.redo.shortcuts()]
    # source changes are undoable too
    drop(window.source_panel, [media.path("anger.jpg")])
    wait_result(qtbot, window, lambda: s.source.path.name == "anger.jpg")
    window.menus.undo.trigger()
    assert s.source.path.name == "happy.jpg"
    wait_idle(qtbot, window)


def test_slider_drag_merges_into_one_undo_step(qtbot, window, media) -> None:
    load_pair(qtbot, window, media)
    stack = window.controller.undo_stack
    n = stack.count()
    slider = window.sliders.intensity.slider
    slider.setSliderDown(True)
    window.sliders.intensity._begin()  # what sliderPressed does for a mouse press
    for v in (90, 70, 50, 30):
        slider.setValue(v)
    slider.setSliderDown(False)
    window.sliders.intensity._end()
    assert stack.count() == n + 1
    wait_idle(qtbot, window)
    # while dragging, renders are coalesced: far fewer renders than moves
    assert window.session.params.alpha == 0.3
    stack.undo()
    assert window.session.params.alpha == 1.0
    wait_idle(qtbot, window)


def test_face_picker_on_a_group_photo(qtbot, window, media) -> None:
    drop(window.source_panel, [media.path("multi_face.jpg")])
    qtbot.waitUntil(lambda: window.session.source is not None, timeout=180_000)
    wait_idle(qtbot, window)
    s = window.session
    n = len(s.source.boxes)
    assert n >= 2
    picker = window.source_panel.picker
    assert picker.isVisible() and picker.count() == n
    assert s.source.face_index == 0
    # click thumbnail 2
    rect = picker.visualItemRect(picker.item(1))
    qtbot.mouseClick(picker.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: s.source.face_index == 1, timeout=180_000)
    wait_idle(qtbot, window)
    assert "face 1 of" in window.source_panel.caption()  # numbered from 0, as the CLI counts
    # click the numbered box of face 1 on the image
    view = window.source_panel.view
    x0, y0, x1, y1 = s.source.boxes[0]
    pos = view.mapFromScene((x0 + x1) / 2, (y0 + y1) / 2)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: s.source.face_index == 0, timeout=180_000)
    wait_idle(qtbot, window)
    window.menus.undo.trigger()
    assert s.source.face_index == 1


def test_reference_face_is_picked_by_clicking_its_box(qtbot, window, media) -> None:
    load_pair(qtbot, window, media, source="happy.jpg", reference="multi_face.jpg")
    s = window.session
    assert len(s.reference.boxes) >= 2 and s.reference.face_index == 0
    view = window.reference_panel.view
    x0, y0, x1, y1 = s.reference.boxes[2]
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.mapFromScene((x0 + x1) / 2, (y0 + y1) / 2)
    )
    wait_result(qtbot, window, lambda: s.reference.face_index == 2)
    assert window.controller.undo_stack.undoText() == "Select reference face 2"
    # the 3D preview shows the picked face's mesh as the reference
    assert np.array_equal(s.result.result.reference_vertices, s.reference.prepared.vertices)
